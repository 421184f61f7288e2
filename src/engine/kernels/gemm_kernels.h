#pragma once
// The contract between the portable driver and the ISA-specific GEMM microkernels. This header is included by
// the *_avx2.cc / *_avx512.cc files, so it holds only plain data and extern "C++" function declarations: no
// inline code that could be instantiated with different ISA flags in different translation units.
#include <cstdint>

namespace mlfaas {

enum GemmActivation : int {
  kActNone = 0,
  kActRelu = 1,
  kActGeluErf = 2,   // HF "gelu": 0.5 x (1 + erf(x / sqrt 2))
  kActGeluTanh = 3,  // HF "gelu_new" / "gelu_pytorch_tanh" / "gelu_fast"
  kActTanh = 4,
  kActSilu = 5,
};

// C[m, n] = post(A[m, k] · Wᵀ) for the N-panels [panel_begin, panel_end), where W [n, k] was packed into panels of
// `nr` columns: panel p holds columns p*nr .. p*nr+nr-1 as k rows of nr floats (zero beyond n), 64-byte aligned.
// post(x)[i, j] = (act(x + bias[j]) + residual[i, j]) * scale[j] + shift[j]; absent terms are skipped.
struct GemmArgs {
  const float* a;
  int64_t lda;
  const float* w;
  int m, n, k;
  float* c;
  int64_t ldc;
  const float* bias;      // [n] or null
  int act;                // GemmActivation
  const float* residual;  // [m, ldr] or null; may equal c (each element is read before it is written)
  int64_t ldr;
  const float* scale;  // [n] or null (then shift is null too): MobileBERT's NoNorm fused into the GEMM
  const float* shift;
  int panel_begin, panel_end;
};

// Applies post() to a tile of raw accumulators (tile[r * tile_ld + j] for rows row0.., columns col0..).
// Portable; the ISA kernels call it for partial panels and for activations they do not vectorise.
void gemm_post_scalar(const GemmArgs& g, const float* tile, int tile_ld, int row0, int rows, int col0, int cols);

// One head of unmasked attention (softmax(q kᵀ * scale) v) for a sequence; scratch: (dh + 1) * (seq rounded up
// to 16) floats.
using AttentionHeadFn = void (*)(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                                 int64_t ldv, float* out, int64_t ldo, int seq, int dh, float scale, float* scratch);
void attention_head_portable(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                             float* out, int64_t ldo, int seq, int dh, float scale, float* scratch);
void attention_head_avx2(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                         float* out, int64_t ldo, int seq, int dh, float scale, float* scratch);
void attention_head_avx512(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                           float* out, int64_t ldo, int seq, int dh, float scale, float* scratch);

void gemm_portable(const GemmArgs& g);  // nr = 16
void gemm_avx2(const GemmArgs& g);      // nr = 16
void gemm_avx512(const GemmArgs& g);    // nr = 32

}  // namespace mlfaas
