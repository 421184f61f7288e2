#include "engine/tokenizer/sentencepiece.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <queue>
#include <stdexcept>
#include <unordered_map>

#include "engine/error.h"
#include "engine/formats/llama2c.h"
#include "engine/formats/mapped_file.h"
#include "engine/tokenizer/sentencepiece_model.h"
#include "engine/tokenizer/utf8.h"

namespace mlfaas {

namespace {

constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";  // U+2581, SentencePiece's stand-in for a space
constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

int utf8_length(uint8_t lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

// Offset of the first byte that does not belong to a well-formed UTF-8 sequence, or npos.
size_t invalid_utf8_at(std::string_view text) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const auto* end = p + text.size();
  for (const uint8_t* q = p; q < end;) {
    if (*q < 0x80) {
      ++q;
      continue;
    }
    int length = 0;
    if (tokenizer::decode_utf8(q, end, &length) == tokenizer::kInvalidCodePoint) return size_t(q - p);
    q += length;
  }
  return std::string_view::npos;
}

// True when [p, end) is a proper prefix of some well-formed sequence: more bytes could still complete it.
bool incomplete_utf8(const uint8_t* p, const uint8_t* end) {
  const size_t have = size_t(end - p);
  const uint8_t b0 = p[0];
  if (b0 < 0xC2 || b0 > 0xF4 || have >= size_t(utf8_length(b0))) return false;
  if (have >= 2) {
    const uint8_t b1 = p[1];
    const uint8_t lo = b0 == 0xE0 ? 0xA0 : b0 == 0xF0 ? 0x90 : 0x80;
    const uint8_t hi = b0 == 0xED ? 0x9F : b0 == 0xF4 ? 0x8F : 0xBF;
    if (b1 < lo || b1 > hi) return false;
  }
  for (size_t i = 2; i < have; ++i)
    if ((p[i] & 0xC0) != 0x80) return false;
  return true;
}

int byte_piece_value(std::string_view piece) {
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t start = 0;
  for (size_t at; (at = text.find(from, start)) != std::string_view::npos; start = at + from.size())
    out.append(text.substr(start, at - start)).append(to);
  out.append(text.substr(start));
  return out;
}

}  // namespace

struct LlamaTokenizer::Impl {
  SentencePieceVocab vocab;
  // Piece text -> first id with that text. In llama2.c mode the keys are llama2.c's own strings (spaces, not
  // U+2581), because run.c looks its input characters up in those.
  std::vector<std::string> lookup_text;
  std::unordered_map<std::string_view, int32_t> ids;
  std::vector<uint8_t> mergeable;  // per id: may BPE produce it
  std::vector<uint8_t> special;    // per id: control / unknown (skipped by decode, matched as a literal)
  std::array<int32_t, 256> byte_id;
  // Special-token literals cut out of the text before BPE (not in llama2.c mode), longest first.
  std::vector<std::pair<std::string_view, int32_t>> literals;
  std::array<bool, 256> literal_start{};
  // User-defined pieces: never split, never merged with neighbours (SentencePiece's prefix matcher).
  std::unordered_map<std::string_view, int32_t> user_defined;
  std::vector<size_t> user_defined_lengths;  // distinct, longest first

  explicit Impl(SentencePieceVocab v);

