// AMX-INT8 kernel for qmatmul_amx() (see qmatmul_amx.h for the layout and the numerics). Built with
// -mamx-tile -mamx-int8 and AVX-512 on x86-64 only; called only after amx_int8_usable().
//
// What bounds it (measured on Sapphire Rapids): per 16 x 16 x 32 tile product, TDPBSSD and the tile loads overlap
// with other work, but TILESTORED (needed once per block, since every block has its own pair of scales) and the
// AVX-512 scaling of the 16 rows it stored (convert, multiply the two scales, fma: 48 instructions) do not. So the
// loop keeps the fp32 accumulators in registers (no loads or stores of them per block), lets the tile unit run three
// blocks ahead (one block ahead, the TILESTORED waited on the product's latency: +17% on 2048 x 2048 at m = 128),
// and unpacks each panel of weights once for all rows of X. After that, a profile shows the tile unit itself
// (TILELOADD / TDPBSSD issue) and the read-back of stored C tiles as the stalls; reading the stored tile one block
// later from a second buffer did not help measurably, nor did prefetching the next panel into L1 instead of L2, nor
// unpacking the next panel a block at a time between the current panel's steps (double-buffered panels: 0 to -8%). Tried and measured slower: loading Q8_0
// A tiles straight from the file for m > 16 (rows of 34-byte blocks split cache lines), K-chunked panels that stay in L1
// (each chunk restarts the pipeline), 2 A x 2 B tiles with the accumulators in memory (their loads and stores per
// block cost more than the shared tile loads save), and TDPBF16PS on bf16 copies (exact for these integers and no
// convert, but only ~7% faster in isolation, less than its unpacking costs).
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which -Wmaybe-uninitialized mistakes for a bug.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "engine/kernels/qmatmul_amx.h"
#include "engine/kernels/thread_pool.h"

namespace mlfaas {

namespace {

constexpr int kBlock = 32;            // elements of a Q8_0 / Q4_0 block = the K of one TDPBSSD
constexpr int kGroupRows = 16;        // rows of X in one B tile (= columns of C)
constexpr int kPanelRows = 32;        // weight rows per panel: two A tiles
constexpr int kXBlockBytes = 16 * kBlock;  // one group's block in B-tile layout: 8 rows x 64 bytes

// Tiles: 0-1 A (16 weight rows x the 32 bytes of one block), 2-3 B (one 16-row group of X, 8 x 64 bytes in VNNI
// order), 4-6 C (16 x 16 int32). A and B alternate by block, C rotates by three, so that the products of the next
// two blocks can be issued before a block's result is read back (tile registers are not renamed).
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "ldtilecfg reads 64 bytes");

TileConfig make_tile_config() {
  TileConfig cfg;
  for (int t = 0; t < 2; ++t) cfg.colsb[t] = kBlock, cfg.rows[t] = 16;
  for (int t = 2; t < 4; ++t) cfg.colsb[t] = 64, cfg.rows[t] = kBlock / 4;
  for (int t = 4; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  return cfg;
}

// Activations quantized and packed by qmatmul_amx_kernel, shared read-only by the workers. For group g (rows
// 16g .. 16g+15 of X) and block b: q + (g * blocks + b) * 512 holds the B tile (row t, bytes 4c .. 4c+3 = row c's
// elements 4t .. 4t+3 of the block) and d + (g * blocks + b) * 16 the 16 scales. Rows past m are zero (d = 0).
struct PackedX {
  const int8_t* q;
  const float* d;
  int groups;
  int blocks;
};

// Round to nearest, halfway cases to even, on 16 lanes: the rule of every other level's activation quantizer
// (qmatmul.cc, and ggml's vectorized quantize_row_q8_0), so integer block sums agree across levels. x * id is at
// most 127 in magnitude, so the result fits s8.
inline __m512 round_half_even(__m512 v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

// One 32-element block of a row of X quantized as qmatmul.cc's activation quantizer does (ties to even, scale kept in fp32): the
// 32 int8 in order, and the scale.
inline __m256i quantize_block(const float* x, float* d_out) {
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
  // inf or NaN (a damaged model): zero codes and a NaN scale, so the outputs are NaN as on every other level.
  const __m512i exponent = _mm512_set1_epi32(0x7F800000);
  if ((_mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(v0), exponent), exponent) |
       _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(v1), exponent), exponent)) != 0) {
    *d_out = __builtin_nanf("");
    return _mm256_setzero_si256();
  }
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m512 idv = _mm512_set1_ps(id);
  const __m128i q0 = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_half_even(_mm512_mul_ps(v0, idv))));
  const __m128i q1 = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_half_even(_mm512_mul_ps(v1, idv))));
  *d_out = d;
  return _mm256_set_m128i(q1, q0);
}

