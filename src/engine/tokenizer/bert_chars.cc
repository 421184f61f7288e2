#include "engine/tokenizer/bert_chars.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "engine/tokenizer/utf8.h"

namespace mlfaas::tokenizer {

namespace {
bool is_cjk_ideograph(int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}
}  // namespace

SourceClass classify_source(int32_t cp) {
  if (cp == 0 || cp == 0xFFFD) return SourceClass::kDrop;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
      // \t \n \r are Cc but are whitespace for BERT; the ASCII table sees them before this function does.
      return (cp == '\t' || cp == '\n' || cp == '\r') ? SourceClass::kSpace : SourceClass::kDrop;
    case UTF8PROC_CATEGORY_ZS:
      return SourceClass::kSpace;
    default:
      break;
  }
  if (cp == 0x2028 || cp == 0x2029) return SourceClass::kSpace;
  if (is_cjk_ideograph(cp)) return SourceClass::kCjk;
  return SourceClass::kOther;
}

int lower_full(int32_t cp, int32_t out[2]) {
  // The only unconditional multi-character lower-case mapping in SpecialCasing.txt; utf8proc_tolower gives
  // the simple mapping. (Final sigma never applies: transformers lower-cases the text one character at a time.)
  if (cp == 0x0130) {
    out[0] = 'i';
    out[1] = 0x0307;
    return 2;
  }
  out[0] = utf8proc_tolower(cp);
  return 1;
}

int decompose_canonical(int32_t cp, int32_t out[4]) {
  int boundclass = UTF8PROC_BOUNDCLASS_START;
  utf8proc_ssize_t n = utf8proc_decompose_char(cp, out, 4, UTF8PROC_DECOMPOSE, &boundclass);
  if (n < 1 || n > 4) {  // cannot happen with Unicode's canonical data (longest is 4); keep the character
    out[0] = cp;
    return 1;
  }
  return int(n);
}

NormalizedCharInfo normalized_char_info(int32_t cp) {
  const utf8proc_property_t* p = utf8proc_get_property(cp);
  NormalizedCharInfo info;
  info.nonspacing_mark = p->category == UTF8PROC_CATEGORY_MN;
  info.punctuation = p->category >= UTF8PROC_CATEGORY_PC && p->category <= UTF8PROC_CATEGORY_PO;
  info.combining_class = uint8_t(p->combining_class);
  return info;
}

void compose_nfc(const std::vector<int32_t>& in, std::vector<int32_t>* out) {
  out->clear();
  std::string utf8;
  utf8.reserve(in.size() * 4);
  char buf[4];
  for (int32_t cp : in) utf8.append(buf, size_t(encode_utf8(cp, buf)));
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()), utf8proc_ssize_t(utf8.size()),
                                    &mapped, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(mapped, &std::free);
  if (n < 0) {  // only on allocation failure (the input is valid UTF-8); fall back to the unnormalized text
    *out = in;
    return;
  }
  const uint8_t* p = mapped;
  const uint8_t* end = mapped + n;
  while (p < end) {
    if (*p < 0x80) {
      out->push_back(*p++);
      continue;
    }
    int len = 1;
    int32_t cp = decode_utf8(p, end, &len);
    if (cp != kInvalidCodePoint) out->push_back(cp);
    p += cp == kInvalidCodePoint ? 1 : len;
  }
}

}  // namespace mlfaas::tokenizer
