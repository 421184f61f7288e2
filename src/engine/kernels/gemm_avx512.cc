// AVX-512 GEMM microkernel: 32-column panels (two zmm per row), up to 12 rows per tile so 24 accumulators stay in
// registers; A is broadcast from memory, W streams sequentially. Plain C-style code only (see gemm_kernels.h).
#include <immintrin.h>

// GCC 12's _mm512_max_ps passes _mm512_undefined_ps() as its (unused) merge source, which trips this warning.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas {

namespace {

constexpr int kNr = 32;
constexpr int kMaxMr = 12;
// Prefetch distance in floats (8 KiB). Measured on the 24-layer MobileBERT: 4-16 KiB alike, none ~35% slower.
constexpr int kPrefetchAhead = 64 * kNr;

template <int MR>
void tile(const GemmArgs& g, int row0, int panel) {
  const float* wp = g.w + static_cast<int64_t>(panel) * g.k * kNr;
  const float* arow[MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) arow[r] = g.a + (row0 + r) * g.lda;
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
  const int k = g.k;
  for (int kk = 0; kk < k; ++kk) {
    // The weights do not fit in cache at batch 1: keep several lines in flight ahead of the FMAs.
    _mm_prefetch(reinterpret_cast<const char*>(wp + kPrefetchAhead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wp + kPrefetchAhead + 16), _MM_HINT_T0);
    const __m512 b0 = _mm512_load_ps(wp);
    const __m512 b1 = _mm512_load_ps(wp + 16);
    wp += kNr;
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(arow[r][kk]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }

  const int col0 = panel * kNr;
  const int cols = g.n - col0 < kNr ? g.n - col0 : kNr;
  if (cols == kNr && (g.act == kActNone || g.act == kActRelu)) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 bias0 = zero, bias1 = zero;
    if (g.bias) {
      bias0 = _mm512_loadu_ps(g.bias + col0);
      bias1 = _mm512_loadu_ps(g.bias + col0 + 16);
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      __m512 v0 = _mm512_add_ps(acc0[r], bias0);
      __m512 v1 = _mm512_add_ps(acc1[r], bias1);
      if (g.act == kActRelu) {
        v0 = _mm512_max_ps(v0, zero);
        v1 = _mm512_max_ps(v1, zero);
      }
      if (g.residual) {
        const float* res = g.residual + (row0 + r) * g.ldr + col0;
        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(res));
        v1 = _mm512_add_ps(v1, _mm512_loadu_ps(res + 16));
      }
      if (g.scale) {
        v0 = _mm512_fmadd_ps(v0, _mm512_loadu_ps(g.scale + col0), _mm512_loadu_ps(g.shift + col0));
        v1 = _mm512_fmadd_ps(v1, _mm512_loadu_ps(g.scale + col0 + 16), _mm512_loadu_ps(g.shift + col0 + 16));
      }
      float* c = g.c + (row0 + r) * g.ldc + col0;
      _mm512_storeu_ps(c, v0);
      _mm512_storeu_ps(c + 16, v1);
    }
    return;
  }
  alignas(64) float raw[MR * kNr];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    _mm512_store_ps(raw + r * kNr, acc0[r]);
    _mm512_store_ps(raw + r * kNr + 16, acc1[r]);
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
    case 7: tile<7>(g, row0, panel); break;
    case 8: tile<8>(g, row0, panel); break;
    case 9: tile<9>(g, row0, panel); break;
    case 10: tile<10>(g, row0, panel); break;
    case 11: tile<11>(g, row0, panel); break;
    case 12: tile<12>(g, row0, panel); break;
    default: break;
  }
}

}  // namespace

void gemm_avx512(const GemmArgs& g) {
  // Split M into near-equal row blocks (15 rows -> 8 + 7, not 12 + 3) so no tile runs with few accumulators.
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
