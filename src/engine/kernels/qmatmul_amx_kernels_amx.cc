// AMX-INT8 kernel for qmatmul_amx() (see qmatmul_amx.h for the layout and the numerics). Built with
// -mamx-tile -mamx-int8 and AVX-512 on x86-64 only; called only after amx_int8_usable().
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which -Wmaybe-uninitialized mistakes for a bug.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

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
constexpr int kPanelRows = 32;        // weight rows per chunk of work: two A tiles
constexpr int kXBlockBytes = 16 * kBlock;  // one group's block in B-tile layout: 8 rows x 64 bytes
// Groups of X accumulated at once: acc is kMaxGroups x 32 x 16 floats = 16 KiB, which stays in L1 next to the
// 4 KiB of C tiles read back; a larger m is done in passes (the panel's blocks are unpacked again per pass).
constexpr int kMaxGroups = 8;

// Tiles: 0-1 A (weight rows 0-15 / 16-31 of the panel, 16 x 32 bytes), 2-3 B (two 16-row groups of X, 8 x 64
// bytes), 4-7 C (A0B0, A0B1, A1B0, A1B1; 16 x 16 int32).
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

// roundf (halfway cases away from zero) on 16 lanes; x * id is at most 127 in magnitude, so the result fits s8.
inline __m512 round_half_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_sub_ps(v, t);  // exact
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_and_ps(frac, abs_mask), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_andnot_ps(abs_mask, v));  // copysign(1, v)
  return _mm512_mask_add_ps(t, up, t, one);
}

// Quantizes rows 16g .. 16g+15 of X (those < m) into group g of `out`.
void quantize_group(const float* x, int64_t ldx, int m, int k, int g, int8_t* q_out, float* d_out) {
  const int blocks = k / kBlock;
  int8_t* q_group = q_out + static_cast<size_t>(g) * blocks * kXBlockBytes;
  float* d_group = d_out + static_cast<size_t>(g) * blocks * kGroupRows;
  const int rows = std::min(kGroupRows, m - g * kGroupRows);
  if (rows < kGroupRows) {
    std::memset(q_group, 0, static_cast<size_t>(blocks) * kXBlockBytes);
    std::memset(d_group, 0, static_cast<size_t>(blocks) * kGroupRows * sizeof(float));
  }
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int c = 0; c < rows; ++c) {
    const float* row = x + static_cast<int64_t>(g * kGroupRows + c) * ldx;
    for (int b = 0; b < blocks; ++b) {
      const __m512 v0 = _mm512_loadu_ps(row + b * kBlock);
      const __m512 v1 = _mm512_loadu_ps(row + b * kBlock + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask)));
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      const __m512 idv = _mm512_set1_ps(id);
      const __m128i q0 = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(v0, idv))));
      const __m128i q1 = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(v1, idv))));
      alignas(32) int32_t quads[8];  // the block as 8 groups of 4 consecutive int8
      _mm_store_si128(reinterpret_cast<__m128i*>(quads), q0);
      _mm_store_si128(reinterpret_cast<__m128i*>(quads + 4), q1);
      int8_t* tile = q_group + static_cast<size_t>(b) * kXBlockBytes;
      for (int t = 0; t < kBlock / 4; ++t) std::memcpy(tile + t * 64 + c * 4, &quads[t], 4);
      d_group[b * kGroupRows + c] = d;
    }
  }
}

// One block of a panel of weight rows as two A tiles: row n's 32 int8 at a[n * 32], its scale at d[n]. Rows at or
// past w.rows are zero.
inline void unpack_block(const QWeight& w, int row0, int b, int8_t* a, float* d) {
  const int n_rows = std::min(kPanelRows, w.rows - row0);
  const std::byte* base = w.data + static_cast<size_t>(row0) * w.row_bytes;
  if (w.type == QuantType::Q8_0) {
    for (int n = 0; n < n_rows; ++n) {
      const auto* blk = reinterpret_cast<const BlockQ8_0*>(base + n * w.row_bytes) + b;
      _mm256_store_si256(reinterpret_cast<__m256i*>(a + n * kBlock),
                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs)));
      d[n] = _cvtsh_ss(blk->d);
    }
  } else {  // Q4_0: element j in the low nibble of byte j, element j + 16 in its high nibble; value q - 8
    const __m128i low4 = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    for (int n = 0; n < n_rows; ++n) {
      const auto* blk = reinterpret_cast<const BlockQ4_0*>(base + n * w.row_bytes) + b;
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
      const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, low4), eight);
      const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), low4), eight);
      _mm256_store_si256(reinterpret_cast<__m256i*>(a + n * kBlock), _mm256_set_m128i(hi, lo));
      d[n] = _cvtsh_ss(blk->d);
    }
  }
  for (int n = n_rows; n < kPanelRows; ++n) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(a + n * kBlock), _mm256_setzero_si256());
    d[n] = 0.0f;
  }
}

// acc[n][c] += float(C[n][c]) * (d_w[n] * d_x[c]) for the 16 rows of one C tile read back to memory.
inline void scale_tile(const int32_t* c_tile, const float* d_w, __m512 d_x, float* acc) {
  for (int n = 0; n < 16; ++n) {
    const __m512 s = _mm512_mul_ps(d_x, _mm512_set1_ps(d_w[n]));
    const __m512 isum = _mm512_cvtepi32_ps(_mm512_load_si512(c_tile + n * 16));
    _mm512_store_ps(acc + n * 16, _mm512_fmadd_ps(isum, s, _mm512_load_ps(acc + n * 16)));
  }
}

