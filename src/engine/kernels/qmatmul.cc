// Quantized linear layers: row sizes, the reference (de)quantizers and the matmul.
#include "engine/kernels/qmatmul.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/kernels/half.h"
#include "engine/kernels/thread_pool.h"

namespace mlfaas {

namespace {

constexpr int kQ8Block = 32;  // activation quantization block (ggml's QK8_0)

// ggml's get_scale_min_k4: sub-block j's 6-bit scale and min. Sub-blocks 0..3 keep theirs in the low 6 bits of
// bytes j and j + 4; sub-blocks 4..7 split theirs into a nibble of byte j + 4 and the top 2 bits of bytes j - 4
// (scale) and j (min).
void q4k_scale_min(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Element e (0..255) of a q6_K super-block as its signed code q - 32 (ggml's dequantize_row_q6_K bit positions:
// each 128-element half has 64 ql bytes and 32 qh bytes; its quarter t takes ql's low nibbles (t = 0, 1) or high
// nibbles (t = 2, 3) of bytes l or l + 32 and bits 2t, 2t+1 of qh[l]). Its scale is scales[e / 16].
int q6k_code(const BlockQ6_K& b, int e) {
  const int half = e / 128, t = (e % 128) / 32, l = e % 32;
  const uint8_t ql = b.ql[64 * half + l + ((t & 1) ? 32 : 0)];
  const int lo = (t >= 2) ? (ql >> 4) : (ql & 0xF);
  const int hi = (b.qh[32 * half + l] >> (2 * t)) & 3;
  return (lo | (hi << 4)) - 32;
}

void dequantize_blocks(QuantType type, const std::byte* src, int64_t k, float* out) {
  switch (type) {
    case QuantType::F32: std::memcpy(out, src, k * sizeof(float)); return;
    case QuantType::F16:
      for (int64_t i = 0; i < k; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = fp16_to_f32(h);
      }
      return;
    case QuantType::BF16:
      for (int64_t i = 0; i < k; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bf16_bits_to_f32(h);
      }
      return;
    case QuantType::Q8_0: {
      const auto* b = reinterpret_cast<const BlockQ8_0*>(src);
      for (int64_t i = 0; i < k / 32; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 32; ++j) out[32 * i + j] = b[i].qs[j] * d;
      }
      return;
    }
    case QuantType::Q4_0: {
      const auto* b = reinterpret_cast<const BlockQ4_0*>(src);
      for (int64_t i = 0; i < k / 32; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 16; ++j) {
          out[32 * i + j] = ((b[i].qs[j] & 0x0F) - 8) * d;
          out[32 * i + j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
        }
      }
      return;
    }
    case QuantType::Q4_K: {
      const auto* b = reinterpret_cast<const BlockQ4_K*>(src);
      for (int64_t i = 0; i < k / kQK_K; ++i) {
        const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        float* y = out + kQK_K * i;
        const uint8_t* q = b[i].qs;
        for (int pair = 0; pair < 4; ++pair, q += 32, y += 64) {
          int sc, m;
          q4k_scale_min(2 * pair, b[i].scales, &sc, &m);
          const float d1 = d * sc, m1 = dmin * m;
          q4k_scale_min(2 * pair + 1, b[i].scales, &sc, &m);
          const float d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; ++l) y[l] = d1 * (q[l] & 0xF) - m1;
          for (int l = 0; l < 32; ++l) y[l + 32] = d2 * (q[l] >> 4) - m2;
        }
      }
      return;
    }
    case QuantType::Q6_K: {
      const auto* b = reinterpret_cast<const BlockQ6_K*>(src);
      for (int64_t i = 0; i < k / kQK_K; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int e = 0; e < kQK_K; ++e) out[kQK_K * i + e] = d * b[i].scales[e / 16] * q6k_code(b[i], e);
      }
      return;
    }
  }
  throw std::invalid_argument("dequantize: unsupported type " + std::to_string(static_cast<uint32_t>(type)));
}

// One activation row quantized per 32-block: codes q (int8), scale d (fp32) and the code sum s of each block.
// d = max|x| / 127, q = x / d rounded to nearest (ties to even, as a vector conversion rounds), so |q| <= 127.
void quantize_activation_row(const float* x, int k, int8_t* q, float* d, int32_t* s) {
  for (int b = 0; b < k / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    float amax = 0.f;
    for (int j = 0; j < kQ8Block; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float scale = amax / 127.f;
    const float inv = scale != 0.f ? 1.f / scale : 0.f;
    int32_t sum = 0;
    for (int j = 0; j < kQ8Block; ++j) {
      const int v = static_cast<int>(std::nearbyint(xb[j] * inv));
      q[b * kQ8Block + j] = static_cast<int8_t>(v);
      sum += v;
    }
    d[b] = scale;
    s[b] = sum;
  }
}

bool is_integer_type(QuantType t) {
  return t == QuantType::Q8_0 || t == QuantType::Q4_0 || t == QuantType::Q4_K || t == QuantType::Q6_K;
}

float dot_float_row(QuantType type, const std::byte* w, const float* x, int k) {
  float acc = 0.f;
  for (int j = 0; j < k; ++j) {
    float v;
    if (type == QuantType::F32) {
      std::memcpy(&v, w + 4 * j, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, w + 2 * j, 2);
      v = type == QuantType::F16 ? fp16_to_f32(h) : bf16_bits_to_f32(h);
    }
    acc += v * x[j];
  }
  return acc;
}

float dot_integer_row(QuantType type, const std::byte* w, const int8_t* xq, const float* xd, const int32_t* xs,
                      int k) {
  float acc = 0.f;
  switch (type) {
    case QuantType::Q8_0: {
      const auto* b = reinterpret_cast<const BlockQ8_0*>(w);
      for (int i = 0; i < k / 32; ++i) {
        int32_t s = 0;
        for (int j = 0; j < 32; ++j) s += b[i].qs[j] * xq[32 * i + j];
        acc += static_cast<float>(s) * (fp16_to_f32(b[i].d) * xd[i]);
      }
      break;
    }
    case QuantType::Q4_0: {
      const auto* b = reinterpret_cast<const BlockQ4_0*>(w);
      for (int i = 0; i < k / 32; ++i) {
        int32_t s = 0;
        for (int j = 0; j < 16; ++j) {
          s += ((b[i].qs[j] & 0x0F) - 8) * xq[32 * i + j] + ((b[i].qs[j] >> 4) - 8) * xq[32 * i + j + 16];
        }
        acc += static_cast<float>(s) * (fp16_to_f32(b[i].d) * xd[i]);
      }
      break;
    }
    case QuantType::Q4_K: {
      const auto* b = reinterpret_cast<const BlockQ4_K*>(w);
      for (int i = 0; i < k / kQK_K; ++i) {
        const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int j = 0; j < 8; ++j) {
          const int a = 8 * i + j;  // activation block
          const uint8_t* q = b[i].qs + 32 * (j / 2);
          const int shift = (j & 1) ? 4 : 0;
          int32_t s = 0;
          for (int l = 0; l < 32; ++l) s += ((q[l] >> shift) & 0xF) * xq[32 * a + l];
          int sc, m;
          q4k_scale_min(j, b[i].scales, &sc, &m);
          acc += xd[a] * (d * static_cast<float>(sc * s) - dmin * static_cast<float>(m * xs[a]));
        }
      }
      break;
    }
    case QuantType::Q6_K: {
      const auto* b = reinterpret_cast<const BlockQ6_K*>(w);
      for (int i = 0; i < k / kQK_K; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 8; ++j) {
          const int a = 8 * i + j;
          int32_t s = 0;
          for (int half = 0; half < 2; ++half) {
            int32_t t = 0;
            for (int l = 0; l < 16; ++l) t += q6k_code(b[i], 32 * j + 16 * half + l) * xq[32 * a + 16 * half + l];
            s += b[i].scales[2 * j + half] * t;
          }
          acc += static_cast<float>(s) * (d * xd[a]);
        }
      }
      break;
    }
    default: break;
  }
  return acc;
}

}  // namespace