// Quantizes rows 16g .. 16g+15 of X (rows at or past m are zero) into group g of the packed activations. Per
// block, the 16 rows' quants (16 x 8 dwords of 4 consecutive int8) are transposed in registers into the B tile's
// 8 rows of 16 dwords.
void quantize_group(const float* x, int64_t ldx, int m, int k, int g, int8_t* q_out, float* d_out) {
  const int blocks = k / kBlock;
  int8_t* q_group = q_out + static_cast<size_t>(g) * blocks * kXBlockBytes;
  float* d_group = d_out + static_cast<size_t>(g) * blocks * kGroupRows;
  const int rows = std::min(kGroupRows, m - g * kGroupRows);
  const float* x_group = x + static_cast<int64_t>(g) * kGroupRows * ldx;
  // Qword indices that gather 128-bit lanes 0 / 1 (and, in the upper half, 2 / 3) of two vectors.
  const __m512i lanes_even = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i lanes_odd = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int b = 0; b < blocks; ++b) {
    float* d = d_group + b * kGroupRows;
    __m256i q[16];
    for (int c = 0; c < kGroupRows; ++c) {
      if (c < rows) {
        q[c] = quantize_block(x_group + c * ldx + b * kBlock, &d[c]);
      } else {
        q[c] = _mm256_setzero_si256();
        d[c] = 0.0f;
      }
    }
    // r[i] = rows i (low half) and i + 8 (high half); transpose both 8 x 8 dword matrices at once.
    __m512i r[8], t[8], u[8];
    for (int i = 0; i < 8; ++i) r[i] = _mm512_inserti64x4(_mm512_castsi256_si512(q[i]), q[i + 8], 1);
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);      // dword 0 of each 128-bit lane, rows i .. i+3
      u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);  // dword 1
      u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
      u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    int8_t* tile = q_group + static_cast<size_t>(b) * kXBlockBytes;
    for (int j = 0; j < 4; ++j) {  // B-tile rows j and j + 4: dwords j and j + 4 of every row of X
      _mm512_store_si512(tile + j * 64, _mm512_permutex2var_epi64(u[j], lanes_even, u[j + 4]));
      _mm512_store_si512(tile + (j + 4) * 64, _mm512_permutex2var_epi64(u[j], lanes_odd, u[j + 4]));
    }
  }
}

// The permute indices of rows_from_quads: round n, output o, lane p (index bit 4 picks the second source).
struct QuadTransposeIndex {
  int32_t round[3][2][16];
};
constexpr QuadTransposeIndex make_quad_transpose_index() {
  QuadTransposeIndex idx{};
  for (int o = 0; o < 2; ++o) {
    for (int p = 0; p < 16; ++p) {
      const int s = p >> 3, t0 = p & 1, t1 = (p >> 1) & 1, t2 = (p >> 2) & 1;
      idx.round[0][o][p] = (s << 4) | (o * 8 + (p & 7));                    // lane (t2, r2, r1, r0), r3 = o
      idx.round[1][o][p] = (s << 4) | (t2 * 8 + o * 4 + (p & 3));            // lane (t1, t2, r1, r0), r2 = o
      idx.round[2][o][p] = (t0 << 4) | (t1 * 8 + t2 * 4 + o * 2 + s);       // lane 8 r0 + t, r1 = o
    }
  }
  return idx;
}
alignas(64) constexpr QuadTransposeIndex kQuadTransposeIndex = make_quad_transpose_index();

