#pragma once
// Strict UTF-8 decoding and encoding for the tokenizer's hot loop (header-only so it inlines).
#include <cstdint>

namespace mlfaas::tokenizer {

inline constexpr int32_t kInvalidCodePoint = -1;

// Decodes the well-formed sequence at p (p < end, *p >= 0x80) and sets *length, or returns kInvalidCodePoint
// (then the caller drops the one lead byte and resynchronises: stray continuation bytes, truncated and overlong
// sequences, surrogates and values above U+10FFFF all end up dropped byte by byte).
inline int32_t decode_utf8(const uint8_t* p, const uint8_t* end, int* length) {
  const uint8_t b0 = p[0];
  auto cont = [&](int i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
  if (b0 < 0xC2) return kInvalidCodePoint;
  if (b0 < 0xE0) {
    if (!cont(1)) return kInvalidCodePoint;
    *length = 2;
    return int32_t((b0 & 0x1F) << 6 | (p[1] & 0x3F));
  }
  if (b0 < 0xF0) {
    if (!cont(1) || !cont(2)) return kInvalidCodePoint;
    int32_t cp = int32_t((b0 & 0x0F) << 12 | (p[1] & 0x3F) << 6 | (p[2] & 0x3F));
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return kInvalidCodePoint;
    *length = 3;
    return cp;
  }
  if (b0 < 0xF5) {
    if (!cont(1) || !cont(2) || !cont(3)) return kInvalidCodePoint;
    int32_t cp = int32_t((b0 & 0x07) << 18 | (p[1] & 0x3F) << 12 | (p[2] & 0x3F) << 6 | (p[3] & 0x3F));
    if (cp < 0x10000 || cp > 0x10FFFF) return kInvalidCodePoint;
    *length = 4;
    return cp;
  }
  return kInvalidCodePoint;
}

// Writes cp (a valid scalar value) as UTF-8 and returns the number of bytes (1..4).
inline int encode_utf8(int32_t cp, char* out) {
  if (cp < 0x80) {
    out[0] = char(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = char(0xC0 | (cp >> 6));
    out[1] = char(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = char(0xE0 | (cp >> 12));
    out[1] = char(0x80 | ((cp >> 6) & 0x3F));
    out[2] = char(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = char(0xF0 | (cp >> 18));
  out[1] = char(0x80 | ((cp >> 12) & 0x3F));
  out[2] = char(0x80 | ((cp >> 6) & 0x3F));
  out[3] = char(0x80 | (cp & 0x3F));
  return 4;
}

}  // namespace mlfaas::tokenizer
