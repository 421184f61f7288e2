#include "loadtest/run_stats.h"

namespace mlfaas::loadtest {

const char* failure_cause_name(FailureCause cause) {
  switch (cause) {
    case FailureCause::kStatus: return "HTTP status";
    case FailureCause::kTimeout: return "timeout";
    case FailureCause::kConnection: return "connection error";
    case FailureCause::kInvalidResponse: return "invalid response";
  }
  return "unknown";
}

void IntervalStats::merge(const IntervalStats& other) {
  latency_us.merge(other.latency_us);
  requests += other.requests;
  failures += other.failures;
  content_bytes += other.content_bytes;
  for (const auto& [error, group] : other.failures_by_error) {
    auto& mine = failures_by_error.try_emplace(error, FailureGroup{group.cause, 0}).first->second;
    mine.count += group.count;
  }
}

void IntervalStats::reset() {
  latency_us.reset();
  requests = failures = content_bytes = 0;
  failures_by_error.clear();
}

std::map<FailureCause, int64_t> RunResult::failures_by_cause() const {
  std::map<FailureCause, int64_t> by_cause;
  for (const auto& [error, group] : total.failures_by_error) by_cause[group.cause] += group.count;
  return by_cause;
}

}  // namespace mlfaas::loadtest
