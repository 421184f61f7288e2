#include "engine/formats/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>

#include "engine/error.h"
#include "engine/formats/mapped_file.h"

namespace mlfaas {

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::BertModel: return "BertModel";
    case Architecture::BertForSequenceClassification: return "BertForSequenceClassification";
    case Architecture::BertForMaskedLM: return "BertForMaskedLM";
    case Architecture::MobileBertForSequenceClassification: return "MobileBertForSequenceClassification";
  }
  return "?";
}

namespace {

using nlohmann::json;

template <typename T>
void read(const json& j, const char* key, T* out, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  try {
    *out = it->get<T>();
  } catch (const json::exception&) {
    throw FormatError(path, std::string("config key '") + key + "' has the wrong type");
  }
}

// nlohmann converts 64.5 or 4294967360 to an int silently (truncating, wrapping); a size must be an exact int.
template <>
void read<int>(const json& j, const char* key, int* out, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number_integer()) {
    throw FormatError(path, std::string("config key '") + key + "' must be an integer, got " + it->dump());
  }
  if (it->is_number_unsigned() ? it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int>::max())
                               : (it->get<int64_t>() < std::numeric_limits<int>::min() ||
                                  it->get<int64_t>() > std::numeric_limits<int>::max())) {
    throw FormatError(path, std::string("config key '") + key + "' is out of range: " + it->dump());
  }
  *out = static_cast<int>(it->get<int64_t>());
}

// A config is read before any weight, and sizes from it drive allocations; these caps are far above every
// BERT-family model yet keep a hostile config from asking for terabytes.
void require_in_range(int v, const char* key, int max, const std::string& path) {
  if (v <= 0) throw FormatError(path, std::string("config key '") + key + "' must be positive, got " + std::to_string(v));
  if (v > max) {
    throw FormatError(path, std::string("config key '") + key + "' is " + std::to_string(v) + ", more than mlfaas supports (" +
                                std::to_string(max) + ")");
  }
}

std::string json_error(const json::exception& e) {
  // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
  std::string what = e.what();
  if (!what.empty() && what[0] == '[') {
    if (size_t close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
  }
  return what;
}

constexpr int kMaxLabels = 1 << 16;

}  // namespace

