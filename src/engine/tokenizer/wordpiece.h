#pragma once
// BERT WordPiece tokenizer, token-for-token identical to Hugging Face's slow `BertTokenizer`
// (transformers 4.36.2) for do_lower_case true or false:
//   special tokens written in the text ([CLS] [SEP] [PAD] [UNK] [MASK], case-sensitive) are matched first;
//   the rest is cleaned (NUL, U+FFFD and every category C* character dropped; \t \n \r and Zs become spaces),
//   CJK ideographs are split off, lower-cased (full Unicode lower case, per character) and accents stripped
//   (NFD, Mn dropped) when do_lower_case, else NFC-normalized; split on whitespace and on punctuation (ASCII
//   punctuation or category P*); each word becomes greedy longest-match WordPiece pieces (`##` continuation),
//   or [UNK] when a word is longer than 100 code points or cannot be covered; then [CLS] ... [SEP], truncated
//   to max_length tokens in total.
// Unicode data comes from utf8proc (its Unicode version may be newer than the Python that made the fixtures;
// only characters assigned after Unicode 14 can differ).
//
// Invalid UTF-8: every byte that does not belong to a well-formed UTF-8 sequence (stray continuation bytes,
// truncated or overlong sequences, surrogates, values above U+10FFFF) is dropped. That equals decoding the
// bytes with Python's errors="replace" and handing the result to BertTokenizer, whose clean-up removes U+FFFD.
//
// Thread safety: a tokenizer is immutable after construction; encode() may be called from many threads at once.
// Copies are cheap (the vocabulary is shared).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas {

namespace tokenizer {
class VocabTrie;
class Encoder;
}

struct Encoding {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> token_type_ids;  // all 0 (single sequence)
  std::vector<int32_t> attention_mask;  // all 1 (no padding)
};

class WordPieceTokenizer {
 public:
  static constexpr int kMaxInputCharsPerWord = 100;

  // Reads a vocab.txt (one token per line, id = line number, "\n" or "\r\n" line ends, a final newline is
  // optional). Throws FormatError naming the file if it cannot be read, is empty or lacks [UNK], [CLS] or [SEP].
  static WordPieceTokenizer from_vocab_file(const std::string& path, bool do_lower_case = true);
  // Same, from vocab.txt contents already in memory; `source` names it in errors.
  static WordPieceTokenizer from_vocab_text(std::string_view contents, const std::string& source,
                                            bool do_lower_case = true);
  // DIR/vocab.txt, with do_lower_case (default true) and strip_accents from DIR/tokenizer_config.json if present.
  static WordPieceTokenizer from_model_dir(const std::string& dir);

  // The tokenizer's tables as a compiled model stores them (built once, mapped at load: no vocabulary parsing).
  struct Compiled {
    std::span<const uint32_t> trie_slots;  // VocabTrie::slot_words()
    std::span<const int32_t> trie_ids;
    std::string_view token_text;            // all tokens back to back
    std::span<const uint32_t> token_offsets;  // vocab_size + 1
    bool do_lower_case = true;
    bool strip_accents = true;
  };
  Compiled compiled() const;
  // A tokenizer over tables in memory that `keep_alive` owns. Validates them (every lookup stays in bounds);
  // throws FormatError naming `source` when they are inconsistent.
  static WordPieceTokenizer from_compiled(const Compiled& tables, std::shared_ptr<const void> keep_alive,
                                          const std::string& source);

  // [CLS] pieces [SEP] for `text`, at most max_length ids in total (max_length <= 0: no limit; 1 is refused
  // with InputError because [CLS] and [SEP] alone need 2). Reuses the capacity of out's vectors.
  void encode(std::string_view text, int max_length, Encoding* out) const;
  // encode() for each text; out is resized to texts.size() and its elements' capacity reused.
  void encode_batch(const std::vector<std::string_view>& texts, int max_length, std::vector<Encoding>* out) const;
  // Appends the word-piece ids of `text` (no [CLS]/[SEP]) to ids, stopping once max_pieces were appended
  // (max_pieces < 0: no limit). Building block for pairs or custom templates.
  void tokenize_ids(std::string_view text, long max_pieces, std::vector<int32_t>* ids) const;

  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t pad_id() const { return pad_id_; }    // -1 if the vocabulary has no [PAD]
  int32_t mask_id() const { return mask_id_; }  // -1 if the vocabulary has no [MASK]
  // Id of an exact vocabulary entry, -1 if absent.
  int32_t token_to_id(std::string_view token) const;
  // The vocabulary line for id; empty for an id out of range.
  std::string_view id_to_token(int32_t id) const;
  size_t vocab_size() const { return token_offsets_.size() - 1; }
  bool do_lower_case() const { return lower_case_; }
  bool strip_accents() const { return strip_accents_; }

 private:
  struct SpecialToken {
    std::string text;
    int32_t id;
  };
  WordPieceTokenizer() = default;

  // Sets the ids and specials from the trie; throws FormatError naming `source` without [UNK], [CLS], [SEP].
  void find_special_tokens(const std::string& source);

  std::shared_ptr<const void> storage_;  // owns what the views below point into
  std::shared_ptr<const tokenizer::VocabTrie> trie_;
  std::string_view token_text_;              // all tokens, back to back
  std::span<const uint32_t> token_offsets_;  // token i = [offsets[i], offsets[i+1])
  std::vector<SpecialToken> specials_;                          // matched in the text before anything else
  int32_t continuation_node_ = -1;                              // trie node of "##"
  int32_t cls_id_ = -1, sep_id_ = -1, unk_id_ = -1, pad_id_ = -1, mask_id_ = -1;
  bool lower_case_ = true;
  bool strip_accents_ = true;

  friend class tokenizer::Encoder;
};

}  // namespace mlfaas
