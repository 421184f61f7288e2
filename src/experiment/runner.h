#pragma once
// `mlfaas experiment run`: for every configuration of a spec, deploy it on the local platform (a SAM template
// and a child `mlfaas serve`), publish the batches as seed B's SNS messages over the SNS Publish HTTP API,
// wait until every message was processed, stop the platform and turn its logs into CSV rows. The runner
// reaches the platform only over HTTP and through its log files, as it would reach AWS.
#include <functional>
#include <string>

#include "experiment/spec.h"

namespace mlfaas::experiment {

struct RunOptions {
  std::string spec_path;
  std::string run_dir;        // default: runs/<spec name>
  std::string mlfaas_binary;  // the `mlfaas` that runs `serve` (default: this executable)
  bool progress = false;      // draw a progress bar on stderr
};

struct RunSummary {
  int configurations = 0;
  int skipped = 0;  // results already in the run directory
  int invocations = 0;
  std::string csv_path;
};

// Throws FormatError for a bad spec or dataset, std::runtime_error for a missing model or a failed
// configuration (which keeps the results of the configurations before it).
RunSummary run_experiment(const RunOptions& options);

// The SAM template of one configuration (exposed for tests).
// `custom` (the configuration's custom function, if it is one) gives the handler and extra environment.
std::string configuration_template(const Configuration& config, const std::string& model_dir, int timeout_s,
                                   const FunctionSpec* custom = nullptr);

// Concatenates RUN_DIR/results/*.csv into RUN_DIR/invocations.csv; returns the number of rows.
int merge_results(const std::string& run_dir);

}  // namespace mlfaas::experiment
