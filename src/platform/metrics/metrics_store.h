#pragma once
// Per-function Lambda metrics in an embedded SQLite database. Records are queued by the platform (never blocking an
// invocation) and written by a background thread in one transaction at most every `flush_interval`, with the
// database in WAL mode: a crash or kill -9 loses at most the records of the last interval. Raw records are kept for
// `retention` and aggregated on query, per second or per minute, the way CloudWatch shows Lambda's metrics.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

struct sqlite3;

namespace mlfaas::metrics {

struct InvocationRecord {
  int64_t ts_ms = 0;  // end of the invocation, Unix ms
  std::string function;
  std::string request_id;
  double duration_ms = 0;
  int64_t billed_ms = 0;
  std::optional<double> init_ms;  // cold starts only
  int memory_mb = 0;
  int max_memory_mb = 0;
  bool error = false;
  std::string error_type;  // e.g. Runtime.OutOfMemory, Sandbox.Timedout, Unhandled
  double cost_usd = 0;
};

struct Bucket {
  int64_t start_ms = 0;
  int64_t invocations = 0, errors = 0, throttles = 0, cold_starts = 0;
  double duration_avg = 0, duration_p50 = 0, duration_p90 = 0, duration_p99 = 0, duration_max = 0;
  double init_avg = 0;
  int64_t billed_ms = 0;
  double cost_usd = 0;
  int64_t concurrency_max = 0;
};

struct Totals {
  int64_t invocations = 0, errors = 0, throttles = 0, cold_starts = 0, billed_ms = 0;
  double cost_usd = 0, duration_sum_ms = 0;
};

// CloudWatch metric names the store can produce samples for (AWS/Lambda namespace).
enum class Metric { Invocations, Errors, Throttles, Duration, ConcurrentExecutions, ColdStarts, InitDuration };
std::optional<Metric> metric_from_name(const std::string& name);

class MetricsStore {
 public:
  struct Options {
    std::chrono::milliseconds flush_interval{200};
    std::chrono::hours retention{24 * 7};
  };
  // Opens or creates the database; throws std::runtime_error naming the file on failure.
  explicit MetricsStore(const std::string& path, Options options);
  explicit MetricsStore(const std::string& path) : MetricsStore(path, Options{}) {}
  ~MetricsStore();  // flushes what is queued
  MetricsStore(const MetricsStore&) = delete;
  MetricsStore& operator=(const MetricsStore&) = delete;

  void record_invocation(InvocationRecord r);
  void record_throttle(const std::string& function, int64_t ts_ms);
  void record_concurrency(const std::string& function, int64_t ts_ms, int64_t concurrent);
  void record_alarm_transition(const std::string& alarm, int64_t ts_ms, const std::string& from, const std::string& to,
                               const std::string& reason);
  void flush();  // writes everything queued now (tests, shutdown)

  std::vector<std::string> functions() const;
  // Buckets of `resolution` covering [since_ms, until_ms), oldest first; empty buckets are included with zeros.
  std::vector<Bucket> series(const std::string& function, std::chrono::seconds resolution, int64_t since_ms,
                             int64_t until_ms) const;
  Totals totals(const std::string& function, int64_t since_ms = 0) const;
  // Raw values of `metric` in [since_ms, until_ms) that a CloudWatch statistic is computed from, as Lambda
  // publishes them: per invocation 1 for Invocations, 0/1 for Errors and ColdStarts, the duration for Duration;
  // Throttles has 0 per invocation and 1 per throttled request (so Average is the throttled share); InitDuration
  // per cold start; ConcurrentExecutions the sampled concurrency. An empty result is a missing datapoint.
  std::vector<double> samples(const std::string& function, Metric metric, int64_t since_ms, int64_t until_ms) const;
  // Durations (ms) of all invocations since `since_ms`, for histograms.
  std::vector<double> durations(const std::string& function, int64_t since_ms) const;
  std::vector<InvocationRecord> recent(const std::string& function, size_t limit) const;

 private:
  struct Event {
    enum Kind { Invocation, Throttle, Concurrency, Alarm } kind;
    InvocationRecord inv;
    int64_t ts_ms = 0;
    int64_t value = 0;
    std::string a, b, c, d;
  };
  void writer_loop();
  void write_batch(std::vector<Event>& batch);
  void prune(int64_t now_ms);

  std::string path_;
  Options options_;
  sqlite3* db_ = nullptr;        // owned by the writer thread for writes; reads use their own connection
  sqlite3* read_db_ = nullptr;
  mutable std::mutex read_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> pending_;
  bool stop_ = false;
  uint64_t flush_requested_ = 0, flush_done_ = 0;
  std::condition_variable flushed_cv_;
  std::thread writer_;
};

// Nearest-rank percentile (0 < p <= 100) of ascending `sorted` values: the smallest value with at least p % of
// the values at or below it, as CloudWatch's percentile statistics. 0 for no values.
double nearest_rank_percentile(const std::vector<double>& sorted, double p);

// Prometheus text exposition format (version 0.0.4) of every function's totals and duration histogram.
std::string render_prometheus(const MetricsStore& store);

}  // namespace mlfaas::metrics
