#pragma once
// Runs a scenario: worker threads, each an epoll loop driving many users (closed model) or a pool of
// keep-alive connections (open model); the calling thread collects statistics once a second.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "loadtest/run_stats.h"
#include "loadtest/scenario.h"
#include "loadtest/target.h"
#include "loadtest/tls.h"

namespace mlfaas::loadtest {

struct RunOptions {
  Scenario scenario;
  Target target;
  std::string url;                    // as given, for reports
  std::string request_name;           // the path, as Locust names requests
  std::vector<std::string> requests;  // serialised requests; each send picks one uniformly at random
  int threads = 1;
  double timeout_s = 30.0;                            // per request, from its latency origin
  TlsSettings tls;                                    // for https:// targets
  const std::atomic<bool>* stop_requested = nullptr;  // e.g. set on SIGINT: ends the run early, results kept
  std::function<void(const RunResult&)> on_second;    // called after each one-second collection
};

RunResult run_load_test(const RunOptions& options);

}  // namespace mlfaas::loadtest
