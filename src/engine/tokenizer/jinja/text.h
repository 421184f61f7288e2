#pragma once
// Python's string semantics on UTF-8 text (what str methods and Jinja2's string filters do), for the chat
// template interpreter.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas::jinja {

// Python's notion of a character: a code point. Bytes that are not valid UTF-8 count as one character each and
// pass through unchanged.
struct CodePoint {
  int32_t cp;  // -1 for a byte that is not valid UTF-8
  int length;
};

CodePoint decode_at(std::string_view s, size_t i);
void append_cp(std::string& out, int32_t cp);
// str.isspace() / the \s of Python's re module.
bool py_space(int32_t c);
// Byte offsets of the characters of s.
std::vector<size_t> char_starts(std::string_view s);
// Strips characters from either end, by code point: Python whitespace, or the code points of `chars`.
std::string py_strip(std::string_view s, bool left, bool right, const std::string* chars = nullptr);
// str.split(sep, maxsplit): runs of whitespace (dropping empty pieces) when sep is null, else every sep.
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit);
// str.replace(old, new, count); an empty `old` inserts `new` before every character and at the end.
std::string py_replace(std::string_view s, std::string_view old, std::string_view with, int64_t count);
// Simple (one-to-one) Unicode case mappings; Python also applies the few one-to-many ones (German sharp s to SS).
std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
// str.title(): a cased character after an uncased one starts a word ("they're" -> "They'Re").
std::string py_title(std::string_view s);
std::string py_capitalize(std::string_view s);
// Jinja2's |title filter: words begin after runs of whitespace, '-', '(', '{', '[' or '<'; each word's first
// character is upper-cased and the rest lower-cased.
std::string jinja_title(std::string_view s);

}  // namespace mlfaas::jinja