  // BPE over `text`, whose initial symbols are the (offset, size) spans in `initial` (a frozen one is never
  // merged); appends the ids.
  void bpe(std::string_view text, const std::vector<std::pair<uint32_t, uint32_t>>& initial,
           const std::vector<bool>& frozen, std::vector<int32_t>* out) const;
  void encode_chunk(std::string_view chunk, std::vector<int32_t>* out) const;  // SentencePiece mode
  void encode_llama2c(std::string_view text, std::vector<int32_t>* out) const;
};

LlamaTokenizer::Impl::Impl(SentencePieceVocab v) : vocab(std::move(v)) {
  const size_t n = vocab.pieces.size();
  if (n == 0) throw std::invalid_argument("empty vocabulary");
  if (n > size_t(INT32_MAX)) throw std::invalid_argument("vocabulary too large");
  if (vocab.scores.size() != n || vocab.kinds.size() != n) {
    throw std::invalid_argument("vocabulary has " + std::to_string(n) + " pieces but " +
                                std::to_string(vocab.scores.size()) + " scores and " +
                                std::to_string(vocab.kinds.size()) + " kinds");
  }
  auto check_id = [&](int id, const char* what, bool optional) {
    if ((optional && id == -1) || (id >= 0 && size_t(id) < n)) return;
    throw std::invalid_argument(std::string(what) + " " + std::to_string(id) + " is outside the vocabulary of " +
                                std::to_string(n));
  };
  check_id(vocab.bos_id, "bos id", false);
  check_id(vocab.eos_id, "eos id", false);
  check_id(vocab.unk_id, "unk id", false);
  check_id(vocab.pad_id, "pad id", true);

  lookup_text.resize(n);
  mergeable.assign(n, 0);
  special.assign(n, 0);
  byte_id.fill(-1);
  for (size_t id = 0; id < n; ++id) {
    const std::string& piece = vocab.pieces[id];
    const PieceKind kind = vocab.kinds[id];
    if (piece.empty()) throw std::invalid_argument("piece " + std::to_string(id) + " is empty");
    if (uint8_t(kind) < 1 || uint8_t(kind) > 6)
      throw std::invalid_argument("piece " + std::to_string(id) + " has kind " + std::to_string(int(kind)));
    if (kind == PieceKind::Byte) {
      const int b = byte_piece_value(piece);
      if (b < 0) throw std::invalid_argument("byte piece " + std::to_string(id) + " is not of the form <0xNN>");
      if (byte_id[b] < 0) byte_id[b] = int32_t(id);
    } else if (const size_t bad = invalid_utf8_at(piece); bad != std::string_view::npos) {
      throw std::invalid_argument("piece " + std::to_string(id) + " is not valid UTF-8");
    }
    special[id] = kind == PieceKind::Control || kind == PieceKind::Unknown;
    if (vocab.llama2c_rules) {
      lookup_text[id] = replace_all(piece, kSpaceSymbol, " ");
      // run.c merges into any vocabulary string that scores above its -1e10 floor; its BOS/EOS strings
      // ("\n<s>\n") can never be formed from input characters, so control pieces are left out.
      mergeable[id] = kind != PieceKind::Control && vocab.scores[id] > -1e10f;
    } else {
      lookup_text[id] = piece;
      mergeable[id] = kind == PieceKind::Normal || kind == PieceKind::UserDefined || kind == PieceKind::Unused;
    }
  }
  ids.reserve(n * 2);
  for (size_t id = 0; id < n; ++id) ids.emplace(lookup_text[id], int32_t(id));
  if (vocab.llama2c_rules) return;

  for (size_t id = 0; id < n; ++id) {
    const std::string& piece = vocab.pieces[id];
    if (special[id]) {
      literals.emplace_back(piece, int32_t(id));
      literal_start[uint8_t(piece[0])] = true;
    } else if (vocab.kinds[id] == PieceKind::UserDefined) {
      if (user_defined.emplace(piece, int32_t(id)).second) user_defined_lengths.push_back(piece.size());
    }
  }
  std::stable_sort(literals.begin(), literals.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  std::sort(user_defined_lengths.begin(), user_defined_lengths.end(), std::greater<>());
  user_defined_lengths.erase(std::unique(user_defined_lengths.begin(), user_defined_lengths.end()),
                             user_defined_lengths.end());
}

// SentencePiece's BPE (bpe_model.cc): every adjacent pair whose concatenation is a mergeable piece goes into a
// priority queue keyed by that piece's score, ties to the leftmost pair; the best pair is merged and its new
// neighbours queued, until the queue is empty. Stale entries are recognised by their size. O(n log n).
void LlamaTokenizer::Impl::bpe(std::string_view text, const std::vector<std::pair<uint32_t, uint32_t>>& initial,
                               const std::vector<bool>& frozen, std::vector<int32_t>* out) const {
  struct Symbol {
    int prev, next;
    uint32_t begin, size;
  };
  struct Pair {
    float score;
    int left, right;
    uint32_t size;
  };
  struct Worse {
    bool operator()(const Pair& a, const Pair& b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };
  const int count = int(initial.size());
  if (count == 0) return;
  std::vector<Symbol> symbols(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i)
    symbols[size_t(i)] = {i - 1, i + 1 < count ? i + 1 : -1, initial[size_t(i)].first, initial[size_t(i)].second};

  std::priority_queue<Pair, std::vector<Pair>, Worse> agenda;
  // Unused pieces may be formed on the way but never emitted: remember how each was made to undo it.
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unmerge;
  auto consider = [&](int left, int right) {
    if (left < 0 || right < 0 || frozen[size_t(left)] || frozen[size_t(right)]) return;
    const Symbol& l = symbols[size_t(left)];
    const Symbol& r = symbols[size_t(right)];
    const std::string_view merged = text.substr(l.begin, l.size + r.size);
    const auto it = ids.find(merged);
    if (it == ids.end() || !mergeable[size_t(it->second)]) return;
    agenda.push({vocab.scores[size_t(it->second)], left, right, l.size + r.size});
    if (vocab.kinds[size_t(it->second)] == PieceKind::Unused)
      unmerge[merged] = {text.substr(l.begin, l.size), text.substr(r.begin, r.size)};
  };
  for (int i = 1; i < count; ++i) consider(i - 1, i);
  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    Symbol& l = symbols[size_t(top.left)];
    Symbol& r = symbols[size_t(top.right)];
    if (l.size == 0 || r.size == 0 || l.size + r.size != top.size) continue;
    l.size += r.size;
    l.next = r.next;
    if (r.next >= 0) symbols[size_t(r.next)].prev = top.left;
    r.size = 0;
    consider(l.prev, top.left);
    consider(top.left, l.next);
  }

  bool after_unknown = false;  // without byte fallback, a run of unknown pieces becomes one <unk>
  auto emit = [&](auto&& self, std::string_view piece) -> void {
    const auto it = ids.find(piece);
    const int32_t id = it == ids.end() ? vocab.unk_id : it->second;
    if (id != vocab.unk_id && vocab.kinds[size_t(id)] == PieceKind::Unused) {
      if (const auto u = unmerge.find(piece); u != unmerge.end()) {
        self(self, u->second.first);
        self(self, u->second.second);
        return;
      }
    }
    if (id != vocab.unk_id) {
      out->push_back(id);
      after_unknown = false;
    } else if (vocab.byte_fallback && !vocab.llama2c_rules) {
      for (unsigned char b : piece) out->push_back(byte_id[b] >= 0 ? byte_id[b] : vocab.unk_id);
    } else if (!after_unknown || vocab.llama2c_rules) {
      out->push_back(id);
      after_unknown = true;
    }
  };
  for (int i = 0; i >= 0; i = symbols[size_t(i)].next) {
    const Symbol& s = symbols[size_t(i)];
    emit(emit, text.substr(s.begin, s.size));
  }
}

// One stretch of text between special-token literals, spaces already as U+2581.
void LlamaTokenizer::Impl::encode_chunk(std::string_view chunk, std::vector<int32_t>* out) const {
  std::vector<std::pair<uint32_t, uint32_t>> initial;
  std::vector<bool> frozen;
  initial.reserve(chunk.size());
  frozen.reserve(chunk.size());
  for (size_t at = 0; at < chunk.size();) {
    size_t length = 0;
    for (size_t candidate : user_defined_lengths) {
      if (candidate <= chunk.size() - at && user_defined.count(chunk.substr(at, candidate))) {
        length = candidate;
        break;
      }
    }
    frozen.push_back(length != 0);
    if (length == 0) length = size_t(utf8_length(uint8_t(chunk[at])));
    initial.emplace_back(uint32_t(at), uint32_t(length));
    at += length;
  }
  bpe(chunk, initial, frozen, out);
}

// llama2.c run.c's encode(): a " " dummy prefix for non-empty text, each character looked up whole or replaced
// by its bytes (id = byte + 3, written as the "<0xNN>" strings run.c concatenates when it merges), then the same
// best-score merging. The working text holds each initial symbol's llama2.c string back to back.
void LlamaTokenizer::Impl::encode_llama2c(std::string_view text, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  std::string work;
  std::vector<std::pair<uint32_t, uint32_t>> initial;
  work.reserve(text.size() * 2 + 1);
  initial.reserve(text.size() + 1);
  auto add = [&](std::string_view s) {
    initial.emplace_back(uint32_t(work.size()), uint32_t(s.size()));
    work.append(s);
  };
  const std::string prefixed = " " + std::string(text);
  for (size_t at = 0; at < prefixed.size();) {
    const std::string_view ch(prefixed.data() + at, size_t(utf8_length(uint8_t(prefixed[at]))));
    at += ch.size();
    if (ids.count(ch)) {
      add(ch);
      continue;
    }
    for (unsigned char b : ch) {
      const size_t id = size_t(b) + 3 < lookup_text.size() ? size_t(b) + 3 : size_t(vocab.unk_id);
      add(lookup_text[id]);
    }
  }
  std::vector<bool> frozen(initial.size(), false);
  bpe(work, initial, frozen, out);
}

LlamaTokenizer::LlamaTokenizer(SentencePieceVocab vocab) : impl_(std::make_shared<const Impl>(std::move(vocab))) {}

std::vector<int32_t> LlamaTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& m = *impl_;
  const SentencePieceVocab& v = m.vocab;
  if (const size_t bad = invalid_utf8_at(text); bad != std::string_view::npos)
    throw InputError("text is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special_tokens && v.add_bos) ids.push_back(v.bos_id);
  const size_t first = ids.size();

  if (v.llama2c_rules) {
    m.encode_llama2c(text, &ids);
  } else if (!text.empty()) {
    // HF LlamaTokenizer.tokenize (legacy=False): "▁" + text with every literal "▁" made a space, split at
    // special-token literals; each other stretch is SentencePiece-encoded without a dummy prefix of its own.
    std::string normalized;
    normalized.reserve(text.size() + 3);
    if (v.add_dummy_prefix) normalized.append(kSpaceSymbol);
    normalized.append(replace_all(text, kSpaceSymbol, " "));
    std::string chunk;
    bool first_chunk_is_lone_space = false;
    size_t chunk_start = 0;
    auto flush = [&](size_t end) {
      if (end == chunk_start) return;
      chunk = replace_all(std::string_view(normalized).substr(chunk_start, end - chunk_start), " ", kSpaceSymbol);
      const size_t before = ids.size();
      m.encode_chunk(chunk, &ids);
      if (before == first && ids.size() == first + 1 && v.pieces[size_t(ids[first])] == kSpaceSymbol)
        first_chunk_is_lone_space = true;
    };
    for (size_t at = 0; at < normalized.size();) {
      const std::pair<std::string_view, int32_t>* match = nullptr;
      if (m.literal_start[uint8_t(normalized[at])]) {
        for (const auto& literal : m.literals) {
          if (std::string_view(normalized).substr(at, literal.first.size()) == literal.first) {
            match = &literal;
            break;
          }
        }
      }
      if (!match) {
        ++at;
        continue;
      }
      flush(at);
      // HF drops the dummy "▁" when the text starts with a special token.
      if (first_chunk_is_lone_space && ids.size() == first + 1) ids.pop_back();
      first_chunk_is_lone_space = false;
      ids.push_back(match->second);
      at += match->first.size();
      chunk_start = at;
    }
    flush(normalized.size());
  }
  if (add_special_tokens && v.add_eos) ids.push_back(v.eos_id);
  return ids;
}

// Decoding, shared by decode() and StreamDecoder so that both give the same text.
namespace {

struct DecodeState {
  bool first = true;           // no token kept yet (HF drops the first kept token's leading "▁")
  int32_t previous = -1;       // llama2.c drops a leading space right after BOS
  std::string pending;         // bytes of byte pieces not yet turned into text
};

// Moves the decided part of state->pending to out: well-formed characters as they are, each byte that cannot
// start one as U+FFFD (SentencePiece's rule). Unless `final`, an incomplete sequence at the end waits.
void drain_bytes(DecodeState* state, bool final, std::string* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(state->pending.data());
  const auto* end = p + state->pending.size();
  const uint8_t* q = p;
  while (q < end) {
    if (*q < 0x80) {
      out->push_back(char(*q++));
      continue;
    }
    int length = 0;
    if (tokenizer::decode_utf8(q, end, &length) != tokenizer::kInvalidCodePoint) {
      out->append(reinterpret_cast<const char*>(q), size_t(length));
      q += length;
    } else if (!final && incomplete_utf8(q, end)) {
      break;
    } else {
      out->append(kReplacement);
      ++q;
    }
  }
  state->pending.erase(0, size_t(q - p));
}

void decode_one(const LlamaTokenizer& tok, const SentencePieceVocab& v, int32_t id, bool skip_special,
                DecodeState* state, std::string* out) {
  if (id < 0 || id >= int32_t(v.pieces.size()))
    throw InputError("token id " + std::to_string(id) + " is outside the vocabulary of " +
                     std::to_string(v.pieces.size()));
  const bool after_bos = state->previous == v.bos_id;
  state->previous = id;
  if (skip_special && tok.is_special(id)) return;
  const std::string& piece = v.pieces[size_t(id)];
  const bool first = state->first;
  state->first = false;
  if (v.kinds[size_t(id)] == PieceKind::Byte) {
    state->pending.push_back(char(byte_piece_value(piece)));
    drain_bytes(state, false, out);
    return;
  }
  drain_bytes(state, true, out);
  if (tok.is_special(id)) {
    out->append(piece);  // kept special tokens appear as written (HF convert_tokens_to_string)
    return;
  }
  std::string_view text = piece;
  if (v.llama2c_rules ? after_bos : first) {
    if (text.substr(0, kSpaceSymbol.size()) == kSpaceSymbol) text.remove_prefix(kSpaceSymbol.size());
  }
  out->append(replace_all(text, kSpaceSymbol, " "));
}

}  // namespace

std::string LlamaTokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  DecodeState state;
  std::string out;
  for (int32_t id : ids) decode_one(*this, impl_->vocab, id, skip_special_tokens, &state, &out);
  drain_bytes(&state, true, &out);
  return out;
}

int LlamaTokenizer::vocab_size() const { return int(impl_->vocab.pieces.size()); }
int LlamaTokenizer::bos_id() const { return impl_->vocab.bos_id; }
int LlamaTokenizer::eos_id() const { return impl_->vocab.eos_id; }
const std::string& LlamaTokenizer::piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) throw InputError("token id " + std::to_string(id) + " is outside the vocabulary");
  return impl_->vocab.pieces[size_t(id)];
}
bool LlamaTokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && (impl_->special[size_t(id)] || id == impl_->vocab.pad_id);
}
const SentencePieceVocab& LlamaTokenizer::vocab() const { return impl_->vocab; }

