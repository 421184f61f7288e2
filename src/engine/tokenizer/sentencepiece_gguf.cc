// LlamaTokenizer from GGUF metadata (tokenizer.ggml.*), as llama.cpp's convert_hf_to_gguf.py writes it for
// SentencePiece models. Its own file so that programs which never read GGUF do not link the GGUF reader.
#include <stdexcept>

#include "engine/error.h"
#include "engine/formats/gguf.h"
#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas {

std::shared_ptr<const LlamaTokenizer> LlamaTokenizer::from_gguf(const GgufFile& gguf) {
  const std::string& path = gguf.path();
  const std::string model = gguf.require_string("tokenizer.ggml.model");
  if (model != "llama") {
    throw FormatError(path, "tokenizer model '" + model +
                                "' is not supported (only SentencePiece BPE, tokenizer.ggml.model \"llama\")");
  }
  auto tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) throw FormatError(path, "missing metadata key tokenizer.ggml.tokens");
  const size_t n = tokens->size();

  SentencePieceVocab vocab;
  vocab.pieces = std::move(*tokens);
  if (auto scores = gguf.get_float_array("tokenizer.ggml.scores")) {
    if (scores->size() != n) {
      throw FormatError(path, "tokenizer.ggml.scores has " + std::to_string(scores->size()) + " entries for " +
                                  std::to_string(n) + " tokens");
    }
    vocab.scores = std::move(*scores);
  } else {
    vocab.scores.assign(n, 0.0f);
  }
  vocab.kinds.assign(n, PieceKind::Normal);
  if (auto types = gguf.get_int_array("tokenizer.ggml.token_type")) {
    if (types->size() != n) {
      throw FormatError(path, "tokenizer.ggml.token_type has " + std::to_string(types->size()) + " entries for " +
                                  std::to_string(n) + " tokens");
    }
    for (size_t id = 0; id < n; ++id) {
      const int64_t type = (*types)[id];
      if (type == 0) continue;  // llama.cpp's "undefined": a normal piece
      if (type < 1 || type > 6)
        throw FormatError(path, "token " + std::to_string(id) + " has type " + std::to_string(type));
      vocab.kinds[id] = PieceKind(type);
    }
  }
  vocab.byte_fallback = false;
  for (size_t id = 0; id < n; ++id) {
    if (vocab.kinds[id] == PieceKind::Byte) vocab.byte_fallback = true;
    // convert_hf_to_gguf.py writes the spaces of user-defined tokens as spaces; the tokenizer matches them in
    // text whose spaces are already U+2581.
    if (vocab.kinds[id] == PieceKind::UserDefined) {
      std::string& piece = vocab.pieces[id];
      for (size_t at; (at = piece.find(' ')) != std::string::npos;) piece.replace(at, 1, "\xe2\x96\x81");
    }
  }
  auto id_key = [&](const char* key, int* out) {
    if (auto value = gguf.get_int(key)) {
      if (*value < -1 || *value >= int64_t(n))
        throw FormatError(path, std::string(key) + " " + std::to_string(*value) + " is outside the vocabulary");
      *out = int(*value);
    }
  };
  id_key("tokenizer.ggml.bos_token_id", &vocab.bos_id);
  id_key("tokenizer.ggml.eos_token_id", &vocab.eos_id);
  id_key("tokenizer.ggml.unknown_token_id", &vocab.unk_id);
  id_key("tokenizer.ggml.padding_token_id", &vocab.pad_id);
  if (auto v = gguf.get_bool("tokenizer.ggml.add_bos_token")) vocab.add_bos = *v;
  if (auto v = gguf.get_bool("tokenizer.ggml.add_eos_token")) vocab.add_eos = *v;
  if (auto v = gguf.get_bool("tokenizer.ggml.add_space_prefix")) vocab.add_dummy_prefix = *v;
  if (auto v = gguf.get_string("tokenizer.chat_template")) vocab.chat_template = std::move(*v);
  try {
    return std::make_shared<const LlamaTokenizer>(std::move(vocab));
  } catch (const std::invalid_argument& e) {
    throw FormatError(path, std::string("bad tokenizer vocabulary: ") + e.what());
  }
}

}  // namespace mlfaas
