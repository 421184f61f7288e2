// Fuzz target for the Llama tokenizer: a tokenizer.model parsed from the input, then the rest of the input
// encoded and decoded with it. Layout: byte 0 flags (bit 0: llama2.c rules, bit 1: keep special tokens when
// decoding), bytes 1-2 the model's length (little-endian), the model, the text. Checks what every caller relies
// on: ids inside the vocabulary, decode()'s text valid UTF-8, and streaming decode equal to decode().
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "engine/tokenizer/sentencepiece.h"
#include "engine/tokenizer/sentencepiece_model.h"
#include "engine/tokenizer/utf8.h"

namespace {

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    int length = 1;
    if (*p >= 0x80 && mlfaas::tokenizer::decode_utf8(p, end, &length) == mlfaas::tokenizer::kInvalidCodePoint)
      return false;
    p += length;
  }
  return true;
}

void check_decode(const mlfaas::LlamaTokenizer& tok, const std::vector<int32_t>& ids, bool skip) {
  const std::string text = tok.decode(ids, skip);
  if (!valid_utf8(text)) std::abort();
  mlfaas::LlamaTokenizer::StreamDecoder stream(tok, skip);
  std::string joined;
  for (int32_t id : ids) {
    const std::string piece = stream.push(id);
    if (!valid_utf8(piece)) std::abort();
    joined += piece;
  }
  joined += stream.finish();
  if (joined != text) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t flags = data[0];
  const size_t model_size = std::min<size_t>(size_t(data[1]) | size_t(data[2]) << 8, size - 3);
  const std::string_view model(reinterpret_cast<const char*>(data + 3), model_size);
  const std::string_view text(reinterpret_cast<const char*>(data + 3 + model_size), size - 3 - model_size);
  mlfaas::SentencePieceVocab vocab;
  try {
    vocab = mlfaas::tokenizer::parse_sentencepiece_model(model, "fuzz.model");
  } catch (const mlfaas::FormatError&) {
    return 0;
  }
  vocab.llama2c_rules = flags & 1;
  const bool skip = !(flags & 2);
  try {
    const mlfaas::LlamaTokenizer tok(std::move(vocab));
    const int32_t n = tok.vocab_size();
    std::vector<int32_t> ids;
    try {
      ids = tok.encode(text);
      for (int32_t id : ids)
        if (id < 0 || id >= n) std::abort();
      if (tok.encode(text) != ids) std::abort();  // a pure function of the text
      check_decode(tok, ids, skip);
    } catch (const mlfaas::InputError&) {
      if (valid_utf8(std::string(text))) std::abort();  // only invalid UTF-8 is refused
    }
    // The text's bytes as ids: byte pieces in any order, specials, out-of-range ids (InputError).
    ids.clear();
    for (size_t i = 0; i + 1 < text.size(); i += 2)
      ids.push_back(int32_t(uint8_t(text[i]) | uint8_t(text[i + 1]) << 8) % (n + 1));
    try {
      check_decode(tok, ids, skip);
    } catch (const mlfaas::InputError&) {
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
