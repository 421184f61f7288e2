#pragma once
// The two vector loops of decoder attention over the KV cache: q·k for each cached position, and the
// probability-weighted sum of the cached values. At long contexts they cost as much per token as the weights, so
// they get the kernel level's vector units (attention_rows_avx2.cc serves every x86 level; the others take the
// portable loops, which the compiler may vectorize).
#include "engine/kernels/isa.h"

namespace mlfaas {

struct AttentionRowOps {
  float (*dot)(const float* a, const float* b, int n);
  void (*axpy)(float a, const float* x, float* y, int n);  // y += a * x
};

AttentionRowOps attention_row_ops(Isa isa);

}  // namespace mlfaas
