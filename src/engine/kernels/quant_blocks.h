#pragma once
// Weight encodings of Llama-family files, as data. The GGUF block layouts are ggml's (ggml/src/ggml-common.h), not
// ours to choose: each struct gives the formula that turns its bytes back into numbers and a size static_assert.
// Blocks run along a row (the K / input dimension of a linear), so row r of a [rows, k] tensor is k / block_elems
// consecutive blocks. Plain data only: this header is included by the per-ISA kernel files.
#include <cstddef>
#include <cstdint>

namespace mlfaas {

// How the elements of a weight row are stored. Values are ggml's type ids (GGUF `ggml_type`), so a GGUF tensor
// type maps 1:1; types ggml does not have take ids >= 1000.
enum class QuantType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  Q4_K = 12,
  Q6_K = 14,
  BF16 = 30,
  // Q4_0 / Q8_0 blocks with 16 rows interleaved (the row-interleaved layout below): compiled .mlf files only.
  Q4_0_X16 = 1002,
  Q8_0_X16 = 1008,
};

// 8-bit: x = d * q. 32 elements, 8.5 bits each.
struct BlockQ8_0 {
  uint16_t d;     // fp16 scale
  int8_t qs[32];  // quants
};
static_assert(sizeof(BlockQ8_0) == 34, "wrong q8_0 block size");

// 4-bit: x = d * (q - 8), q in 0..15. Byte j holds element j in its low nibble and element j + 16 in its high
// nibble (not j / 2j+1 as one might guess). 32 elements, 4.5 bits each.
struct BlockQ4_0 {
  uint16_t d;      // fp16 scale
  uint8_t qs[16];  // nibbles
};
static_assert(sizeof(BlockQ4_0) == 18, "wrong q4_0 block size");

// The row-interleaved layout (Q8_0_X16, Q4_0_X16): the same blocks as Q8_0 / Q4_0 (same scales, same codes up to
// an offset), arranged so that a decode GEMV reads one sequential stream and needs no horizontal sums. Rows go in
// groups of 16 (the last group padded with zero rows: codes 0 for Q8_0_X16, scale 0); with nb = k / 32 blocks per
// row, group g starts at g * 16 * nb * block_bytes (block_bytes = 34 or 18, as for the base type) and holds
//   codes:  nb runs of kX16CodeBytes (512 or 256 bytes), run b = block b of the 16 rows. Within a run, quad t is 64
//           bytes: bytes 4r .. 4r+3 belong to row r. Q8_0_X16 quad t (t < 8) = the row's codes 4t .. 4t+3, each
//           stored as code + 128 (u8), so that u8 x s8 products need one correction per block of X, not per row.
//           Q4_0_X16 quad t (t < 4) = the row's q4_0 bytes 4t .. 4t+3 unchanged (low nibbles: elements 4t .. 4t+3,
//           high nibbles: elements 16 + 4t .. 16 + 4t + 3).
//   scales: then nb runs of 16 fp16 scales, run b = block b's scale of rows 0 .. 15.
// So a 64-byte vector of codes is 4 consecutive elements of each of 16 rows: one vpdpbusd against 4 broadcast
// activation bytes gives 16 rows' partial sums in 16 lanes (the same panel order as the tile kernels use), and a
// block's 16 scales are one 32-byte load.
constexpr int kX16Rows = 16;
constexpr int x16_code_bytes(bool q8) { return q8 ? 512 : 256; }

constexpr int kQK_K = 256;  // elements in a k-quant super-block

// 4-bit k-quant: 8 sub-blocks of 32 elements; sub-block j has a 6-bit scale sc[j] and 6-bit min m[j] packed in
// `scales` (ggml's get_scale_min_k4), x = d * sc[j] * q - dmin * m[j], q in 0..15. Within each 64-element pair of
// sub-blocks (2i, 2i+1), qs[32 i + l] holds sub-block 2i's element l in its low nibble and sub-block 2i+1's in its
// high nibble. 4.5 bits per element.
struct BlockQ4_K {
  uint16_t d;     // fp16 super-block scale for the scales
  uint16_t dmin;  // fp16 super-block scale for the mins
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "wrong q4_K block size");

// 6-bit k-quant: 16 sub-blocks of 16 elements, x = d * scales[j] * (q - 32), q in 0..63 = 4 low bits from ql and
// 2 high bits from qh (ggml's dequantize_row_q6_K gives the bit positions). 6.5625 bits per element.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // quants, lower 4 bits
  uint8_t qh[kQK_K / 4];      // quants, upper 2 bits
  int8_t scales[kQK_K / 16];  // 8-bit sub-block scales
  uint16_t d;                 // fp16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210, "wrong q6_K block size");

// Elements per block and bytes per block of a type (1 and the element size for F32/F16/BF16); 0 for a value that
// is not a QuantType this engine reads. For the _X16 types: those of one row's block (a group of 16 rows takes 16
// times that per block).
constexpr int quant_block_elems(QuantType t) {
  switch (t) {
    case QuantType::F32: case QuantType::F16: case QuantType::BF16: return 1;
    case QuantType::Q8_0: case QuantType::Q4_0: case QuantType::Q8_0_X16: case QuantType::Q4_0_X16: return 32;
    case QuantType::Q4_K: case QuantType::Q6_K: return kQK_K;
  }
  return 0;
}
constexpr int quant_block_bytes(QuantType t) {
  switch (t) {
    case QuantType::F32: return 4;
    case QuantType::F16: case QuantType::BF16: return 2;
    case QuantType::Q8_0: case QuantType::Q8_0_X16: return sizeof(BlockQ8_0);
    case QuantType::Q4_0: case QuantType::Q4_0_X16: return sizeof(BlockQ4_0);
    case QuantType::Q4_K: return sizeof(BlockQ4_K);
    case QuantType::Q6_K: return sizeof(BlockQ6_K);
  }
  return 0;
}
constexpr bool quant_type_x16(QuantType t) { return t == QuantType::Q8_0_X16 || t == QuantType::Q4_0_X16; }
// The row-interleaved type of Q8_0 / Q4_0 and back (other types map to themselves).
constexpr QuantType quant_type_interleaved(QuantType t) {
  return t == QuantType::Q8_0 ? QuantType::Q8_0_X16 : t == QuantType::Q4_0 ? QuantType::Q4_0_X16 : t;
}
constexpr QuantType quant_type_base(QuantType t) {
  return t == QuantType::Q8_0_X16 ? QuantType::Q8_0 : t == QuantType::Q4_0_X16 ? QuantType::Q4_0 : t;
}
const char* quant_type_name(QuantType t);  // "F32", "Q4_K", "Q8_0_X16", ...; "?" for an unknown value
// True for the ggml type ids above, the ones a GGUF file may hold (a type id read from a file may be anything).
bool quant_type_known(uint32_t id);

}  // namespace mlfaas
