// AVX2 + FMA forms of attention_rows.h's loops (compiled with -mavx2 -mfma; called only where the CPU has them).
#include <immintrin.h>

#include <cstdint>

namespace mlfaas {

namespace {

inline float dot(const float* a, const float* b, int n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  const __m256 acc = _mm256_add_ps(acc0, acc1);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  float sum = _mm_cvtss_f32(s);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// out[i0 .. i0 + 8 * kVecs) = sum_t p[t] * rows[t][i0 ..], the kVecs accumulators held in registers over all t.
template <int kVecs>
inline void weighted_columns(const float* p, const float* rows, int64_t stride, int len, int i0, float* out) {
  __m256 acc[kVecs];
  for (auto& v : acc) v = _mm256_setzero_ps();
  for (int t = 0; t < len; ++t) {
    const __m256 a = _mm256_broadcast_ss(p + t);
    const float* v = rows + t * stride + i0;
    for (int j = 0; j < kVecs; ++j) acc[j] = _mm256_fmadd_ps(a, _mm256_loadu_ps(v + 8 * j), acc[j]);
  }
  for (int j = 0; j < kVecs; ++j) _mm256_storeu_ps(out + i0 + 8 * j, acc[j]);
}

}  // namespace

void attention_dots_avx2(const float* q, const float* rows, int64_t stride, int len, int n, float* out) {
  for (int t = 0; t < len; ++t) out[t] = dot(q, rows + t * stride, n);
}

void attention_weighted_sum_avx2(const float* p, const float* rows, int64_t stride, int len, int n, float* out) {
  int i = 0;
  for (; i + 64 <= n; i += 64) weighted_columns<8>(p, rows, stride, len, i, out);
  for (; i + 8 <= n; i += 8) weighted_columns<1>(p, rows, stride, len, i, out);
  for (; i < n; ++i) {
    float sum = 0.0f;
    for (int t = 0; t < len; ++t) sum += p[t] * rows[t * stride + i];  // as the vector lanes, one position at a time
    out[i] = sum;
  }
}

}  // namespace mlfaas
