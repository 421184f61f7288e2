#pragma once
// `mlfaas experiment report RUN_DIR`: one self-contained HTML file (inline SVG, no script) with seed B's figures
// and a memory recommendation per function, from RUN_DIR/results/*.csv.
#include <string>
#include <vector>

#include "experiment/log_parser.h"

namespace mlfaas::experiment {

struct ConfigurationStats {
  std::string function;
  int memory_mb = 0, max_concurrency = 0, batch = 0;
  int invocations = 0, cold_starts = 0, instances = 0, cpu_count = 0, max_memory_mb = 0;
  double warm_processing_ms = 0;  // median over warm invocations (NaN when none)
  double warm_billed_ms = 0;      // median
  double cold_total_ms = 0;       // median of init + duration over cold starts (NaN when none)
  double cold_model_init_ms = 0;  // median of the function's own initialisation over cold starts (NaN: unknown)
  double mean_billed_ms = 0;      // over all invocations, cold included
  double mean_cost_usd = 0;       // per invocation, cold included
  double mean_compute_cost_usd = 0;  // the same without the request fee: billed ms x price, as seed B plotted
  std::vector<double> warm_billed;   // every warm invocation's billed ms (the box and violin plots)
};

std::vector<ConfigurationStats> summarise(const std::vector<InvocationRecord>& records);

// AWS Lambda Power Tuning's three strategies over one function's memory sizes (one batch size and concurrency):
// cheapest = lowest mean cost, fastest = lowest mean billed duration, balanced = lowest
// 0.5 * cost / max cost + 0.5 * duration / max duration (Power Tuning's "balanced" with balancedWeight 0.5).
struct Recommendation {
  std::string function;
  int batch = 0, max_concurrency = 0;
  int cheapest_mb = 0, fastest_mb = 0, balanced_mb = 0;
};
std::vector<Recommendation> recommend(const std::vector<ConfigurationStats>& stats);

// Text generation per function, memory size and batch (from the `llm` handler's token fields). Cost per answer
// divides the configuration's whole bill (cold starts included) by the questions answered; cost per 1,000
// tokens divides it by the tokens generated.
struct GenerationStats {
  std::string function;
  int memory_mb = 0, batch = 0;
  int invocations = 0, answers = 0, max_memory_mb = 0;
  long long generated_tokens = 0;
  double cold_init_ms = 0;             // median Init Duration of cold starts (NaN when none)
  double warm_first_token_ms = 0;      // median over warm invocations (NaN when none)
  double warm_tokens_per_second = 0;   // median decode tokens/s over warm invocations (NaN when none)
  double cost_per_answer_usd = 0;
  double cost_per_1k_tokens_usd = 0;   // NaN when nothing was generated
};
std::vector<GenerationStats> summarise_generation(const std::vector<InvocationRecord>& records);

// Writes RUN_DIR/report.html; returns its path. Throws std::runtime_error when RUN_DIR holds no results.
std::string write_report(const std::string& run_dir);

}  // namespace mlfaas::experiment
