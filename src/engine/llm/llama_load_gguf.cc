// A GGUF file of architecture "llama" (llama.cpp's convert_hf_to_gguf.py output and its quantizations). Tensors
// are used in place in their encoding; q/k rows are in the interleaved rotary layout.
#include "engine/error.h"
#include "engine/formats/gguf.h"
#include "engine/llm/llama_impl.h"
#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas {

namespace {

int require_positive_int(const GgufFile& g, const std::string& key) {
  const int64_t v = g.require_int(key);
  if (v <= 0 || v >= (int64_t{1} << 31)) {
    throw FormatError(g.path(), "metadata " + key + " = " + std::to_string(v) + " is out of range");
  }
  return static_cast<int>(v);
}

int optional_int(const GgufFile& g, const std::string& key, int fallback) {
  const auto v = g.get_int(key);
  if (!v) return fallback;
  if (*v < 0 || *v >= (int64_t{1} << 31)) {
    throw FormatError(g.path(), "metadata " + key + " = " + std::to_string(*v) + " is out of range");
  }
  return static_cast<int>(*v);
}

QWeight linear(const GgufFile& g, const std::string& name, int rows, int k) {
  const GgufTensor& t = g.require(name, {k, rows});
  return qweight_view(t.type, rows, k, t.data);
}

std::vector<float> norm(const GgufFile& g, const std::string& name, int n) {
  const GgufTensor& t = g.require(name, {n});
  return norm_to_f32(t.type, n, t.data);
}

}  // namespace

void load_gguf_llama(const std::string& path, LlamaModel::Impl* m) {
  m->gguf = GgufFile::open(path);
  const GgufFile& g = *m->gguf;
  const std::string arch = g.get_string("general.architecture").value_or("");
  if (arch != "llama") {
    throw FormatError(path, "general.architecture '" + arch + "' is not supported (expected \"llama\")");
  }
  if (auto scaling = g.get_string("llama.rope.scaling.type"); scaling && *scaling != "none") {
    throw FormatError(path, "llama.rope.scaling.type '" + *scaling + "' is not supported (only plain RoPE)");
  }
  LlamaConfig c;
  c.path = path;
  c.format = "gguf";
  c.hidden_size = require_positive_int(g, "llama.embedding_length");
  c.intermediate_size = require_positive_int(g, "llama.feed_forward_length");
  c.num_hidden_layers = require_positive_int(g, "llama.block_count");
  c.num_attention_heads = require_positive_int(g, "llama.attention.head_count");
  c.num_key_value_heads = optional_int(g, "llama.attention.head_count_kv", c.num_attention_heads);
  c.max_position_embeddings = require_positive_int(g, "llama.context_length");
  c.rms_norm_eps = static_cast<float>(g.get_float("llama.attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope_theta = static_cast<float>(g.get_float("llama.rope.freq_base").value_or(10000.0));
  c.rotary = RotaryLayout::Interleaved;
  const GgufTensor* embd = g.find("token_embd.weight");
  if (embd == nullptr) throw FormatError(path, "missing tensor token_embd.weight");
  if (embd->dims.size() != 2) throw FormatError(path, "tensor token_embd.weight is not 2-D");
  c.vocab_size = optional_int(g, "llama.vocab_size", static_cast<int>(std::min<int64_t>(embd->dims[1], INT32_MAX)));
  if (auto rot = g.get_int("llama.rope.dimension_count");
      rot && c.num_attention_heads > 0 && *rot != c.hidden_size / c.num_attention_heads) {
    throw FormatError(path, "llama.rope.dimension_count " + std::to_string(*rot) +
                                " differs from the head size (partial rotary is not supported)");
  }
  validate_llama_config(c, path);
  c.tie_word_embeddings = g.find("output.weight") == nullptr;
  m->config = c;

  GenerationDefaults& d = m->defaults;
  d.bos_token_id = optional_int(g, "tokenizer.ggml.bos_token_id", d.bos_token_id);
  d.eos_token_ids = {optional_int(g, "tokenizer.ggml.eos_token_id", d.eos_token_ids.front())};
  if (auto eot = g.get_int("tokenizer.ggml.eot_token_id");
      eot && *eot != d.eos_token_ids.front() && *eot >= 0 && *eot < c.vocab_size) {
    d.eos_token_ids.push_back(static_cast<int>(*eot));
  }
  m->tokenizer = LlamaTokenizer::from_gguf(g);
  if (m->tokenizer) m->chat_template = m->tokenizer->vocab().chat_template;

  const int h = c.hidden_size, kv = c.num_key_value_heads * c.head_dim(), inter = c.intermediate_size;
  m->embedding = linear(g, "token_embd.weight", c.vocab_size, h);
  m->layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LlamaLayerWeights& l = m->layers[i];
    l.attn_norm = norm(g, p + "attn_norm.weight", h);
    l.ffn_norm = norm(g, p + "ffn_norm.weight", h);
    l.q = linear(g, p + "attn_q.weight", h, h);
    l.k = linear(g, p + "attn_k.weight", kv, h);
    l.v = linear(g, p + "attn_v.weight", kv, h);
    l.o = linear(g, p + "attn_output.weight", h, h);
    l.gate = linear(g, p + "ffn_gate.weight", inter, h);
    l.up = linear(g, p + "ffn_up.weight", inter, h);
    l.down = linear(g, p + "ffn_down.weight", h, inter);
  }
  m->final_norm = norm(g, "output_norm.weight", h);
  m->lm_head = c.tie_word_embeddings ? m->embedding : linear(g, "output.weight", c.vocab_size, h);
}

}  // namespace mlfaas