size_t quant_row_bytes(QuantType type, int64_t k) {
  const int elems = quant_block_elems(type);
  if (elems == 0 || k < 0 || k % elems != 0) return 0;
  return static_cast<size_t>(k / elems) * quant_block_bytes(type);
}

struct QMatmulScratch::Impl {
  int max_m = 0, max_k = 0;
  std::vector<int8_t> q;    // [max_m][max_k]
  std::vector<float> d;     // [max_m][max_k / 32]
  std::vector<int32_t> s;   // [max_m][max_k / 32]
};

QMatmulScratch::QMatmulScratch(int max_m, int max_k) : impl_(std::make_unique<Impl>()) {
  impl_->max_m = max_m;
  impl_->max_k = max_k;
  impl_->q.resize(static_cast<size_t>(max_m) * max_k);
  impl_->d.resize(static_cast<size_t>(max_m) * (max_k / kQ8Block));
  impl_->s.resize(static_cast<size_t>(max_m) * (max_k / kQ8Block));
}

QMatmulScratch::~QMatmulScratch() = default;

void qmatmul(Isa isa, const QWeight& w, const float* x, int64_t ldx, int m, float* y, int64_t ldy,
             QMatmulScratch* scratch, ThreadPool* pool) {
  (void)isa;
  (void)pool;
  if (m <= 0 || w.rows <= 0) return;
  if (!is_integer_type(w.type)) {
    for (int r = 0; r < w.rows; ++r) {
      const std::byte* wr = w.data + static_cast<size_t>(r) * w.row_bytes;
      for (int i = 0; i < m; ++i) y[i * ldy + r] = dot_float_row(w.type, wr, x + i * ldx, w.k);
    }
    return;
  }
  QMatmulScratch::Impl* s = scratch->impl();
  if (m > s->max_m || w.k > s->max_k) throw std::invalid_argument("qmatmul: scratch too small");
  const int nb = w.k / kQ8Block;
  for (int i = 0; i < m; ++i) {
    quantize_activation_row(x + i * ldx, w.k, s->q.data() + static_cast<size_t>(i) * w.k,
                            s->d.data() + static_cast<size_t>(i) * nb, s->s.data() + static_cast<size_t>(i) * nb);
  }
  for (int r = 0; r < w.rows; ++r) {
    const std::byte* wr = w.data + static_cast<size_t>(r) * w.row_bytes;
    for (int i = 0; i < m; ++i) {
      y[i * ldy + r] = dot_integer_row(w.type, wr, s->q.data() + static_cast<size_t>(i) * w.k,
                                       s->d.data() + static_cast<size_t>(i) * nb,
                                       s->s.data() + static_cast<size_t>(i) * nb, w.k);
    }
  }
}

