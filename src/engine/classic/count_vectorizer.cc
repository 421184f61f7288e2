#include "engine/classic/count_vectorizer.h"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <algorithm>
#include <map>

#include "engine/error.h"

namespace mlfaas::classic {
namespace {

// sklearn's default token pattern; the tokenizer below implements exactly this one.
constexpr std::string_view kTokenPattern = R"((?u)\b\w\w+\b)";

// Word_Break MidLetter / MidNumLet / Single_Quote characters: case-ignorable although they are punctuation.
bool is_mid_letter(char32_t c) {
  switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
    case 0xFF0E: case 0xFF1A:
      return true;
    default:
      return false;
  }
}

bool is_case_ignorable(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      return is_mid_letter(c);
  }
}

bool is_cased(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
      return true;
    default:
      return false;
  }
}

// Python's Final_Sigma test (unicodeobject.c handle_capital_sigma), on the original text.
bool is_final_sigma(std::u32string_view s, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(s[j - 1])) --j;
  if (j == 0 || !is_cased(s[j - 1])) return false;
  size_t k = i + 1;
  while (k < s.size() && is_case_ignorable(s[k])) ++k;
  return k == s.size() || !is_cased(s[k]);
}

void append_utf8(std::string& out, char32_t c) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      out.push_back(0xFFFD);
      n = 1;
    } else {
      out.push_back(static_cast<char32_t>(cp));
    }
    p += n;
    left -= n;
  }
  return out;
}

std::u32string python_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    } else if (c == 0x130) {  // the one unconditional multi-character lowercase mapping (SpecialCasing.txt)
      out.push_back(U'i');
      out.push_back(0x307);
    } else if (c == 0x3A3) {
      out.push_back(is_final_sigma(text, i) ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    }
  }
  return out;
}

bool python_is_word_char(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    // str.isalpha(): L*; str.isdecimal/isdigit/isnumeric(): Nd, Nl, No.
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

CountVectorizer CountVectorizer::from_json(const nlohmann::json& spec, const std::string& path) {
  auto bad = [&](const std::string& what) { return FormatError(path, "vectorizer: " + what); };
  if (!spec.is_object()) throw bad("not an object");
  CountVectorizer v;
  try {
    v.lowercase_ = spec.at("lowercase").get<bool>();
    if (spec.at("token_pattern").get<std::string>() != kTokenPattern) {
      throw bad("token_pattern " + spec.at("token_pattern").dump() + " is not supported (only " +
                std::string(kTokenPattern) + ")");
    }
    for (const auto& w : spec.at("stop_words")) v.stop_words_.insert(w.get<std::string>());
    const auto& vocab = spec.at("vocabulary");
    if (!vocab.is_array() || vocab.empty()) throw bad("vocabulary must be a non-empty array of terms");
    v.vocabulary_.reserve(vocab.size());
    int32_t column = 0;
    for (const auto& term : vocab) {
      if (!v.vocabulary_.emplace(term.get<std::string>(), column).second) {
        throw bad("term " + term.dump() + " appears twice in the vocabulary");
      }
      ++column;
    }
    v.n_features_ = vocab.size();
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("missing or mistyped field (") + e.what() + ")");
  }
  return v;
}

// A token of \b\w\w+\b is a maximal run of word characters at least two long: \b cannot hold inside a run,
// and the greedy \w+ always reaches the run's end, where \b holds.
template <typename Fn>
void CountVectorizer::for_each_token(std::string_view text, Fn&& fn) const {
  std::u32string chars = decode_utf8(text);
  if (lowercase_) chars = python_lower(chars);
  std::string token;
  size_t i = 0;
  while (i < chars.size()) {
    if (!python_is_word_char(chars[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < chars.size() && python_is_word_char(chars[end])) ++end;
    if (end - i >= 2) {
      token.clear();
      for (size_t k = i; k < end; ++k) append_utf8(token, chars[k]);
      fn(std::string_view(token));
    }
    i = end;
  }
}

std::vector<std::string> CountVectorizer::tokens(std::string_view text, bool keep_stop_words) const {
  std::vector<std::string> out;
  for_each_token(text, [&](std::string_view tok) {
    if (keep_stop_words || !stop_words_.contains(tok)) out.emplace_back(tok);
  });
  return out;
}

SparseRow CountVectorizer::transform(std::string_view text) const {
  std::vector<int32_t> hits;
  for_each_token(text, [&](std::string_view tok) {
    auto it = vocabulary_.find(tok);
    if (it != vocabulary_.end() && !stop_words_.contains(tok)) hits.push_back(it->second);
  });
  std::sort(hits.begin(), hits.end());
  SparseRow row;
  for (size_t i = 0; i < hits.size();) {
    size_t j = i;
    while (j < hits.size() && hits[j] == hits[i]) ++j;
    row.columns.push_back(hits[i]);
    row.counts.push_back(static_cast<double>(j - i));
    i = j;
  }
  return row;
}

}  // namespace mlfaas::classic
