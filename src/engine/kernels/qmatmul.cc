// Quantized linear layers: row sizes, the reference (de)quantizers and the matmul.
#include "engine/kernels/qmatmul.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/kernels/half.h"
#include "engine/kernels/qmatmul_kernels.h"
#include "engine/kernels/qmatmul_amx.h"
#include "engine/kernels/thread_pool.h"

namespace mlfaas {

namespace {

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

bool is_integer_type(QuantType t) {
  return t == QuantType::Q8_0 || t == QuantType::Q4_0 || t == QuantType::Q4_K || t == QuantType::Q6_K ||
         quant_type_x16(t);
}

// Block b of row r of an _X16 weight, back in its base type's block.
void x16_block(const QWeight& w, int r, int b, std::byte* out) {
  const bool q8 = w.type == QuantType::Q8_0_X16;
  const int nb = w.k / 32, code_bytes = x16_code_bytes(q8);
  const std::byte* group = w.data + static_cast<size_t>(r / kX16Rows) * kX16Rows * w.row_bytes;
  const std::byte* codes = group + static_cast<size_t>(b) * code_bytes;
  const int lane = 4 * (r % kX16Rows);
  uint16_t d;
  std::memcpy(&d, group + static_cast<size_t>(nb) * code_bytes + 32 * b + 2 * (r % kX16Rows), 2);
  if (q8) {
    BlockQ8_0 blk;
    blk.d = d;
    for (int j = 0; j < 32; ++j) {
      blk.qs[j] = static_cast<int8_t>(std::to_integer<uint8_t>(codes[64 * (j / 4) + lane + j % 4]) ^ 0x80);
    }
    std::memcpy(out, &blk, sizeof blk);
  } else {
    BlockQ4_0 blk;
    blk.d = d;
    for (int j = 0; j < 16; ++j) blk.qs[j] = std::to_integer<uint8_t>(codes[64 * (j / 4) + lane + j % 4]);
    std::memcpy(out, &blk, sizeof blk);
  }
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
    case QuantType::Q8_0_X16:
    case QuantType::Q4_0_X16: break;  // rows are not contiguous: dequantize_row() takes them block by block
  }
  throw std::invalid_argument("dequantize: unsupported type " + std::to_string(static_cast<uint32_t>(type)));
}

}  // namespace

size_t quant_row_bytes(QuantType type, int64_t k) {
  const int elems = quant_block_elems(type);
  if (elems == 0 || k < 0 || k % elems != 0) return 0;
  return static_cast<size_t>(k / elems) * quant_block_bytes(type);
}

struct QMatmulScratch::Impl {
  int max_m = 0, max_k = 0;
  std::vector<int8_t> q, q4;
  std::vector<uint8_t> xu;
  std::vector<float> d, d4, d8, xsdx;
  std::vector<int32_t> s32, s16, c4, xoff;
};

QMatmulScratch::QMatmulScratch(int max_m, int max_k) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.max_m = std::max(max_m, 0);
  s.max_k = std::max(max_k, 0) / 32 * 32;
  const size_t m = s.max_m, k = s.max_k, nb = k / 32, direct = std::min(m, size_t{kQmGemvMaxM});
  s.q.resize(m * k);
  s.d.resize(m * nb);
  s.s32.resize(m * nb);
  s.s16.resize(m * 2 * nb);
  s.xoff.resize(m * 2 * nb);
  s.xsdx.resize(m * nb);
  s.q4.resize(direct * k);
  s.xu.resize(direct * k);
  s.d4.resize(direct * 4 * nb);
  s.c4.resize(direct * 4 * nb);
  s.d8.resize(direct * 8 * nb);
}

QMatmulScratch::~QMatmulScratch() = default;

