#pragma once
// What a run measured: per-second points for the charts and Locust's history file, the whole-run histogram,
// and failures grouped by cause and message.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "loadtest/hdr_histogram.h"
#include "loadtest/scenario.h"

namespace mlfaas::loadtest {

enum class FailureCause { kStatus, kTimeout, kConnection, kInvalidResponse };
const char* failure_cause_name(FailureCause cause);

// Locust's reported percentiles (PERCENTILES_TO_REPORT in locust/stats.py), as fractions.
inline constexpr std::array<double, 11> kLocustPercentiles = {0.50, 0.66, 0.75,  0.80,   0.90, 0.95,
                                                              0.98, 0.99, 0.999, 0.9999, 1.0};

struct FailureGroup {
  FailureCause cause;
  int64_t count = 0;
};

// What the workers record between two collections; merged into the run's totals once a second.
struct IntervalStats {
  HdrHistogram latency_us;
  int64_t requests = 0;
  int64_t failures = 0;
  int64_t content_bytes = 0;
  std::map<std::string, FailureGroup> failures_by_error;

  void record(int64_t latency_us_value, uint64_t content_size) {
    latency_us.record(latency_us_value);
    ++requests;
    content_bytes += static_cast<int64_t>(content_size);
  }
  void record_failure(int64_t latency_us_value, FailureCause cause, const std::string& error) {
    latency_us.record(latency_us_value);
    ++requests;
    ++failures;
    auto& group = failures_by_error.try_emplace(error, FailureGroup{cause, 0}).first->second;
    ++group.count;
  }
  void merge(const IntervalStats& other);
  void reset();
};

struct TimePoint {
  double elapsed_s = 0;   // end of this one-second interval, from the start of the run
  int64_t unix_time = 0;  // the same instant, for Locust's Timestamp column
  int users = 0;          // closed model: users started; open model: connections
  int64_t requests = 0;   // completed in this interval
  int64_t failures = 0;
  double mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;  // of this interval
  // Locust's stats_history semantics: rates averaged over the last 10 seconds, percentiles cumulative.
  double current_rps = 0, current_fail_per_s = 0;
  std::array<double, kLocustPercentiles.size()> total_percentiles_ms{};
  int64_t total_requests = 0, total_failures = 0;
  double total_median_ms = 0, total_mean_ms = 0, total_min_ms = 0, total_max_ms = 0, total_avg_content = 0;
};

struct RunResult {
  Scenario scenario;
  std::string url;  // --host as given
  std::string method = "POST";
  std::string name;  // request name as Locust shows it: the path
  int64_t start_unix_time = 0;
  double duration_s = 0;  // from the first request to the end of the run (drain included)
  IntervalStats total;
  std::vector<TimePoint> timeline;

  double requests_per_s() const { return duration_s > 0 ? total.requests / duration_s : 0.0; }
  double failures_per_s() const { return duration_s > 0 ? total.failures / duration_s : 0.0; }
  // Failure counts summed per cause, for the "by cause" summary.
  std::map<FailureCause, int64_t> failures_by_cause() const;
};

inline double us_to_ms(double us) { return us / 1000.0; }

}  // namespace mlfaas::loadtest
