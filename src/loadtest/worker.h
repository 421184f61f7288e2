#pragma once
// One worker thread of a run: an epoll loop over its share of the users (closed model: each user one
// keep-alive connection, a request, a wait, again) or of the arrivals and connections (open model: requests
// queued at their intended times and sent on the first idle connection). Statistics go to stats(), which the
// collecting thread takes under mutex() once a second.
#include <cstdint>
#include <memory>
#include <mutex>

#include "loadtest/run_stats.h"
#include "loadtest/runner.h"
#include "loadtest/tls.h"

namespace mlfaas::loadtest {

inline constexpr int64_t kNsPerSecond = 1'000'000'000;
int64_t monotonic_ns();

class Worker {
 public:
  // Thread `index` of options.threads; requests start at start_ns and stop at end_ns (steady clock).
  Worker(const RunOptions& options, const TlsContext* tls, int index, int64_t start_ns, int64_t end_ns);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run();  // returns at the end of the run (open model: once what was intended is answered or timed out)
  std::mutex& mutex();
  IntervalStats& stats();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlfaas::loadtest
