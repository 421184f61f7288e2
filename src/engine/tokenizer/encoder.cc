#include "engine/tokenizer/encoder.h"

#include <array>
#include <cstring>
#include <limits>

#include "engine/tokenizer/bert_chars.h"
#include "engine/tokenizer/utf8.h"
#include "engine/tokenizer/vocab_trie.h"

namespace mlfaas::tokenizer {

namespace {

enum class AsciiKind : uint8_t { kWord, kSpace, kDrop, kPunct };

// BERT's view of each ASCII byte: \t \n \r and space are whitespace, the other C0 controls and DEL are
// dropped, the four ASCII punctuation ranges split, and letters/digits form words.
constexpr std::array<AsciiKind, 128> make_ascii_kinds() {
  std::array<AsciiKind, 128> k{};
  for (int c = 0; c < 128; ++c) {
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ')
      k[c] = AsciiKind::kSpace;
    else if (c < 32 || c == 127)
      k[c] = AsciiKind::kDrop;
    else if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
      k[c] = AsciiKind::kPunct;
    else
      k[c] = AsciiKind::kWord;
  }
  return k;
}
constexpr std::array<AsciiKind, 128> kAsciiKinds = make_ascii_kinds();

constexpr std::array<char, 128> make_ascii_lower(bool lower) {
  std::array<char, 128> t{};
  for (int c = 0; c < 128; ++c) t[c] = char(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
  return t;
}
constexpr std::array<char, 128> kAsciiLower = make_ascii_lower(true);
constexpr std::array<char, 128> kAsciiSame = make_ascii_lower(false);

// Scratch for the composing (no accent stripping) mode, reused across calls on the same thread.
thread_local std::vector<int32_t> tls_pending;
thread_local std::vector<int32_t> tls_composed;

}  // namespace

Encoder::Encoder(const WordPieceTokenizer& tok, std::vector<int32_t>* ids, long max_pieces)
    : tok_(tok), trie_(*tok.trie_), ids_(ids), base_(ids->size()) {
  limit_ = max_pieces < 0 ? std::numeric_limits<size_t>::max() : base_ + size_t(max_pieces);
  done_ = max_pieces == 0;
}

void Encoder::run(std::string_view text) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const uint8_t* end = p + text.size();
  if (tok_.strip_accents_)
    run_stripping(p, end);
  else
    run_composing(p, end);
  if (ids_->size() > limit_) ids_->resize(limit_);
}

size_t Encoder::match_special(const uint8_t* p, const uint8_t* end, int32_t* id) const {
  size_t avail = size_t(end - p);
  for (const auto& s : tok_.specials_) {
    if (s.text.size() <= avail && std::memcmp(p, s.text.data(), s.text.size()) == 0) {
      *id = s.id;
      return s.text.size();
    }
  }
  return 0;
}

void Encoder::run_stripping(const uint8_t* p, const uint8_t* end) {
  const char* fold = tok_.lower_case_ ? kAsciiLower.data() : kAsciiSame.data();
  while (p < end && !done_) {
    uint8_t c = *p;
    if (c < 0x80) {
      switch (kAsciiKinds[c]) {
        case AsciiKind::kWord:
          do {
            if (word_chars_ < kMaxChars) word_[word_len_++] = fold[c];
            ++word_chars_;
            ++p;
          } while (p < end && (c = *p) < 0x80 && kAsciiKinds[c] == AsciiKind::kWord);
          mark_run_start_ = -1;
          continue;
        case AsciiKind::kSpace:
          end_word();
          ++p;
          continue;
        case AsciiKind::kDrop:
          ++p;
          continue;
        case AsciiKind::kPunct:
          if (c == '[') {
            int32_t id;
            if (size_t n = match_special(p, end, &id)) {
              end_word();
              emit(id);
              p += n;
              continue;
            }
          }
          single_char_word(c);
          ++p;
          continue;
      }
    }
    int len = 1;
    int32_t cp = decode_utf8(p, end, &len);
    if (cp == kInvalidCodePoint) {
      ++p;
      continue;
    }
    p += len;
    switch (classify_source(cp)) {
      case SourceClass::kDrop:
        break;
      case SourceClass::kSpace:
        end_word();
        break;
      case SourceClass::kCjk:
        end_word();
        normalize_and_append(cp);
        end_word();
        break;
      case SourceClass::kOther:
        normalize_and_append(cp);
        break;
    }
  }
  end_word();
}

void Encoder::run_composing(const uint8_t* p, const uint8_t* end) {
  pending_ = &tls_pending;
  pending_->clear();
  pending_ascii_ = true;
  const bool lower = tok_.lower_case_;
  while (p < end && !done_) {
    uint8_t c = *p;
    if (c < 0x80) {
      switch (kAsciiKinds[c]) {
        case AsciiKind::kSpace:
          flush_composed_token();
          break;
        case AsciiKind::kDrop:
          break;
        case AsciiKind::kPunct:
          if (c == '[') {
            int32_t id;
            if (size_t n = match_special(p, end, &id)) {
              flush_composed_token();
              emit(id);
              p += n;
              continue;
            }
          }
          pending_->push_back(c);
          break;
        case AsciiKind::kWord:
          pending_->push_back(lower ? kAsciiLower[c] : char(c));
          break;
      }
      ++p;
      continue;
    }
    int len = 1;
    int32_t cp = decode_utf8(p, end, &len);
    if (cp == kInvalidCodePoint) {
      ++p;
      continue;
    }
    p += len;
    switch (classify_source(cp)) {
      case SourceClass::kDrop:
        break;
      case SourceClass::kSpace:
        flush_composed_token();
        break;
      case SourceClass::kCjk:
        flush_composed_token();
        pending_->push_back(cp);
        pending_ascii_ = false;
        flush_composed_token();
        break;
      case SourceClass::kOther: {
        int32_t lowered[2] = {cp, 0};
        int n = lower ? lower_full(cp, lowered) : 1;
        for (int i = 0; i < n; ++i) pending_->push_back(lowered[i]);
        pending_ascii_ = false;
        break;
      }
    }
  }
  flush_composed_token();
}

void Encoder::flush_composed_token() {
  if (pending_->empty()) return;
  if (pending_ascii_) {
    for (int32_t cp : *pending_) append_normalized(cp, true);
  } else {
    compose_nfc(*pending_, &tls_composed);
    for (int32_t cp : tls_composed) append_normalized(cp, true);
  }
  end_word();
  pending_->clear();
  pending_ascii_ = true;
}

void Encoder::normalize_and_append(int32_t cp) {
  int32_t lowered[2] = {cp, 0};
  int n = tok_.lower_case_ ? lower_full(cp, lowered) : 1;
  for (int i = 0; i < n; ++i) {
    int32_t parts[4];
    int m = decompose_canonical(lowered[i], parts);
    for (int j = 0; j < m; ++j) append_normalized(parts[j], false);
  }
}

void Encoder::append_normalized(int32_t cp, bool keep_marks) {
  if (cp < 0x80) {
    switch (kAsciiKinds[cp]) {
      case AsciiKind::kPunct:
        single_char_word(cp);
        return;
      case AsciiKind::kWord:
        append_word_cp(cp);
        mark_run_start_ = -1;
        return;
      case AsciiKind::kSpace:  // normalization never produces these; keep BERT's meaning anyway
        end_word();
        return;
      case AsciiKind::kDrop:
        return;
    }
  }
  NormalizedCharInfo info = normalized_char_info(cp);
  if (info.punctuation) {
    single_char_word(cp);
    return;
  }
  if (keep_marks) {  // NFC output is already in canonical order
    append_word_cp(cp);
    return;
  }
  if (info.combining_class == 0) {
    mark_run_start_ = -1;
    if (!info.nonspacing_mark) append_word_cp(cp);
    return;
  }
  // A combining character: NFD sorts each run of them by combining class. Stripped ones (Mn) vanish anyway,
  // but the few kept ones (spacing marks with a nonzero class) must end up in canonical order.
  if (mark_run_start_ < 0) mark_run_start_ = word_len_;
  if (info.nonspacing_mark) return;
  append_word_cp(cp);
  reorder_last_mark(info.combining_class);
}

void Encoder::reorder_last_mark(uint8_t combining_class) {
  if (word_chars_ > kMaxChars) return;  // the word is [UNK]; its bytes no longer matter
  // Decode the run, move the new last mark before any with a higher class (stable), re-encode.
  int32_t cps[kMaxChars];
  int n = 0;
  const auto* p = reinterpret_cast<const uint8_t*>(word_ + mark_run_start_);
  const auto* end = reinterpret_cast<const uint8_t*>(word_ + word_len_);
  while (p < end) {
    int len = 1;
    cps[n++] = *p < 0x80 ? *p : decode_utf8(p, end, &len);
    p += len;
  }
  int i = n - 1;
  while (i > 0 && normalized_char_info(cps[i - 1]).combining_class > combining_class) {
    std::swap(cps[i - 1], cps[i]);
    --i;
  }
  int len = mark_run_start_;
  for (int k = 0; k < n; ++k) len += encode_utf8(cps[k], word_ + len);
}

void Encoder::append_word_cp(int32_t cp) {
  if (word_chars_ < kMaxChars) word_len_ += encode_utf8(cp, word_ + word_len_);
  ++word_chars_;
}

void Encoder::single_char_word(int32_t cp) {
  end_word();
  append_word_cp(cp);
  end_word();
}

void Encoder::end_word() {
  mark_run_start_ = -1;
  if (word_chars_ == 0) return;
  if (word_chars_ > kMaxChars)
    emit(tok_.unk_id_);
  else
    wordpiece(word_, word_len_);
  word_len_ = 0;
  word_chars_ = 0;
}

void Encoder::emit(int32_t id) {
  ids_->push_back(id);
  if (ids_->size() >= limit_) done_ = true;
}

void Encoder::wordpiece(const char* word, int len) {
  // Greedy longest match, as BertTokenizer's WordpieceTokenizer: the longest vocabulary entry that starts
  // here and ends on a character boundary; continuation pieces are matched under the "##" node.
  const size_t rollback = ids_->size();
  int32_t root = VocabTrie::kRoot;
  int pos = 0;
  while (pos < len) {
    int32_t node = root;
    int best_end = -1;
    int32_t best_node = VocabTrie::kNoNode;
    for (int i = pos; i < len; ++i) {
      node = trie_.child(node, uint8_t(word[i]));
      if (node == VocabTrie::kNoNode) break;
      if (trie_.ends_token(node) && (i + 1 == len || (uint8_t(word[i + 1]) & 0xC0) != 0x80)) {
        best_end = i + 1;
        best_node = node;
      }
    }
    if (best_end < 0) {
      ids_->resize(rollback);
      emit(tok_.unk_id_);
      return;
    }
    ids_->push_back(trie_.token_id(best_node));
    pos = best_end;
    root = tok_.continuation_node_;
    if (root == VocabTrie::kNoNode && pos < len) {
      ids_->resize(rollback);
      emit(tok_.unk_id_);
      return;
    }
  }
  if (ids_->size() >= limit_) done_ = true;
}

}  // namespace mlfaas::tokenizer
