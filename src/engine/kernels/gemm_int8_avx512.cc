// AVX-512 VNNI int8 GEMM: one vpdpbusd per 16 columns x 4 k per row (u8 activations x s8 weights -> int32, exact:
// no int16 intermediate). 32-column panels as two zmm accumulators per row, up to 12 rows per tile; the 4 bytes of
// a row's k-group are broadcast, the weight panel streams sequentially. Plain C-style code (see gemm_kernels.h).
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

constexpr int kMaxMr = 12;
// Bytes ahead of the current group to prefetch: the int8 panel streams 4x fewer bytes per FMA-equivalent than fp32,
// so the same 8 KiB distance covers more k.
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
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) arow[r] = g.a + (row0 + r) * g.lda;
  __m512i acc0[MR], acc1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    acc0[r] = _mm512_setzero_si512();
    acc1[r] = _mm512_setzero_si512();
  }
  const int groups = g.kp / 4;
  for (int grp = 0; grp < groups; ++grp) {
    _mm_prefetch(reinterpret_cast<const char*>(wp + kPrefetchAhead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wp + kPrefetchAhead + 64), _MM_HINT_T0);
    const __m512i b0 = _mm512_load_si512(wp);
    const __m512i b1 = _mm512_load_si512(wp + 64);
    wp += kInt8PanelGroupBytes;
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(load4(arow[r] + grp * 4));
      acc0[r] = _mm512_dpbusd_epi32(acc0[r], av, b0);
      acc1[r] = _mm512_dpbusd_epi32(acc1[r], av, b1);
    }
  }

  const GemmArgs& o = g.out;
  const int col0 = panel * kInt8Nr;
  const int cols = o.n - col0 < kInt8Nr ? o.n - col0 : kInt8Nr;
  if (!g.raw && cols == kInt8Nr && (o.act == kActNone || o.act == kActRelu)) {
    const __m512 zero = _mm512_setzero_ps();
    const __m512i cs0 = _mm512_loadu_si512(g.w_colsum + col0);
    const __m512i cs1 = _mm512_loadu_si512(g.w_colsum + col0 + 16);
    const __m512 ws0 = _mm512_loadu_ps(g.w_scale + col0);
    const __m512 ws1 = _mm512_loadu_ps(g.w_scale + col0 + 16);
    __m512 bias0 = zero, bias1 = zero;
    if (o.bias) {
      bias0 = _mm512_loadu_ps(o.bias + col0);
      bias1 = _mm512_loadu_ps(o.bias + col0 + 16);
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const int i = row0 + r;
      const __m512i zp = _mm512_set1_epi32(g.a_zero[i]);
      const __m512 as = _mm512_set1_ps(g.a_scale[i]);
      const __m512i i0 = _mm512_sub_epi32(acc0[r], _mm512_mullo_epi32(zp, cs0));
      const __m512i i1 = _mm512_sub_epi32(acc1[r], _mm512_mullo_epi32(zp, cs1));
      __m512 v0 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i0), _mm512_mul_ps(as, ws0)), bias0);
      __m512 v1 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i1), _mm512_mul_ps(as, ws1)), bias1);
      if (o.act == kActRelu) {
        v0 = _mm512_max_ps(v0, zero);
        v1 = _mm512_max_ps(v1, zero);
      }
      if (o.residual) {
        const float* res = o.residual + i * o.ldr + col0;
        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(res));
        v1 = _mm512_add_ps(v1, _mm512_loadu_ps(res + 16));
      }
      if (o.scale) {
        v0 = _mm512_add_ps(_mm512_mul_ps(v0, _mm512_loadu_ps(o.scale + col0)), _mm512_loadu_ps(o.shift + col0));
        v1 = _mm512_add_ps(_mm512_mul_ps(v1, _mm512_loadu_ps(o.scale + col0 + 16)),
                           _mm512_loadu_ps(o.shift + col0 + 16));
      }
      float* c = o.c + i * o.ldc + col0;
      _mm512_storeu_ps(c, v0);
      _mm512_storeu_ps(c + 16, v1);
    }
    return;
  }
  alignas(64) int32_t raw[MR * kInt8Nr];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    _mm512_store_si512(raw + r * kInt8Nr, acc0[r]);
    _mm512_store_si512(raw + r * kInt8Nr + 16, acc1[r]);
  }
  gemm_s8_finish_scalar(g, raw, kInt8Nr, row0, MR, col0, cols);
}

