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

  std::vector<int> integers(const YAML::Node& root, const std::string& key, int lo, int hi) const {
    const YAML::Node node = root[key];
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
                                                "max_concurrency", "batch_sizes", "messages", "timeout_s", "wait_s",
                                                "aws"};
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) r.fail(key, "unknown key (allowed: name, dataset, models_dir, functions, memory_mb, "
                                         "max_concurrency, batch_sizes, messages, timeout_s, wait_s, aws)");
  }
  Spec spec;
  if (!root["name"]) r.fail("name", "is required");
  spec.name = r.text(root["name"], "name");
  for (char c : spec.name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') r.fail("name", "may hold only letters, digits, '-' and '_'");

  const YAML::Node ds = root["dataset"];
  if (!ds || !ds.IsMap()) r.fail("dataset", "is required: a mapping with path and column (CSV) or field (JSONL)");
  if (!ds["path"]) r.fail("dataset.path", "is required");
  spec.dataset.path = r.text(ds["path"], "dataset.path");
  if (ds["column"]) spec.dataset.column = r.text(ds["column"], "dataset.column");
  if (ds["field"]) spec.dataset.field = r.text(ds["field"], "dataset.field");
  if (spec.dataset.column.empty() == spec.dataset.field.empty())
    r.fail("dataset", "needs exactly one of column (CSV) or field (JSONL)");

  if (root["models_dir"]) spec.models_dir = r.text(root["models_dir"], "models_dir");
  const YAML::Node fns = root["functions"];
  if (!fns) r.fail("functions", "is required");
  if (fns.IsScalar() && fns.Scalar() == "all") spec.functions = known_functions();
  else if (fns.IsSequence()) {
    for (size_t i = 0; i < fns.size(); ++i) {
      std::string key = "functions[" + std::to_string(i) + "]";
      std::string f = r.text(fns[i], key);
      if (std::find(known_functions().begin(), known_functions().end(), f) == known_functions().end())
        r.fail(key, "unknown function '" + f + "' (known: kmeans, gmm, pca, logreg, svm, random-forest)");
      spec.functions.push_back(f);
    }
  } else {
    r.fail("functions", "must be a list of function names or 'all'");
  }
  if (spec.functions.empty()) r.fail("functions", "must not be empty");

  spec.memory_mb = r.integers(root, "memory_mb", 128, 10240);
  spec.max_concurrency = r.integers(root, "max_concurrency", 1, 1000);
  spec.batch_sizes = r.integers(root, "batch_sizes", 1, 10000);
  if (root["messages"]) spec.messages = r.integer(root["messages"], "messages", 1, 100000);
  if (root["timeout_s"]) spec.timeout_s = r.integer(root["timeout_s"], "timeout_s", 1, 900);
  if (root["wait_s"]) spec.wait_s = r.integer(root["wait_s"], "wait_s", 1, 86400);
  if (const YAML::Node aws = root["aws"]) {
    if (!aws.IsMap()) r.fail("aws", "must be a mapping of role_arn, bucket, architecture, image_uri");
    for (const auto& kv : aws) {
      std::string key = kv.first.as<std::string>();
      std::string value = r.text(kv.second, "aws." + key);
      if (key == "role_arn") spec.aws.role_arn = value;
      else if (key == "bucket") spec.aws.bucket = value;
      else if (key == "image_uri") spec.aws.image_uri = value;
      else if (key == "architecture") {
        if (value != "x86_64" && value != "arm64") r.fail("aws.architecture", "must be x86_64 or arm64, got '" + value + "'");
        spec.aws.architecture = value;
      } else {
        r.fail("aws." + key, "unknown key (allowed: role_arn, bucket, architecture, image_uri)");
      }
    }
  }
  return spec;
}

std::vector<Configuration> configurations(const Spec& spec) {
  std::vector<Configuration> out;
  for (const auto& f : spec.functions)
    for (int m : spec.memory_mb)
      for (int c : spec.max_concurrency)
        for (int b : spec.batch_sizes) out.push_back({f, m, c, b});
  return out;
}

}  // namespace mlfaas::experiment
