#pragma once
// A Hugging Face config.json, reduced to what the supported architectures read. Defaults are transformers'.
#include <string>
#include <vector>

namespace mlfaas {

enum class Architecture {
  BertModel,
  BertForSequenceClassification,
  BertForMaskedLM,
  MobileBertForSequenceClassification,
};

const char* architecture_name(Architecture a);

struct ModelConfig {
  std::string path;  // the config.json it came from (for error messages)
  Architecture architecture = Architecture::BertModel;
  std::string model_type;  // "bert" or "mobilebert"

  int vocab_size = 30522;
  int hidden_size = 768;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int intermediate_size = 3072;
  std::string hidden_act = "gelu";
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  int pad_token_id = 0;
  double layer_norm_eps = 1e-12;
  std::vector<std::string> labels;  // id2label in id order; empty for models without a classifier

  // MobileBERT
  int embedding_size = 128;
  int true_hidden_size = 128;
  int intra_bottleneck_size = 128;
  int num_feedforward_networks = 4;
  bool use_bottleneck = true;
  bool use_bottleneck_attention = false;
  bool key_query_shared_bottleneck = true;
  bool trigram_input = true;
  bool classifier_activation = false;
  std::string normalization_type = "no_norm";  // "no_norm" | "layer_norm"

  int num_labels() const { return static_cast<int>(labels.size()); }
  bool is_mobilebert() const { return model_type == "mobilebert"; }
};

// Parses and validates `path` (a config.json). Throws FormatError naming the file on bad JSON, an unknown
// architecture, or a value out of range (non-positive sizes, heads not dividing the hidden size, ...).
ModelConfig load_config(const std::string& path);
ModelConfig parse_config(const std::string& json_text, const std::string& path);

}  // namespace mlfaas
