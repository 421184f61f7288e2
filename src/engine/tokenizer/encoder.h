#pragma once
// One pass over the text: bytes are classified, normalized and cut into words as they are read, and each word
// is matched against the vocabulary as soon as it ends, writing ids straight into the caller's vector. A word
// lives in a fixed buffer (a word longer than 100 code points becomes [UNK] anyway, so its tail need not be
// kept), so nothing is allocated per word or per token. ASCII bytes take a table-driven path that never calls
// utf8proc. Pipeline per character, in BertTokenizer's order:
//   source character: drop (C*), whitespace, CJK ideograph (its own word), or other
//   -> lower case (per character, full mapping) -> NFD -> drop Mn   [strip-accents mode]
//   -> punctuation is its own word; anything else extends the current word.
// Without accent stripping, BertTokenizer NFC-normalizes each whitespace-separated token instead, which can
// merge characters, so that mode collects a token's code points first and normalizes them as a whole.
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/tokenizer/wordpiece.h"

namespace mlfaas::tokenizer {

class Encoder {
 public:
  // Appends at most max_pieces ids (< 0: unlimited) to ids.
  Encoder(const WordPieceTokenizer& tok, std::vector<int32_t>* ids, long max_pieces);
  void run(std::string_view text);

 private:
  static constexpr int kMaxChars = WordPieceTokenizer::kMaxInputCharsPerWord;
  static constexpr int kWordBytes = kMaxChars * 4;

  void run_stripping(const uint8_t* p, const uint8_t* end);
  void run_composing(const uint8_t* p, const uint8_t* end);
  // Length of the special token starting at p (and its id in *id), or 0.
  size_t match_special(const uint8_t* p, const uint8_t* end, int32_t* id) const;

  // Strip-accents pipeline for one source character that is neither dropped nor whitespace.
  void normalize_and_append(int32_t cp);
  // A character after normalization: punctuation becomes its own word, anything else extends the word.
  void append_normalized(int32_t cp, bool nonspacing_mark_is_kept);
  void append_word_cp(int32_t cp);
  void reorder_last_mark(uint8_t combining_class);
  void single_char_word(int32_t cp);
  void end_word();
  void emit(int32_t id);
  void wordpiece(const char* word, int len);
  void flush_composed_token();

  const WordPieceTokenizer& tok_;
  const VocabTrie& trie_;
  std::vector<int32_t>* ids_;
  size_t base_;
  size_t limit_;  // absolute size of ids_ at which to stop
  bool done_ = false;

  char word_[kWordBytes + 8];
  int word_len_ = 0;    // bytes stored
  int word_chars_ = 0;  // code points seen, may exceed kMaxChars (then the word is [UNK])
  // Start (byte offset in word_) of the current run of combining marks that NFD would reorder, or -1.
  int mark_run_start_ = -1;

  // Composing mode: the current whitespace-separated token, as code points.
  std::vector<int32_t>* pending_ = nullptr;
  bool pending_ascii_ = true;
};

}  // namespace mlfaas::tokenizer
