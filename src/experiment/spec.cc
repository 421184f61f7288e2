#include "experiment/spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "common/error.h"

namespace mlfaas::experiment {

const std::vector<std::string>& known_functions() {
  static const std::vector<std::string> names = {"kmeans", "gmm", "pca", "logreg", "svm", "random-forest"};
  return names;
}

std::string Configuration::id() const {
  return function + "-m" + std::to_string(memory_mb) + "-c" + std::to_string(max_concurrency) + "-b" +
         std::to_string(batch);
}

namespace {

struct Reader {
  const std::string& path;
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw FormatError(path, key + ": " + problem);
  }

  int integer(const YAML::Node& node, const std::string& key, int lo, int hi) const {
    int v = 0;
    try {
      v = node.as<int>();
    } catch (const YAML::Exception&) {
      fail(key, "must be an integer, got '" + (node.IsScalar() ? node.Scalar() : std::string("a non-scalar")) + "'");
    }
    if (v < lo || v > hi) fail(key, "must be within " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + std::to_string(v));
    return v;
  }

  std::string text(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar() || node.Scalar().empty()) fail(key, "must be a non-empty string");
    return node.Scalar();
  }

  Dataset dataset(const YAML::Node& ds, const std::string& key) const {
    if (!ds || !ds.IsMap()) fail(key, "is required: a mapping with path and column (CSV) or field (JSONL)");
    for (const auto& kv : ds)
      if (std::string k = kv.first.as<std::string>(); k != "path" && k != "column" && k != "field")
        fail(key + "." + k, "unknown key (allowed: path, column, field)");
    Dataset d;
    if (!ds["path"]) fail(key + ".path", "is required");
    d.path = text(ds["path"], key + ".path");
    if (ds["column"]) d.column = text(ds["column"], key + ".column");
    if (ds["field"]) d.field = text(ds["field"], key + ".field");
    if (d.column.empty() == d.field.empty()) fail(key, "needs exactly one of column (CSV) or field (JSONL)");
    return d;
  }

  void check_name(const std::string& name, const std::string& key) const {
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
        fail(key, "may hold only letters, digits, '-' and '_'");
  }

  // `{name, handler, model, build?, memory_mb?, environment?, dataset?}`: any handler over any model.
  FunctionSpec custom_function(const YAML::Node& node, const std::string& key) const {
    static const std::set<std::string> allowed = {"name", "handler", "model", "build", "memory_mb", "environment", "dataset"};
    for (const auto& kv : node)
      if (!allowed.count(kv.first.as<std::string>()))
        fail(key + "." + kv.first.as<std::string>(),
             "unknown key (allowed: name, handler, model, build, memory_mb, environment, dataset)");
    FunctionSpec f;
    for (const char* required : {"name", "handler", "model"})
      if (!node[required]) fail(key + "." + required, "is required");
    f.name = text(node["name"], key + ".name");
    check_name(f.name, key + ".name");
    f.handler = text(node["handler"], key + ".handler");
    f.model = text(node["model"], key + ".model");
    if (node["build"]) f.build = text(node["build"], key + ".build");
    if (node["memory_mb"]) f.memory_mb = integers(node, "memory_mb", 128, 10240, key + ".");
    if (const YAML::Node env = node["environment"]) {
      if (!env.IsMap()) fail(key + ".environment", "must be a mapping of variable names to values");
      for (const auto& kv : env) {
        std::string var = kv.first.as<std::string>();
        f.environment[var] = text(kv.second, key + ".environment." + var);
      }
    }
    if (node["dataset"]) f.dataset = dataset(node["dataset"], key + ".dataset");
    return f;
  }

  std::vector<int> integers(const YAML::Node& root, const std::string& name, int lo, int hi,
                            const std::string& prefix = "") const {
    const std::string key = prefix + name;
    const YAML::Node node = root[name];
    if (!node) fail(key, "is required");
    std::vector<int> out;
    if (node.IsScalar()) out.push_back(integer(node, key, lo, hi));
    else if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) out.push_back(integer(node[i], key + "[" + std::to_string(i) + "]", lo, hi));
    } else {
      fail(key, "must be an integer or a list of integers");
    }
    if (out.empty()) fail(key, "must not be empty");
    return out;
  }
};

}  // namespace

