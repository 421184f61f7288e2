#pragma once
// Small self-contained SVG charts for the experiment report: no script, no external file, readable offline.
#include <string>
#include <vector>

namespace mlfaas::experiment::svg {

struct Series {
  std::string name;
  std::vector<double> values;        // one per category; NaN = no value
  std::vector<std::string> labels;   // optional text above each point/bar
};

struct Chart {
  std::string title;
  std::string x_title;
  std::string y_title;
  std::vector<std::string> categories;  // x axis, evenly spaced
  std::vector<Series> series;
  bool log_y = false;
};

// One distribution per category, e.g. the billed duration of every warm invocation at one memory size.
struct DistributionChart {
  std::string title;
  std::string x_title;
  std::string y_title;
  std::vector<std::string> categories;
  std::vector<std::vector<double>> values;  // one list per category (NaN skipped)
};

std::string line_chart(const Chart& chart);
std::string bar_chart(const Chart& chart);  // grouped bars, one group per category
// As seaborn's boxplot: box = quartiles (linear interpolation, numpy's default), line = median, whiskers to the
// furthest value within 1.5 IQR of the box, dots beyond. Linear axis from 0.
std::string box_plot(const DistributionChart& chart);
// As seaborn's violinplot: a Gaussian kernel density with Scott's bandwidth, mirrored, its width the density
// relative to the category's peak, cut at the smallest and largest value; the quartile box and median inside.
std::string violin_plot(const DistributionChart& chart);
// Quantile q (0..1) of sorted values, interpolated linearly between neighbours (numpy's default).
double quantile(const std::vector<double>& sorted, double q);

std::string html_escape(const std::string& s);

}  // namespace mlfaas::experiment::svg
