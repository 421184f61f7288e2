#pragma once
// `mlfaas experiment run`: for every configuration of a spec, deploy it, publish the batches as seed B's SNS
// messages (SNS Publish), wait until every message was processed, and turn the function's logs into CSV rows.
// `--target aws` deploys through the AWS APIs (Lambda CreateFunction + PutFunctionConcurrency, an SNS topic with
// a lambda subscription) and reads CloudWatch Logs (FilterLogEvents) - on AWS, or on any endpoint that speaks
// them (moto_server, `mlfaas serve`). `--target local` runs each configuration on a child `mlfaas serve` made
// from a SAM template and reads its log files. Either way the runner reaches the platform only over HTTP.
#include <functional>
#include <string>

#include "experiment/spec.h"

namespace mlfaas::experiment {

struct RunOptions {
  std::string spec_path;
  std::string run_dir;        // default: runs/<spec name>
  std::string mlfaas_binary;  // the `mlfaas` that runs `serve` (default: this executable)
  bool progress = false;      // draw a progress bar on stderr

  std::string target = "local";  // local | aws
  std::string endpoint_url;      // aws: another endpoint than AWS's own (moto_server, mlfaas serve)
  std::string region, profile, role_arn;  // aws: flags win over the spec's aws: and the environment
  bool deploy_only = false;      // aws: stop after deploying every configuration
  bool keep = false;             // aws: leave functions and topics in place
  bool yes = false;              // aws: do not ask before spending money
  std::string estimate_from;     // a local run's invocations.csv: the plan's bill from its billed durations
  // Writes the package of `function` with the model directory `model_dir` at `out_base` (the CLI's `mlfaas
  // package`, which this library cannot link): `out_base`.zip, or `out_base`.oci (an OCI image layout) when the
  // zip would pass Lambda's 250 MB unzipped limit. Returns the path written.
  std::function<std::string(const std::string& function, const std::string& model_dir, const std::string& out_base)>
      package;
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


// Concatenates RUN_DIR/results/*.csv into RUN_DIR/invocations.csv; returns the number of rows.
int merge_results(const std::string& run_dir);

}  // namespace mlfaas::experiment