Spec load_spec(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw FormatError(path, "cannot read the experiment spec");
  } catch (const YAML::Exception& e) {
    throw FormatError(path, std::string("not valid YAML: ") + e.what());
  }
  Reader r{path};
  if (!root.IsMap()) r.fail("(top level)", "must be a mapping");
  static const std::set<std::string> allowed = {"name", "dataset", "models_dir", "functions", "memory_mb",
                                                "max_concurrency", "batch_sizes", "messages", "timeout_s", "wait_s"};
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) r.fail(key, "unknown key (allowed: name, dataset, models_dir, functions, memory_mb, "
                                         "max_concurrency, batch_sizes, messages, timeout_s, wait_s)");
  }
  Spec spec;
  if (!root["name"]) r.fail("name", "is required");
  spec.name = r.text(root["name"], "name");
  r.check_name(spec.name, "name");

  spec.dataset = r.dataset(root["dataset"], "dataset");

  if (root["models_dir"]) spec.models_dir = r.text(root["models_dir"], "models_dir");
  const YAML::Node fns = root["functions"];
  if (!fns) r.fail("functions", "is required");
  if (fns.IsScalar() && fns.Scalar() == "all") spec.functions = known_functions();
  else if (fns.IsSequence()) {
    for (size_t i = 0; i < fns.size(); ++i) {
      std::string key = "functions[" + std::to_string(i) + "]";
      if (fns[i].IsMap()) {
        spec.custom_functions.push_back(r.custom_function(fns[i], key));
        continue;
      }
      std::string f = r.text(fns[i], key);
      if (std::find(known_functions().begin(), known_functions().end(), f) == known_functions().end())
        r.fail(key, "unknown function '" + f + "' (known: kmeans, gmm, pca, logreg, svm, random-forest; or a "
                   "mapping {name, handler, model})");
      spec.functions.push_back(f);
    }
  } else {
    r.fail("functions", "must be a list of function names or 'all'");
  }
  if (spec.functions.empty() && spec.custom_functions.empty()) r.fail("functions", "must not be empty");

  std::set<std::string> names(spec.functions.begin(), spec.functions.end());
  bool every_function_has_memory = spec.functions.empty();
  for (size_t i = 0; i < spec.custom_functions.size(); ++i) {
    const FunctionSpec& f = spec.custom_functions[i];
    if (!names.insert(f.name).second) r.fail("functions", "the name '" + f.name + "' is used twice");
    every_function_has_memory = every_function_has_memory && !f.memory_mb.empty();
  }
  if (root["memory_mb"] || !every_function_has_memory) spec.memory_mb = r.integers(root, "memory_mb", 128, 10240);
  spec.max_concurrency = r.integers(root, "max_concurrency", 1, 1000);
  spec.batch_sizes = r.integers(root, "batch_sizes", 1, 10000);
  if (root["messages"]) spec.messages = r.integer(root["messages"], "messages", 1, 100000);
  if (root["timeout_s"]) spec.timeout_s = r.integer(root["timeout_s"], "timeout_s", 1, 900);
  if (root["wait_s"]) spec.wait_s = r.integer(root["wait_s"], "wait_s", 1, 86400);
  return spec;
}

std::vector<Configuration> configurations(const Spec& spec) {
  std::vector<Configuration> out;
  for (const auto& f : spec.functions)
    for (int m : spec.memory_mb)
      for (int c : spec.max_concurrency)
        for (int b : spec.batch_sizes) out.push_back({f, m, c, b});
  for (size_t i = 0; i < spec.custom_functions.size(); ++i) {
    const FunctionSpec& f = spec.custom_functions[i];
    for (int m : f.memory_mb.empty() ? spec.memory_mb : f.memory_mb)
      for (int c : spec.max_concurrency)
        for (int b : spec.batch_sizes) out.push_back({f.name, m, c, b, int(i)});
  }
  return out;
}

const FunctionSpec* custom_function(const Spec& spec, const Configuration& config) {
  return config.custom >= 0 && size_t(config.custom) < spec.custom_functions.size() ? &spec.custom_functions[config.custom]
                                                                                   : nullptr;
}

std::string model_path(const Spec& spec, const Configuration& config) {
  const FunctionSpec* f = custom_function(spec, config);
  return f ? f->model : spec.models_dir + "/" + config.function;
}

const Dataset& dataset_of(const Spec& spec, const Configuration& config) {
  const FunctionSpec* f = custom_function(spec, config);
  return f && f->dataset ? *f->dataset : spec.dataset;
}

}  // namespace mlfaas::experiment
