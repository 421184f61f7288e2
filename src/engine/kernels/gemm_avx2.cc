// AVX2 + FMA GEMM microkernel: 16-column panels (two ymm per row), up to 6 rows per tile so the 12 accumulators,
// two W vectors and one broadcast fit the 16 ymm registers. Plain C-style code only (see gemm_kernels.h).
#include <immintrin.h>

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas {

namespace {

constexpr int kNr = 16;
constexpr int kMaxMr = 6;
// Prefetch distance in floats (8 KiB). Measured on the 24-layer MobileBERT: none ~40% slower.
constexpr int kPrefetchAhead = 128 * kNr;

template <int MR>
void tile(const GemmArgs& g, int row0, int panel) {
  const float* wp = g.w + static_cast<int64_t>(panel) * g.k * kNr;
  const float* arow[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) arow[r] = g.a + (row0 + r) * g.lda;
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    acc0[r] = _mm256_setzero_ps();
    acc1[r] = _mm256_setzero_ps();
  }
  const int k = g.k;
  for (int kk = 0; kk < k; ++kk) {
    // The weights do not fit in cache at batch 1: keep lines in flight well ahead of the FMAs (one 64-byte line
    // per k step here).
    _mm_prefetch(reinterpret_cast<const char*>(wp + kPrefetchAhead), _MM_HINT_T0);
    const __m256 b0 = _mm256_load_ps(wp);
    const __m256 b1 = _mm256_load_ps(wp + 8);
    wp += kNr;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(arow[r] + kk);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
  }

  const int col0 = panel * kNr;
  const int cols = g.n - col0 < kNr ? g.n - col0 : kNr;
  if (cols == kNr && (g.act == kActNone || g.act == kActRelu)) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 bias0 = zero, bias1 = zero;
    if (g.bias) {
      bias0 = _mm256_loadu_ps(g.bias + col0);
      bias1 = _mm256_loadu_ps(g.bias + col0 + 8);
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      __m256 v0 = _mm256_add_ps(acc0[r], bias0);
      __m256 v1 = _mm256_add_ps(acc1[r], bias1);
      if (g.act == kActRelu) {
        v0 = _mm256_max_ps(v0, zero);
        v1 = _mm256_max_ps(v1, zero);
      }
      if (g.residual) {
        const float* res = g.residual + (row0 + r) * g.ldr + col0;
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(res));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(res + 8));
      }
      if (g.scale) {
        v0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(g.scale + col0), _mm256_loadu_ps(g.shift + col0));
        v1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(g.scale + col0 + 8), _mm256_loadu_ps(g.shift + col0 + 8));
      }
      float* c = g.c + (row0 + r) * g.ldc + col0;
      _mm256_storeu_ps(c, v0);
      _mm256_storeu_ps(c + 8, v1);
    }
    return;
  }
  alignas(32) float raw[MR * kNr];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    _mm256_store_ps(raw + r * kNr, acc0[r]);
    _mm256_store_ps(raw + r * kNr + 8, acc1[r]);
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
    case 6: tile<6>(g, row0, panel); break;
    default: break;
  }
}

}  // namespace

void gemm_avx2(const GemmArgs& g) {
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
