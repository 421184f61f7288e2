#include "engine/llm/attention_rows.h"

namespace mlfaas {

#if defined(__x86_64__)
void attention_dots_avx2(const float* q, const float* rows, int64_t stride, int len, int n, float* out);
void attention_weighted_sum_avx2(const float* p, const float* rows, int64_t stride, int len, int n, float* out);
#endif

namespace {

void dots_portable(const float* q, const float* rows, int64_t stride, int len, int n, float* out) {
  for (int t = 0; t < len; ++t) {
    const float* k = rows + t * stride;
    float sum = 0;
    for (int i = 0; i < n; ++i) sum += q[i] * k[i];
    out[t] = sum;
  }
}

void weighted_sum_portable(const float* p, const float* rows, int64_t stride, int len, int n, float* out) {
  for (int i = 0; i < n; ++i) out[i] = 0.0f;
  for (int t = 0; t < len; ++t) {
    const float a = p[t];
    const float* v = rows + t * stride;
    for (int i = 0; i < n; ++i) out[i] += a * v[i];
  }
}

}  // namespace

AttentionRowOps attention_row_ops(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::Avx2 || isa == Isa::AvxVnni || isa == Isa::Avx512 || isa == Isa::Avx512Vnni) {
    return {attention_dots_avx2, attention_weighted_sum_avx2};
  }
#endif
  (void)isa;
  return {dots_portable, weighted_sum_portable};
}

}  // namespace mlfaas
