#pragma once
// An experiment specification (experiments/*.yaml, docs/EXPERIMENT.md): functions x memory sizes x maximum
// concurrency x batch sizes, each configuration sent `messages` SNS messages of `batch` texts from a dataset.
#include <string>
#include <vector>

namespace mlfaas::experiment {

struct Dataset {
  std::string path;    // CSV or JSONL, relative paths resolved against the current directory
  std::string column;  // CSV column holding the text
  std::string field;   // JSONL field holding the text (exactly one of column/field)
};

// Where the functions go on AWS (`--target aws`); every field optional, command-line flags win.
struct AwsSpec {
  std::string role_arn;               // the functions' execution role
  std::string bucket;                 // S3 bucket for packages over Lambda's 50 MB direct upload
  std::string architecture = "x86_64";  // or arm64 (the packaged bootstrap must match)
  std::string image_uri;              // a container image (ECR) instead of zip packages; Handler via its command
};

struct Spec {
  std::string name;
  Dataset dataset;
  std::string models_dir = "models/classic";  // <models_dir>/<function>/model.json
  std::vector<std::string> functions;
  std::vector<int> memory_mb;
  std::vector<int> max_concurrency;
  std::vector<int> batch_sizes;
  int messages = 10;           // SNS messages per configuration
  int timeout_s = 900;         // the functions' Timeout
  int wait_s = 600;            // how long one configuration may take before the run fails
  AwsSpec aws;
};

struct Configuration {
  std::string function;
  int memory_mb;
  int max_concurrency;
  int batch;
  std::string id() const;  // e.g. "kmeans-m512-c2-b100": names its files in the run directory
};

// Throws mlfaas::FormatError(path, "key: problem") for a bad spec.
Spec load_spec(const std::string& path);
std::vector<Configuration> configurations(const Spec& spec);

// Lambda's published handler names of seed B's study.
const std::vector<std::string>& known_functions();

}  // namespace mlfaas::experiment
