#pragma once
// Linear layers whose weights stay in their file's encoding (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K; see
// quant_blocks.h) and are used in place, usually straight from a read-only mapping of the model file: nothing is
// expanded to fp32 or copied at load. Decode (m = 1) streams each weight row once through a dot product that
// dequantizes in registers; prefill (m > 1) reuses each weight block across the rows of X (from 4 rows on, a tile of
// weight rows is decoded once per k-panel into an L1-sized buffer on the stack and every row of X runs against it).
//
// Activations for the integer types are quantized per 32-element block (q8 with an fp32 scale, as ggml's
// vec_dot_*_q8 kernels do), so an integer weight type never meets fp32 activations in the inner loop. That makes
// results depend on that quantization, exactly as llama.cpp's do; F32/F16/BF16 weights use fp32 arithmetic.
//
// Activation quantization (integer types): per 32-element block d = max|x| / 127 (fp32, not rounded to fp16 as
// ggml's block_q8_0 is) and q = x / d rounded to nearest, ties to even; every level produces the same codes.
//
// Every kernel level (kernels/isa.h) implements every type; results agree across levels to float rounding (integer
// sums are exact at every level). AVX-512 CPUs without VNNI run the AVX2 kernels. Threads: the weight's rows are
// split across the pool in chunks of whole row tiles; never more threads than the pool has.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/kernels/isa.h"
#include "engine/kernels/quant_blocks.h"

namespace mlfaas {

class ThreadPool;

// A [rows, k] weight, row r at data + r * row_bytes (row_bytes = k / quant_block_elems(type) *
// quant_block_bytes(type)). k is a multiple of the type's block size. Does not own the memory. The _X16 types keep
// the same row_bytes but store groups of 16 rows interleaved (quant_blocks.h): group g at data + 16 g row_bytes,
// x16_weight_bytes() in all.
struct QWeight {
  QuantType type = QuantType::F32;
  int rows = 0;
  int k = 0;
  const std::byte* data = nullptr;
  size_t row_bytes = 0;
};

// Bytes of one row of k elements of `type` (k a multiple of its block), 0 when k is not.
size_t quant_row_bytes(QuantType type, int64_t k);

// Scratch for quantized activations, sized once (no allocation per call): enough for m <= max_m rows of
// k <= max_k elements. One per concurrent caller (a qmatmul call writes it).
class QMatmulScratch {
 public:
  QMatmulScratch(int max_m, int max_k);
  ~QMatmulScratch();
  struct Impl;
  Impl* impl() const { return impl_.get(); }

 private:
  std::unique_ptr<Impl> impl_;
};

// Y[i, r] = sum_j X[i, j] * W[r, j] for i < m, r < w.rows (fp32 X and Y; row strides ldx, ldy). `isa` picks the
// kernel level (resolve_isa()); `pool` may be null (one thread). Integer types need a scratch with m <= max_m and
// k <= max_k (std::invalid_argument otherwise); float types ignore it (may be null). No heap allocation: the packed
// weight tile of the prefill kernels lives on each thread's stack (48 KiB). Throws std::invalid_argument when k is
// not a multiple of the type's block, std::runtime_error when this CPU lacks `isa`.
void qmatmul(Isa isa, const QWeight& w, const float* x, int64_t ldx, int m, float* y, int64_t ldy,
             QMatmulScratch* scratch, ThreadPool* pool);

// Row `row` of W converted to fp32 (k values): the embedding lookup for quantized token embeddings.
void dequantize_row(const QWeight& w, int row, float* out);

// Bytes of a Q8_0_X16 / Q4_0_X16 weight of `rows` x `k` (rows rounded up to 16); 0 for another type or a k that
// is not a multiple of 32.
size_t x16_weight_bytes(QuantType type, int64_t rows, int64_t k);
// A Q8_0 or Q4_0 weight rewritten in its row-interleaved type (quant_blocks.h) into `out`, which holds
// x16_weight_bytes(quant_type_interleaved(w.type), w.rows, w.k) bytes; the result views `out`. Lossless: every
// block keeps its scale and codes, so qmatmul() gives the same integer block sums. Throws std::invalid_argument
// for any other type.
QWeight interleave_x16(const QWeight& w, std::byte* out);
// The inverse: a Q8_0_X16 / Q4_0_X16 weight back in its base type's rows, into `out` of w.rows * w.row_bytes bytes
// (the padding rows dropped); the result views `out`. Throws std::invalid_argument for any other type.
QWeight deinterleave_x16(const QWeight& w, std::byte* out);

// k values (a multiple of the type's block) encoded as `type` into quant_row_bytes(type, k) bytes, bit for bit as
// ggml's reference quantizers write them: quantize_row_q8_0_ref / quantize_row_q4_0_ref, fp16 and bf16 rounded to
// nearest even (bf16 as ggml_compute_fp32_to_bf16: a nan stays a quiet nan), F32 copied. Q4_K / Q6_K throw
// std::invalid_argument (not supported yet). For tests, tools and small weights; not a hot path.
void quantize_row(QuantType type, const float* x, int64_t k, std::byte* out);

}  // namespace mlfaas