namespace {

struct Level {
  void (*quantize)(const float* x, int64_t ldx, int m, int k, bool direct, QmActs* a);
  void (*rows)(const QmArgs& args, int row_begin, int row_end);
  int tile_rows;
};

// AVX-512 CPUs without VNNI run the AVX2 kernels, as the int8 GEMM does (isa.h).
Level level_for(Isa isa) {
  static const bool supported[] = {cpu_supports(Isa::Portable), cpu_supports(Isa::Avx2), cpu_supports(Isa::AvxVnni),
                                   cpu_supports(Isa::Avx512),   cpu_supports(Isa::Avx512Vnni),
                                   cpu_supports(Isa::Neon)};
  const int index = static_cast<int>(isa);
  if (index < 0 || index > 5 || !supported[index]) {
    throw std::runtime_error("qmatmul: ISA level " + std::string(isa_name(isa)) + " is not supported by this CPU");
  }
  switch (isa) {
#if defined(__x86_64__)
    case Isa::Avx2:
    case Isa::Avx512: return {&qm_avx2::quantize, &qm_avx2::rows, qm_avx2::tile_rows};
    case Isa::AvxVnni: return {&qm_avxvnni::quantize, &qm_avxvnni::rows, qm_avxvnni::tile_rows};
    case Isa::Avx512Vnni: return {&qm_avx512vnni::quantize, &qm_avx512vnni::rows, qm_avx512vnni::tile_rows};
#endif
#if defined(__aarch64__)
    case Isa::Neon: return {&qm_neon::quantize, &qm_neon::rows, qm_neon::tile_rows};
#endif
    default: return {&qm_portable::quantize, &qm_portable::rows, qm_portable::tile_rows};
  }
}

// The tile kernels' per-sub-block activation terms for `type` (qmatmul_kernels.h).
void prepare_tiled(QuantType type, QmActs* a) {
  const int nb = a->nb, stride = a->k / 16;
  for (int i = 0; i < a->m; ++i) {
    int32_t* xoff = a->xoff + static_cast<size_t>(i) * stride;
    const int32_t* s32 = a->s32 + static_cast<size_t>(i) * nb;
    switch (type) {
      case QuantType::Q8_0:
        for (int b = 0; b < nb; ++b) xoff[b] = -128 * s32[b];
        break;
      case QuantType::Q4_0:
        for (int b = 0; b < nb; ++b) xoff[b] = -8 * s32[b];
        break;
      case QuantType::Q6_K:
        for (int h = 0; h < 2 * nb; ++h) xoff[h] = -32 * a->s16[static_cast<size_t>(i) * 2 * nb + h];
        break;
      case QuantType::Q4_K:
        for (int b = 0; b < nb; ++b) {
          xoff[b] = 0;
          a->xsdx[static_cast<size_t>(i) * nb + b] = static_cast<float>(s32[b]) * a->d[static_cast<size_t>(i) * nb + b];
        }
        break;
      default: break;
    }
  }
}

// Prefill on CPUs with AMX-INT8 tiles (Sapphire Rapids and later): from this many rows of X the tile kernel beats
// vpdpbusd on every shape measured (bench/qmatmul_amx_bench); below it the packed tiles of the level do better.
constexpr int kAmxMinRows = 16;

// AMX is a choice inside the avx512vnni level (as sdot is inside neon): same quantized activations, same integer
// block sums. MLFAAS_AMX=0 turns it off, to compare or to rule it out.
bool amx_prefill_enabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("MLFAAS_AMX");
    return amx_int8_usable() && !(env != nullptr && std::string_view(env) == "0");
  }();
  return enabled;
}

struct ChunkJob {
  const QmArgs* args;
  void (*rows)(const QmArgs&, int, int);
  int chunk_rows;
};

}  // namespace

void qmatmul(Isa isa, const QWeight& w, const float* x, int64_t ldx, int m, float* y, int64_t ldy,
             QMatmulScratch* scratch, ThreadPool* pool) {
  if (m <= 0 || w.rows <= 0) return;
  const int block = quant_block_elems(w.type);
  if (block == 0 || w.k <= 0 || w.k % block != 0) {
    throw std::invalid_argument("qmatmul: k = " + std::to_string(w.k) + " is not a positive multiple of the " +
                                "type's block");
  }
  if (isa == Isa::Avx512Vnni && m >= kAmxMinRows && qmatmul_amx_supports(w.type) && amx_prefill_enabled()) {
    qmatmul_amx(w, x, ldx, m, y, ldy, pool);
    return;
  }
  const Level level = level_for(isa);
  QmArgs args{w.type, w.rows, w.k, w.data, w.row_bytes, x, ldx, nullptr, m, y, ldy};
  QmActs acts;
  const bool integer = is_integer_type(w.type);
  const bool direct = m <= kQmGemvMaxM && (w.type == QuantType::Q8_0 || w.type == QuantType::Q4_0);
  if (integer) {
    QMatmulScratch::Impl* s = scratch != nullptr ? scratch->impl() : nullptr;
    if (s == nullptr || m > s->max_m || w.k > s->max_k) {
      throw std::invalid_argument("qmatmul: scratch too small for m = " + std::to_string(m) +
                                  ", k = " + std::to_string(w.k));
    }
    acts.q = s->q.data();
    acts.ldq = w.k;
    acts.d = s->d.data();
    acts.s32 = s->s32.data();
    acts.s16 = s->s16.data();
    acts.q4 = s->q4.data();
    acts.xu = s->xu.data();
    acts.d4 = s->d4.data();
    acts.d8 = s->d8.data();
    acts.c4 = s->c4.data();
    acts.xoff = s->xoff.data();
    acts.xsdx = s->xsdx.data();
    level.quantize(x, ldx, m, w.k, direct, &acts);
    if (!direct && !quant_type_x16(w.type)) prepare_tiled(w.type, &acts);
    args.acts = &acts;
  }
  // Chunks of whole row tiles, several per thread so a slow thread does not hold the others up, but each with
  // enough weight bytes (>= 64 KiB) that scheduling costs nothing next to it.
  const int threads = pool != nullptr ? pool->threads() : 1;
  // _X16 decode streams four 16-row groups at once (qmatmul_kernels.inc), so its chunks are whole sets of four.
  const int tile = quant_type_x16(w.type) ? 4 * kX16Rows : std::max(level.tile_rows, 16);
  const int64_t min_rows = std::max<int64_t>(1, 65536 / std::max<size_t>(w.row_bytes, 1));
  int64_t chunk = std::max<int64_t>(min_rows, w.rows / (threads * 4));
  chunk = (chunk + tile - 1) / tile * tile;
  const int chunks = static_cast<int>((w.rows + chunk - 1) / chunk);
  if (threads <= 1 || chunks <= 1) {
    level.rows(args, 0, w.rows);
    return;
  }
  ChunkJob job{&args, level.rows, static_cast<int>(chunk)};
  pool->run(
      chunks,
      [](void* ctx, int c) {
        const ChunkJob& j = *static_cast<const ChunkJob*>(ctx);
        const int begin = c * j.chunk_rows;
        j.rows(*j.args, begin, std::min(j.args->rows, begin + j.chunk_rows));
      },
      &job);
}