ModelConfig parse_config(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e5649
    throw FormatError(path, "bad JSON: " + json_error(e));
  }
  if (!j.is_object()) throw FormatError(path, "bad JSON: expected an object");

  ModelConfig c;
  c.path = path;
  read(j, "model_type", &c.model_type, path);
  std::string arch;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    arch = (*it)[0].get<std::string>();
  } else if (c.model_type == "bert") {
    arch = "BertModel";
  } else if (c.model_type == "mobilebert") {
    arch = "MobileBertForSequenceClassification";
  }
  static const std::map<std::string, Architecture> kArch = {
      {"BertModel", Architecture::BertModel},
      {"BertForSequenceClassification", Architecture::BertForSequenceClassification},
      {"BertForMaskedLM", Architecture::BertForMaskedLM},
      {"MobileBertForSequenceClassification", Architecture::MobileBertForSequenceClassification},
  };
  auto a = kArch.find(arch);
  if (a == kArch.end()) {
    throw FormatError(path, "unknown architecture '" + (arch.empty() ? std::string("(none)") : arch) +
                                "' (supported: BertModel, BertForSequenceClassification, BertForMaskedLM, "
                                "MobileBertForSequenceClassification)");
  }
  c.architecture = a->second;
  if (c.model_type.empty()) c.model_type = c.architecture == Architecture::MobileBertForSequenceClassification ? "mobilebert" : "bert";
  const bool mobile = c.architecture == Architecture::MobileBertForSequenceClassification;
  if (mobile != (c.model_type == "mobilebert")) {
    throw FormatError(path, "architecture '" + arch + "' does not match model_type '" + c.model_type + "'");
  }
  if (mobile) {  // MobileBertConfig's defaults
    c.hidden_size = 512;
    c.num_hidden_layers = 24;
    c.num_attention_heads = 4;
    c.intermediate_size = 512;
    c.hidden_act = "relu";
  }

  read(j, "vocab_size", &c.vocab_size, path);
  read(j, "hidden_size", &c.hidden_size, path);
  read(j, "num_hidden_layers", &c.num_hidden_layers, path);
  read(j, "num_attention_heads", &c.num_attention_heads, path);
  read(j, "intermediate_size", &c.intermediate_size, path);
  read(j, "hidden_act", &c.hidden_act, path);
  read(j, "max_position_embeddings", &c.max_position_embeddings, path);
  read(j, "type_vocab_size", &c.type_vocab_size, path);
  read(j, "pad_token_id", &c.pad_token_id, path);
  read(j, "layer_norm_eps", &c.layer_norm_eps, path);
  read(j, "embedding_size", &c.embedding_size, path);
  read(j, "true_hidden_size", &c.true_hidden_size, path);
  read(j, "intra_bottleneck_size", &c.intra_bottleneck_size, path);
  read(j, "num_feedforward_networks", &c.num_feedforward_networks, path);
  read(j, "use_bottleneck", &c.use_bottleneck, path);
  read(j, "use_bottleneck_attention", &c.use_bottleneck_attention, path);
  read(j, "key_query_shared_bottleneck", &c.key_query_shared_bottleneck, path);
  read(j, "trigram_input", &c.trigram_input, path);
  read(j, "classifier_activation", &c.classifier_activation, path);
  read(j, "normalization_type", &c.normalization_type, path);

  if (auto it = j.find("id2label"); it != j.end() && it->is_object()) {
    std::map<int, std::string> by_id;
    for (auto e = it->begin(); e != it->end(); ++e) {
      const std::string& k = e.key();
      if (k.empty() || k.size() > 6 || k.find_first_not_of("0123456789") != std::string::npos) {
        throw FormatError(path, "id2label key '" + k + "' is not a label id");
      }
      const int id = std::stoi(k);
      if (!e.value().is_string()) throw FormatError(path, "id2label value for " + e.key() + " is not a string");
      if (!by_id.emplace(id, e.value().get<std::string>()).second) throw FormatError(path, "id2label has label id " + std::to_string(id) + " twice");
    }
    int expect = 0;
    for (const auto& [id, name] : by_id) {
      if (id != expect++) throw FormatError(path, "id2label ids are not 0..n-1");
      c.labels.push_back(name);
    }
  }
  if (c.labels.empty() && (c.architecture == Architecture::BertForSequenceClassification || mobile)) {
    int n = 2;
    read(j, "num_labels", &n, path);
    require_in_range(n, "num_labels", kMaxLabels, path);
    for (int i = 0; i < n; ++i) c.labels.push_back("LABEL_" + std::to_string(i));
  }

  require_in_range(c.vocab_size, "vocab_size", 1 << 24, path);
  require_in_range(c.hidden_size, "hidden_size", 1 << 16, path);
  require_in_range(c.num_hidden_layers, "num_hidden_layers", 1024, path);
  require_in_range(c.num_attention_heads, "num_attention_heads", 1024, path);
  require_in_range(c.intermediate_size, "intermediate_size", 1 << 18, path);
  require_in_range(c.max_position_embeddings, "max_position_embeddings", 1 << 20, path);
  require_in_range(c.type_vocab_size, "type_vocab_size", 1 << 16, path);
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size) {
    throw FormatError(path, "pad_token_id " + std::to_string(c.pad_token_id) + " is outside the vocabulary");
  }
  if (mobile) {
    require_in_range(c.embedding_size, "embedding_size", 1 << 16, path);
    require_in_range(c.true_hidden_size, "true_hidden_size", 1 << 16, path);
    require_in_range(c.intra_bottleneck_size, "intra_bottleneck_size", 1 << 16, path);
    require_in_range(c.num_feedforward_networks, "num_feedforward_networks", 64, path);
    if (c.normalization_type != "no_norm" && c.normalization_type != "layer_norm") {
      throw FormatError(path, "unknown normalization_type '" + c.normalization_type + "'");
    }
    const int attn = c.use_bottleneck ? c.true_hidden_size : c.hidden_size;
    if (attn % c.num_attention_heads != 0) {
      throw FormatError(path, "attention size " + std::to_string(attn) + " is not a multiple of num_attention_heads");
    }
  } else if (c.hidden_size % c.num_attention_heads != 0) {
    throw FormatError(path, "hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                                std::to_string(c.num_attention_heads));
  }
  static const char* kActs[] = {"gelu", "relu", "gelu_new", "gelu_pytorch_tanh", "tanh", "silu", "swish", "gelu_fast"};
  bool known = false;
  for (const char* a2 : kActs) known |= c.hidden_act == a2;
  if (!known) throw FormatError(path, "unsupported hidden_act '" + c.hidden_act + "'");
  if (!(c.layer_norm_eps > 0) || !std::isfinite(c.layer_norm_eps)) throw FormatError(path, "layer_norm_eps must be positive and finite");
  return c;
}

ModelConfig load_config(const std::string& path) { return parse_config(read_text_file(path), path); }

}  // namespace mlfaas
