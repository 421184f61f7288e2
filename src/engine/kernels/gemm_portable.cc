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
constexpr int kMr = 4;

template <int MR>
void tile(const GemmArgs& g, int row0, int panel) {
  const float* wp = g.w + static_cast<int64_t>(panel) * g.k * kNr;
  float acc[MR][kNr] = {};
  for (int kk = 0; kk < g.k; ++kk) {
    const float* wrow = wp + static_cast<int64_t>(kk) * kNr;
    for (int r = 0; r < MR; ++r) {
      const float av = g.a[(row0 + r) * g.lda + kk];
      for (int j = 0; j < kNr; ++j) acc[r][j] += av * wrow[j];
    }
  }
  const int col0 = panel * kNr;
  gemm_post_scalar(g, &acc[0][0], kNr, row0, MR, col0, std::min(kNr, g.n - col0));
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
    switch (g.m - r) {
      case 3: tile<3>(g, r, p); break;
      case 2: tile<2>(g, r, p); break;
      case 1: tile<1>(g, r, p); break;
      default: break;
    }
  }
}

}  // namespace mlfaas
