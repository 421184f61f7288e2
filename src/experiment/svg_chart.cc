#include "experiment/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace mlfaas::experiment::svg {

namespace {

constexpr double kMinWidth = 600, kCategoryWidth = 44, kHeight = 320, kLeft = 70, kRight = 150, kTop = 34, kBottom = 52;
// Many categories (memory x concurrency) get a wider chart instead of overlapping labels.
double chart_width(size_t categories) { return std::max(kMinWidth, kLeft + kRight + kCategoryWidth * double(categories)); }

const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string num(double v) {
  char buf[32];
  double a = std::fabs(v);
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
    // A value exactly on the lowest decade would draw as an empty bar: start one decade lower then.
    double floor_lo = std::pow(10, std::floor(std::log10(lo)));
    lo = floor_lo >= lo * 0.999 ? floor_lo / 10 : floor_lo;
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
  const double width = chart_width(c.categories.size());
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                "font-family=\"sans-serif\" font-size=\"11\" role=\"img\">",
                width, kHeight, width, kHeight);
  out += buf;
  out += "<text x=\"" + num(width / 2) + "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" +
         html_escape(c.title) + "</text>";
  double right = width - kRight;
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

double category_x(size_t i, size_t n) {
  double w = (chart_width(n) - kRight - kLeft) / double(std::max<size_t>(n, 1));
  return kLeft + w * (double(i) + 0.5);
}

void x_labels(const Chart& c, std::string& out) {
  bool slanted = c.categories.size() > 8;  // long runs of "memory/concurrency" labels would touch
  for (size_t i = 0; i < c.categories.size(); ++i) {
    std::string x = num(category_x(i, c.categories.size())), y = num(kHeight - kBottom + (slanted ? 12 : 16));
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
      path += (path.empty() ? "M" : " L") + num(category_x(i, n)) + " " + num(scale.y(s.values[i]));
    }
    if (!path.empty())
      out += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + kColors[si % 8] + "\" stroke-width=\"2\"/>";
    for (size_t i = 0; i < s.values.size() && i < n; ++i) {
      if (!drawable(scale, s.values[i])) continue;
      out += "<circle cx=\"" + num(category_x(i, n)) + "\" cy=\"" + num(scale.y(s.values[i])) + "\" r=\"3\" fill=\"" +
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
  double group = (chart_width(n) - kRight - kLeft) / double(std::max<size_t>(n, 1));
  double bar = group * 0.8 / double(k);
  double base = scale.log ? scale.lo : 0;
  for (size_t si = 0; si < c.series.size(); ++si) {
    const auto& s = c.series[si];
    for (size_t i = 0; i < s.values.size() && i < n; ++i) {
      if (!drawable(scale, s.values[i])) continue;
      double x = category_x(i, n) - group * 0.4 + bar * double(si);
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

}  // namespace mlfaas::experiment::svg