void dequantize_row(const QWeight& w, int row, float* out) {
  dequantize_blocks(w.type, w.data + static_cast<size_t>(row) * w.row_bytes, w.k, out);
}

void quantize_row(QuantType type, const float* x, int64_t k, std::byte* out) {
  switch (type) {
    case QuantType::F32: std::memcpy(out, x, k * sizeof(float)); return;
    case QuantType::F16:
    case QuantType::BF16:
      for (int64_t i = 0; i < k; ++i) {
        const uint16_t h = type == QuantType::F16 ? f32_to_fp16(x[i]) : f32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case QuantType::Q8_0:  // quantize_row_q8_0_ref
      for (int64_t i = 0; i < k / 32; ++i) {
        const float* xb = x + 32 * i;
        float amax = 0.f;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
        const float d = amax / 127.f;
        const float id = d != 0.f ? 1.f / d : 0.f;
        BlockQ8_0 b;
        b.d = f32_to_fp16(d);
        for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(std::round(xb[j] * id));
        std::memcpy(out + i * sizeof b, &b, sizeof b);
      }
      return;
    case QuantType::Q4_0:  // quantize_row_q4_0_ref: the value of largest magnitude maps to -8
      for (int64_t i = 0; i < k / 32; ++i) {
        const float* xb = x + 32 * i;
        float amax = 0.f, max = 0.f;
        for (int j = 0; j < 32; ++j) {
          if (amax < std::fabs(xb[j])) {
            amax = std::fabs(xb[j]);
            max = xb[j];
          }
        }
        const float d = max / -8.f;
        const float id = d != 0.f ? 1.f / d : 0.f;
        BlockQ4_0 b;
        b.d = f32_to_fp16(d);
        for (int j = 0; j < 16; ++j) {
          const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(xb[j] * id + 8.5f)));
          const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(xb[j + 16] * id + 8.5f)));
          b.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
        }
        std::memcpy(out + i * sizeof b, &b, sizeof b);
      }
      return;
    case QuantType::Q4_K:
    case QuantType::Q6_K:
      throw std::invalid_argument(std::string("quantize_row: ") +
                                  (type == QuantType::Q4_K ? "Q4_K" : "Q6_K") + " not supported");
  }
  throw std::invalid_argument("quantize_row: unsupported type " + std::to_string(static_cast<uint32_t>(type)));
}

}  // namespace mlfaas