void dequantize_row(const QWeight& w, int row, float* out) {
  if (quant_type_x16(w.type)) {
    // Zeroed only to quiet GCC 12, which follows the switch into the F16 case and calls it uninitialized.
    alignas(4) std::byte block[32 * sizeof(float)] = {};  // one base block (34 bytes at most); sized for any type
    for (int b = 0; b < w.k / 32; ++b) {
      x16_block(w, row, b, block);
      dequantize_blocks(quant_type_base(w.type), block, 32, out + 32 * b);
    }
    return;
  }
  dequantize_blocks(w.type, w.data + static_cast<size_t>(row) * w.row_bytes, w.k, out);
}

size_t x16_weight_bytes(QuantType type, int64_t rows, int64_t k) {
  if (!quant_type_x16(type) || rows < 0 || k < 0 || k % 32 != 0) return 0;
  const int64_t groups = (rows + kX16Rows - 1) / kX16Rows;
  return static_cast<size_t>(groups) * kX16Rows * quant_row_bytes(type, k);
}

QWeight interleave_x16(const QWeight& w, std::byte* out) {
  if (w.type != QuantType::Q8_0 && w.type != QuantType::Q4_0) {
    throw std::invalid_argument(std::string("interleave_x16: ") + quant_type_name(w.type) + " has no interleaved form");
  }
  const bool q8 = w.type == QuantType::Q8_0;
  const QuantType type = quant_type_interleaved(w.type);
  const int nb = w.k / 32, code_bytes = x16_code_bytes(q8), block_bytes = quant_block_bytes(w.type);
  const int groups = (w.rows + kX16Rows - 1) / kX16Rows;
  const size_t group_bytes = static_cast<size_t>(kX16Rows) * w.row_bytes;
  for (int g = 0; g < groups; ++g) {
    std::byte* group = out + g * group_bytes;
    std::byte* scales = group + static_cast<size_t>(nb) * code_bytes;
    for (int r = 0; r < kX16Rows; ++r) {
      const int row = g * kX16Rows + r;
      const std::byte* src = row < w.rows ? w.data + static_cast<size_t>(row) * w.row_bytes : nullptr;
      for (int b = 0; b < nb; ++b) {
        std::byte* codes = group + static_cast<size_t>(b) * code_bytes + 4 * r;
        const std::byte* blk = src != nullptr ? src + static_cast<size_t>(b) * block_bytes : nullptr;
        // Padding rows: scale 0 and the codes of zero (128 stored for Q8_0, any nibble for Q4_0 since d = 0).
        if (blk != nullptr) {
          std::memcpy(scales + 32 * b + 2 * r, blk, 2);
        } else {
          std::memset(scales + 32 * b + 2 * r, 0, 2);
        }
        for (int j = 0; j < (q8 ? 32 : 16); ++j) {
          const uint8_t v = blk != nullptr ? std::to_integer<uint8_t>(blk[2 + j]) : (q8 ? 0 : 0x88);
          codes[64 * (j / 4) + j % 4] = std::byte{static_cast<uint8_t>(q8 ? v ^ 0x80 : v)};
        }
      }
    }
  }
  QWeight r = w;
  r.type = type;
  r.data = out;
  return r;
}

QWeight deinterleave_x16(const QWeight& w, std::byte* out) {
  if (!quant_type_x16(w.type)) {
    throw std::invalid_argument(std::string("deinterleave_x16: ") + quant_type_name(w.type) + " is not interleaved");
  }
  const int nb = w.k / 32, block_bytes = quant_block_bytes(w.type);
  for (int r = 0; r < w.rows; ++r) {
    for (int b = 0; b < nb; ++b) x16_block(w, r, b, out + static_cast<size_t>(r) * w.row_bytes + b * block_bytes);
  }
  QWeight r = w;
  r.type = quant_type_base(w.type);
  r.data = out;
  return r;
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
    case QuantType::Q8_0_X16:
    case QuantType::Q4_0_X16:
      throw std::invalid_argument("quantize_row: the _X16 types hold groups of rows (interleave_x16)");
  }
  throw std::invalid_argument("quantize_row: unsupported type " + std::to_string(static_cast<uint32_t>(type)));
}

}  // namespace mlfaas
