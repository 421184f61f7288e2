#pragma once
// The runtime's structured log lines, written to stdout (Lambda ships stdout to CloudWatch Logs):
//  - one CloudWatch Embedded Metric Format object per invocation (CloudWatch turns it into metrics), and
//  - seed B's `ML_ON_FAAS - {...}` lines, which its log parser reads.
#include <string>
#include <vector>

#include "runtime/handler.h"

namespace mlfaas::runtime {

// Writes `line` + '\n' to stdout with one write(2), so lines from a handler never interleave with ours and
// reach the platform before the response does.
void log_line(const std::string& line);

struct InvocationMetrics {
  double init_ms = 0;  // only reported on the cold invocation
  double processing_ms = 0;
  size_t batch_size = 0;
  std::string model;
  std::string event_kind;
  int status_code = 200;
  std::vector<ExtraMetric> extra;  // the handler's own (tokens, tokens/s)
};

void log_emf(const Context& ctx, const InvocationMetrics& metrics);

// logMessage: "Initialization started", "Initialization completed", "Processing started", "Processing completed".
// `extra` (the handler's figures) are added as camelCase fields, e.g. GeneratedTokens -> generatedTokens.
void log_ml_on_faas(const Context& ctx, size_t batch_size, const std::string& log_message,
                    const std::vector<ExtraMetric>& extra = {});

// CPUs this process may run on (what `nproc` prints): the affinity mask, else the online count.
int visible_cpu_count();

// CPUs' worth of time this process may use: visible_cpu_count() capped by its cgroup's CPU quota rounded up
// (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us), as Lambda caps a 1024 MB function at 0.58 vCPU
// while it still sees every core. A thread pool sized to the visible cores under a smaller quota only gets its
// threads throttled in turn. Without a readable quota it is visible_cpu_count().
int usable_cpu_count();

}  // namespace mlfaas::runtime
