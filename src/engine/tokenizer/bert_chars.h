#pragma once
// The character properties BERT's basic tokenizer asks about, answered from utf8proc's Unicode tables.
#include <cstdint>
#include <string_view>
#include <vector>

namespace mlfaas::tokenizer {

// What happens to a character of the input text before normalization.
enum class SourceClass : uint8_t {
  kDrop,   // NUL, U+FFFD, or any category C* (control, format, surrogate, private use, unassigned)
  kSpace,  // category Zs, or U+2028 / U+2029 (Python's str.split() splits on those too)
  kCjk,    // CJK ideograph in the ranges of HF's _is_chinese_char: split off as its own word
  kOther,
};
SourceClass classify_source(int32_t cp);

// Full Unicode lower case, as Python's str.lower() on one character (U+0130 becomes two code points).
// Returns the number of code points written to out (1 or 2).
int lower_full(int32_t cp, int32_t out[2]);

// Canonical (NFD) decomposition of one code point; returns the count (1..4) written to out.
int decompose_canonical(int32_t cp, int32_t out[4]);

struct NormalizedCharInfo {
  bool nonspacing_mark;  // category Mn: removed when stripping accents
  bool punctuation;      // category P* (ASCII punctuation is handled by the caller's table)
  uint8_t combining_class;
};
NormalizedCharInfo normalized_char_info(int32_t cp);

// NFC of a code point sequence into out (cleared first).
void compose_nfc(const std::vector<int32_t>& in, std::vector<int32_t>* out);

}  // namespace mlfaas::tokenizer