// Rows from quads: v[t] holds dword t (elements 4t .. 4t+3) of rows 0 .. 15 in its 16 lanes, as a block of an
// _X16 weight stores them; afterwards v[i] holds rows 2i and 2i+1 whole (32 bytes each), as an A tile wants them.
// An 8 x 16 transpose of dwords in three rounds of eight two-source permutes: each round pairs the vectors that
// differ in one bit of t (t2, then t1, t0) and trades it for the top bit of the row still in the lane index (r3,
// then r2, r1); the last round also puts each lane where the output wants it.
inline void rows_from_quads(__m512i v[8]) {
  const QuadTransposeIndex& k = kQuadTransposeIndex;
  __m512i u[8];
  for (int o = 0; o < 2; ++o) {  // (q[t], q[t + 4]) -> u[4 r3 + t]
    const __m512i idx = _mm512_load_si512(k.round[0][o]);
    for (int t = 0; t < 4; ++t) u[4 * o + t] = _mm512_permutex2var_epi32(v[t], idx, v[t + 4]);
  }
  for (int o = 0; o < 2; ++o) {  // (u[4 r3 + t0], u[4 r3 + 2 + t0]) -> v[4 r3 + 2 r2 + t0]
    const __m512i idx = _mm512_load_si512(k.round[1][o]);
    for (int r3 = 0; r3 < 2; ++r3) {
      for (int t0 = 0; t0 < 2; ++t0)
        v[4 * r3 + 2 * o + t0] = _mm512_permutex2var_epi32(u[4 * r3 + t0], idx, u[4 * r3 + 2 + t0]);
    }
  }
  for (int o = 0; o < 2; ++o) {  // (v[2i'], v[2i' + 1]) -> u[2i' + r1]: rows 2i, 2i + 1 with i = 2i' + r1
    const __m512i idx = _mm512_load_si512(k.round[2][o]);
    for (int i = 0; i < 4; ++i) u[2 * i + o] = _mm512_permutex2var_epi32(v[2 * i], idx, v[2 * i + 1]);
  }
  for (int i = 0; i < 8; ++i) v[i] = u[i];
}

// unpack_panel for the _X16 types (quant_blocks.h): the panel's two groups of 16 rows are its two A tiles. Each
// block of a group is one 8 x 16 dword transpose (Q8_0_X16: codes + 128 back to signed with an XOR; Q4_0_X16:
// each quad of bytes split into the low nibbles, elements 4t .. 4t+3, and the high ones, 16 + 4t .. 16 + 4t+3,
// minus 8), and its 16 scales are one load. A group past w.rows is zero; rows past w.rows inside the last group are
// the file's padding (scale 0), and run_panel never stores them.
void unpack_panel_x16(const QWeight& w, int row0, int blocks, int8_t* a, float* d) {
  const bool q8 = w.type == QuantType::Q8_0_X16;
  const int code_bytes = x16_code_bytes(q8);
  const size_t group_bytes = static_cast<size_t>(kX16Rows) * w.row_bytes;
  const int groups = std::min(kPanelRows / kX16Rows, (w.rows - row0 + kX16Rows - 1) / kX16Rows);
  const std::byte* group0 = w.data + static_cast<size_t>(row0 / kX16Rows) * group_bytes;
  const __m512i low4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8), flip = _mm512_set1_epi8(-128);
  for (int b = 0; b < blocks; ++b) {
    for (int h = 0; h < kPanelRows / kX16Rows; ++h) {
      int8_t* out = a + static_cast<size_t>(b) * kPanelRows * kBlock + h * kX16Rows * kBlock;
      float* out_d = d + b * kPanelRows + h * kX16Rows;
      if (h >= groups) {
        for (int i = 0; i < kX16Rows * kBlock; i += 64) _mm512_store_si512(out + i, _mm512_setzero_si512());
        _mm512_store_ps(out_d, _mm512_setzero_ps());
        continue;
      }
      const std::byte* group = group0 + h * group_bytes;
      const std::byte* codes = group + static_cast<size_t>(b) * code_bytes;
      __m512i v[8];
      if (q8) {
        for (int t = 0; t < 8; ++t) v[t] = _mm512_xor_si512(_mm512_loadu_si512(codes + 64 * t), flip);
      } else {
        for (int t = 0; t < 4; ++t) {
          const __m512i c = _mm512_loadu_si512(codes + 64 * t);
          v[t] = _mm512_sub_epi8(_mm512_and_si512(c, low4), eight);
          v[t + 4] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(c, 4), low4), eight);
        }
      }
      rows_from_quads(v);
      for (int i = 0; i < 8; ++i) _mm512_store_si512(out + 64 * i, v[i]);
      const std::byte* scales = group + static_cast<size_t>(blocks) * code_bytes + 2 * kX16Rows * b;
      _mm512_store_ps(out_d, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales))));
    }
  }
}

