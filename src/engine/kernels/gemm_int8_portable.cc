// Portable int8 GEMM, the activation quantizer and the scalar epilogue the ISA kernels share for edge tiles.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas {

void quantize_rows_u8(const float* a, int64_t lda, int m, int k, uint8_t* q, int64_t ldq, int kp, float* scale,
                      int32_t* zero) {
  for (int i = 0; i < m; ++i) {
    const float* x = a + i * lda;
    uint8_t* out = q + i * ldq;
    float lo = 0.f, hi = 0.f;
    bool finite = true;
    for (int j = 0; j < k; ++j) {
      lo = std::min(lo, x[j]);
      hi = std::max(hi, x[j]);
      finite &= x[j] - x[j] == 0.f;  // false for inf and nan
    }
    const float s = (hi - lo) / 255.f;
    const float inv = 1.f / s;
    if (!finite || !(s > 0.f) || !std::isfinite(inv)) {
      // An all-zero row, one so small that 1/s overflows (every |x| < 1e-36: zero for any purpose), or one with
      // inf/nan, which fp32 would propagate: every code is the zero point, and a nan scale carries the inf/nan on.
      scale[i] = finite ? 1.f : std::numeric_limits<float>::quiet_NaN();
      zero[i] = 0;
      std::memset(out, 0, kp);
      continue;
    }
    const int32_t zp = static_cast<int32_t>(std::clamp(std::nearbyint(-lo * inv), 0.f, 255.f));
    for (int j = 0; j < k; ++j) {
      const float v = std::nearbyint(x[j] * inv) + static_cast<float>(zp);
      out[j] = static_cast<uint8_t>(std::clamp(v, 0.f, 255.f));
    }
    std::memset(out + k, 0, kp - k);
    scale[i] = s;
    zero[i] = zp;
  }
}

namespace {

constexpr int kMr = 4;

template <int MR>
void tile(const Int8GemmArgs& g, int row0, int panel) {
  const int8_t* wp = g.w + static_cast<int64_t>(panel) * g.kp * kInt8Nr;
  int32_t acc[MR][kInt8Nr] = {};
  for (int grp = 0; grp < g.kp / 4; ++grp) {
    const int8_t* wg = wp + static_cast<int64_t>(grp) * kInt8PanelGroupBytes;
    for (int r = 0; r < MR; ++r) {
      const uint8_t* a4 = g.a + (row0 + r) * g.lda + grp * 4;
      for (int j = 0; j < kInt8Nr; ++j) {
        acc[r][j] += a4[0] * wg[j * 4] + a4[1] * wg[j * 4 + 1] + a4[2] * wg[j * 4 + 2] + a4[3] * wg[j * 4 + 3];
      }
    }
  }
  const int col0 = panel * kInt8Nr;
  gemm_s8_finish_scalar(g, &acc[0][0], kInt8Nr, row0, MR, col0, std::min(kInt8Nr, g.out.n - col0));
}

}  // namespace

void gemm_s8_finish_scalar(const Int8GemmArgs& g, const int32_t* t, int tile_ld, int row0, int rows, int col0,
                           int cols) {
  const GemmArgs& o = g.out;
  for (int r = 0; r < rows; ++r) {
    const int i = row0 + r;
    const int32_t zp = g.a_zero[i];
    if (g.raw) {
      for (int j = 0; j < cols; ++j) g.raw[i * o.n + col0 + j] = t[r * tile_ld + j] - zp * g.w_colsum[col0 + j];
      continue;
    }
    // Dequantize, then the fp32 epilogue every kernel shares (bias, activation, residual, affine).
    const float as = g.a_scale[i];
    for (int j0 = 0; j0 < cols; j0 += kInt8Nr) {
      float x[kInt8Nr];
      const int n = std::min(kInt8Nr, cols - j0);
      for (int j = 0; j < n; ++j) {
        const int col = col0 + j0 + j;
        const int32_t acc = t[r * tile_ld + j0 + j] - zp * g.w_colsum[col];
        x[j] = static_cast<float>(acc) * (as * g.w_scale[col]);
      }
      gemm_post_scalar(o, x, kInt8Nr, i, 1, col0 + j0, n);
    }
  }
}

void gemm_s8_portable(const Int8GemmArgs& g) {
  for (int p = g.out.panel_begin; p < g.out.panel_end; ++p) {
    int r = 0;
    for (; r + kMr <= g.out.m; r += kMr) tile<kMr>(g, r, p);
    for (; r < g.out.m; ++r) tile<1>(g, r, p);
  }
}

}  // namespace mlfaas
