#include "loadtest/runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "loadtest/worker.h"

namespace mlfaas::loadtest {

namespace {

int users_at(const Scenario& s, double elapsed_s) {
  if (s.model == LoadModel::kOpen) return s.connections;
  if (elapsed_s < 0) return 0;
  const double started = std::floor(elapsed_s * s.spawn_rate + 1e-9) + 1;
  return static_cast<int>(std::min<double>(s.users, started));
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Locust's current_rps for the last point: the average of the per-second counts over the last 10 seconds.
void update_current_rates(RunResult& result) {
  const size_t window = std::min<size_t>(10, result.timeline.size());
  double requests = 0, failures = 0, seconds = 0;
  for (size_t i = result.timeline.size() - window; i < result.timeline.size(); ++i) {
    const TimePoint& q = result.timeline[i];
    const double length = i == 0 ? q.elapsed_s : q.elapsed_s - result.timeline[i - 1].elapsed_s;
    requests += static_cast<double>(q.requests);
    failures += static_cast<double>(q.failures);
    seconds += length;
  }
  result.timeline.back().current_rps = seconds > 0 ? requests / seconds : 0;
  result.timeline.back().current_fail_per_s = seconds > 0 ? failures / seconds : 0;
}

// Folds one interval into the run's totals and appends its point to the timeline.
void add_point(RunResult& result, const IntervalStats& interval, double elapsed_s, int users) {
  TimePoint p;
  p.elapsed_s = elapsed_s;
  p.unix_time = unix_now();
  p.users = users;
  p.requests = interval.requests;
  p.failures = interval.failures;
  const auto& h = interval.latency_us;
  p.mean_ms = us_to_ms(h.mean());
  p.p50_ms = us_to_ms(h.value_at_percentile(50));
  p.p95_ms = us_to_ms(h.value_at_percentile(95));
  p.p99_ms = us_to_ms(h.value_at_percentile(99));
  p.max_ms = us_to_ms(h.max());

  result.total.merge(interval);
  const auto& t = result.total.latency_us;
  for (size_t i = 0; i < kLocustPercentiles.size(); ++i)
    p.total_percentiles_ms[i] = us_to_ms(t.value_at_percentile(kLocustPercentiles[i] * 100));
  p.total_requests = result.total.requests;
  p.total_failures = result.total.failures;
  p.total_median_ms = us_to_ms(t.value_at_percentile(50));
  p.total_mean_ms = us_to_ms(t.mean());
  p.total_min_ms = us_to_ms(t.min());
  p.total_max_ms = us_to_ms(t.max());
  p.total_avg_content =
      result.total.requests ? static_cast<double>(result.total.content_bytes) / result.total.requests : 0;

  result.timeline.push_back(p);
  update_current_rates(result);
}

}  // namespace

// Every user or connection holds a socket: lift the soft descriptor limit (often 1024) to the hard one.
static void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

RunResult run_load_test(const RunOptions& options) {
  options.scenario.validate();
  raise_open_file_limit();
  if (options.requests.empty()) throw std::invalid_argument("no requests to send");
  if (options.threads < 1) throw std::invalid_argument("threads must be at least 1");
  if (!(options.timeout_s > 0)) throw std::invalid_argument("timeout must be positive");

  RunResult result;
  result.scenario = options.scenario;
  result.url = options.url;
  result.name = options.request_name;
  result.start_unix_time = unix_now();

  const int threads = options.scenario.model == LoadModel::kOpen
                          ? std::min(options.threads, options.scenario.connections)
                          : std::min(options.threads, options.scenario.users);
  RunOptions effective = options;
  effective.threads = threads;
  const int64_t start = monotonic_ns() + 20'000'000;  // a moment for the threads to start before the first send
  const int64_t end = start + static_cast<int64_t>(options.scenario.run_time_s * kNsPerSecond);

  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<TlsContext> tls;
  if (options.target.tls()) tls = std::make_unique<TlsContext>(options.tls);
  for (int i = 0; i < threads; ++i) workers.push_back(std::make_unique<Worker>(effective, tls.get(), i, start, end));
  std::vector<std::thread> running;
  std::vector<std::exception_ptr> errors(workers.size());
  std::atomic<int> live(threads);
  for (size_t i = 0; i < workers.size(); ++i)
    running.emplace_back([&, i] {
      try {
        workers[i]->run();
      } catch (...) {
        errors[i] = std::current_exception();
      }
      live.fetch_sub(1);
    });

  IntervalStats interval;
  auto collect = [&] {
    interval.reset();
    for (auto& w : workers) {
      std::lock_guard lock(w->mutex());
      interval.merge(w->stats());
      w->stats().reset();
    }
  };

  // One collection per second of the run, aligned to its start; a last, shorter one after the workers end.
  int64_t next = start + kNsPerSecond;
  while (live.load() > 0) {
    const int64_t now = monotonic_ns();
    if (now < next) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(next - now, 20'000'000)));
      continue;
    }
    collect();
    const double elapsed = static_cast<double>(next - start) / kNsPerSecond;
    add_point(result, interval, elapsed,
              users_at(options.scenario, std::min(elapsed, options.scenario.run_time_s) - 1e-9));
    result.duration_s = elapsed;
    if (options.on_second) options.on_second(result);
    next += kNsPerSecond;
  }
  for (auto& t : running) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  collect();
  const double elapsed = static_cast<double>(monotonic_ns() - start) / kNsPerSecond;
  // The run ends between two ticks. A long remainder (an interrupted run, an open-model drain) gets its own
  // point; a few milliseconds after the last tick are folded into the last point, so the per-second charts
  // do not show a rate computed over a sliver of time.
  const int users = users_at(options.scenario, std::min(elapsed, options.scenario.run_time_s) - 1e-9);
  if (result.timeline.empty() || elapsed - result.timeline.back().elapsed_s >= 0.5) {
    add_point(result, interval, elapsed, users);
  } else if (interval.requests > 0) {
    const TimePoint last = result.timeline.back();
    result.timeline.pop_back();
    add_point(result, interval, elapsed, users);
    TimePoint& merged = result.timeline.back();
    merged.requests += last.requests;
    merged.failures += last.failures;
    // Per-interval percentiles stay those of the full second: the sliver holds few samples.
    merged.mean_ms = last.mean_ms, merged.p50_ms = last.p50_ms, merged.p95_ms = last.p95_ms;
    merged.p99_ms = last.p99_ms, merged.max_ms = std::max(last.max_ms, merged.max_ms);
    update_current_rates(result);
  }
  result.duration_s = elapsed;
  return result;
}

}  // namespace mlfaas::loadtest
