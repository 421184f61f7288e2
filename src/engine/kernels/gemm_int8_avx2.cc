// AVX2 int8 GEMM without VNNI, exact. vpmaddubsw (u8 x s8 pairs summed into a saturating int16) overflows for
// full-range activations (2 * 255 * 127 > 32767) - the error ONNX Runtime's AVX2 path makes. Here both operands are
// widened to int16 first (u8 zero-extended, s8 sign-extended) and vpmaddwd sums pairs into int32, which is exact.
// The weight panel is the shared 4-k-group layout: 16 bytes = 4 columns x 4 k widen to one ymm whose vpmaddwd
// with a broadcast (a0 a1 a2 a3) gives two partial sums per column; the pairs are folded once per tile.
#include <immintrin.h>

#include <cstring>

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas {

namespace {

constexpr int kHalf = 16;  // columns per pass: 4 column quads, so 2 rows x 4 accumulators + 4 weights fit 16 ymm
constexpr int kMr = 2;

inline __m256i broadcast_a(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(v)));
}

// Folds the pair-form accumulators of 8 columns (two quads) into 8 int32 column sums, in column order.
inline __m256i fold(__m256i quad0, __m256i quad1) {
  return _mm256_permute4x64_epi64(_mm256_hadd_epi32(quad0, quad1), 0xD8);
}

template <int MR>
void tile(const Int8GemmArgs& g, int row0, int panel, int32_t* out /* [MR, kInt8Nr] */) {
  for (int half = 0; half < kInt8Nr / kHalf; ++half) {
    const int8_t* wp = g.w + static_cast<int64_t>(panel) * g.kp * kInt8Nr + half * kHalf * 4;
    __m256i acc[MR][4];
    for (int r = 0; r < MR; ++r) {
      for (int q = 0; q < 4; ++q) acc[r][q] = _mm256_setzero_si256();
    }
    const int groups = g.kp / 4;
    for (int grp = 0; grp < groups; ++grp) {
      const int8_t* wg = wp + static_cast<int64_t>(grp) * kInt8PanelGroupBytes;
      __m256i w[4];
      for (int q = 0; q < 4; ++q) {
        w[q] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(wg + q * 16)));
      }
      for (int r = 0; r < MR; ++r) {
        const __m256i av = broadcast_a(g.a + (row0 + r) * g.lda + grp * 4);
        for (int q = 0; q < 4; ++q) acc[r][q] = _mm256_add_epi32(acc[r][q], _mm256_madd_epi16(av, w[q]));
      }
    }
    for (int r = 0; r < MR; ++r) {
      int32_t* dst = out + r * kInt8Nr + half * kHalf;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), fold(acc[r][0], acc[r][1]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 8), fold(acc[r][2], acc[r][3]));
    }
  }
}

}  // namespace

void gemm_s8_avx2(const Int8GemmArgs& g) {
  alignas(32) int32_t sums[kMr * kInt8Nr];
  for (int p = g.out.panel_begin; p < g.out.panel_end; ++p) {
    const int col0 = p * kInt8Nr;
    const int cols = g.out.n - col0 < kInt8Nr ? g.out.n - col0 : kInt8Nr;
    int r = 0;
    for (; r + kMr <= g.out.m; r += kMr) {
      tile<kMr>(g, r, p, sums);
      gemm_s8_finish_scalar(g, sums, kInt8Nr, r, kMr, col0, cols);
    }
    for (; r < g.out.m; ++r) {
      tile<1>(g, r, p, sums);
      gemm_s8_finish_scalar(g, sums, kInt8Nr, r, 1, col0, cols);
    }
  }
}

}  // namespace mlfaas

namespace mlfaas {

namespace {

// The portable quantizer's expressions for one element (the scalar tail of a row).
inline uint8_t quantize_one(float x, float inv, float zp) {
  const float v = __builtin_nearbyintf(x * inv) + zp;
  return static_cast<uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v));
}

}  // namespace

// The same codes as quantize_rows_u8, 32 at a time: min/max are exact in any order (the operand order below is
// std::min/std::max's); rows holding inf/nan or whose 1/scale overflows are left to the portable routine;
// _mm256_round_ps with TO_NEAREST_INT is nearbyint's round-half-even; scale, inverse and zero point come from the
// same scalar expressions. At batch 1 the portable routine cost as much as the VNNI GEMMs it feeds.
void quantize_rows_u8_avx2(const float* a, int64_t lda, int m, int k, uint8_t* q, int64_t ldq, int kp, float* scale,
                           int32_t* zero) {
  for (int i = 0; i < m; ++i) {
    const float* x = a + i * lda;
    uint8_t* out = q + i * ldq;
    __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= k; j += 8) {
      const __m256 v = _mm256_loadu_ps(x + j);
      vlo = _mm256_min_ps(v, vlo);
      vhi = _mm256_max_ps(v, vhi);
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    alignas(32) float lanes_lo[8], lanes_hi[8];
    _mm256_store_ps(lanes_lo, vlo);
    _mm256_store_ps(lanes_hi, vhi);
    float lo = 0.f, hi = 0.f;
    for (int l = 0; l < 8; ++l) {
      lo = lanes_lo[l] < lo ? lanes_lo[l] : lo;
      hi = hi < lanes_hi[l] ? lanes_hi[l] : hi;
    }
    bool has_nan = _mm256_movemask_ps(nan) != 0;
    for (int t = j; t < k; ++t) {
      lo = x[t] < lo ? x[t] : lo;
      hi = hi < x[t] ? x[t] : hi;
      has_nan |= x[t] != x[t];
    }
    const float s = (hi - lo) / 255.f;
    const float inv = 1.f / s;
    if (has_nan || !(s > 0.f) || !(s - s == 0.f) || !(inv - inv == 0.f)) {
      // Zero or vanishing row, or inf/nan: the portable routine's handling (rare, so it is simply called).
      quantize_rows_u8(x, lda, 1, k, out, ldq, kp, scale + i, zero + i);
      continue;
    }
    float zpf = __builtin_nearbyintf(-lo * inv);
    zpf = zpf < 0.f ? 0.f : (zpf > 255.f ? 255.f : zpf);
    const __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(zpf);
    const __m256 vmin = _mm256_setzero_ps(), vmax = _mm256_set1_ps(255.f);
    // Lane order after the two packs is (0 4 1 5 2 6 3 7) in 4-byte units.
    const __m256i unshuffle = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    auto codes8 = [&](const float* p) {
      const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(p), vinv);
      __m256 r = _mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      r = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, vzp), vmin), vmax);
      return _mm256_cvtps_epi32(r);
    };
    for (j = 0; j + 32 <= k; j += 32) {
      const __m256i lo16 = _mm256_packus_epi32(codes8(x + j), codes8(x + j + 8));
      const __m256i hi16 = _mm256_packus_epi32(codes8(x + j + 16), codes8(x + j + 24));
      const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(lo16, hi16), unshuffle);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), bytes);
    }
    for (; j < k; ++j) out[j] = quantize_one(x[j], inv, zpf);
    std::memset(out + k, 0, kp - k);
    scale[i] = s;
    zero[i] = static_cast<int32_t>(zpf);
  }
}

}  // namespace mlfaas
