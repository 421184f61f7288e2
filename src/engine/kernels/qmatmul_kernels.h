#pragma once
// The contract between qmatmul.cc (the driver) and the per-ISA quantized kernels (qmatmul_kernels.inc, compiled once
// per level by qmatmul_<level>.cc). Plain data and declarations only: this header is included by files built with
// different ISA flags (see gemm_kernels.h for why).
#include <cstddef>
#include <cstdint>

#include "engine/kernels/quant_blocks.h"

namespace mlfaas {

// Rows of X that Q8_0 / Q4_0 run through the direct dot-product kernel (weights read once, decoded in registers);
// more rows go through the packed tile kernel, which decodes each weight block once per tile of X rows. At m = 3
// both take the same time (AVX-512 VNNI, 1024 x 2048); at 4 the tiles win by 10-20%, at 2 the direct kernel by 25%.
constexpr int kQmGemvMaxM = 3;

// Quantized activations (qmatmul.h): row i, 32-block b has codes q[i * ldq + 32 b ..] (int8, |q| <= 127), scale
// d[i * nb + b] and code sums s32 / s16 (per 32 and per 16 elements).
struct QmActs {
  int m = 0, k = 0, nb = 0;
  int8_t* q = nullptr;
  int64_t ldq = 0;
  float* d = nullptr;
  int32_t* s32 = nullptr;  // [m][nb]
  int32_t* s16 = nullptr;  // [m][2 nb]
  // For the direct kernels (m <= kQmGemvMaxM): q4 holds each row's codes regrouped for the level's q4_0 kernel
  // (per group of g4 blocks: the first 16 codes of each block, then the last 16 of each); d4 / d8 hold each block's
  // scale repeated 4 / 8 times (one per int32 lane that covers the block); c4 = -2 * s32 repeated 4 times (the
  // q4_0 offset of 8 spread over the block's 4 lanes).
  int8_t* q4 = nullptr;
  uint8_t* xu = nullptr;  // [m][k]: q + 128 as u8, for q8_0's u8 x s8 products
  float* d4 = nullptr;  // [m][4 nb]
  float* d8 = nullptr;  // [m][8 nb]
  int32_t* c4 = nullptr;  // [m][4 nb]
  // For the tile kernels, per sub-block of the weight type (16 elements for Q6_K, else 32): xoff = -offset * sum
  // (offset 128 for Q8_0 stored as u8 = q + 128, 8 for Q4_0, 32 for Q6_K, 0 for Q4_K) and, for Q4_K, xsdx = s32 * d.
  int32_t* xoff = nullptr;  // [m][k / 16]
  float* xsdx = nullptr;    // [m][nb]
};

struct QmArgs {
  QuantType type;
  int rows, k;
  const std::byte* w;
  size_t row_bytes;
  const float* x;  // fp32 X for the float types
  int64_t ldx;
  const QmActs* acts;  // integer types
  int m;
  float* y;
  int64_t ldy;
};

// Each level: quantize (the codes are bit-identical at every level; the q4 grouping is the level's own) and the
// rows [row_begin, row_end) of Y for all m rows of X. tile_rows: the packed kernels' row tile, so callers split
// rows on its multiples.
#define MLFAAS_QM_DECLARE_LEVEL(ns)                                                                   \
  namespace ns {                                                                                      \
  void quantize(const float* x, int64_t ldx, int m, int k, bool direct, QmActs* a);                   \
  void rows(const QmArgs& args, int row_begin, int row_end);                                          \
  extern const int tile_rows;                                                                         \
  }
MLFAAS_QM_DECLARE_LEVEL(qm_portable)
MLFAAS_QM_DECLARE_LEVEL(qm_avx2)
MLFAAS_QM_DECLARE_LEVEL(qm_avxvnni)
MLFAAS_QM_DECLARE_LEVEL(qm_avx512vnni)
MLFAAS_QM_DECLARE_LEVEL(qm_neon)
#undef MLFAAS_QM_DECLARE_LEVEL

}  // namespace mlfaas
