#pragma once
// Row-wise operations around the GEMMs: normalisations and per-head attention on small matrices. Portable code;
// they are a small share of a forward pass next to the linears.
#include <cstdint>

namespace mlfaas {

class ThreadPool;

// x[r, 0..width) = (x - mean) / sqrt(var + eps) * w + b for rows r < rows (row stride ld), in place.
void layer_norm_rows(float* x, int64_t ld, int rows, int width, const float* w, const float* b, float eps);

// Unmasked multi-head self-attention for one sequence (padding-free, so HF's all-ones mask adds exactly 0):
// out[i, h*dh..] = softmax(q_h[i] · k_hᵀ * scale) · v_h. q/k/v/out are [seq, heads*dh] with their own row strides.
// scratch: at least heads * seq * seq floats (heads may run concurrently on the pool's threads).
void self_attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                    float* out, int64_t ldo, int seq, int heads, int head_dim, float* scratch, ThreadPool* pool);

}  // namespace mlfaas
