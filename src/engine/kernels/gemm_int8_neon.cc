// aarch64 NEON int8 GEMM on the shared weight layout (gemm_kernels.h), exact, in two variants chosen at run time:
//
// - widen (every ARMv8.0 CPU): u8 activations zero-extended and s8 weights sign-extended to int16; their product
//   fits int16 exactly (|255 x -128| = 32640 <= 32768), and vpadalq_s16 adds product pairs into int32 lanes. Never
//   a saturating instruction. 16 bytes of a group (4 columns x 4 k) widen to two int16x8 that each pair with a
//   broadcast (a0 a1 a2 a3 a0 a1 a2 a3); the pair lanes of 4 columns are folded once per tile with vpaddq_s32.
// - dotprod (ARMv8.2 sdot, optional: HWCAP_ASIMDDP): sdot multiplies s8 x s8, so activations are shifted to s8
//   (a - 128, an xor of the top bit) and 128 * colsum[j] is added back to each sum. sdot sums 4 products into
//   an int32 lane, so one instruction does 4 columns x 4 k for one row, the group layout being exactly its operand.
//   This relies on w_colsum being the exact code sums, which the zero-point correction needs anyway.
//
// The file is compiled for the aarch64 baseline; only the dotprod functions carry a target attribute, so nothing
// else can pick up ARMv8.2 instructions and the widen path runs on ARMv8.0 CPUs (Cortex-A53/A72, Graviton 1).
#if defined(__aarch64__)
#include <arm_neon.h>
#include <sys/auxv.h>

#include <cstring>

#include "engine/kernels/gemm_kernels.h"

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // linux arch/arm64/include/uapi/asm/hwcap.h
#endif

#define MLFAAS_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

namespace mlfaas {

namespace {

constexpr int kHalf = 16;  // columns per pass: one 64-byte half of each 128-byte group

// --- widen: 2 rows x 8 pair accumulators + 2 broadcasts + 2 widened weight vectors + temporaries ---
constexpr int kWidenMr = 2;

inline int16x8_t broadcast_widened(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s16_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(v))));
}

template <int MR>
void tile_widen(const Int8GemmArgs& g, int row0, int panel, int32_t* out /* [MR, kInt8Nr] */) {
  const int groups = g.kp / 4;
  for (int half = 0; half < kInt8Nr / kHalf; ++half) {
    const int8_t* wp = g.w + static_cast<int64_t>(panel) * g.kp * kInt8Nr + half * kHalf * 4;
    int32x4_t acc[MR][8];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
      for (int h = 0; h < 8; ++h) acc[r][h] = vdupq_n_s32(0);
    }
    for (int grp = 0; grp < groups; ++grp) {
      const int8_t* wg = wp + static_cast<int64_t>(grp) * kInt8PanelGroupBytes;
      int16x8_t av[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) av[r] = broadcast_widened(g.a + (row0 + r) * g.lda + grp * 4);
      // One column quad at a time keeps only two widened weight vectors live next to the accumulators.
#pragma GCC unroll 8
      for (int q = 0; q < 4; ++q) {
        const int8x16_t bytes = vld1q_s8(wg + q * 16);
        const int16x8_t w01 = vmovl_s8(vget_low_s8(bytes));  // columns 4q, 4q+1 (4 k each)
        const int16x8_t w23 = vmovl_high_s8(bytes);          // columns 4q+2, 4q+3
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          acc[r][2 * q] = vpadalq_s16(acc[r][2 * q], vmulq_s16(av[r], w01));
          acc[r][2 * q + 1] = vpadalq_s16(acc[r][2 * q + 1], vmulq_s16(av[r], w23));
        }
      }
    }
    for (int r = 0; r < MR; ++r) {
      int32_t* dst = out + r * kInt8Nr + half * kHalf;
      // acc[2q] = (c0 k01, c0 k23, c1 k01, c1 k23), acc[2q+1] the same for c2, c3: pairwise adds give c0..c3.
#pragma GCC unroll 8
      for (int q = 0; q < 4; ++q) vst1q_s32(dst + 4 * q, vpaddq_s32(acc[r][2 * q], acc[r][2 * q + 1]));
    }
  }
}

// --- dotprod: 3 rows x 4 accumulators + 3 activation vectors + the 16 weight vectors of a 4-group step (GCC loads
// them all up front) = 31 of 32 q registers; with 4 rows the k loop spills ---
constexpr int kDotMr = 3;

MLFAAS_DOTPROD inline int8x16_t shifted_to_s8(uint8x16_t a) {
  return vreinterpretq_s8_u8(veorq_u8(a, vdupq_n_u8(0x80)));
}

// One group (4 k) of one half panel for MR rows, the rows' 4 activations taken from lane L of a[r].
template <int MR, int L>
MLFAAS_DOTPROD inline void dot_group(const int8_t* wg, const int8x16_t* a, int32x4_t (*acc)[4]) {
#pragma GCC unroll 8
  for (int q = 0; q < 4; ++q) {
    const int8x16_t w = vld1q_s8(wg + q * 16);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r][q] = vdotq_laneq_s32(acc[r][q], w, a[r], L);
  }
}

