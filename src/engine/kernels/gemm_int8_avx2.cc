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
