#pragma once
// scikit-learn's CountVectorizer (analyzer 'word', n-grams (1, 1)) at inference: Python's str.lower, the token
// pattern (?u)\b\w\w+\b with Python's Unicode \w, stop-word removal and a fixed vocabulary. Produces the
// sparse count row sklearn's transform() produces: columns ascending, counts as doubles.
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace mlfaas::classic {

struct SparseRow {
  std::vector<int32_t> columns;  // ascending, unique
  std::vector<double> counts;    // same length as columns
};

// Transparent hashing lets a std::string_view token look up std::string keys without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class CountVectorizer {
 public:
  CountVectorizer() = default;
  // From the "vectorizer" object of model.json; `path` names the file in errors.
  static CountVectorizer from_json(const nlohmann::json& spec, const std::string& path);

  size_t n_features() const { return n_features_; }
  // Tokens exactly as sklearn's build_analyzer() yields them (before stop-word removal when `keep_stop_words`).
  std::vector<std::string> tokens(std::string_view text, bool keep_stop_words = false) const;
  SparseRow transform(std::string_view text) const;

 private:
  template <typename Fn>
  void for_each_token(std::string_view text, Fn&& fn) const;

  bool lowercase_ = true;
  size_t n_features_ = 0;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> vocabulary_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> stop_words_;
};

// Python's str.lower() of UTF-8 text (full mapping: U+0130 becomes "i̇", a final capital sigma becomes ς).
// Invalid UTF-8 bytes become U+FFFD, which is what a lenient decode would hand Python.
std::u32string python_lower(std::u32string_view text);
std::u32string decode_utf8(std::string_view text);
// Python's `\w` for str patterns: str.isalnum() or '_'.
bool python_is_word_char(char32_t c);

}  // namespace mlfaas::classic