LlamaTokenizer::StreamDecoder::StreamDecoder(const LlamaTokenizer& tok, bool skip_special_tokens, int32_t previous_id)
    : tok_(tok), skip_special_(skip_special_tokens), previous_(previous_id) {}

std::string LlamaTokenizer::StreamDecoder::push(int32_t id) {
  DecodeState state{first_, previous_, std::move(pending_)};
  std::string out;
  try {
    decode_one(tok_, tok_.vocab(), id, skip_special_, &state, &out);
  } catch (...) {
    pending_ = std::move(state.pending);
    throw;
  }
  first_ = state.first;
  previous_ = state.previous;
  pending_ = std::move(state.pending);
  return out;
}

std::string LlamaTokenizer::StreamDecoder::finish() {
  DecodeState state{first_, previous_, std::move(pending_)};
  std::string out;
  drain_bytes(&state, true, &out);
  pending_.clear();
  return out;
}

// ---- Sources ----

namespace {

// A token named in tokenizer_config.json: a string, {"content": ...}, or null.
std::optional<std::string> token_content(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object()) {
    auto it = value.find("content");
    if (it != value.end() && it->is_string()) return it->get<std::string>();
  }
  return std::nullopt;
}

// Applies Hugging Face's tokenizer_config.json: add_bos_token / add_eos_token, added_tokens_decoder (special ones
// become control pieces - matched as literals, skipped by decode -, others user-defined pieces), the special token
// names and chat_template.
void apply_tokenizer_config(const std::string& path, SentencePieceVocab* v) {
  nlohmann::json config = nlohmann::json::parse(read_text_file(path), nullptr, false);
  if (config.is_discarded() || !config.is_object()) throw FormatError(path, "not a JSON object");
  auto flag = [&](const char* key, bool* out) {
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return;
    if (!it->is_boolean()) throw FormatError(path, std::string("\"") + key + "\" must be true, false or null");
    *out = it->get<bool>();
  };
  flag("add_bos_token", &v->add_bos);
  flag("add_eos_token", &v->add_eos);

  if (auto it = config.find("added_tokens_decoder"); it != config.end() && !it->is_null()) {
    if (!it->is_object()) throw FormatError(path, "\"added_tokens_decoder\" must be an object");
    std::vector<std::pair<long, const nlohmann::json*>> added;
    for (const auto& [key, token] : it->items()) {
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > INT32_MAX - 1)
        throw FormatError(path, "added_tokens_decoder key \"" + key + "\" is not a token id");
      if (!token.is_object() || !token.contains("content") || !token["content"].is_string() ||
          token["content"].get_ref<const std::string&>().empty())
        throw FormatError(path, "added_tokens_decoder[" + key + "] has no \"content\" string");
      added.emplace_back(id, &token);
    }
    std::sort(added.begin(), added.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [id, token] : added) {
      const std::string& content = (*token)["content"].get_ref<const std::string&>();
      const bool special = token->value("special", false);
      if (size_t(id) > v->pieces.size())
        throw FormatError(path, "added token id " + std::to_string(id) + " leaves a gap after the vocabulary of " +
                                    std::to_string(v->pieces.size()));
      // SentencePiece matches user-defined pieces in text whose spaces are already U+2581.
      const std::string piece = special ? content : replace_all(content, " ", kSpaceSymbol);
      if (size_t(id) == v->pieces.size()) {
        v->pieces.push_back(piece);
        v->scores.push_back(0);
        v->kinds.push_back(special ? PieceKind::Control : PieceKind::UserDefined);
        continue;
      }
      PieceKind& kind = v->kinds[size_t(id)];
      if (kind == PieceKind::Byte) continue;
      v->pieces[size_t(id)] = piece;
      if (kind == PieceKind::Control || kind == PieceKind::Unknown) continue;
      kind = special ? PieceKind::Control : PieceKind::UserDefined;
    }
  }

  auto find_piece = [&](const std::string& content) -> int {
    for (size_t id = 0; id < v->pieces.size(); ++id)
      if (v->pieces[id] == content) return int(id);
    return -1;
  };
  auto special_id = [&](const char* key, int* out, bool nullable) {
    auto it = config.find(key);
    if (it == config.end()) return;
    if (it->is_null()) {
      if (nullable) *out = -1;
      return;
    }
    const auto content = token_content(*it);
    if (!content) throw FormatError(path, std::string("\"") + key + "\" must be a string, an object or null");
    const int id = find_piece(*content);
    if (id < 0) throw FormatError(path, std::string(key) + " '" + *content + "' is not in the vocabulary");
    *out = id;
  };
  special_id("bos_token", &v->bos_id, false);
  special_id("eos_token", &v->eos_id, false);
  special_id("unk_token", &v->unk_id, false);
  special_id("pad_token", &v->pad_id, true);

  if (auto it = config.find("chat_template"); it != config.end() && !it->is_null()) {
    if (it->is_string()) {
      v->chat_template = it->get<std::string>();
    } else if (it->is_array()) {  // [{"name": "default", "template": ...}, ...]
      for (const auto& entry : *it) {
        if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string())
          throw FormatError(path, "\"chat_template\" list entries need a \"template\" string");
        if (v->chat_template.empty() || entry.value("name", "") == "default")
          v->chat_template = entry["template"].get<std::string>();
      }
    } else {
      throw FormatError(path, "\"chat_template\" must be a string or a list of named templates");
    }
  }
}