// A panel of 32 weight rows unpacked once into A-tile order: block b's 32 rows x 32 int8 at a + b * 1024 (rows
// 0-15 form one A tile, 16-31 the other, both with a 32-byte stride) and their scales at d + b * 32. Rows at or
// past w.rows are zero. The panel's rows are consecutive in memory, so this reads one sequential stream (which
// run_panel prefetched while computing the previous panel).
void unpack_panel(const QWeight& w, int row0, int blocks, bool quants, int8_t* a, float* d, uint16_t* d_half) {
  const int n_rows = std::min(kPanelRows, w.rows - row0);
  const std::byte* base = w.data + static_cast<size_t>(row0) * w.row_bytes;
  const __m128i low4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
  // Block-major, so the 64 KiB+ buffer is written sequentially (column-major writes would miss L1 on every one).
  for (int b = 0; b < blocks; ++b) {
    int8_t* out = a + static_cast<size_t>(b) * kPanelRows * kBlock;
    uint16_t* out_d = d_half + b * kPanelRows;
    if (!quants) {  // Q8_0 read in place: the scales only
      for (int n = 0; n < n_rows; ++n) out_d[n] = (reinterpret_cast<const BlockQ8_0*>(base + n * w.row_bytes) + b)->d;
    } else if (w.type == QuantType::Q8_0) {
      for (int n = 0; n < n_rows; ++n) {
        const auto* blk = reinterpret_cast<const BlockQ8_0*>(base + n * w.row_bytes) + b;
        _mm256_store_si256(reinterpret_cast<__m256i*>(out + n * kBlock),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs)));
        out_d[n] = blk->d;
      }
    } else {  // Q4_0: element j in the low nibble of byte j, element j + 16 in its high nibble; value q - 8
      for (int n = 0; n < n_rows; ++n) {
        const auto* blk = reinterpret_cast<const BlockQ4_0*>(base + n * w.row_bytes) + b;
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, low4), eight);
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), low4), eight);
        _mm256_store_si256(reinterpret_cast<__m256i*>(out + n * kBlock), _mm256_set_m128i(hi, lo));
        out_d[n] = blk->d;
      }
    }
    for (int n = n_rows; n < kPanelRows; ++n) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(out + n * kBlock), _mm256_setzero_si256());
      out_d[n] = 0;
    }
  }
  for (int i = 0; i < blocks * kPanelRows; i += 16)
    _mm512_store_ps(d + i, _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d_half + i))));
}

