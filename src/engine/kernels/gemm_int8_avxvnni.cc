// AVX-VNNI int8 GEMM (the VEX-encoded vpdpbusd on ymm: Alder Lake and later client Intel, Zen 5): one instruction
// per 8 columns x 4 k per row, u8 activations x s8 weights summed straight into int32 - exact, with no int16
// intermediate to saturate (and the non-saturating vpdpbusd, never vpdpbusds). The AVX-512 VNNI kernel at half the
// width: a 32-column panel is four ymm accumulators per row, the 4 bytes of a row's k-group are broadcast, the
// shared weight panel streams sequentially. Plain C-style code (see gemm_kernels.h).
#include <immintrin.h>

#include <cstring>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The fused epilogue must round exactly as gemm_s8_finish_scalar does (a multiply, then an add): GCC would
// otherwise contract them into FMAs, and one ulp of difference in a layer's output can move the next layer's
// per-row quantization range, so levels would no longer give the same int8 results.
#pragma GCC optimize("fp-contract=off")
#endif

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas {

namespace {

// 3 rows x 4 accumulators + the group's weights + the broadcast is what 16 ymm registers hold (GCC keeps three
// weight vectors in registers and reads the fourth as a memory operand). Two passes of 16 columns with 6 rows
// were measured too (24-layer MobileBERT, int8, 1 thread): ~4% slower, and GCC spilled their accumulators as soon as
// the epilogue was shared between the passes.
constexpr int kMaxMr = 3;
// Bytes ahead of the current group to prefetch (as in the AVX-512 VNNI kernel).
constexpr int kPrefetchAhead = 64 * kInt8PanelGroupBytes;

inline int32_t load4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int MR>
void tile(const Int8GemmArgs& g, int row0, int panel) {
  const int8_t* wp = g.w + static_cast<int64_t>(panel) * g.kp * kInt8Nr;
  const uint8_t* arow[MR];
#pragma GCC unroll 3
  for (int r = 0; r < MR; ++r) arow[r] = g.a + (row0 + r) * g.lda;
  __m256i acc0[MR], acc1[MR], acc2[MR], acc3[MR];  // columns 0-7, 8-15, 16-23, 24-31 of the panel
#pragma GCC unroll 3
  for (int r = 0; r < MR; ++r) {
    acc0[r] = acc1[r] = acc2[r] = acc3[r] = _mm256_setzero_si256();
  }
  const int groups = g.kp / 4;
  for (int grp = 0; grp < groups; ++grp) {
    _mm_prefetch(reinterpret_cast<const char*>(wp + kPrefetchAhead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wp + kPrefetchAhead + 64), _MM_HINT_T0);
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp));
    const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + 32));
    const __m256i b2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + 64));
    const __m256i b3 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + 96));
    wp += kInt8PanelGroupBytes;
#pragma GCC unroll 3
    for (int r = 0; r < MR; ++r) {
      const __m256i av = _mm256_set1_epi32(load4(arow[r] + grp * 4));
      acc0[r] = _mm256_dpbusd_avx_epi32(acc0[r], av, b0);
      acc1[r] = _mm256_dpbusd_avx_epi32(acc1[r], av, b1);
      acc2[r] = _mm256_dpbusd_avx_epi32(acc2[r], av, b2);
      acc3[r] = _mm256_dpbusd_avx_epi32(acc3[r], av, b3);
    }
  }

  const GemmArgs& o = g.out;
  const int col0 = panel * kInt8Nr;
  const int cols = o.n - col0 < kInt8Nr ? o.n - col0 : kInt8Nr;
  if (!g.raw && cols == kInt8Nr && (o.act == kActNone || o.act == kActRelu)) {
    const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 3
    for (int r = 0; r < MR; ++r) {
      const int i = row0 + r;
      const __m256i zp = _mm256_set1_epi32(g.a_zero[i]);
      const __m256 as = _mm256_set1_ps(g.a_scale[i]);
      const __m256i sums[4] = {acc0[r], acc1[r], acc2[r], acc3[r]};
      float* c = o.c + i * o.ldc + col0;
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) {
        const int j = col0 + v * 8;
        const __m256i cs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.w_colsum + j));
        const __m256i exact = _mm256_sub_epi32(sums[v], _mm256_mullo_epi32(zp, cs));
        __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(exact), _mm256_mul_ps(as, _mm256_loadu_ps(g.w_scale + j)));
        if (o.bias) x = _mm256_add_ps(x, _mm256_loadu_ps(o.bias + j));
        if (o.act == kActRelu) x = _mm256_max_ps(x, zero);
        if (o.residual) x = _mm256_add_ps(x, _mm256_loadu_ps(o.residual + i * o.ldr + j));
        if (o.scale) x = _mm256_add_ps(_mm256_mul_ps(x, _mm256_loadu_ps(o.scale + j)), _mm256_loadu_ps(o.shift + j));
        _mm256_storeu_ps(c + v * 8, x);
      }
    }
    return;
  }
  alignas(32) int32_t raw[MR * kInt8Nr];
#pragma GCC unroll 3
  for (int r = 0; r < MR; ++r) {
    __m256i* dst = reinterpret_cast<__m256i*>(raw + r * kInt8Nr);
    _mm256_store_si256(dst, acc0[r]);
    _mm256_store_si256(dst + 1, acc1[r]);
    _mm256_store_si256(dst + 2, acc2[r]);
    _mm256_store_si256(dst + 3, acc3[r]);
  }
  gemm_s8_finish_scalar(g, raw, kInt8Nr, row0, MR, col0, cols);
}

void tile_rows(const Int8GemmArgs& g, int row0, int rows, int panel) {
  static_assert(kMaxMr == 3, "tile_rows instantiates 1 to 3 rows");
  switch (rows) {
    case 1: tile<1>(g, row0, panel); break;
    case 2: tile<2>(g, row0, panel); break;
    case 3: tile<3>(g, row0, panel); break;
    default: break;
  }
}

}  // namespace

void gemm_s8_avxvnni(const Int8GemmArgs& g) {
  const int m = g.out.m;
  // Rows are split into near-equal blocks of at most kMaxMr (4 rows = 2 + 2, not 3 + 1).
  const int blocks = (m + kMaxMr - 1) / kMaxMr;
  for (int p = g.out.panel_begin; p < g.out.panel_end; ++p) {
    int row0 = 0;
    for (int b = 0; b < blocks; ++b) {
      const int take = (m - row0 + (blocks - b) - 1) / (blocks - b);
      tile_rows(g, row0, take, p);
      row0 += take;
    }
  }
}

}  // namespace mlfaas
