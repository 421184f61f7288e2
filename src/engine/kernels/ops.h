#pragma once
// Row-wise operations around the GEMMs: normalisations and per-head attention on small matrices. Portable code;
// they are a small share of a forward pass next to the linears.
#include <cstdint>

#include "engine/kernels/gemm_kernels.h"

namespace mlfaas {

class ThreadPool;

// x[r, 0..width) = (x - mean) / sqrt(var + eps) * w + b for rows r < rows (row stride ld), in place.
void layer_norm_rows(float* x, int64_t ld, int rows, int width, const float* w, const float* b, float eps);

// Unmasked multi-head self-attention for one sequence (padding-free, so HF's all-ones mask adds exactly 0):
// out[i, h*dh..] = softmax(q_h[i] · k_hᵀ * scale) · v_h. q/k/v/out are [seq, heads*dh] with their own row strides.
// `head` is the ISA level's per-head kernel (GemmKernel::attention). scratch: at least
// attention_scratch_floats(seq, heads, head_dim) (heads may run concurrently on the pool's threads).
void self_attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                    float* out, int64_t ldo, int seq, int heads, int head_dim, AttentionHeadFn head, float* scratch,
                    ThreadPool* pool);
inline int64_t attention_scratch_floats(int seq, int heads, int head_dim) {
  return static_cast<int64_t>(heads) * (head_dim + 1) * ((seq + 15) / 16 * 16);
}

}  // namespace mlfaas
