#pragma once
// Inside a LlamaModel: the weights as QWeight views (into a file mapping, or into memory the model owns after a
// precision change) and the norms as fp32, whatever the file. The loaders (llama_load_*.cc) fill it; the session
// (llama_session.cc) only reads it.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "engine/kernels/qmatmul.h"
#include "engine/llm/llama.h"

namespace mlfaas {

class WeightFile;
class GgufFile;
class Llama2cCheckpoint;
class MlfFile;

struct LlamaLayerWeights {
  std::vector<float> attn_norm, ffn_norm;  // [hidden]
  QWeight q, k, v, o;                      // [hidden, hidden], [kv_dim, hidden] x2, [hidden, hidden]
  QWeight gate, up, down;                  // [inter, hidden] x2, [hidden, inter]
};

// 64-byte-aligned bytes the model owns (re-encoded weights).
struct AlignedBytes {
  struct Free {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, Free> data;
  size_t size = 0;
};
AlignedBytes allocate_aligned(size_t bytes);

struct LlamaModel::Impl {
  LlamaConfig config;
  GenerationDefaults defaults;
  std::shared_ptr<const LlamaTokenizer> tokenizer;
  std::string chat_template;
  Isa isa = Isa::Portable;

  QWeight embedding;  // [vocab, hidden]
  std::vector<LlamaLayerWeights> layers;
  std::vector<float> final_norm;  // [hidden]
  QWeight lm_head;                // [vocab, hidden]; the embedding when tied

  // What the views point into, kept alive with the model.
  std::vector<std::unique_ptr<WeightFile>> weight_files;
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Llama2cCheckpoint> llama2c;
  std::shared_ptr<const MlfFile> mlf;
  std::vector<AlignedBytes> owned;
};

// Loaders by format; each fills config, defaults, tokenizer, chat template and weights, throwing FormatError
// naming the file. load() then applies the precision option and the kernel level.
void load_hf_llama(const std::string& dir, LlamaModel::Impl* m);
void load_gguf_llama(const std::string& path, LlamaModel::Impl* m);
void load_llama2c(const std::string& path, LlamaModel::Impl* m);
void load_mlf_llama(std::shared_ptr<const MlfFile> file, LlamaModel::Impl* m);

// Checks the dimensions of a config read from `path` (positive, heads dividing hidden, kv heads dividing heads,
// even head_dim); FormatError otherwise.
void validate_llama_config(const LlamaConfig& c, const std::string& path);

// A view of a [rows, k] tensor of `type` at `data` (no ownership). row_bytes is the type's row size, the base
// type's for Q8_0_X16 / Q4_0_X16 (whose data holds whole groups of 16 rows: qweight_bytes()).
QWeight qweight_view(QuantType type, int rows, int k, const std::byte* data);
// The bytes `w` spans from w.data: rows * row_bytes, or x16_weight_bytes() for an interleaved weight.
size_t qweight_bytes(const QWeight& w);
// A 1-D norm weight of `n` elements in `type` as fp32.
std::vector<float> norm_to_f32(QuantType type, int n, const std::byte* data);

}  // namespace mlfaas
