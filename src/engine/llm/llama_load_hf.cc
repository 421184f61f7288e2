// A Hugging Face LlamaForCausalLM directory: config.json, generation_config.json, model.safetensors (or shards with
// model.safetensors.index.json, or pytorch_model.bin) and tokenizer.model. Float tensors are used in place.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/formats/mapped_file.h"
#include "engine/formats/weights.h"
#include "engine/llm/llama_impl.h"
#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas {

namespace {

using nlohmann::json;

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

json read_json(const std::string& path) {
  json j = json::parse(read_text_file(path), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw FormatError(path, "not a JSON object");
  return j;
}

template <typename T>
T get_or(const json& j, const char* key, T fallback, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) throw FormatError(path, std::string(key) + " must be a string");
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) throw FormatError(path, std::string(key) + " must be true or false");
  } else if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer()) throw FormatError(path, std::string(key) + " must be an integer");
    const int64_t v = it->get<int64_t>();
    if (v < -(int64_t{1} << 31) || v >= (int64_t{1} << 31))
      throw FormatError(path, std::string(key) + " is out of range");
  } else {
    if (!it->is_number()) throw FormatError(path, std::string(key) + " must be a number");
  }
  return it->get<T>();
}

// eos_token_id is an int or a list of ints.
std::vector<int> id_list(const json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_number_integer()) return {it->get<int>()};
  std::vector<int> ids;
  if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_number_integer()) throw FormatError(path, std::string(key) + " must be an integer or a list of them");
      ids.push_back(v.get<int>());
    }
    return ids;
  }
  throw FormatError(path, std::string(key) + " must be an integer or a list of them");
}

LlamaConfig parse_config(const std::string& dir, GenerationDefaults* defaults) {
  const std::string path = dir + "/config.json";
  const json j = read_json(path);
  const std::string model_type = get_or<std::string>(j, "model_type", "llama", path);
  if (model_type != "llama") {
    throw FormatError(path, "model_type '" + model_type + "' is not a Llama model (expected \"llama\")");
  }
  const std::string act = get_or<std::string>(j, "hidden_act", "silu", path);
  if (act != "silu") throw FormatError(path, "hidden_act '" + act + "' is not supported (Llama uses silu)");
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    throw FormatError(path, "rope_scaling " + it->dump() + " is not supported (only plain RoPE, rope_scaling null)");
  }
  if (get_or<bool>(j, "attention_bias", false, path) || get_or<bool>(j, "mlp_bias", false, path)) {
    throw FormatError(path, "attention_bias / mlp_bias are not supported (Llama has no biases)");
  }
  LlamaConfig c;
  c.path = dir;
  c.format = "hf";
  c.vocab_size = get_or<int>(j, "vocab_size", 32000, path);
  c.hidden_size = get_or<int>(j, "hidden_size", 4096, path);
  c.intermediate_size = get_or<int>(j, "intermediate_size", 11008, path);
  c.num_hidden_layers = get_or<int>(j, "num_hidden_layers", 32, path);
  c.num_attention_heads = get_or<int>(j, "num_attention_heads", 32, path);
  c.num_key_value_heads = get_or<int>(j, "num_key_value_heads", c.num_attention_heads, path);
  c.max_position_embeddings = get_or<int>(j, "max_position_embeddings", 2048, path);
  c.rms_norm_eps = get_or<float>(j, "rms_norm_eps", 1e-6f, path);
  c.rope_theta = get_or<float>(j, "rope_theta", 10000.0f, path);
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false, path);
  c.rotary = RotaryLayout::HalfSplit;
  if (auto it = j.find("head_dim"); it != j.end() && it->is_number_integer() &&
                                    it->get<int64_t>() != c.hidden_size / std::max(1, c.num_attention_heads)) {
    throw FormatError(path, "head_dim other than hidden_size / num_attention_heads is not supported");
  }
  validate_llama_config(c, path);

  defaults->bos_token_id = get_or<int>(j, "bos_token_id", 1, path);
  if (auto eos = id_list(j, "eos_token_id", path); !eos.empty()) defaults->eos_token_ids = eos;
  const std::string gen_path = dir + "/generation_config.json";
  if (exists(gen_path)) {
    const json g = read_json(gen_path);
    defaults->bos_token_id = get_or<int>(g, "bos_token_id", defaults->bos_token_id, gen_path);
    if (auto eos = id_list(g, "eos_token_id", gen_path); !eos.empty()) defaults->eos_token_ids = eos;
    defaults->do_sample = get_or<bool>(g, "do_sample", defaults->do_sample, gen_path);
    defaults->temperature = get_or<float>(g, "temperature", defaults->temperature, gen_path);
    defaults->top_k = get_or<int>(g, "top_k", defaults->top_k, gen_path);
    defaults->top_p = get_or<float>(g, "top_p", defaults->top_p, gen_path);
    defaults->max_new_tokens = get_or<int>(g, "max_new_tokens", defaults->max_new_tokens, gen_path);
  }
  return c;
}

