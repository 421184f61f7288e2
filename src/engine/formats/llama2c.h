#pragma once
// Andrej Karpathy's llama2.c files: the legacy checkpoint (`model.bin`: a header of seven int32 - dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: a separate classifier follows), seq_len - then
// fp32 tensors in a fixed order) and its tokenizer (`tokenizer.bin` / `tok512.bin`: int32 max_token_length, then
// per token an fp32 score, an int32 length and that many bytes). The checkpoint is mapped and its tensors used in
// place; wq/wk rows are in llama2.c's own rotary layout (pairs 2i, 2i+1, as GGUF's).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlfaas {

class MappedFile;

struct Llama2cConfig {
  int dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;  // header's vocab_size > 0
};

class Llama2cCheckpoint {
 public:
  // Throws FormatError naming the file: short header, non-positive or inconsistent sizes (heads not dividing dim,
  // kv heads not dividing heads, odd head size), or a file whose size is not exactly what the header implies.
  static std::unique_ptr<Llama2cCheckpoint> open(const std::string& path);
  ~Llama2cCheckpoint();

  const std::string& path() const { return path_; }
  const Llama2cConfig& config() const { return config_; }

  // fp32 row-major views into the mapping, per layer where the file stacks layers. Shapes (out, in):
  // token_embedding [vocab, dim]; rms_att / rms_ffn [dim]; wq [dim, dim]; wk, wv [kv_dim, dim]; wo [dim, dim];
  // w1, w3 [hidden, dim]; w2 [dim, hidden]; rms_final [dim]; classifier [vocab, dim] (= token_embedding when
  // shared). The file's freq_cis_real/imag tables are skipped (recomputed from theta 10000).
  const float* token_embedding() const;
  const float* rms_att(int layer) const;
  const float* wq(int layer) const;
  const float* wk(int layer) const;
  const float* wv(int layer) const;
  const float* wo(int layer) const;
  const float* rms_ffn(int layer) const;
  const float* w1(int layer) const;
  const float* w2(int layer) const;
  const float* w3(int layer) const;
  const float* rms_final() const;
  const float* classifier() const;

 private:
  Llama2cCheckpoint() = default;
  std::string path_;
  std::unique_ptr<MappedFile> mapping_;
  Llama2cConfig config_;
  const float* base_ = nullptr;
  size_t offsets_[12] = {};  // float offsets of each stacked tensor, in the order above
};

struct Llama2cVocab {
  std::vector<std::string> pieces;  // raw bytes of each token
  std::vector<float> scores;
  int max_token_length = 0;
};
// Reads a llama2.c tokenizer file for `vocab_size` tokens; FormatError naming the file when short or malformed.
Llama2cVocab read_llama2c_tokenizer(const std::string& path, int vocab_size);

}  // namespace mlfaas
