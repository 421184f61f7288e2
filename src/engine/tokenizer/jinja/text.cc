// Python's string semantics on UTF-8 text, for the chat template interpreter.
#include "engine/tokenizer/jinja/text.h"

#include <utf8proc.h>

#include <algorithm>

namespace mlfaas::jinja {

CodePoint decode_at(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i);
  utf8proc_int32_t cp = 0;
  const utf8proc_ssize_t n = utf8proc_iterate(p, utf8proc_ssize_t(s.size() - i), &cp);
  if (n <= 0) return {-1, 1};
  return {cp, int(n)};
}

void append_cp(std::string& out, int32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), size_t(n));
}

// str.isspace() / the \s of Python's re module.
bool py_space(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<size_t> char_starts(std::string_view s) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); i += size_t(decode_at(s, i).length)) starts.push_back(i);
  return starts;
}

// Strips characters from either end, by code point: Python whitespace, or the code points of `chars`.
std::string py_strip(std::string_view s, bool left, bool right, const std::string* chars) {
  std::vector<int32_t> set;
  if (chars) {
    for (size_t i = 0; i < chars->size();) {
      const CodePoint c = decode_at(*chars, i);
      set.push_back(c.cp < 0 ? -1000 - int32_t(uint8_t((*chars)[i])) : c.cp);
      i += size_t(c.length);
    }
  }
  auto strip_this = [&](std::string_view whole, size_t i, const CodePoint& c) {
    if (!chars) return c.cp >= 0 && py_space(c.cp);
    const int32_t key = c.cp < 0 ? -1000 - int32_t(uint8_t(whole[i])) : c.cp;
    return std::find(set.begin(), set.end(), key) != set.end();
  };
  const std::vector<size_t> starts = char_starts(s);
  size_t first = 0, last = starts.size();
  if (left)
    while (first < last && strip_this(s, starts[first], decode_at(s, starts[first]))) ++first;
  if (right)
    while (last > first && strip_this(s, starts[last - 1], decode_at(s, starts[last - 1]))) --last;
  const size_t b = first < starts.size() ? starts[first] : s.size();
  const size_t e = last < starts.size() ? starts[last] : s.size();
  return std::string(s.substr(b, e - b));
}

// str.split(sep, maxsplit): runs of whitespace (dropping empty pieces) when sep is null, else every sep.
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep) {
    size_t start = 0;
    for (size_t at; (maxsplit < 0 || int64_t(parts.size()) < maxsplit) && (at = s.find(*sep, start)) != s.npos;) {
      parts.emplace_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    parts.emplace_back(s.substr(start));
    return parts;
  }
  size_t i = 0;
  auto space_at = [&](size_t at) {
    const CodePoint c = decode_at(s, at);
    return std::pair<bool, size_t>(c.cp >= 0 && py_space(c.cp), size_t(c.length));
  };
  while (true) {
    while (i < s.size() && space_at(i).first) i += space_at(i).second;
    if (i >= s.size()) break;
    if (maxsplit >= 0 && int64_t(parts.size()) >= maxsplit) {
      parts.emplace_back(s.substr(i));  // the rest, trailing whitespace included
      break;
    }
    size_t j = i;
    while (j < s.size() && !space_at(j).first) j += space_at(j).second;
    parts.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return parts;
}

// str.replace(old, new, count); an empty `old` inserts `new` before every character and at the end.
std::string py_replace(std::string_view s, std::string_view old, std::string_view with, int64_t count) {
  std::string out;
  int64_t done = 0;
  if (old.empty()) {
    for (size_t i = 0; i < s.size();) {
      if (count < 0 || done < count) {
        out += with;
        ++done;
      }
      const size_t n = size_t(decode_at(s, i).length);
      out.append(s.substr(i, n));
      i += n;
    }
    if (count < 0 || done < count) out += with;
    return out;
  }
  size_t start = 0;
  for (size_t at; (count < 0 || done < count) && (at = s.find(old, start)) != s.npos; ++done) {
    out.append(s.substr(start, at - start));
    out += with;
    start = at + old.size();
  }
  out.append(s.substr(start));
  return out;
}

namespace {

bool is_cased(int32_t c) {
  const auto cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

// Simple (one-to-one) Unicode case mappings; Python also applies the few one-to-many ones (German sharp s to SS).
enum class Case { kUpper, kLower, kTitle };
int32_t map_case(int32_t c, Case to) {
  switch (to) {
    case Case::kUpper:
      return utf8proc_toupper(c);
    case Case::kLower:
      return utf8proc_tolower(c);
    case Case::kTitle:
      return utf8proc_totitle(c);
  }
  return c;
}

// Rewrites s character by character; `pick(index, cp, previous_cased)` chooses the mapping.
template <typename Pick>
std::string map_chars(std::string_view s, Pick pick) {
  std::string out;
  out.reserve(s.size());
  bool previous_cased = false;
  size_t index = 0;
  for (size_t i = 0; i < s.size(); ++index) {
    const CodePoint c = decode_at(s, i);
    if (c.cp < 0) {
      out += s[i];
      previous_cased = false;
    } else {
      append_cp(out, map_case(c.cp, pick(index, c.cp, previous_cased)));
      previous_cased = is_cased(c.cp);
    }
    i += size_t(c.length);
  }
  return out;
}

}  // namespace

std::string py_upper(std::string_view s) {
  return map_chars(s, [](size_t, int32_t, bool) { return Case::kUpper; });
}
std::string py_lower(std::string_view s) {
  return map_chars(s, [](size_t, int32_t, bool) { return Case::kLower; });
}
// str.title(): a cased character after an uncased one starts a word ("they're" -> "They'Re").
std::string py_title(std::string_view s) {
  return map_chars(s, [](size_t, int32_t, bool prev) { return prev ? Case::kLower : Case::kTitle; });
}
std::string py_capitalize(std::string_view s) {
  return map_chars(s, [](size_t i, int32_t, bool) { return i == 0 ? Case::kTitle : Case::kLower; });
}
// Jinja2's |title filter: words begin after runs of whitespace, '-', '(', '{', '[' or '<'; each word's first
// character is upper-cased and the rest lower-cased.
std::string jinja_title(std::string_view s) {
  std::string out;
  bool word_start = true;
  for (size_t i = 0; i < s.size();) {
    const CodePoint c = decode_at(s, i);
    const bool sep =
        c.cp >= 0 && (py_space(c.cp) || c.cp == '-' || c.cp == '(' || c.cp == '{' || c.cp == '[' || c.cp == '<');
    if (c.cp < 0) {
      out += s[i];
      word_start = false;
    } else if (sep) {
      append_cp(out, c.cp);
      word_start = true;
    } else {
      append_cp(out, map_case(c.cp, word_start ? Case::kUpper : Case::kLower));
      word_start = false;
    }
    i += size_t(c.length);
  }
  return out;
}

}  // namespace mlfaas::jinja
