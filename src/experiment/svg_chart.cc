#include "experiment/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace mlfaas::experiment::svg {

namespace {

constexpr double kMinWidth = 600, kCategoryWidth = 44, kHeight = 320, kLeft = 70, kRight = 150, kTop = 34, kBottom = 52;
// A chart without series (distributions) has no legend, so it is narrower.
double right_margin(const Chart& c) { return c.series.empty() ? 24 : kRight; }
// Many categories (memory x concurrency) get a wider chart instead of overlapping labels.
double chart_width(const Chart& c) {
  double n = double(c.categories.size());
  return c.series.empty() ? std::max(300.0, kLeft + right_margin(c) + 72 * n)
                          : std::max(kMinWidth, kLeft + kRight + kCategoryWidth * n);
}

const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string num(double v) {
  char buf[32];
  double a = std::fabs(v);
  if (a == 0) return "0";
  if (a != 0 && (a < 0.01 || a >= 1e5)) std::snprintf(buf, sizeof buf, "%.2g", v);
  else if (a < 10) std::snprintf(buf, sizeof buf, "%.2f", v);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

struct Scale {
  double lo, hi;
  bool log;
  double y(double v) const {
    double plot = kHeight - kTop - kBottom;
    double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return kTop + plot * (1 - t);
  }
  std::vector<double> ticks() const {
    std::vector<double> out;
    if (log) {
      for (double d = std::pow(10, std::floor(std::log10(lo))); d <= hi * 1.0001; d *= 10)
        if (d >= lo * 0.9999) out.push_back(d);
      if (out.size() < 2) out = {lo, hi};
    } else {
      double step = (hi - lo) / 5;
      double mag = std::pow(10, std::floor(std::log10(step)));
      for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * mag >= step) { step = m * mag; break; }
      for (double v = lo; v <= hi + step * 1e-6; v += step) out.push_back(v);
    }
    return out;
  }
};

Scale make_scale(const Chart& c, bool bars) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : c.series)
    for (double v : s.values)
      if (std::isfinite(v) && (!c.log_y || v > 0)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (c.log_y) {
    // The floor is a decade at least 2x below the smallest value, so that the shortest bar still stands a
    // third of a decade above the axis instead of sitting on it (1.05 over a floor of 1 would look empty).
    lo = std::pow(10, std::floor(std::log10(lo / 2)));
    hi = std::pow(10, std::ceil(std::log10(hi * 1.0001)));
    if (hi <= lo) hi = lo * 10;
    return {lo, hi, true};
  }
  lo = bars ? 0 : std::min(0.0, lo);
  if (hi <= lo) hi = lo + 1;
  double step = (hi - lo) / 5, mag = std::pow(10, std::floor(std::log10(step)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= step) { step = m * mag; break; }
  hi = lo + std::ceil((hi - lo) / step * 1.08) * step;
  return {lo, hi, false};
}

std::string frame(const Chart& c, const Scale& scale, std::string& out) {
  char buf[512];
  const double width = chart_width(c);
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                "font-family=\"sans-serif\" font-size=\"11\" role=\"img\">",
                width, kHeight, width, kHeight);
  out += buf;
  out += "<text x=\"" + num(width / 2) + "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" +
         html_escape(c.title) + "</text>";
  double right = width - right_margin(c);
  for (double t : scale.ticks()) {
    double y = scale.y(t);
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                  kLeft, right, y, y, kLeft - 5, y + 4, num(t).c_str());
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>",
                kLeft, right, kHeight - kBottom, kHeight - kBottom, kLeft, kLeft, kTop, kHeight - kBottom);
  out += buf;
  out += "<text x=\"" + num((kLeft + right) / 2) + "\" y=\"" + num(kHeight - 8) + "\" text-anchor=\"middle\">" +
         html_escape(c.x_title) + "</text>";
  out += "<text transform=\"translate(16," + num((kTop + kHeight - kBottom) / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + html_escape(c.y_title + (scale.log ? " (log scale)" : "")) +
         "</text>";
  for (size_t i = 0; i < c.series.size(); ++i) {
    double y = kTop + 10 + 16 * double(i);
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
                  right + 12, y - 9, kColors[i % 8], right + 28, y);
    out += buf;
    out += html_escape(c.series[i].name) + "</text>";
  }
  return buf;
}

double category_width(const Chart& c) {
  return (chart_width(c) - right_margin(c) - kLeft) / double(std::max<size_t>(c.categories.size(), 1));
}
double category_x(const Chart& c, size_t i) { return kLeft + category_width(c) * (double(i) + 0.5); }

void x_labels(const Chart& c, std::string& out) {
  bool slanted = c.categories.size() > 8;  // long runs of "memory/concurrency" labels would touch
  for (size_t i = 0; i < c.categories.size(); ++i) {
    std::string x = num(category_x(c, i)), y = num(kHeight - kBottom + (slanted ? 12 : 16));
    out += slanted ? "<text x=\"" + x + "\" y=\"" + y + "\" text-anchor=\"end\" font-size=\"10\" transform=\"rotate(-35 " +
                         x + " " + y + ")\">"
                   : "<text x=\"" + x + "\" y=\"" + y + "\" text-anchor=\"middle\">";
    out += html_escape(c.categories[i]) + "</text>";
  }
}

