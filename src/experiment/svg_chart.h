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

std::string line_chart(const Chart& chart);
std::string bar_chart(const Chart& chart);  // grouped bars, one group per category

std::string html_escape(const std::string& s);

}  // namespace mlfaas::experiment::svg