std::shared_ptr<const LlamaTokenizer> make_tokenizer(SentencePieceVocab vocab, const std::string& source) {
  try {
    return std::make_shared<const LlamaTokenizer>(std::move(vocab));
  } catch (const std::invalid_argument& e) {
    throw FormatError(source, std::string("bad tokenizer vocabulary: ") + e.what());
  }
}

}  // namespace

std::shared_ptr<const LlamaTokenizer> LlamaTokenizer::from_model_file(const std::string& tokenizer_model_path) {
  SentencePieceVocab vocab =
      tokenizer::parse_sentencepiece_model(read_text_file(tokenizer_model_path), tokenizer_model_path);
  const std::filesystem::path dir = std::filesystem::path(tokenizer_model_path).parent_path();
  const std::string config = (dir / "tokenizer_config.json").string();
  std::error_code ec;
  if (std::filesystem::is_regular_file(config, ec)) apply_tokenizer_config(config, &vocab);
  if (vocab.chat_template.empty()) {
    const std::string jinja = (dir / "chat_template.jinja").string();
    if (std::filesystem::is_regular_file(jinja, ec)) vocab.chat_template = read_text_file(jinja);
  }
  return make_tokenizer(std::move(vocab), tokenizer_model_path);
}

std::shared_ptr<const LlamaTokenizer> LlamaTokenizer::from_llama2c(const std::string& path, int vocab_size) {
  if (vocab_size < 3) throw FormatError(path, "a llama2.c vocabulary needs <unk>, <s> and </s> (ids 0..2)");
  Llama2cVocab file = read_llama2c_tokenizer(path, vocab_size);
  SentencePieceVocab vocab;
  vocab.llama2c_rules = true;
  vocab.unk_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.scores = std::move(file.scores);
  for (size_t id = 0; id < file.pieces.size(); ++id) {
    std::string& raw = file.pieces[id];
    if (raw.empty()) throw FormatError(path, "token " + std::to_string(id) + " is empty");
    PieceKind kind = PieceKind::Normal;
    // llama2.c's export wrote BOS/EOS as "\n<s>\n" / "\n</s>\n" and every U+2581 as a space.
    if (id == 0) {
      kind = PieceKind::Unknown;
    } else if (id <= 2) {
      kind = PieceKind::Control;
      if (raw == (id == 1 ? "\n<s>\n" : "\n</s>\n")) raw = id == 1 ? "<s>" : "</s>";
    } else if (byte_piece_value(raw) >= 0) {
      kind = PieceKind::Byte;
    }
    vocab.pieces.push_back(kind == PieceKind::Byte ? raw : replace_all(raw, " ", kSpaceSymbol));
    vocab.kinds.push_back(kind);
  }
  return make_tokenizer(std::move(vocab), path);
}

}  // namespace mlfaas