bool drawable(const Scale& s, double v) { return std::isfinite(v) && (!s.log || v > 0); }

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string line_chart(const Chart& c) {
  Scale scale = make_scale(c, false);
  std::string out;
  frame(c, scale, out);
  x_labels(c, out);
  size_t n = c.categories.size();
  for (size_t si = 0; si < c.series.size(); ++si) {
    const auto& s = c.series[si];
    std::string path;
    for (size_t i = 0; i < s.values.size() && i < n; ++i) {
      if (!drawable(scale, s.values[i])) continue;
      path += (path.empty() ? "M" : " L") + num(category_x(c, i)) + " " + num(scale.y(s.values[i]));
    }
    if (!path.empty())
      out += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + kColors[si % 8] + "\" stroke-width=\"2\"/>";
    for (size_t i = 0; i < s.values.size() && i < n; ++i) {
      if (!drawable(scale, s.values[i])) continue;
      out += "<circle cx=\"" + num(category_x(c, i)) + "\" cy=\"" + num(scale.y(s.values[i])) + "\" r=\"3\" fill=\"" +
             kColors[si % 8] + "\"><title>" + html_escape(s.name + " @ " + c.categories[i] + ": " + num(s.values[i])) +
             "</title></circle>";
    }
  }
  return out + "</svg>";
}

std::string bar_chart(const Chart& c) {
  Scale scale = make_scale(c, true);
  std::string out;
  frame(c, scale, out);
  x_labels(c, out);
  size_t n = c.categories.size(), k = std::max<size_t>(c.series.size(), 1);
  double group = category_width(c);
  double bar = group * 0.8 / double(k);
  double base = scale.log ? scale.lo : 0;
  for (size_t si = 0; si < c.series.size(); ++si) {
    const auto& s = c.series[si];
    for (size_t i = 0; i < s.values.size() && i < n; ++i) {
      if (!drawable(scale, s.values[i])) continue;
      double x = category_x(c, i) - group * 0.4 + bar * double(si);
      double y = scale.y(s.values[i]), y0 = scale.y(base);
      out += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(bar * 0.92) + "\" height=\"" +
             num(std::max(0.5, y0 - y)) + "\" fill=\"" + kColors[si % 8] + "\"><title>" +
             html_escape(s.name + " @ " + c.categories[i] + ": " + num(s.values[i])) + "</title></rect>";
      if (i < s.labels.size() && !s.labels[i].empty())
        out += "<text x=\"" + num(x + bar * 0.46) + "\" y=\"" + num(y - 3) + "\" text-anchor=\"middle\" font-size=\"9\">" +
               html_escape(s.labels[i]) + "</text>";
    }
  }
  return out + "</svg>";
}

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  double pos = q * double(sorted.size() - 1);
  size_t i = size_t(std::floor(pos));
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (sorted[i + 1] - sorted[i]) * (pos - double(i));
}

namespace {

struct Summary {
  std::vector<double> sorted;
  double q1 = 0, median = 0, q3 = 0, low_whisker = 0, high_whisker = 0;
};

Summary summarise_values(const std::vector<double>& values) {
  Summary s;
  for (double v : values)
    if (std::isfinite(v)) s.sorted.push_back(v);
  std::sort(s.sorted.begin(), s.sorted.end());
  if (s.sorted.empty()) return s;
  s.q1 = quantile(s.sorted, 0.25), s.median = quantile(s.sorted, 0.5), s.q3 = quantile(s.sorted, 0.75);
  double reach = 1.5 * (s.q3 - s.q1);
  s.low_whisker = s.q3, s.high_whisker = s.q1;
  for (double v : s.sorted) {
    if (v >= s.q1 - reach) s.low_whisker = std::min(s.low_whisker, v);
    if (v <= s.q3 + reach) s.high_whisker = std::max(s.high_whisker, v);
  }
  return s;
}

// The frame of a distribution chart: a Chart without series (no legend), scaled to every value.
std::string distribution_frame(const DistributionChart& d, Chart& c, Scale& scale) {
  c = Chart{d.title, d.x_title, d.y_title, d.categories, {}, false};
  Chart all{"", "", "", d.categories, {{"", {}, {}}}, false};
  for (const auto& v : d.values) all.series[0].values.insert(all.series[0].values.end(), v.begin(), v.end());
  scale = make_scale(all, true);
  std::string out;
  frame(c, scale, out);
  x_labels(c, out);
  return out;
}

std::string rect(double x, double y, double w, double h, const char* fill, const std::string& extra = "") {
  return "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(std::max(0.5, h)) +
         "\" fill=\"" + fill + "\" " + extra + "/>";
}

std::string hline(double x1, double x2, double y, const char* stroke, double width = 1) {
  return "<line x1=\"" + num(x1) + "\" x2=\"" + num(x2) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) + "\" stroke=\"" +
         stroke + "\" stroke-width=\"" + num(width) + "\"/>";
}

