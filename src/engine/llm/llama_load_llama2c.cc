// A llama2.c checkpoint: a directory holding one checkpoint *.bin and its tok*.bin tokenizer, or the checkpoint
// file itself with tokenizer.bin (or one tok*.bin) beside it. fp32 weights used in place, interleaved rotary.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "engine/error.h"
#include "engine/formats/llama2c.h"
#include "engine/llm/llama_impl.h"
#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas {

namespace {

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> bin_files(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".bin") == 0) names.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool is_tokenizer_name(const std::string& name) { return name.rfind("tok", 0) == 0; }

// The checkpoint and tokenizer paths for `path`.
std::pair<std::string, std::string> locate(const std::string& path) {
  if (is_directory(path)) {
    std::vector<std::string> checkpoints, tokenizers;
    for (const auto& name : bin_files(path)) (is_tokenizer_name(name) ? tokenizers : checkpoints).push_back(name);
    if (checkpoints.size() != 1 || tokenizers.size() != 1) {
      throw FormatError(path,
                        "not a model directory: expected config.json (Hugging Face), exactly one *.gguf file, exactly one "
                        "compiled *.mlf file, or exactly one llama2.c checkpoint *.bin and one tok*.bin tokenizer (found " +
                            std::to_string(checkpoints.size()) + " and " + std::to_string(tokenizers.size()) + ")");
    }
    return {path + "/" + checkpoints[0], path + "/" + tokenizers[0]};
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  struct stat st;
  if (::stat((dir + "/tokenizer.bin").c_str(), &st) == 0) return {path, dir + "/tokenizer.bin"};
  std::vector<std::string> tokenizers;
  for (const auto& name : bin_files(dir)) {
    if (is_tokenizer_name(name)) tokenizers.push_back(name);
  }
  if (tokenizers.size() != 1) {
    throw FormatError(path,
                      "not a GGUF file; as a llama2.c checkpoint it needs tokenizer.bin (or one tok*.bin) beside it");
  }
  return {path, dir + "/" + tokenizers[0]};
}

QWeight f32_linear(const float* data, int rows, int k) {
  return qweight_view(QuantType::F32, rows, k, reinterpret_cast<const std::byte*>(data));
}

}  // namespace

void load_llama2c(const std::string& path, LlamaModel::Impl* m) {
  const auto [checkpoint_path, tokenizer_path] = locate(path);
  m->llama2c = Llama2cCheckpoint::open(checkpoint_path);
  const Llama2cCheckpoint& ck = *m->llama2c;
  const Llama2cConfig& h = ck.config();
  LlamaConfig c;
  c.path = path;
  c.format = "llama2c";
  c.vocab_size = h.vocab_size;
  c.hidden_size = h.dim;
  c.intermediate_size = h.hidden_dim;
  c.num_hidden_layers = h.n_layers;
  c.num_attention_heads = h.n_heads;
  c.num_key_value_heads = h.n_kv_heads;
  c.max_position_embeddings = h.seq_len;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.tie_word_embeddings = h.shared_classifier;
  c.rotary = RotaryLayout::Interleaved;
  validate_llama_config(c, checkpoint_path);
  m->config = c;
  m->defaults = GenerationDefaults{};  // BOS 1, EOS 2 (llama2.c's sentencepiece vocabulary)
  m->tokenizer = LlamaTokenizer::from_llama2c(tokenizer_path, c.vocab_size);

  const int dim = c.hidden_size, kv = c.num_key_value_heads * c.head_dim(), inter = c.intermediate_size;
  auto to_bytes = [](const float* p) { return reinterpret_cast<const std::byte*>(p); };
  m->embedding = f32_linear(ck.token_embedding(), c.vocab_size, dim);
  m->layers.resize(c.num_hidden_layers);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LlamaLayerWeights& l = m->layers[i];
    l.attn_norm = norm_to_f32(QuantType::F32, dim, to_bytes(ck.rms_att(i)));
    l.ffn_norm = norm_to_f32(QuantType::F32, dim, to_bytes(ck.rms_ffn(i)));
    l.q = f32_linear(ck.wq(i), dim, dim);
    l.k = f32_linear(ck.wk(i), kv, dim);
    l.v = f32_linear(ck.wv(i), kv, dim);
    l.o = f32_linear(ck.wo(i), dim, dim);
    l.gate = f32_linear(ck.w1(i), inter, dim);
    l.up = f32_linear(ck.w3(i), inter, dim);
    l.down = f32_linear(ck.w2(i), dim, inter);
  }
  m->final_norm = norm_to_f32(QuantType::F32, dim, to_bytes(ck.rms_final()));
  m->lm_head = f32_linear(ck.classifier(), c.vocab_size, dim);
}

}  // namespace mlfaas
