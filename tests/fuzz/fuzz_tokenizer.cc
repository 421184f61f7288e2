// Fuzz target for the WordPiece tokenizer: arbitrary bytes (valid or not as UTF-8) through both normalization
// modes, checking the invariants every caller relies on. The first byte picks max_length and the mode.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/tokenizer/wordpiece.h"

namespace {

// A small vocabulary covering ASCII letters, punctuation, continuation pieces, a few non-ASCII entries and the
// special tokens, so that every code path (pieces, [UNK], specials, long words) is reachable.
std::string fuzz_vocab() {
  std::string v = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (char c = 33; c < 127; ++c) {
    v += c;
    v += '\n';
    v += "##";
    v += c;
    v += '\n';
  }
  for (const char* t : {"the", "##ing", "hello", "world", "caf\xc3\xa9", "\xc3\xa9", "##\xc3\xa9", "\xe4\xb8\xad",
                        "\xce\xb1", "a\xf0\x9d\x85\xa5\xf0\x9d\x85\xad", "unaffable", "una", "##ffa", "##ble"}) {
    v += t;
    v += '\n';
  }
  return v;
}

void check(const mlfaas::WordPieceTokenizer& tok, std::string_view text, int max_length) {
  mlfaas::Encoding enc;
  tok.encode(text, max_length, &enc);
  const size_t n = enc.input_ids.size();
  if (n < 2 || (max_length > 0 && n > size_t(max_length))) std::abort();
  if (enc.input_ids.front() != tok.cls_id() || enc.input_ids.back() != tok.sep_id()) std::abort();
  if (enc.token_type_ids.size() != n || enc.attention_mask.size() != n) std::abort();
  for (int32_t id : enc.input_ids)
    if (id < 0 || size_t(id) >= tok.vocab_size()) std::abort();
  // Tokenizing is a pure function of the text.
  mlfaas::Encoding again;
  tok.encode(text, max_length, &again);
  if (again.input_ids != enc.input_ids) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string vocab = fuzz_vocab();
  static const auto lower = mlfaas::WordPieceTokenizer::from_vocab_text(vocab, "fuzz-vocab", true);
  static const auto cased = mlfaas::WordPieceTokenizer::from_vocab_text(vocab, "fuzz-vocab", false);
  if (size == 0) return 0;
  const int max_length = data[0] & 0x80 ? 0 : 2 + (data[0] & 0x3F);
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  check(data[0] & 0x40 ? cased : lower, text, max_length);
  return 0;
}