std::string vline(double x, double y1, double y2, const char* stroke) {
  return "<line x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(y1) + "\" y2=\"" + num(y2) + "\" stroke=\"" +
         stroke + "\"/>";
}

std::string describe(const std::string& category, const Summary& s) {
  return html_escape(category + ": n=" + std::to_string(s.sorted.size()) + ", median " + num(s.median) + ", quartiles " +
                     num(s.q1) + "-" + num(s.q3) + ", range " + num(s.sorted.front()) + "-" + num(s.sorted.back()));
}

}  // namespace

std::string box_plot(const DistributionChart& d) {
  Chart c;
  Scale scale{0, 1, false};
  std::string out = distribution_frame(d, c, scale);
  double half = category_width(c) * 0.3;
  for (size_t i = 0; i < d.categories.size() && i < d.values.size(); ++i) {
    Summary s = summarise_values(d.values[i]);
    if (s.sorted.empty()) continue;
    const char* color = kColors[i % 8];
    double x = category_x(c, i);
    out += "<g><title>" + describe(d.categories[i], s) + "</title>";
    out += vline(x, scale.y(s.high_whisker), scale.y(s.q3), "#333") + vline(x, scale.y(s.q1), scale.y(s.low_whisker), "#333");
    out += hline(x - half / 2, x + half / 2, scale.y(s.high_whisker), "#333") +
           hline(x - half / 2, x + half / 2, scale.y(s.low_whisker), "#333");
    out += rect(x - half, scale.y(s.q3), 2 * half, scale.y(s.q1) - scale.y(s.q3), color,
                "fill-opacity=\"0.75\" stroke=\"#333\"");
    out += hline(x - half, x + half, scale.y(s.median), "#111", 2);
    for (double v : s.sorted)
      if (v < s.low_whisker || v > s.high_whisker)
        out += "<circle cx=\"" + num(x) + "\" cy=\"" + num(scale.y(v)) + "\" r=\"2.5\" fill=\"none\" stroke=\"#333\"/>";
    out += "</g>";
  }
  return out + "</svg>";
}

std::string violin_plot(const DistributionChart& d) {
  Chart c;
  Scale scale{0, 1, false};
  std::string out = distribution_frame(d, c, scale);
  double half = category_width(c) * 0.42;
  constexpr int kSteps = 60;
  for (size_t i = 0; i < d.categories.size() && i < d.values.size(); ++i) {
    Summary s = summarise_values(d.values[i]);
    if (s.sorted.empty()) continue;
    const auto& v = s.sorted;
    double n = double(v.size()), mean = 0, var = 0;
    for (double x : v) mean += x;
    mean /= n;
    for (double x : v) var += (x - mean) * (x - mean);
    double sd = v.size() > 1 ? std::sqrt(var / (n - 1)) : 0;
    double bandwidth = sd * std::pow(n, -0.2);  // Scott's rule, seaborn's default
    double lo = v.front(), hi = v.back();
    std::vector<double> ys, dens;
    if (bandwidth <= 0 || hi <= lo) {
      ys = {lo}, dens = {1};  // one value (or all equal): a flat line
    } else {
      for (int k = 0; k <= kSteps; ++k) {
        double y = lo + (hi - lo) * k / kSteps, sum = 0;
        for (double x : v) sum += std::exp(-0.5 * ((y - x) / bandwidth) * ((y - x) / bandwidth));
        ys.push_back(y), dens.push_back(sum);
      }
    }
    double peak = *std::max_element(dens.begin(), dens.end());
    double x = category_x(c, i);
    const char* color = kColors[i % 8];
    out += "<g><title>" + describe(d.categories[i], s) + "</title>";
    if (ys.size() == 1) {
      out += hline(x - half, x + half, scale.y(ys[0]), color, 2);
    } else {
      std::string path;
      for (size_t k = 0; k < ys.size(); ++k)
        path += (k ? " L" : "M") + num(x + half * dens[k] / peak) + " " + num(scale.y(ys[k]));
      for (size_t k = ys.size(); k-- > 0;) path += " L" + num(x - half * dens[k] / peak) + " " + num(scale.y(ys[k]));
      out += "<path d=\"" + path + " Z\" fill=\"" + color + "\" fill-opacity=\"0.55\" stroke=\"#333\" stroke-width=\"0.8\"/>";
    }
    out += vline(x, scale.y(s.high_whisker), scale.y(s.low_whisker), "#333");
    out += rect(x - 3, scale.y(s.q3), 6, scale.y(s.q1) - scale.y(s.q3), "#333");
    out += "<circle cx=\"" + num(x) + "\" cy=\"" + num(scale.y(s.median)) + "\" r=\"2.5\" fill=\"#fff\"/></g>";
  }
  return out + "</svg>";
}

}  // namespace mlfaas::experiment::svg