class TensorSource {
 public:
  TensorSource(const std::vector<std::unique_ptr<WeightFile>>& files, std::string dir)
      : files_(files), dir_(std::move(dir)) {}

  const TensorView* find(const std::string& name) const {
    for (const auto& f : files_) {
      if (const TensorView* t = f->find(name)) return t;
    }
    return nullptr;
  }

  const TensorView& get(const std::string& name, std::initializer_list<int64_t> shape) const {
    const TensorView* t = find(name);
    const std::string where = files_.size() == 1 ? files_.front()->path() : dir_;
    if (t == nullptr) throw FormatError(where, "missing tensor " + name);
    if (t->shape != std::vector<int64_t>(shape)) {
      throw FormatError(where, "tensor " + name + " has shape " + shape_string(t->shape) + ", expected " +
                                   shape_string(std::vector<int64_t>(shape)));
    }
    if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16) {
      throw FormatError(
          where, "tensor " + name + " has dtype " + std::string(dtype_name(t->dtype)) + " (expected F32, F16 or BF16)");
    }
    return *t;
  }

  QWeight linear(const std::string& name, int rows, int k) const {
    const TensorView& t = get(name, {rows, k});
    return qweight_view(quant_type(t.dtype), rows, k, t.data);
  }

  std::vector<float> norm(const std::string& name, int n) const {
    const TensorView& t = get(name, {n});
    return norm_to_f32(quant_type(t.dtype), n, t.data);
  }

 private:
  static QuantType quant_type(DType d) {
    return d == DType::F32 ? QuantType::F32 : d == DType::F16 ? QuantType::F16 : QuantType::BF16;
  }
  const std::vector<std::unique_ptr<WeightFile>>& files_;
  std::string dir_;
};

}  // namespace

void load_hf_llama(const std::string& dir, LlamaModel::Impl* m) {
  m->config = parse_config(dir, &m->defaults);
  const LlamaConfig& c = m->config;
  const std::string tok_path = dir + "/tokenizer.model";
  if (!exists(tok_path)) throw FormatError(tok_path, "missing (the model's SentencePiece tokenizer)");
  m->tokenizer = LlamaTokenizer::from_model_file(tok_path);
  if (m->tokenizer) m->chat_template = m->tokenizer->vocab().chat_template;

  m->weight_files.push_back(open_model_weights(dir));  // model.safetensors, its shards, or pytorch_model.bin
  const TensorSource src(m->weight_files, dir);
  const int h = c.hidden_size, kv = c.num_key_value_heads * c.head_dim(), inter = c.intermediate_size;
  m->embedding = src.linear("model.embed_tokens.weight", c.vocab_size, h);
  m->layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LlamaLayerWeights& l = m->layers[i];
    l.attn_norm = src.norm(p + "input_layernorm.weight", h);
    l.ffn_norm = src.norm(p + "post_attention_layernorm.weight", h);
    l.q = src.linear(p + "self_attn.q_proj.weight", h, h);
    l.k = src.linear(p + "self_attn.k_proj.weight", kv, h);
    l.v = src.linear(p + "self_attn.v_proj.weight", kv, h);
    l.o = src.linear(p + "self_attn.o_proj.weight", h, h);
    l.gate = src.linear(p + "mlp.gate_proj.weight", inter, h);
    l.up = src.linear(p + "mlp.up_proj.weight", inter, h);
    l.down = src.linear(p + "mlp.down_proj.weight", h, inter);
  }
  m->final_norm = src.norm("model.norm.weight", h);
  // Tied: HF ties lm_head to the embedding whatever lm_head.weight the file may also carry.
  m->lm_head = c.tie_word_embeddings ? m->embedding : src.linear("lm_head.weight", c.vocab_size, h);
}

}  // namespace mlfaas
