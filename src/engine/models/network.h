#pragma once
// What model.cc needs from an architecture: an encoder over one padding-free sequence plus its heads. Each
// network owns its packed weights and a scratch arena sized at load for max_position_embeddings tokens.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/formats/config.h"
#include "engine/formats/weights.h"
#include "engine/kernels/gemm.h"
#include "engine/models/params.h"

namespace mlfaas::models {

class Network {
 public:
  virtual ~Network() = default;

  int hidden_size() const { return hidden_; }
  // Rows the scratch arena holds: the most tokens one encode() call may take (>= max_position_embeddings).
  int max_rows() const { return max_rows_; }
  // Runs the encoder on `count` sequences stacked without padding: sequence s is rows [starts[s], starts[s+1]) of
  // ids/types (starts has count + 1 entries, starts[0] = 0, starts[count] <= max_rows()). Linears run once over
  // all rows; attention, positions and trigram neighbours stay within each sequence. Returns the last hidden state
  // [starts[count], hidden_size], valid until the next call. ids/types are validated by the caller.
  virtual const float* encode(const int32_t* ids, const int32_t* types, const int* starts, int count) = 0;
  virtual bool has_pooler() const = 0;
  // pooled [hidden_size] from the [CLS] row.
  virtual void pool(const float* cls_row, float* pooled) = 0;
  virtual bool has_classifier() const = 0;
  virtual void classify(const float* pooled, float* logits) = 0;
  virtual bool has_mlm_head() const { return false; }
  // logits [count, vocab] for the hidden rows at `positions` of a last hidden state (stride hidden_size), all in
  // one pass so the vocabulary projection is read once per group of masks.
  virtual void mlm_logits(const float* hidden, const int* positions, int count, float* logits) {}

 protected:
  Network(GemmRunner& runner, const ModelConfig& c)
      : gemm_(runner), hidden_(c.hidden_size), max_rows_(std::max(c.max_position_embeddings, kBatchRows)) {}
  // Enough rows for a few dozen short sentences per GEMM, where batching starts paying off in full.
  static constexpr int kBatchRows = 512;
  GemmRunner& gemm_;
  int hidden_;
  int max_rows_;
};

// Both architectures build from a ParamSource: a weight file (packed at load, optionally recorded into a
// compiled model) or a compiled model (mapped).
std::unique_ptr<Network> make_bert(const ModelConfig& config, ParamSource& params, GemmRunner& runner);
std::unique_ptr<Network> make_mobilebert(const ModelConfig& config, ParamSource& params, GemmRunner& runner);

// Shared by both architectures.
int activation_code(const std::string& hidden_act);  // kAct* for a config's hidden_act

// The base-model prefix the file uses: `<model_type>.` when its embeddings are stored under it, else "".
std::string detect_prefix(const WeightFile& weights, const std::string& model_type);

// A linear layer followed by a normalisation over its outputs: NoNorm (x * w + b) is fused into the GEMM;
// LayerNorm runs as a pass after it.
struct LinearNorm {
  PackedLinear linear;
  bool layer_norm = false;
  std::span<const float> norm_w, norm_b;
  float eps = 0.f;
};

// A scratch buffer of rows x width floats, 64-byte aligned.
struct Buffer {
  AlignedFloats data;
  int64_t width = 0;
  void allocate(int64_t rows, int64_t w) {
    width = w;
    data = alloc_aligned_floats(static_cast<size_t>(rows * w));
  }
  float* row(int64_t r) const { return data.get() + r * width; }
};

}  // namespace mlfaas::models
