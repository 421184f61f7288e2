#include "loadtest/html_report.h"

#include "common/codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "loadtest/embedded_report_css.h"
#include "loadtest/summary.h"

namespace mlfaas::loadtest {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A "nice" axis step (1, 2 or 5 times a power of ten) giving about `ticks` intervals up to `max`.
double nice_step(double max, int ticks) {
  if (!(max > 0)) return 1;
  const double raw = max / ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * magnitude) return m * magnitude;
  return 10 * magnitude;
}

std::string number(double v) {
  if (v == 0) return "0";
  if (std::fabs(v) >= 100 || std::fabs(v - std::round(v)) < 1e-9) return fmt::format("{:.0f}", v);
  return fmt::format("{:g}", v);
}

struct Series {
  std::string label;
  std::string color;
  std::vector<double> values;
};

std::string line_chart(const std::string& title, const std::string& unit, const std::vector<double>& x,
                       const std::vector<Series>& series) {
  const double width = 1120, height = 280, left = 64, right = 16, top = 30, bottom = 40;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  double x_max = x.empty() ? 1 : std::max(1.0, x.back());
  double y_max = 0;
  for (const auto& s : series)
    for (double v : s.values) y_max = std::max(y_max, v);
  const double y_step = nice_step(y_max > 0 ? y_max : 1, 5);
  y_max = std::max(y_step, std::ceil((y_max > 0 ? y_max : 1) / y_step) * y_step);
  const double x_step = nice_step(x_max, 10);
  auto px = [&](double v) { return left + v / x_max * plot_w; };
  auto py = [&](double v) { return top + plot_h - v / y_max * plot_h; };

  std::string svg = fmt::format(
      R"svg(<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" role="img" aria-label="{2}">)svg",
      width, height, escape(title));
  svg += fmt::format(R"svg(<text class="title" x="{}" y="18">{}</text>)svg", left, escape(title));
  for (double v = 0; v <= y_max + y_step / 2; v += y_step) {
    svg += fmt::format(R"svg(<line class="grid" x1="{:.1f}" x2="{:.1f}" y1="{:.1f}" y2="{:.1f}"/>)svg", left,
                       left + plot_w, py(v), py(v));
    svg +=
        fmt::format(R"svg(<text x="{:.1f}" y="{:.1f}" text-anchor="end">{}</text>)svg", left - 6, py(v) + 4, number(v));
  }
  for (double v = 0; v <= x_max + x_step / 2; v += x_step)
    svg += fmt::format(R"svg(<text x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)svg", px(v), top + plot_h + 16,
                       number(v));
  svg += fmt::format(R"svg(<text x="{:.1f}" y="{:.1f}" text-anchor="middle">time (s)</text>)svg", left + plot_w / 2,
                     height - 4);
  svg +=
      fmt::format(R"svg(<text x="14" y="{:.1f}" transform="rotate(-90 14 {:.1f})" text-anchor="middle">{}</text>)svg",
                  top + plot_h / 2, top + plot_h / 2, escape(unit));
  svg += fmt::format(R"svg(<line class="axis" x1="{0:.1f}" x2="{0:.1f}" y1="{1:.1f}" y2="{2:.1f}"/>)svg", left, top,
                     top + plot_h);
  svg += fmt::format(R"svg(<line class="axis" x1="{0:.1f}" x2="{1:.1f}" y1="{2:.1f}" y2="{2:.1f}"/>)svg", left,
                     left + plot_w, top + plot_h);
  double legend_x = width - right;
  for (auto it = series.rbegin(); it != series.rend(); ++it) {
    legend_x -= 14 + 7.0 * static_cast<double>(it->label.size()) + 18;
    svg += fmt::format(
        R"svg(<rect x="{:.1f}" y="9" width="12" height="3" fill="{}"/><text x="{:.1f}" y="14">{}</text>)svg", legend_x,
        it->color, legend_x + 16, escape(it->label));
  }
  for (const auto& s : series) {
    std::string points;
    for (size_t i = 0; i < x.size() && i < s.values.size(); ++i)
      points += fmt::format("{:.1f},{:.1f} ", px(x[i]), py(s.values[i]));
    if (x.size() == 1) points += fmt::format("{:.1f},{:.1f}", px(x[0]) + 2, py(s.values[0]));  // visible dot
    svg += fmt::format(R"svg(<polyline stroke="{}" points="{}"><title>{}</title></polyline>)svg", s.color, points,
                       escape(s.label));
  }
  return svg + "</svg>\n";
}

std::string ms_cell(int64_t us) { return fmt::format("{:.1f}", us_to_ms(static_cast<double>(us))); }

std::string utc_time(int64_t unix_time) { return lambda::utc_strftime(unix_time, "%Y-%m-%d %H:%M:%S UTC"); }

}  // namespace

