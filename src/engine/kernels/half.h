#pragma once
// fp16 / bf16 <-> fp32 by bit manipulation, usable from any kernel file. The functions are `static` (internal
// linkage) on purpose: this header is included by files compiled with different ISA flags, and an inline function
// with external linkage would let the linker pick an AVX-512 copy for a portable caller.
#include <cstdint>
#include <cstring>

namespace mlfaas {

static inline uint32_t half_f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
static inline float half_bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Exact for every fp16 value (subnormals, inf, nan included): a normal's exponent is rebased by one multiply by a
// power of two; a subnormal is built as a float 0.5 + m/2^24-ish and the 0.5 taken away again.
static inline float fp16_to_f32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized = half_bits_f32((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = half_bits_f32((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t bits = two_w < (1u << 27) ? half_f32_bits(denormalized) : half_f32_bits(normalized);
  return half_bits_f32(sign | bits);
}

// Round to nearest even, overflow to inf, nan to a quiet nan (the FP16 library's algorithm, which ggml uses): the
// float addition does the rounding at the right bit position.
static inline uint16_t f32_to_fp16(float f) {
  const uint32_t w = half_f32_bits(f);
  const float abs_f = half_bits_f32(w & 0x7FFFFFFFu);
  float base = (abs_f * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = half_bits_f32((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = half_f32_bits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float bf16_bits_to_f32(uint16_t h) { return half_bits_f32(static_cast<uint32_t>(h) << 16); }

// ggml_compute_fp32_to_bf16: round to nearest even; a nan keeps its top bits and is forced quiet.
static inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = half_f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + (0x7FFFu + ((u >> 16) & 1))) >> 16);
}

}  // namespace mlfaas