// Transposes 16 x 16 floats in registers: out[c] lane n = in[n] lane c.
inline void transpose16(const __m512 in[16], __m512 out[16]) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(in[i], in[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(in[i], in[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[4q + j] now holds, in 128-bit lane L, column 4L + j of rows 4q .. 4q + 3; gather the lanes.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    out[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    out[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    out[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    out[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

// acc[n] += float(C[n]) * (d_w[n] * d_x) for the 16 rows of a C tile read back to memory (lanes: rows of X).
inline void scale_tile(const int32_t* c_tile, const float* d_w, __m512 d_x, __m512 acc[16]) {
  for (int n = 0; n < 16; ++n) {
    const __m512 s = _mm512_mul_ps(d_x, _mm512_set1_ps(d_w[n]));
    acc[n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c_tile + n * 16)), s, acc[n]);
  }
}

// Where a panel's A tiles are: half h (rows 16h .. 16h+15) of block b is 16 rows of 32 int8 at
// base + h * half_step + b * block_step, `stride` bytes apart.
// When `copy_to` is set, the first group of X reads the tiles from there (the file) and stores each A tile it
// loads into copy_to in the compact layout (half h of block b at copy_to + h * 512 + b * 1024, rows 32 bytes
// apart), which the other groups then read: the panel is copied by the tile unit while it computes, instead of in
// a separate pass that waits on memory.
struct PanelA {
  const int8_t* base;
  int64_t half_step, block_step, stride;
  int8_t* copy_to = nullptr;
};

// Computes Y[:, row0 .. row0+31] (the rows of W that exist) from the unpacked panel. The caller has loaded the
// tile configuration. For each 16-row group of X and each half of the panel, the 16 x 16 outputs accumulate in 16
// zmm registers across all blocks (lanes = rows of X), then are transposed into Y.
//
// Meanwhile it prefetches [next, next_end) (the next panel's weights) into L2, spread evenly over its steps.
void run_panel(const PackedX& px, const PanelA& a, const float* d_w, int n_rows, int m, float* y, int64_t ldy,
               int row0, const char* next, const char* next_end) {
  alignas(64) int32_t c[16 * 16];
  const int64_t steps = static_cast<int64_t>(px.groups) * ((n_rows + 15) / 16) * px.blocks;
  const int64_t lines_per_step = ((next_end - next) / 64 + steps - 1) / steps;
  for (int g = 0; g < px.groups; ++g) {
    const int i0 = g * kGroupRows, x_rows = std::min(kGroupRows, m - i0);
    const int8_t* xq = px.q + static_cast<size_t>(g) * px.blocks * kXBlockBytes;
    const float* xd = px.d + static_cast<size_t>(g) * px.blocks * kGroupRows;
    for (int h = 0; h * 16 < n_rows; ++h) {
      __m512 acc[16];
      for (auto& v : acc) v = _mm512_setzero_ps();
      // Software-pipelined over the blocks, three deep: block b + 3's product is issued on the tile unit before
      // block b is read back and scaled with AVX-512, so a TILESTORED never waits for a product issued just
      // before it (one deep, it stalled on the product's latency: ~30% of the kernel's time in a profile). Tile
      // registers are not renamed, so C tiles rotate by four (4 .. 7) and A / B tiles by two (0 / 2, 1 / 3).
      const bool copying = a.copy_to != nullptr && g == 0;
      const bool compact = a.copy_to != nullptr && g > 0;
      const int8_t* a_half = compact ? a.copy_to + h * 16 * kBlock : a.base + h * a.half_step;
      int8_t* copy_half = copying ? a.copy_to + h * 16 * kBlock : nullptr;
      const float* d_half = d_w + h * 16;
      const int64_t a_step = compact ? kPanelRows * kBlock : a.block_step;
      const int64_t a_stride = compact ? kBlock : a.stride;
      const int blocks = px.blocks;
      auto prefetch_next = [&] {
        if (next < next_end) {
          for (int64_t l = 0; l < lines_per_step; ++l) _mm_prefetch(next + l * 64, _MM_HINT_T1);
          next += lines_per_step * 64;
        }
      };
      // Tile numbers must be literals (GCC's tile intrinsics paste them into the asm): one expansion per position
      // in the 4-block rotation.
#define MLFAAS_AMX_LOAD_A(kA, blk)                                                        \
  do {                                                                                    \
    _tile_loadd(kA, a_half + (blk) * a_step, a_stride);                                   \
    if (copy_half) _tile_stored(kA, copy_half + static_cast<size_t>(blk) * kPanelRows * kBlock, kBlock); \
  } while (0)
#define MLFAAS_AMX_STEP(b, kStore, kC, kA, kB)                                     \
  do {                                                                             \
    _tile_stored(kStore, c, 64);                                                   \
    if ((b) + 3 < blocks) {                                                        \
      MLFAAS_AMX_LOAD_A(kA, (b) + 3);                                              \
      _tile_loadd(kB, xq + static_cast<size_t>((b) + 3) * kXBlockBytes, 64);       \
      _tile_zero(kC);                                                              \
      _tile_dpbssd(kC, kA, kB);                                                    \
    }                                                                              \
    scale_tile(c, d_half + (b) * kPanelRows, _mm512_load_ps(xd + (b) * kGroupRows), acc); \
    prefetch_next();                                                               \
  } while (0)
      MLFAAS_AMX_LOAD_A(0, 0);
      _tile_loadd(2, xq, 64);
      _tile_zero(4);
      _tile_dpbssd(4, 0, 2);
      if (blocks > 1) {
        MLFAAS_AMX_LOAD_A(1, 1);
        _tile_loadd(3, xq + kXBlockBytes, 64);
        _tile_zero(5);
        _tile_dpbssd(5, 1, 3);
      }
      if (blocks > 2) {
        MLFAAS_AMX_LOAD_A(0, 2);
        _tile_loadd(2, xq + 2 * kXBlockBytes, 64);
        _tile_zero(6);
        _tile_dpbssd(6, 0, 2);
      }
      for (int b = 0; b < blocks; b += 4) {
        MLFAAS_AMX_STEP(b, 4, 7, 1, 3);
        if (b + 1 >= blocks) break;
        MLFAAS_AMX_STEP(b + 1, 5, 4, 0, 2);
        if (b + 2 >= blocks) break;
        MLFAAS_AMX_STEP(b + 2, 6, 5, 1, 3);
        if (b + 3 >= blocks) break;
        MLFAAS_AMX_STEP(b + 3, 7, 6, 0, 2);
      }
#undef MLFAAS_AMX_STEP
#undef MLFAAS_AMX_LOAD_A
      const int cols = std::min(16, n_rows - h * 16);
      const __mmask16 lanes = static_cast<__mmask16>(cols == 16 ? 0xffff : (1u << cols) - 1);
      __m512 out[16];
      transpose16(acc, out);
      for (int ci = 0; ci < x_rows; ++ci)
        _mm512_mask_storeu_ps(y + static_cast<int64_t>(i0 + ci) * ldy + row0 + h * 16, lanes, out[ci]);
    }
  }
}

// A worker's unpacked panel; grows to the largest k seen and is then reused.
struct PanelScratch {
  std::unique_ptr<std::byte[]> storage;
  size_t capacity = 0;
  std::byte* get(size_t bytes) {
    if (bytes > capacity) {
      storage.reset(new std::byte[bytes + 64]);
      capacity = bytes;
    }
    auto p = reinterpret_cast<uintptr_t>(storage.get());
    return reinterpret_cast<std::byte*>((p + 63) & ~uintptr_t{63});
  }
};

// Computes the panels [begin, end) of Y. Tile registers are per thread: configure on entry, release on exit,
// whichever thread runs the chunk.
void run_panels(const QWeight& w, const PackedX& px, int m, float* y, int64_t ldy, int begin, int end) {
  static const TileConfig kConfig = make_tile_config();
  thread_local PanelScratch scratch;
  const size_t a_bytes = static_cast<size_t>(px.blocks) * kPanelRows * kBlock;
  const size_t d_bytes = static_cast<size_t>(px.blocks) * kPanelRows * sizeof(float);
  std::byte* buffer = scratch.get(a_bytes + d_bytes + d_bytes / 2);
  auto* a = reinterpret_cast<int8_t*>(buffer);
  auto* d_w = reinterpret_cast<float*>(buffer + a_bytes);  // a_bytes and d_bytes are multiples of 1024 and 128
  auto* d_half = reinterpret_cast<uint16_t*>(buffer + a_bytes + d_bytes);
  const bool x16 = quant_type_x16(w.type);
  _tile_loadconfig(&kConfig);
  for (int p = begin; p < end; ++p) {
    const int row0 = p * kPanelRows, n_rows = std::min(kPanelRows, w.rows - row0);
    // Full Q8_0 panels are read in place by the first group of X (their quants already are rows of 32 int8 per
    // block, row_bytes apart), so only the scales are unpacked here. With one group that is all (measured 260 ->
    // 330 GOP/s at m = 16 against a copy); with more, the first group stores the tiles it loaded into the compact
    // copy for the others, as in-place rows of 34-byte blocks split cache lines and would be re-read per group.
    const bool in_place = w.type == QuantType::Q8_0 && n_rows == kPanelRows;
    if (x16) {
      unpack_panel_x16(w, row0, px.blocks, a, d_w);
    } else {
      unpack_panel(w, row0, px.blocks, !in_place, a, d_w, d_half);
    }
    PanelA panel_a{a, 16 * kBlock, kPanelRows * kBlock, kBlock};
    if (in_place) {
      panel_a = PanelA{reinterpret_cast<const int8_t*>(w.data + static_cast<size_t>(row0) * w.row_bytes) + 2,
                       16 * static_cast<int64_t>(w.row_bytes), static_cast<int64_t>(sizeof(BlockQ8_0)),
                       static_cast<int64_t>(w.row_bytes), px.groups > 1 ? a : nullptr};
    }
    // The next panel's bytes: its rows, or its groups of 16 rows (padding included) for the _X16 types.
    const char* next = reinterpret_cast<const char*>(w.data + static_cast<size_t>(row0 + n_rows) * w.row_bytes);
    int next_rows = p + 1 < end ? std::min(kPanelRows, w.rows - row0 - n_rows) : 0;
    if (x16) next_rows = (next_rows + kX16Rows - 1) / kX16Rows * kX16Rows;
    run_panel(px, panel_a, d_w, n_rows, m, y, ldy, row0, next, next + static_cast<size_t>(next_rows) * w.row_bytes);
  }
  _tile_release();
}

// How the panels are cut into chunks of work. Consecutive panels in one chunk let a thread prefetch the next one
// while computing, so most chunks take up to 4; but the last 2 x threads panels are chunks of one, so that when
// the work runs out the threads finish within a panel of each other (with chunks of 4 panels the last one left
// a thread idle for up to 4 panels' time: ~6% of a 2048-row matrix on 2 threads).
struct PanelChunks {
  int per_chunk, head_chunks, panels;
  PanelChunks(int panels_in, int threads) : panels(panels_in) {
    per_chunk = std::clamp(panels / (4 * threads), 1, 4);
    const int head_panels = std::max(0, panels - 2 * threads) / per_chunk * per_chunk;
    head_chunks = head_panels / per_chunk;
  }
  int count() const { return head_chunks + panels - head_chunks * per_chunk; }
  int begin(int chunk) const {
    return chunk < head_chunks ? chunk * per_chunk : head_chunks * per_chunk + (chunk - head_chunks);
  }
  int end(int chunk) const { return chunk < head_chunks ? begin(chunk) + per_chunk : begin(chunk) + 1; }
};

}  // namespace

void qmatmul_amx_kernel(const QWeight& w, const float* x, int64_t ldx, int m, float* y, int64_t ldy,
                        ThreadPool* pool) {
  const int groups = (m + kGroupRows - 1) / kGroupRows, blocks = w.k / kBlock;
  const size_t q_bytes = static_cast<size_t>(groups) * blocks * kXBlockBytes;
  const size_t d_bytes = static_cast<size_t>(groups) * blocks * kGroupRows * sizeof(float);
  thread_local PanelScratch scratch;  // the calling thread's packed activations
  std::byte* buffer = scratch.get(q_bytes + d_bytes);
  auto* q = reinterpret_cast<int8_t*>(buffer);
  auto* d = reinterpret_cast<float*>(buffer + q_bytes);  // q_bytes is a multiple of 512

  const PackedX px{q, d, groups, blocks};
  const int panels = (w.rows + kPanelRows - 1) / kPanelRows;
  if (pool && pool->threads() > 1) {
    auto quantize = [&](int g) { quantize_group(x, ldx, m, w.k, g, q, d); };
    pool->run(groups, quantize);
    const PanelChunks chunks(panels, pool->threads());
    auto chunk = [&](int i) { run_panels(w, px, m, y, ldy, chunks.begin(i), chunks.end(i)); };
    pool->run(chunks.count(), chunk);
  } else {
    for (int g = 0; g < groups; ++g) quantize_group(x, ldx, m, w.k, g, q, d);
    run_panels(w, px, m, y, ldy, 0, panels);
  }
}

}  // namespace mlfaas
