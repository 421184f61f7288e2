#include "engine/tokenizer/wordpiece.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "engine/error.h"
#include "engine/tokenizer/encoder.h"
#include "engine/tokenizer/vocab_trie.h"

namespace mlfaas {

namespace {

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw FormatError(path, "read error");
  return std::move(buf).str();
}

// A tokenizer_config.json entry that must be a boolean (or absent / null).
std::optional<bool> optional_bool(const nlohmann::json& config, const char* key, const std::string& path) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) throw FormatError(path, std::string("\"") + key + "\" must be true, false or null");
  return it->get<bool>();
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path, bool do_lower_case) {
  return from_vocab_text(read_whole_file(path), path, do_lower_case);
}

WordPieceTokenizer WordPieceTokenizer::from_vocab_text(std::string_view contents, const std::string& source,
                                                       bool do_lower_case) {
  if (contents.empty()) throw FormatError(source, "empty vocabulary");
  if (contents.size() >= UINT32_MAX) throw FormatError(source, "vocabulary larger than 4 GiB");
  auto trie = std::make_shared<tokenizer::VocabTrie>();
  // The token text and offsets the tokenizer's views point into.
  struct Owned {
    std::string text;
    std::vector<uint32_t> offsets;
  };
  auto owned = std::make_shared<Owned>();
  std::string* text = &owned->text;
  std::vector<uint32_t>* offsets = &owned->offsets;
  text->reserve(contents.size());
  offsets->push_back(0);
  // Lines end at '\n'; a final newline does not start another token (as Python's readlines()).
  size_t start = 0;
  while (start < contents.size()) {
    size_t nl = contents.find('\n', start);
    size_t stop = nl == std::string_view::npos ? contents.size() : nl;
    std::string_view token = contents.substr(start, stop - start);
    if (!token.empty() && token.back() == '\r') token.remove_suffix(1);
    if (offsets->size() > size_t(INT32_MAX)) throw FormatError(source, "vocabulary has too many entries");
    trie->insert(token, int32_t(offsets->size() - 1));
    text->append(token);
    offsets->push_back(uint32_t(text->size()));
    start = stop + 1;
  }
  trie->finalize();

  WordPieceTokenizer tok;
  tok.storage_ = owned;
  tok.trie_ = trie;
  tok.token_text_ = owned->text;
  tok.token_offsets_ = owned->offsets;
  tok.lower_case_ = do_lower_case;
  tok.strip_accents_ = do_lower_case;
  tok.find_special_tokens(source);
  return tok;
}

void WordPieceTokenizer::find_special_tokens(const std::string& source) {
  const tokenizer::VocabTrie& trie = *trie_;
  continuation_node_ = trie.walk(tokenizer::VocabTrie::kRoot, "##");
  auto optional = [&](const char* name) {
    int32_t node = trie.walk(tokenizer::VocabTrie::kRoot, name);
    return node == tokenizer::VocabTrie::kNoNode ? -1 : trie.token_id(node);
  };
  auto required = [&](const char* name) {
    int32_t id = optional(name);
    if (id < 0) throw FormatError(source, std::string("vocabulary has no ") + name + " token");
    return id;
  };
  unk_id_ = required("[UNK]");
  cls_id_ = required("[CLS]");
  sep_id_ = required("[SEP]");
  pad_id_ = optional("[PAD]");
  mask_id_ = optional("[MASK]");
  // BertTokenizer's special tokens are matched in the raw text; those absent from the vocabulary are not
  // (transformers would invent ids past the vocabulary for them, which no BERT checkpoint has).
  specials_.clear();
  for (const char* name : {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"}) {
    int32_t id = optional(name);
    if (id >= 0) specials_.push_back({name, id});
  }
}

WordPieceTokenizer::Compiled WordPieceTokenizer::compiled() const {
  return {trie_->slot_words(), trie_->ids(), token_text_, token_offsets_, lower_case_, strip_accents_};
}

WordPieceTokenizer WordPieceTokenizer::from_compiled(const Compiled& t, std::shared_ptr<const void> keep_alive,
                                                     const std::string& source) {
  const auto& off = t.token_offsets;
  if (off.size() < 2 || off.size() - 1 > size_t(INT32_MAX) || off.front() != 0 || off.back() != t.token_text.size()) {
    throw FormatError(source, "tokenizer: token offsets do not match the token text");
  }
  for (size_t i = 1; i < off.size(); ++i) {
    if (off[i] < off[i - 1]) throw FormatError(source, "tokenizer: token offsets are not ascending");
  }
  WordPieceTokenizer tok;
  try {
    tok.trie_ = std::make_shared<const tokenizer::VocabTrie>(
        tokenizer::VocabTrie::view(t.trie_slots, t.trie_ids, int32_t(off.size() - 1)));
  } catch (const std::invalid_argument& e) {
    throw FormatError(source, std::string("tokenizer: ") + e.what());
  }
  tok.storage_ = std::move(keep_alive);
  tok.token_text_ = t.token_text;
  tok.token_offsets_ = t.token_offsets;
  tok.lower_case_ = t.do_lower_case;
  tok.strip_accents_ = t.strip_accents;
  tok.find_special_tokens(source);
  return tok;
}

WordPieceTokenizer WordPieceTokenizer::from_model_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path base(dir);
  std::string config_path = (base / "tokenizer_config.json").string();
  bool lower = true;
  std::optional<bool> strip;
  std::error_code ec;
  if (fs::exists(config_path, ec)) {
    nlohmann::json config = nlohmann::json::parse(read_whole_file(config_path), nullptr, false);
    if (config.is_discarded() || !config.is_object()) throw FormatError(config_path, "not a JSON object");
    lower = optional_bool(config, "do_lower_case", config_path).value_or(true);
    strip = optional_bool(config, "strip_accents", config_path);
  }
  WordPieceTokenizer tok = from_vocab_file((base / "vocab.txt").string(), lower);
  tok.strip_accents_ = strip.value_or(lower);  // BertTokenizer: strip_accents None follows do_lower_case
  return tok;
}

void WordPieceTokenizer::tokenize_ids(std::string_view text, long max_pieces, std::vector<int32_t>* ids) const {
  tokenizer::Encoder(*this, ids, max_pieces).run(text);
}

void WordPieceTokenizer::encode(std::string_view text, int max_length, Encoding* out) const {
  if (max_length == 1) throw InputError("max_length 1 leaves no room for [CLS] and [SEP]");
  out->input_ids.clear();
  out->input_ids.push_back(cls_id_);
  tokenize_ids(text, max_length > 0 ? long(max_length) - 2 : -1, &out->input_ids);
  out->input_ids.push_back(sep_id_);
  out->token_type_ids.assign(out->input_ids.size(), 0);
  out->attention_mask.assign(out->input_ids.size(), 1);
}

void WordPieceTokenizer::encode_batch(const std::vector<std::string_view>& texts, int max_length,
                                      std::vector<Encoding>* out) const {
  out->resize(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) encode(texts[i], max_length, &(*out)[i]);
}

int32_t WordPieceTokenizer::token_to_id(std::string_view token) const {
  int32_t node = trie_->walk(tokenizer::VocabTrie::kRoot, token);
  return node == tokenizer::VocabTrie::kNoNode ? -1 : trie_->token_id(node);
}

std::string_view WordPieceTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || size_t(id) >= vocab_size()) return {};
  const auto& off = token_offsets_;
  return token_text_.substr(off[size_t(id)], off[size_t(id) + 1] - off[size_t(id)]);
}

}  // namespace mlfaas
