#pragma once
// The two vector loops of decoder attention over the KV cache: q·k for each cached position, and the
// probability-weighted sum of the cached values. At long contexts they cost as much per token as the weights, so
// they get the kernel level's vector units (attention_rows_avx2.cc serves every x86 level; the others take the
// portable loops, which the compiler may vectorize).
//
// Each op runs over all `len` cached positions in one call (a prompt's causal attention makes ~n^2 / 2 of them per
// head, so a call per position cost more than the arithmetic). The results are those of the per-position loops:
// dots[t] is the dot product of q and row t summed in the same order as a single dot, and the weighted sum adds
// p[t] * row t into each output element with one rounding per position, in position order, starting from zero.
#include <cstdint>

#include "engine/kernels/isa.h"

namespace mlfaas {

struct AttentionRowOps {
  // out[t] = q · rows[t * stride .. + n) for t < len.
  void (*dots)(const float* q, const float* rows, int64_t stride, int len, int n, float* out);
  // out[0 .. n) = sum over t < len of p[t] * rows[t * stride .. + n) (out is overwritten).
  void (*weighted_sum)(const float* p, const float* rows, int64_t stride, int len, int n, float* out);
};

AttentionRowOps attention_row_ops(Isa isa);

}  // namespace mlfaas