// Computes Y[:, row0 .. row0+31] (the rows of W that exist). The caller has loaded the tile configuration.
void run_panel(const QWeight& w, const PackedX& px, int m, float* y, int64_t ldy, int row0) {
  alignas(64) int8_t a[kPanelRows * kBlock];
  alignas(64) float d_w[kPanelRows];
  alignas(64) int32_t c[4][16 * 16];
  alignas(64) float acc[kMaxGroups][kPanelRows * 16];  // acc[g][n * 16 + c]: weight row n, X row 16g + c
  const int n_rows = std::min(kPanelRows, w.rows - row0);
  for (int g0 = 0; g0 < px.groups; g0 += kMaxGroups) {
    const int groups = std::min(kMaxGroups, px.groups - g0);
    std::memset(acc, 0, sizeof(acc[0]) * groups);
    for (int b = 0; b < px.blocks; ++b) {
      unpack_block(w, row0, b, a, d_w);
      _tile_loadd(0, a, kBlock);
      _tile_loadd(1, a + 16 * kBlock, kBlock);
      for (int g = 0; g < groups; g += 2) {
        const size_t at = static_cast<size_t>(g0 + g) * px.blocks + b;
        const __m512 d_x0 = _mm512_load_ps(px.d + at * kGroupRows);
        _tile_loadd(2, px.q + at * kXBlockBytes, 64);
        _tile_zero(4);
        _tile_zero(6);
        _tile_dpbssd(4, 0, 2);
        _tile_dpbssd(6, 1, 2);
        if (g + 1 < groups) {
          const size_t at1 = at + px.blocks;
          const __m512 d_x1 = _mm512_load_ps(px.d + at1 * kGroupRows);
          _tile_loadd(3, px.q + at1 * kXBlockBytes, 64);
          _tile_zero(5);
          _tile_zero(7);
          _tile_dpbssd(5, 0, 3);
          _tile_dpbssd(7, 1, 3);
          _tile_stored(4, c[0], 64);
          _tile_stored(5, c[1], 64);
          _tile_stored(6, c[2], 64);
          _tile_stored(7, c[3], 64);
          scale_tile(c[0], d_w, d_x0, acc[g]);
          scale_tile(c[2], d_w + 16, d_x0, acc[g] + 16 * 16);
          scale_tile(c[1], d_w, d_x1, acc[g + 1]);
          scale_tile(c[3], d_w + 16, d_x1, acc[g + 1] + 16 * 16);
        } else {
          _tile_stored(4, c[0], 64);
          _tile_stored(6, c[2], 64);
          scale_tile(c[0], d_w, d_x0, acc[g]);
          scale_tile(c[2], d_w + 16, d_x0, acc[g] + 16 * 16);
        }
      }
    }
    // acc is [weight row][X row]; Y is [X row][weight row].
    for (int g = 0; g < groups; ++g) {
      const int i0 = (g0 + g) * kGroupRows, x_rows = std::min(kGroupRows, m - i0);
      for (int ci = 0; ci < x_rows; ++ci) {
        float* out = y + static_cast<int64_t>(i0 + ci) * ldy + row0;
        for (int n = 0; n < n_rows; ++n) out[n] = acc[g][n * 16 + ci];
      }
    }
  }
}

// Tile registers are per thread: configure on entry, release on exit, whichever thread runs the chunk.
void run_panel_with_tiles(const QWeight& w, const PackedX& px, int m, float* y, int64_t ldy, int row0) {
  static const TileConfig kConfig = make_tile_config();
  _tile_loadconfig(&kConfig);
  run_panel(w, px, m, y, ldy, row0);
  _tile_release();
}

// The calling thread's packed activations; grows to the largest call and is then reused.
struct XScratch {
  std::unique_ptr<std::byte[]> storage;
  size_t capacity = 0;  // usable bytes after 64-byte alignment

  std::byte* get(size_t bytes) {
    if (bytes > capacity) {
      storage.reset(new std::byte[bytes + 64]);
      capacity = bytes;
    }
    auto p = reinterpret_cast<uintptr_t>(storage.get());
    return reinterpret_cast<std::byte*>((p + 63) & ~uintptr_t{63});
  }
};

}  // namespace

void qmatmul_amx_kernel(const QWeight& w, const float* x, int64_t ldx, int m, float* y, int64_t ldy,
                        ThreadPool* pool) {
  const int groups = (m + kGroupRows - 1) / kGroupRows, blocks = w.k / kBlock;
  const size_t q_bytes = static_cast<size_t>(groups) * blocks * kXBlockBytes;
  const size_t d_bytes = static_cast<size_t>(groups) * blocks * kGroupRows * sizeof(float);
  thread_local XScratch scratch;
  std::byte* buffer = scratch.get(q_bytes + d_bytes);
  auto* q = reinterpret_cast<int8_t*>(buffer);
  auto* d = reinterpret_cast<float*>(buffer + q_bytes);  // q_bytes is a multiple of 512

  const PackedX px{q, d, groups, blocks};
  const int panels = (w.rows + kPanelRows - 1) / kPanelRows;
  if (pool && pool->threads() > 1) {
    auto quantize = [&](int g) { quantize_group(x, ldx, m, w.k, g, q, d); };
    pool->run(groups, quantize);
    auto panel = [&](int p) { run_panel_with_tiles(w, px, m, y, ldy, p * kPanelRows); };
    pool->run(panels, panel);
  } else {
    for (int g = 0; g < groups; ++g) quantize_group(x, ldx, m, w.k, g, q, d);
    for (int p = 0; p < panels; ++p) run_panel_with_tiles(w, px, m, y, ldy, p * kPanelRows);
  }
}

}  // namespace mlfaas
