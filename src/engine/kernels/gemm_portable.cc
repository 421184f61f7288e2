// Portable GEMM: plain loops the compiler can auto-vectorise for the baseline target, plus the scalar
// post-processing every ISA kernel shares for its edge tiles.
#include <algorithm>
#include <cmath>

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas {

namespace {

inline float activate(float x, int act) {
  switch (act) {
    case kActRelu: return x > 0.f ? x : 0.f;
    case kActGeluErf: return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f));
    case kActGeluTanh: {
      const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.f + std::tanh(inner));
    }
    case kActTanh: return std::tanh(x);
    case kActSilu: return x / (1.f + std::exp(-x));
    default: return x;
  }
}

constexpr int kNr = 16;
constexpr int kMr = 2;  // 2 x 16 accumulators fill 8 of the 16 SSE registers, leaving room for W and A

template <int MR>
void tile(const GemmArgs& g, int row0, int panel) {
  const float* wp = g.w + static_cast<int64_t>(panel) * g.k * kNr;
  const float* a = g.a + row0 * g.lda;
  const int64_t lda = g.lda;
  const int k = g.k;
  // The accumulators never have their address taken, so the compiler can keep them in vector registers; the
  // tile handed to the post-processing is a separate copy.
  float acc[MR][kNr] = {};
  for (int kk = 0; kk < k; ++kk) {
    const float* wrow = wp + static_cast<int64_t>(kk) * kNr;
    for (int r = 0; r < MR; ++r) {
      const float av = a[r * lda + kk];
      for (int j = 0; j < kNr; ++j) acc[r][j] += av * wrow[j];
    }
  }
  float out[MR][kNr];
  for (int r = 0; r < MR; ++r) {
    for (int j = 0; j < kNr; ++j) out[r][j] = acc[r][j];
  }
  const int col0 = panel * kNr;
  gemm_post_scalar(g, &out[0][0], kNr, row0, MR, col0, std::min(kNr, g.n - col0));
}

}  // namespace

void gemm_post_scalar(const GemmArgs& g, const float* tile_acc, int tile_ld, int row0, int rows, int col0,
                      int cols) {
  for (int r = 0; r < rows; ++r) {
    const int i = row0 + r;
    float* c = g.c + i * g.ldc + col0;
    const float* res = g.residual ? g.residual + i * g.ldr + col0 : nullptr;
    for (int j = 0; j < cols; ++j) {
      float v = tile_acc[r * tile_ld + j];
      if (g.bias) v += g.bias[col0 + j];
      v = activate(v, g.act);
      if (res) v += res[j];
      if (g.scale) v = v * g.scale[col0 + j] + g.shift[col0 + j];
      c[j] = v;
    }
  }
}

void gemm_portable(const GemmArgs& g) {
  for (int p = g.panel_begin; p < g.panel_end; ++p) {
    int r = 0;
    for (; r + kMr <= g.m; r += kMr) tile<kMr>(g, r, p);
    if (r < g.m) tile<1>(g, r, p);
  }
}

}  // namespace mlfaas
