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

// ---- int8 (dynamic quantization) ----
// One weight layout for every level, so a compiled model runs on any CPU: panels of kInt8Nr output columns; K is
// padded to kp (a multiple of 4) and stored as kp/4 groups; a group holds, for each of the panel's columns, its 4
// consecutive int8 weights (column j's bytes at j*4 .. j*4+3). That is the operand shape of VNNI `vpdpbusd` (4 u8 x
// 4 s8 summed into one int32 lane); the other levels read the same bytes.
constexpr int kInt8Nr = 32;
constexpr int kInt8PanelGroupBytes = kInt8Nr * 4;
// Largest K an int8 linear may have: |sum of u8 x s8 products| <= 255 * 128 * K and |zero * colsum| <= 255 * 127 * K
// must both stay below 2^30 so that the corrected sum fits int32 (4096 in BERT-large; 8x margin).
constexpr int kInt8MaxK = 32768;

// C = post(dequant(Aq · Wqᵀ)) with Aq u8 (per-row scale, zero point), Wq s8 (per-column scale, column sums).
// acc[i][j] = sum_k Aq[i][k] * Wq[j][k] - zero[i] * colsum[j]  (exact int32: |acc| < 255 * 127 * k)
// x[i][j] = float(acc) * (a_scale[i] * w_scale[j]), then out's post() as for fp32 (bias, act, residual, affine).
// When raw is non-null the kernel writes acc there ([m, n], row-major) instead: the tests' exact comparison.
struct Int8GemmArgs {
  const uint8_t* a;  // [m, lda]; columns k..kp-1 are zero
  int64_t lda;
  const int32_t* a_zero;  // [m]
  const float* a_scale;   // [m]
  const int8_t* w;        // panels, kp * kInt8Nr bytes each, 64-byte aligned
  const int32_t* w_colsum;
  const float* w_scale;
  int kp;
  int32_t* raw;
  GemmArgs out;  // m, n, c, ldc, bias, act, residual, ldr, scale, shift, panel_begin, panel_end (a, w, k unused)
};

// Per-row asymmetric u8 quantization of fp32 activations (the range always includes 0, so 0 is exact): scale =
// (max - min) / 255, zero = round(-min / scale). One portable routine for every level, so levels agree exactly.
void quantize_rows_u8(const float* a, int64_t lda, int m, int k, uint8_t* q, int64_t ldq, int kp, float* scale,
                      int32_t* zero);
void quantize_rows_u8_avx512(const float* a, int64_t lda, int m, int k, uint8_t* q, int64_t ldq, int kp,
                             float* scale, int32_t* zero);  // same codes, vectorized
void quantize_rows_u8_avx2(const float* a, int64_t lda, int m, int k, uint8_t* q, int64_t ldq, int kp, float* scale,
                           int32_t* zero);  // same codes, vectorized
// Applies the zero-point correction, dequantization and post() (or the raw store) to a tile of int32 sums.
void gemm_s8_finish_scalar(const Int8GemmArgs& g, const int32_t* tile, int tile_ld, int row0, int rows, int col0,
                           int cols);
void gemm_s8_portable(const Int8GemmArgs& g);
void gemm_s8_avx2(const Int8GemmArgs& g);        // exact: s16 widening + vpmaddwd, never vpmaddubsw
void gemm_s8_avxvnni(const Int8GemmArgs& g);     // VEX vpdpbusd on ymm (AVX-VNNI)
void gemm_s8_avx512vnni(const Int8GemmArgs& g);  // vpdpbusd on zmm

void gemm_portable(const GemmArgs& g);  // nr = 16
void gemm_avx2(const GemmArgs& g);      // nr = 16
void gemm_avx512(const GemmArgs& g);    // nr = 32

// aarch64 only (gemm_neon.cc, gemm_int8_neon.cc). The int8 entry point picks, once, sdot where the CPU has it
// (ARMv8.2 dotprod, HWCAP_ASIMDDP) and the ARMv8.0 int16-widening kernel otherwise; both are exact.
void gemm_neon(const GemmArgs& g);  // nr = 16
void gemm_s8_neon(const Int8GemmArgs& g);
void gemm_s8_neon_widen(const Int8GemmArgs& g);
void gemm_s8_neon_dotprod(const Int8GemmArgs& g);  // only where neon_has_dotprod()
bool neon_has_dotprod();

}  // namespace mlfaas
