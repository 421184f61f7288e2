#pragma once
// An experiment specification (experiments/*.yaml, docs/EXPERIMENT.md): functions x memory sizes x maximum
// concurrency x batch sizes, each configuration sent `messages` SNS messages of `batch` texts from a dataset.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlfaas::experiment {

struct Dataset {
  std::string path;    // CSV or JSONL, relative paths resolved against the current directory
  std::string column;  // CSV column holding the text
  std::string field;   // JSONL field holding the text (exactly one of column/field)
};

// A function that is not one of seed B's classic handlers (`functions` entries written as a mapping): any
// bootstrap handler over any model, e.g. `llm` over a GGUF file (experiments/llm.yaml).
struct FunctionSpec {
  std::string name;                               // FunctionName; the configuration id starts with it
  std::string handler;                            // the bootstrap handler (_HANDLER)
  std::string model;                              // MODEL_PATH, relative to the current directory
  std::string build;                              // the command that writes a missing model (named in the error)
  std::vector<int> memory_mb;                     // empty: the spec's memory_mb
  std::map<std::string, std::string> environment;  // added to the function's Environment.Variables
  std::optional<Dataset> dataset;                 // instead of the spec's dataset
};

struct Spec {
  std::string name;
  Dataset dataset;
  std::string models_dir = "models/classic";  // <models_dir>/<function>/model.json
  std::vector<std::string> functions;         // seed B's classic handlers
  std::vector<FunctionSpec> custom_functions; // the mapping entries of `functions`, in their order after them
  std::vector<int> memory_mb;
  std::vector<int> max_concurrency;
  std::vector<int> batch_sizes;
  int messages = 10;           // SNS messages per configuration
  int timeout_s = 900;         // the functions' Timeout
  int wait_s = 600;            // how long one configuration may take before the run fails
};

struct Configuration {
  std::string function;
  int memory_mb;
  int max_concurrency;
  int batch;
  int custom = -1;  // index into Spec::custom_functions; -1: a classic function
  std::string id() const;  // e.g. "kmeans-m512-c2-b100": names its files in the run directory
};

// Throws mlfaas::FormatError(path, "key: problem") for a bad spec.
Spec load_spec(const std::string& path);
std::vector<Configuration> configurations(const Spec& spec);

// What a configuration's function is: its custom entry (null for a classic function), MODEL_PATH, and its texts.
const FunctionSpec* custom_function(const Spec& spec, const Configuration& config);
std::string model_path(const Spec& spec, const Configuration& config);
const Dataset& dataset_of(const Spec& spec, const Configuration& config);

// Lambda's published handler names of seed B's study.
const std::vector<std::string>& known_functions();

}  // namespace mlfaas::experiment