template <int MR>
MLFAAS_DOTPROD void tile_dot(const Int8GemmArgs& g, int row0, int panel, int32_t* out /* [MR, kInt8Nr] */) {
  const int groups = g.kp / 4;
  const uint8_t* arow[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) arow[r] = g.a + (row0 + r) * g.lda;
  for (int half = 0; half < kInt8Nr / kHalf; ++half) {
    const int8_t* wp = g.w + static_cast<int64_t>(panel) * g.kp * kInt8Nr + half * kHalf * 4;
    int32x4_t acc[MR][4];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
      for (int q = 0; q < 4; ++q) acc[r][q] = vdupq_n_s32(0);
    }
    int grp = 0;
    // Four groups per activation load: 16 bytes never reach past kp (<= lda), so no row is over-read.
    for (; grp + 4 <= groups; grp += 4) {
      int8x16_t a[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) a[r] = shifted_to_s8(vld1q_u8(arow[r] + grp * 4));
      const int8_t* wg = wp + static_cast<int64_t>(grp) * kInt8PanelGroupBytes;
      dot_group<MR, 0>(wg, a, acc);
      dot_group<MR, 1>(wg + kInt8PanelGroupBytes, a, acc);
      dot_group<MR, 2>(wg + 2 * kInt8PanelGroupBytes, a, acc);
      dot_group<MR, 3>(wg + 3 * kInt8PanelGroupBytes, a, acc);
    }
    for (; grp < groups; ++grp) {
      int8x16_t a[MR];
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        uint32_t v;
        std::memcpy(&v, arow[r] + grp * 4, 4);
        a[r] = shifted_to_s8(vreinterpretq_u8_u32(vdupq_n_u32(v)));
      }
      dot_group<MR, 0>(wp + static_cast<int64_t>(grp) * kInt8PanelGroupBytes, a, acc);
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
      for (int q = 0; q < 4; ++q) vst1q_s32(out + r * kInt8Nr + half * kHalf + 4 * q, acc[r][q]);
    }
  }
}

// Undoes the dotprod path's a - 128 shift: sum(a w) = sum((a - 128) w) + 128 colsum. In uint32 because NEON's
// lanes wrap and the exact result fits int32, while an intermediate need not.
void add_back_shift(const Int8GemmArgs& g, int32_t* t, int rows, int col0, int cols) {
  for (int r = 0; r < rows; ++r) {
    for (int j = 0; j < cols; ++j) {
      const uint32_t v = static_cast<uint32_t>(t[r * kInt8Nr + j]) + 128u * static_cast<uint32_t>(g.w_colsum[col0 + j]);
      t[r * kInt8Nr + j] = static_cast<int32_t>(v);
    }
  }
}

template <int MR>
MLFAAS_DOTPROD void rows_dot(const Int8GemmArgs& g, int row0, int panel, int32_t* sums, int col0, int cols) {
  tile_dot<MR>(g, row0, panel, sums);
  add_back_shift(g, sums, MR, col0, cols);
  gemm_s8_finish_scalar(g, sums, kInt8Nr, row0, MR, col0, cols);
}

}  // namespace

void gemm_s8_neon_widen(const Int8GemmArgs& g) {
  int32_t sums[kWidenMr * kInt8Nr];
  for (int p = g.out.panel_begin; p < g.out.panel_end; ++p) {
    const int col0 = p * kInt8Nr;
    const int cols = g.out.n - col0 < kInt8Nr ? g.out.n - col0 : kInt8Nr;
    int r = 0;
    for (; r + kWidenMr <= g.out.m; r += kWidenMr) {
      tile_widen<kWidenMr>(g, r, p, sums);
      gemm_s8_finish_scalar(g, sums, kInt8Nr, r, kWidenMr, col0, cols);
    }
    for (; r < g.out.m; ++r) {
      tile_widen<1>(g, r, p, sums);
      gemm_s8_finish_scalar(g, sums, kInt8Nr, r, 1, col0, cols);
    }
  }
}

MLFAAS_DOTPROD void gemm_s8_neon_dotprod(const Int8GemmArgs& g) {
  int32_t sums[kDotMr * kInt8Nr];
  for (int p = g.out.panel_begin; p < g.out.panel_end; ++p) {
    const int col0 = p * kInt8Nr;
    const int cols = g.out.n - col0 < kInt8Nr ? g.out.n - col0 : kInt8Nr;
    int r = 0;
    for (; r + kDotMr <= g.out.m; r += kDotMr) rows_dot<kDotMr>(g, r, p, sums, col0, cols);
    switch (g.out.m - r) {
      case 2: rows_dot<2>(g, r, p, sums, col0, cols); break;
      case 1: rows_dot<1>(g, r, p, sums, col0, cols); break;
      default: break;
    }
  }
}

bool neon_has_dotprod() { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0; }

void gemm_s8_neon(const Int8GemmArgs& g) {
  static const bool dotprod = neon_has_dotprod();
  if (dotprod) {
    gemm_s8_neon_dotprod(g);
  } else {
    gemm_s8_neon_widen(g);
  }
}

}  // namespace mlfaas
#endif  // __aarch64__
