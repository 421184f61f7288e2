// aarch64 NEON fp32 GEMM microkernel: 16-column panels (four q registers per row), up to 5 rows per tile so the 20
// accumulators, the four W vectors and the rows' A values fit NEON's 32 q registers (with 6 rows GCC spills
// accumulators in the k loop). NEON is part of the aarch64 baseline, so this file needs no extra compiler flags.
// Plain C-style code only (see gemm_kernels.h).
#if defined(__aarch64__)
#include <arm_neon.h>

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas {

namespace {

constexpr int kNr = 16;
constexpr int kMaxMr = 5;
// At batch 1 the weights stream from DRAM; keep lines in flight well ahead of the multiply-adds, as the AVX2 kernel
// does (one 64-byte line per k step).
constexpr int kPrefetchAhead = 128 * kNr;

template <int MR>
void tile(const GemmArgs& g, int row0, int panel) {
  const float* wp = g.w + static_cast<int64_t>(panel) * g.k * kNr;
  const float* arow[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) arow[r] = g.a + (row0 + r) * g.lda;
  float32x4_t acc[MR][4];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
    for (int q = 0; q < 4; ++q) acc[r][q] = vdupq_n_f32(0.f);
  }
  const int k = g.k;
  for (int kk = 0; kk < k; ++kk) {
    __builtin_prefetch(wp + kPrefetchAhead);
    const float32x4_t b0 = vld1q_f32(wp);
    const float32x4_t b1 = vld1q_f32(wp + 4);
    const float32x4_t b2 = vld1q_f32(wp + 8);
    const float32x4_t b3 = vld1q_f32(wp + 12);
    wp += kNr;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const float av = arow[r][kk];
      acc[r][0] = vfmaq_n_f32(acc[r][0], b0, av);
      acc[r][1] = vfmaq_n_f32(acc[r][1], b1, av);
      acc[r][2] = vfmaq_n_f32(acc[r][2], b2, av);
      acc[r][3] = vfmaq_n_f32(acc[r][3], b3, av);
    }
  }

  const int col0 = panel * kNr;
  const int cols = g.n - col0 < kNr ? g.n - col0 : kNr;
  if (cols == kNr && (g.act == kActNone || g.act == kActRelu)) {
    const float32x4_t zero = vdupq_n_f32(0.f);
    float32x4_t bias[4] = {zero, zero, zero, zero};
    if (g.bias) {
#pragma GCC unroll 8
      for (int q = 0; q < 4; ++q) bias[q] = vld1q_f32(g.bias + col0 + 4 * q);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const float* res = g.residual ? g.residual + (row0 + r) * g.ldr + col0 : nullptr;
      float* c = g.c + (row0 + r) * g.ldc + col0;
#pragma GCC unroll 8
      for (int q = 0; q < 4; ++q) {
        float32x4_t v = vaddq_f32(acc[r][q], bias[q]);
        if (g.act == kActRelu) v = vmaxq_f32(v, zero);
        if (res) v = vaddq_f32(v, vld1q_f32(res + 4 * q));
        if (g.scale) v = vfmaq_f32(vld1q_f32(g.shift + col0 + 4 * q), v, vld1q_f32(g.scale + col0 + 4 * q));
        // The residual may alias c: every lane of this row segment was read above before this store.
        vst1q_f32(c + 4 * q, v);
      }
    }
    return;
  }
  float raw[MR * kNr];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
    for (int q = 0; q < 4; ++q) vst1q_f32(raw + r * kNr + 4 * q, acc[r][q]);
  }
  gemm_post_scalar(g, raw, kNr, row0, MR, col0, cols);
}

void tile_rows(const GemmArgs& g, int row0, int rows, int panel) {
  switch (rows) {
    case 1: tile<1>(g, row0, panel); break;
    case 2: tile<2>(g, row0, panel); break;
    case 3: tile<3>(g, row0, panel); break;
    case 4: tile<4>(g, row0, panel); break;
    case 5: tile<5>(g, row0, panel); break;
    default: break;
  }
}

}  // namespace

void gemm_neon(const GemmArgs& g) {
  // Rows are split into equal blocks of at most kMaxMr (e.g. 7 rows -> 4 + 3, not 5 + 2) so no tile is mostly idle.
  const int blocks = (g.m + kMaxMr - 1) / kMaxMr;
  for (int p = g.panel_begin; p < g.panel_end; ++p) {
    int row0 = 0;
    for (int b = 0; b < blocks; ++b) {
      const int take = (g.m - row0 + (blocks - b) - 1) / (blocks - b);
      tile_rows(g, row0, take, p);
      row0 += take;
    }
  }
}

}  // namespace mlfaas
#endif  // __aarch64__
