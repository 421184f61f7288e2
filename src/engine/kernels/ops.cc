#include "engine/kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/thread_pool.h"

namespace mlfaas {

void layer_norm_rows(float* x, int64_t ld, int rows, int width, const float* w, const float* b, float eps) {
  for (int r = 0; r < rows; ++r) {
    float* row = x + r * ld;
    double sum = 0;
    for (int j = 0; j < width; ++j) sum += row[j];
    const float mean = static_cast<float>(sum / width);
    double sq = 0;
    for (int j = 0; j < width; ++j) {
      const float d = row[j] - mean;
      sq += static_cast<double>(d) * d;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(sq / width + eps));
    for (int j = 0; j < width; ++j) row[j] = (row[j] - mean) * inv * w[j] + b[j];
  }
}

void self_attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                    float* out, int64_t ldo, int seq, int heads, int head_dim, AttentionHeadFn head,
                    float* scratch, ThreadPool* pool) {
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  int parts = pool && pool->threads() > 1 ? heads : 1;
  // Below a few thousand multiply-adds per head the hand-off costs more than it saves.
  if (static_cast<int64_t>(seq) * seq * head_dim < 4096) parts = 1;
  auto body = [&](int part) {
    float* mine = scratch + attention_scratch_floats(seq, part, head_dim);
    for (int h = heads * part / parts; h < heads * (part + 1) / parts; ++h) {  // one head per chunk when split
      const int off = h * head_dim;
      head(q + off, ldq, k + off, ldk, v + off, ldv, out + off, ldo, seq, head_dim, scale, mine);
    }
  };
  if (parts <= 1) {
    body(0);
  } else {
    pool->run(parts, body);
  }
}

}  // namespace mlfaas