std::string html_report(const RunResult& r) {
  const auto& h = r.total.latency_us;
  const bool any = r.total.requests > 0;
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  html += "<title>mlfaas load test - " + escape(r.scenario.name.empty() ? "custom" : r.scenario.name) + "</title>\n";
  html += "<style>\n" + std::string(kEmbeddedReportCss) + "</style></head><body>\n";
  html += "<h1>Load test report</h1>\n";
  html += fmt::format(
      "<p class=\"meta\">Target <code>{} {}{}</code> &middot; {} &middot; started {} &middot; ran {:.1f} s</p>\n",
      escape(r.method), escape(r.url), escape(r.name), escape(describe_scenario(r.scenario)),
      utc_time(r.start_unix_time), r.duration_s);
  html += r.total.failures == 0
              ? "<p class=\"ok\">0 failures</p>\n"
              : fmt::format("<p class=\"bad\">{} of {} requests failed</p>\n", r.total.failures, r.total.requests);

  html += "<h2>Summary</h2>\n<table><tr><th>Type</th><th>Name</th>";
  for (const char* c : {"# Requests", "# Fails", "Average (ms)", "Min (ms)", "Max (ms)", "Median (ms)", "95%ile (ms)",
                        "99%ile (ms)", "Requests/s"})
    html += fmt::format("<th class=\"num\">{}</th>", c);
  html += fmt::format("</tr>\n<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
                      escape(r.method), escape(r.name), r.total.requests, r.total.failures);
  for (const std::string& cell :
       {any ? fmt::format("{:.1f}", us_to_ms(h.mean())) : std::string("-"), any ? ms_cell(h.min()) : "-",
        any ? ms_cell(h.max()) : "-", any ? ms_cell(h.value_at_percentile(50)) : "-",
        any ? ms_cell(h.value_at_percentile(95)) : "-", any ? ms_cell(h.value_at_percentile(99)) : "-",
        fmt::format("{:.2f}", r.requests_per_s())})
    html += "<td class=\"num\">" + cell + "</td>";
  html += "</tr></table>\n";

  html += "<h2>Response-time percentiles (whole run)</h2>\n<table><tr>";
  for (double p : kLocustPercentiles) html += fmt::format("<th class=\"num\">{}%</th>", p * 100);
  html += "</tr><tr>";
  for (double p : kLocustPercentiles)
    html += "<td class=\"num\">" + (any ? ms_cell(h.value_at_percentile(p * 100)) : std::string("-")) + "</td>";
  html += "</tr></table>\n<p class=\"meta\">Milliseconds, exact to 3 significant digits (HDR histogram).";
  if (r.scenario.model == LoadModel::kOpen)
    html += " Open model: latency counts from each request's intended send time, queueing in the client included.";
  html += "</p>\n";

  std::vector<double> x;
  Series rps{"requests/s", "#2563eb", {}}, fails{"failures/s", "#dc2626", {}};
  Series intended{"intended/s", "#93c5fd", {}};  // open model: the arrivals it was asked to send
  Series p50{"median", "#16a34a", {}}, p95{"95%ile", "#d97706", {}}, p99{"99%ile", "#dc2626", {}};
  Series users{r.scenario.model == LoadModel::kOpen ? "connections" : "users", "#7c3aed", {}};
  double previous = 0;
  for (const TimePoint& p : r.timeline) {
    const double length = std::max(1e-3, p.elapsed_s - previous);
    previous = p.elapsed_s;
    x.push_back(p.elapsed_s);
    rps.values.push_back(static_cast<double>(p.requests) / length);
    const double overlap = std::max(0.0, std::min(p.elapsed_s, r.scenario.run_time_s) - (p.elapsed_s - length));
    intended.values.push_back(r.scenario.rate * overlap / length);
    fails.values.push_back(static_cast<double>(p.failures) / length);
    p50.values.push_back(p.p50_ms);
    p95.values.push_back(p.p95_ms);
    p99.values.push_back(p.p99_ms);
    users.values.push_back(p.users);
  }
  html += "<h2>Charts (one point per second)</h2>\n";
  if (r.scenario.model == LoadModel::kOpen)
    html += line_chart("Requests and failures per second", "per second", x, {intended, rps, fails});
  else
    html += line_chart("Requests and failures per second", "per second", x, {rps, fails});
  html += line_chart("Response time percentiles per second", "ms", x, {p50, p95, p99});
  html += line_chart(r.scenario.model == LoadModel::kOpen ? "Connections" : "Users", "count", x, {users});

  html += "<h2>Failures</h2>\n";
  if (r.total.failures == 0) {
    html += "<p>None.</p>\n";
  } else {
    html += "<table><tr><th>Cause</th><th>Error</th><th class=\"num\">Occurrences</th></tr>\n";
    for (const auto& [cause, count] : r.failures_by_cause()) {
      for (const auto& [error, group] : r.total.failures_by_error)
        if (group.cause == cause)
          html += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n", failure_cause_name(cause),
                              escape(error), group.count);
    }
    html += "</table>\n";
  }
  html += "<footer>Generated by mlfaas loadtest.</footer>\n</body></html>\n";
  return html;
}

void write_html_report(const RunResult& result, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  out << html_report(result);
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace mlfaas::loadtest
