#include "engine/models/network.h"

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas::models {

int activation_code(const std::string& act) {
  if (act == "gelu") return kActGeluErf;
  if (act == "relu") return kActRelu;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") return kActGeluTanh;
  if (act == "tanh") return kActTanh;
  if (act == "silu" || act == "swish") return kActSilu;
  return -1;  // config.cc rejects anything else before we get here
}

std::string detect_prefix(const WeightFile& weights, const std::string& model_type) {
  const std::string prefixed = model_type + ".";
  if (weights.find(prefixed + "embeddings.word_embeddings.weight") != nullptr) return prefixed;
  if (weights.find("embeddings.word_embeddings.weight") != nullptr) return "";
  return prefixed;  // neither: the first lookup names the tensor a user would expect
}

}  // namespace mlfaas::models
