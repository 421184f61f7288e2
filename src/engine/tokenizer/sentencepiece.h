#pragma once
// Llama's tokenizer: SentencePiece BPE, producing exactly what Hugging Face's slow `LlamaTokenizer` (legacy=False)
// produces, from any of the three places a user's model keeps it: `tokenizer.model` (SentencePiece's protobuf;
// read by a small hand-written reader of the four fields used, because Debian's libsentencepiece cannot read the
// GGUF and llama2.c forms and its encoder differs from HF's around special tokens), GGUF metadata
// (tokenizer.ggml.*), or a llama2.c tokenizer file.
//
// encode(): special-token literals (<s>, </s>, <unk>, and added tokens) are cut out first and become their ids; each
// other chunk gets a dummy-prefix "▁" unless it follows a special token, every space becomes "▁", and BPE merges
// the adjacent pair with the best score until none is in the vocabulary; a character with no piece falls back to
// its UTF-8 bytes (<0xNN>). decode() is the inverse (HF's decode with skip_special_tokens): "▁" -> " ", byte
// pieces re-assembled, invalid UTF-8 -> U+FFFD, the first token's dummy space dropped.
//
// Immutable after construction: one tokenizer is shared by every thread.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas {

class GgufFile;

enum class PieceKind : uint8_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SentencePieceVocab {
  std::vector<std::string> pieces;  // with "▁" for spaces, "<0x0A>" for byte pieces, as in the model
  std::vector<float> scores;
  std::vector<PieceKind> kinds;
  int bos_id = 1, eos_id = 2, unk_id = 0, pad_id = -1;
  bool add_bos = true;           // HF tokenizer_config add_bos_token / GGUF tokenizer.ggml.add_bos_token
  bool add_eos = false;
  bool add_dummy_prefix = true;  // normalizer_spec.add_dummy_prefix
  bool byte_fallback = true;
  // llama2.c's run.c encoding (stories260K): no special-token literals, dummy prefix only for non-empty text.
  bool llama2c_rules = false;
  std::string chat_template;     // tokenizer_config.json chat_template / GGUF tokenizer.chat_template; may be empty
};

class LlamaTokenizer {
 public:
  // tokenizer.model, plus the tokenizer_config.json beside it when present (add_bos_token, add_eos_token,
  // added special tokens, chat_template). Throws FormatError naming the file.
  static std::shared_ptr<const LlamaTokenizer> from_model_file(const std::string& tokenizer_model_path);
  static std::shared_ptr<const LlamaTokenizer> from_gguf(const GgufFile& gguf);
  static std::shared_ptr<const LlamaTokenizer> from_llama2c(const std::string& path, int vocab_size);
  explicit LlamaTokenizer(SentencePieceVocab vocab);  // validates; throws std::invalid_argument

  // HF tok(text)["input_ids"]: BOS first when add_bos and add_special_tokens. Invalid UTF-8 in `text` throws
  // InputError (engine/error.h).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // HF tok.decode(ids, skip_special_tokens). Ids out of range throw InputError. With llama2c_rules it is run.c's
  // decode instead: a piece's leading space is dropped only when the id before it is BOS.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const;

  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  const std::string& piece(int32_t id) const;
  bool is_special(int32_t id) const;  // control / unknown / user-defined special
  const SentencePieceVocab& vocab() const;

  // Incremental decode for streaming: push() returns the text that is now final, holding back an incomplete
  // UTF-8 sequence (byte pieces) and the dummy space of the first token, so the concatenation of every push()
  // and finish() equals decode(all ids) and never contains a broken UTF-8 sequence.
  // `previous_id` is the token before the first pushed one (the prompt's last): llama2.c's decoding (llama2c_rules)
  // drops a leading space only right after BOS, so its first generated token needs it; HF's rule ignores it.
  class StreamDecoder {
   public:
    explicit StreamDecoder(const LlamaTokenizer& tok, bool skip_special_tokens = true, int32_t previous_id = -1);
    std::string push(int32_t id);
    std::string finish();  // what is left (an incomplete sequence becomes U+FFFD)

   private:
    const LlamaTokenizer& tok_;
    bool skip_special_;
    bool first_ = true;
    int32_t previous_ = -1;
    std::string pending_;
  };

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace mlfaas
