#include "loadtest/locust_csv.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace mlfaas::loadtest {

namespace {

// Locust's get_readable_percentiles: 0.5 -> "50%", 0.999 -> "99.9%".
std::vector<std::string> percentile_columns() {
  std::vector<std::string> columns;
  for (double p : kLocustPercentiles) {
    const double pct = p * 100;
    if (std::fabs(pct - std::round(pct)) < 1e-9)
      columns.push_back(fmt::format("{}%", static_cast<int>(std::round(pct))));
    else
      columns.push_back(fmt::format("{}%", std::round(pct * 1e6) / 1e6));
  }
  return columns;
}

std::string join_row(const std::vector<std::string>& fields) {
  std::string row;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) row += ',';
    row += csv_field(fields[i]);
  }
  // Python's csv.writer ends rows with \r\n.
  return row + "\r\n";
}

// Locust's response-time dictionary keys are whole milliseconds; percentile and median columns are ints.
std::string whole_ms(double ms) { return std::to_string(static_cast<long long>(std::llround(ms))); }

std::vector<std::string> percentile_fields(const HdrHistogram& h) {
  std::vector<std::string> fields;
  for (double p : kLocustPercentiles)
    fields.push_back(h.total_count() ? whole_ms(us_to_ms(static_cast<double>(h.value_at_percentile(p * 100)))) : "N/A");
  return fields;
}

std::vector<std::string> stats_row(const RunResult& r, const std::string& type, const std::string& name) {
  const auto& h = r.total.latency_us;
  const int64_t n = r.total.requests;
  std::vector<std::string> row = {
      type,
      name,
      std::to_string(n),
      std::to_string(r.total.failures),
      n ? whole_ms(us_to_ms(static_cast<double>(h.value_at_percentile(50)))) : "0",
      python_float(us_to_ms(h.mean())),
      n ? python_float(us_to_ms(static_cast<double>(h.min()))) : "0",
      python_float(us_to_ms(static_cast<double>(h.max()))),
      python_float(n ? static_cast<double>(r.total.content_bytes) / static_cast<double>(n) : 0.0),
      python_float(r.requests_per_s()),
      python_float(r.failures_per_s()),
  };
  for (auto& f : percentile_fields(h)) row.push_back(std::move(f));
  return row;
}

}  // namespace

std::string python_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string locust_stats_csv(const RunResult& r) {
  std::vector<std::string> header = {"Type",
                                     "Name",
                                     "Request Count",
                                     "Failure Count",
                                     "Median Response Time",
                                     "Average Response Time",
                                     "Min Response Time",
                                     "Max Response Time",
                                     "Average Content Size",
                                     "Requests/s",
                                     "Failures/s"};
  for (auto& c : percentile_columns()) header.push_back(c);
  std::string out = join_row(header);
  // One request type per run, then Locust's "Aggregated" total (whose Type is empty).
  out += join_row(stats_row(r, r.method, r.name));
  out += join_row(stats_row(r, "", "Aggregated"));
  return out;
}

std::string locust_stats_history_csv(const RunResult& r) {
  std::vector<std::string> header = {"Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s"};
  for (auto& c : percentile_columns()) header.push_back(c);
  for (const char* c :
       {"Total Request Count", "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
        "Total Min Response Time", "Total Max Response Time", "Total Average Content Size"})
    header.push_back(c);
  std::string out = join_row(header);
  for (const TimePoint& p : r.timeline) {
    std::vector<std::string> row = {std::to_string(p.unix_time),
                                    std::to_string(p.users),
                                    "",
                                    "Aggregated",
                                    fmt::format("{:.6f}", p.current_rps),
                                    fmt::format("{:.6f}", p.current_fail_per_s)};
    for (double ms : p.total_percentiles_ms) row.push_back(p.total_requests ? whole_ms(ms) : "N/A");
    row.push_back(std::to_string(p.total_requests));
    row.push_back(std::to_string(p.total_failures));
    row.push_back(p.total_requests ? whole_ms(p.total_median_ms) : "0");
    row.push_back(python_float(p.total_mean_ms));
    row.push_back(p.total_requests ? python_float(p.total_min_ms) : "0");
    row.push_back(python_float(p.total_max_ms));
    row.push_back(python_float(p.total_avg_content));
    out += join_row(row);
  }
  return out;
}

std::string locust_failures_csv(const RunResult& r) {
  std::string out = join_row({"Method", "Name", "Error", "Occurrences"});
  for (const auto& [error, group] : r.total.failures_by_error)
    out += join_row({r.method, r.name, error, std::to_string(group.count)});
  return out;
}

std::string locust_exceptions_csv() { return join_row({"Count", "Message", "Traceback", "Nodes"}); }

void write_locust_csv_files(const RunResult& result, const std::string& prefix) {
  const std::pair<std::string, std::string> files[] = {
      {prefix + "_stats.csv", locust_stats_csv(result)},
      {prefix + "_stats_history.csv", locust_stats_history_csv(result)},
      {prefix + "_failures.csv", locust_failures_csv(result)},
      {prefix + "_exceptions.csv", locust_exceptions_csv()},
  };
  for (const auto& [path, text] : files) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path);
  }
}

}  // namespace mlfaas::loadtest