void tile_rows(const Int8GemmArgs& g, int row0, int rows, int panel) {
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

void gemm_s8_avx512vnni(const Int8GemmArgs& g) {
  const int m = g.out.m;
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

namespace mlfaas {

// The same codes as quantize_rows_u8 (min/max are exact in any order; roundscale with TO_NEAREST_INT is nearbyint's
// round-half-even; the scale, its inverse and the zero point come from the same scalar expressions), 16 at a time.
void quantize_rows_u8_avx512(const float* a, int64_t lda, int m, int k, uint8_t* q, int64_t ldq, int kp,
                             float* scale, int32_t* zero) {
  for (int i = 0; i < m; ++i) {
    const float* x = a + i * lda;
    uint8_t* out = q + i * ldq;
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
    __mmask16 unordered = 0;  // lanes that saw a nan
    int j = 0;
    for (; j + 16 <= k; j += 16) {
      const __m512 v = _mm512_loadu_ps(x + j);
      vlo = _mm512_min_ps(vlo, v);
      vhi = _mm512_max_ps(vhi, v);
      unordered |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    if (j < k) {
      const __mmask16 tail = static_cast<__mmask16>((1u << (k - j)) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(tail, x + j);  // zeros in the masked lanes: inside [lo, hi] already
      vlo = _mm512_min_ps(vlo, v);
      vhi = _mm512_max_ps(vhi, v);
      unordered |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    float lo = _mm512_reduce_min_ps(vlo), hi = _mm512_reduce_max_ps(vhi);
    lo = lo < 0.f ? lo : 0.f;
    hi = hi > 0.f ? hi : 0.f;
    const float s = (hi - lo) / 255.f;
    const float inv = 1.f / s;
    if (unordered || !(s > 0.f) || !(s - s == 0.f) || !(inv - inv == 0.f)) {
      // Zero or vanishing row, or inf/nan: the portable routine's handling (rare, so it is simply called).
      quantize_rows_u8(x, lda, 1, k, out, ldq, kp, scale + i, zero + i);
      continue;
    }
    float zpf = __builtin_nearbyintf(-lo * inv);
    zpf = zpf < 0.f ? 0.f : (zpf > 255.f ? 255.f : zpf);
    const __m512 vinv = _mm512_set1_ps(inv), vzp = _mm512_set1_ps(zpf);
    const __m512 vmin = _mm512_setzero_ps(), vmax = _mm512_set1_ps(255.f);
    for (j = 0; j < kp; j += 16) {
      const int left = k - j;
      const __mmask16 load = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                                        : (left > 0 ? static_cast<__mmask16>((1u << left) - 1) : 0);
      const __m512 v = _mm512_maskz_loadu_ps(load, x + j);
      __m512 r = _mm512_add_ps(_mm512_roundscale_ps(_mm512_mul_ps(v, vinv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vzp);
      r = _mm512_min_ps(_mm512_max_ps(r, vmin), vmax);
      __m128i codes = _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(r));
      codes = _mm_maskz_mov_epi8(load, codes);  // padding beyond k is zero
      const int store = kp - j >= 16 ? 16 : kp - j;
      _mm_mask_storeu_epi8(out + j, static_cast<__mmask16>((1u << store) - 1), codes);
    }
    scale[i] = s;
    zero[i] = static_cast<int32_t>(zpf);
  }
}

}  // namespace mlfaas
