// llama2.c's tokenizer file (tokenizer.bin / tok512.bin), as run.c's build_tokenizer reads it.
#include <cstdint>
#include <cstring>

#include "engine/error.h"
#include "engine/formats/llama2c.h"
#include "engine/formats/mapped_file.h"

namespace mlfaas {

Llama2cVocab read_llama2c_tokenizer(const std::string& path, int vocab_size) {
  if (vocab_size <= 0) throw FormatError(path, "vocabulary size " + std::to_string(vocab_size) + " is not positive");
  const MappedFile file(path);
  const auto* p = reinterpret_cast<const uint8_t*>(file.data());
  const size_t size = file.size();
  size_t at = 0;
  auto read_u32 = [&](const std::string& what) {
    if (size - at < 4) {
      throw FormatError(path, "file ends inside " + what + " (" + std::to_string(size) + " bytes, needed " +
                                  std::to_string(at + 4) + ")");
    }
    uint32_t value;
    std::memcpy(&value, p + at, 4);  // little-endian, as llama2.c writes it on every machine it runs on
    at += 4;
    return value;
  };

  Llama2cVocab vocab;
  const int32_t max_length = int32_t(read_u32("max_token_length"));
  if (max_length <= 0) throw FormatError(path, "max_token_length " + std::to_string(max_length) + " is not positive");
  vocab.max_token_length = max_length;
  vocab.pieces.reserve(size_t(vocab_size));
  vocab.scores.reserve(size_t(vocab_size));
  for (int id = 0; id < vocab_size; ++id) {
    const std::string token = "token " + std::to_string(id);
    const uint32_t score_bits = read_u32(token + "'s score");
    float score;
    std::memcpy(&score, &score_bits, 4);
    const int32_t length = int32_t(read_u32(token + "'s length"));
    if (length < 0 || size_t(length) > size - at) {
      throw FormatError(path, token + " has length " + std::to_string(length) + " but " +
                                  std::to_string(size - at) + " bytes are left");
    }
    if (length > max_length) {
      throw FormatError(path, token + " has length " + std::to_string(length) + ", above max_token_length " +
                                  std::to_string(max_length));
    }
    vocab.pieces.emplace_back(reinterpret_cast<const char*>(p + at), size_t(length));
    vocab.scores.push_back(score);
    at += size_t(length);
  }
  return vocab;
}

}  // namespace mlfaas
