#include "engine/llm/attention_rows.h"

namespace mlfaas {

#if defined(__x86_64__)
float attention_dot_avx2(const float* a, const float* b, int n);
void attention_axpy_avx2(float a, const float* x, float* y, int n);
#endif

namespace {

float dot_portable(const float* a, const float* b, int n) {
  float sum = 0;
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy_portable(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

AttentionRowOps attention_row_ops(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::Avx2 || isa == Isa::AvxVnni || isa == Isa::Avx512 || isa == Isa::Avx512Vnni) {
    return {attention_dot_avx2, attention_axpy_avx2};
  }
#endif
  (void)isa;
  return {dot_portable, axpy_portable};
}

}  // namespace mlfaas
