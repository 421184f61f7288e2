#include "loadtest/summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace mlfaas::loadtest {

namespace {
std::string ms(int64_t us) { return fmt::format("{:.1f}", us_to_ms(static_cast<double>(us))); }
std::string seconds(double s) { return fmt::format("{:g} s", s); }
}  // namespace

std::string describe_scenario(const Scenario& s) {
  if (s.model == LoadModel::kOpen)
    return fmt::format("{}open model: {:g} requests/s intended over {} connections for {}",
                       s.name.empty() ? "" : s.name + ", ", s.rate, s.connections, seconds(s.run_time_s));
  return fmt::format("{}closed model: {} users spawned at {:g}/s (ramp-up {}), wait {:g}-{:g} s, for {}",
                     s.name.empty() ? "" : s.name + ", ", s.users, s.spawn_rate, seconds(s.ramp_up_s()), s.wait_min_s,
                     s.wait_max_s, seconds(s.run_time_s));
}

std::string summary_table(const RunResult& r) {
  const auto& h = r.total.latency_us;
  const bool any = r.total.requests > 0;
  const std::vector<std::string> header = {"Type",         "Name",        "# Requests", "# Fails",
                                           "Average (ms)", "Min (ms)",    "Max (ms)",   "Median (ms)",
                                           "95%ile (ms)",  "99%ile (ms)", "Requests/s"};
  const std::vector<std::string> row = {
      r.method,
      r.name,
      std::to_string(r.total.requests),
      std::to_string(r.total.failures),
      any ? fmt::format("{:.1f}", us_to_ms(h.mean())) : "-",
      any ? ms(h.min()) : "-",
      any ? ms(h.max()) : "-",
      any ? ms(h.value_at_percentile(50)) : "-",
      any ? ms(h.value_at_percentile(95)) : "-",
      any ? ms(h.value_at_percentile(99)) : "-",
      fmt::format("{:.2f}", r.requests_per_s()),
  };
  std::string out;
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = std::max(header[i].size(), row[i].size());
  for (const auto* line : {&header, &row}) {
    for (size_t i = 0; i < line->size(); ++i) {
      const std::string& cell = (*line)[i];
      const std::string pad(width[i] - cell.size(), ' ');
      out += i < 2 ? cell + pad : pad + cell;  // text left, numbers right
      out += i + 1 < line->size() ? "  " : "\n";
    }
  }
  return out;
}

std::string failure_summary(const RunResult& r) {
  if (r.total.failures == 0) return {};
  std::string out = fmt::format("Failures: {} of {} requests ({:.2f}%)\n", r.total.failures, r.total.requests,
                                100.0 * r.total.failures / std::max<int64_t>(1, r.total.requests));
  for (const auto& [cause, count] : r.failures_by_cause()) {
    out += fmt::format("  {:<17} {:>8}\n", failure_cause_name(cause), count);
    for (const auto& [error, group] : r.total.failures_by_error)
      if (group.cause == cause) out += fmt::format("      {:>8}  {}\n", group.count, error);
  }
  return out;
}

std::string progress_line(const RunResult& r) {
  const TimePoint* last = r.timeline.empty() ? nullptr : &r.timeline.back();
  const auto& h = r.total.latency_us;
  return fmt::format(
      "{:>5.0f}s  users {:>4}  requests {:>8}  fails {:>6}  {:>8.1f} req/s  median {:.1f} ms  p99 {:.1f} ms",
      last ? last->elapsed_s : 0.0, last ? last->users : 0, r.total.requests, r.total.failures,
      last ? last->current_rps : 0.0, us_to_ms(static_cast<double>(h.value_at_percentile(50))),
      us_to_ms(static_cast<double>(h.value_at_percentile(99))));
}

}  // namespace mlfaas::loadtest
