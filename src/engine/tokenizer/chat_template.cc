// A hand-written interpreter for the Jinja2 subset that chat templates use. Debian ships no C++ Jinja library,
// and pulling in a general one would also mean trusting it with untrusted templates; this one follows Jinja2
// 3.1's lexer rules (the ones HF's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) runs)
// closely enough that real templates render byte for byte, and it refuses everything else up front.
//
// Three stages: the lexer turns the source into data and tag tokens, applying Jinja2's whitespace control
// ({%- -%}, trim_blocks, lstrip_blocks) exactly where Jinja2's lexer does; the parser builds a tree, refusing
// unknown constructs with their line; the renderer walks the tree with Python's value semantics (str(), truthiness,
// ==, slicing by code point, Undefined).
#include "engine/tokenizer/chat_template.h"

#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mlfaas {
namespace {

// Bounds that keep hostile templates from exhausting the stack, the CPU or memory. Real templates nest blocks
// 3-5 deep and expressions a dozen levels; a render evaluates some 50 nodes per message, so the step budget
// covers conversations of 10^4 messages while a runaway template stops within a second (a few under the
// sanitizers).
constexpr int kMaxBlockNesting = 64;
constexpr int kMaxExpressionDepth = 128;
constexpr uint64_t kMaxSteps = 1'000'000;
constexpr size_t kMaxStringBytes = size_t(64) << 20;
constexpr size_t kMaxListItems = size_t(1) << 20;
constexpr int64_t kMaxRange = 100000;  // Jinja2's sandbox MAX_RANGE

const char kUseFileHint[] = "; pass --chat-template FILE with a template in the supported Jinja2 subset";

[[noreturn]] void unsupported(const std::string& what, int line) {
  throw ChatTemplateError("unsupported construct '" + what + "' at line " + std::to_string(line) + kUseFileHint);
}

[[noreturn]] void syntax_error(const std::string& what, int line) {
  throw ChatTemplateError("chat template syntax error at line " + std::to_string(line) + ": " + what);
}

[[noreturn]] void render_error(const std::string& what, int line) {
  throw ChatTemplateError("chat template error at line " + std::to_string(line) + ": " + what);
}

// ---------------------------------------------------------------------------------------------------------------
// UTF-8 helpers with Python's notion of a character. Bytes that are not valid UTF-8 count as one character each
// and pass through unchanged.

struct CodePoint {
  int32_t cp;  // -1 for a byte that is not valid UTF-8
  int length;
};

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
std::string py_strip(std::string_view s, bool left, bool right, const std::string* chars = nullptr) {
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

bool is_cased(int32_t c) {
  const auto cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

// Simple (one-to-one) Unicode case mappings; Python also applies the few one-to-many ones (German sharp s to SS).
enum class Case { kUpper, kLower, kTitle };
int32_t map_case(int32_t c, Case to) {
  switch (to) {
    case Case::kUpper: return utf8proc_toupper(c);
    case Case::kLower: return utf8proc_tolower(c);
    case Case::kTitle: return utf8proc_totitle(c);
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
    const bool sep = c.cp >= 0 && (py_space(c.cp) || c.cp == '-' || c.cp == '(' || c.cp == '{' || c.cp == '[' ||
                                   c.cp == '<');
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

// ---------------------------------------------------------------------------------------------------------------
// Values, with Python's semantics for the operations templates use.

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, as Python dicts

struct LoopInfo;

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kStr, kList, kDict, kNamespace, kLoop };
  Kind kind = Kind::kUndefined;
  bool b = false;     // kBool's value; for kList, whether it is a tuple
  int64_t i = 0;
  std::string s;  // the string, or for Undefined what was missing (for error messages)
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;  // kDict and kNamespace (a namespace is a mutable dict shared by reference)
  std::shared_ptr<const LoopInfo> loop;

  static Value undefined(std::string what) {
    Value v;
    v.s = std::move(what);
    return v;
  }
  static Value none() {
    Value v;
    v.kind = Kind::kNone;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.kind = Kind::kBool;
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v;
    v.kind = Kind::kInt;
    v.i = x;
    return v;
  }
  static Value str(std::string x) {
    Value v;
    v.kind = Kind::kStr;
    v.s = std::move(x);
    return v;
  }
  static Value of_list(List items) {
    Value v;
    v.kind = Kind::kList;
    v.list = std::make_shared<List>(std::move(items));
    return v;
  }
  static Value of_dict(Dict items, Kind kind = Kind::kDict) {
    Value v;
    v.kind = kind;
    v.dict = std::make_shared<Dict>(std::move(items));
    return v;
  }
  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kBool; }
  int64_t number() const { return kind == Kind::kBool ? int64_t(b) : i; }
};

struct LoopInfo {
  std::shared_ptr<const List> items;
  size_t index0;
};

const Value* dict_find(const Dict& d, std::string_view key) {
  for (const auto& [k, v] : d)
    if (k == key) return &v;
  return nullptr;
}

const char* type_name(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return "Undefined";
    case Value::Kind::kNone: return "NoneType";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kStr: return "str";
    case Value::Kind::kList: return "list";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kNamespace: return "Namespace";
    case Value::Kind::kLoop: return "LoopContext";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return false;
    case Value::Kind::kBool: return v.b;
    case Value::Kind::kInt: return v.i != 0;
    case Value::Kind::kStr: return !v.s.empty();
    case Value::Kind::kList: return !v.list->empty();
    case Value::Kind::kDict: return !v.dict->empty();
    case Value::Kind::kNamespace:
    case Value::Kind::kLoop: return true;
  }
  return false;
}

// repr() of a str: single quotes unless the text holds a single quote and no double quote.
std::string py_repr_str(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    if (c == '\\' || c == static_cast<unsigned char>(q)) {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += char(c);
    }
  }
  out += q;
  return out;
}

std::string py_str(const Value& v);

std::string py_repr(const Value& v) {
  return v.kind == Value::Kind::kStr ? py_repr_str(v.s) : py_str(v);
}

std::string py_str(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined: return "";
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return v.b ? "True" : "False";
    case Value::Kind::kInt: return std::to_string(v.i);
    case Value::Kind::kStr: return v.s;
    case Value::Kind::kList: {
      std::string out = v.b ? "(" : "[";
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + py_repr((*v.list)[k]);
      if (v.b) return out + (v.list->size() == 1 ? ",)" : ")");
      return out + "]";
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace: {
      std::string out = v.kind == Value::Kind::kNamespace ? "<Namespace {" : "{";
      for (size_t k = 0; k < v.dict->size(); ++k)
        out += (k ? ", " : "") + py_repr_str((*v.dict)[k].first) + ": " + py_repr((*v.dict)[k].second);
      return out + (v.kind == Value::Kind::kNamespace ? "}>" : "}");
    }
    case Value::Kind::kLoop:
      return "<LoopContext " + std::to_string(v.loop->index0 + 1) + "/" + std::to_string(v.loop->items->size()) +
             ">";
  }
  return "";
}

bool py_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number() == b.number();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kStr: return a.s == b.s;
    case Value::Kind::kList:
      if (a.b != b.b || a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!py_equal((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Value::Kind::kDict:
      if (a.dict->size() != b.dict->size()) return false;
      for (const auto& [k, v] : *a.dict) {
        const Value* other = dict_find(*b.dict, k);
        if (!other || !py_equal(v, *other)) return false;
      }
      return true;
    case Value::Kind::kNamespace: return a.dict == b.dict;
    case Value::Kind::kLoop: return a.loop == b.loop;
    default: return false;
  }
}

// -1, 0, 1 for the orderable pairs Python allows; anything else is a TypeError there and an error here.
int py_compare(const Value& a, const Value& b, const char* op, int line) {
  if (a.is_number() && b.is_number()) return a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
  if (a.kind == Value::Kind::kStr && b.kind == Value::Kind::kStr) {
    const int c = a.s.compare(b.s);  // UTF-8 byte order is code point order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind == Value::Kind::kList && b.kind == Value::Kind::kList) {
    for (size_t k = 0; k < a.list->size() && k < b.list->size(); ++k)
      if (!py_equal((*a.list)[k], (*b.list)[k])) return py_compare((*a.list)[k], (*b.list)[k], op, line);
    return a.list->size() < b.list->size() ? -1 : a.list->size() > b.list->size() ? 1 : 0;
  }
  render_error(std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" +
                   type_name(b) + "'",
               line);
}

// ---------------------------------------------------------------------------------------------------------------
// Lexer.

enum class Tok { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kOp, kEnd };

struct Token {
  Tok type;
  std::string text;  // data, name, decoded string, operator, or the integer's digits
  int line;
};

// Jinja2 normalises every line ending of the source to \n and drops one trailing newline
// (keep_trailing_newline=False).
std::string normalize_source(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Python's "unicode-escape" decoding of a string literal's body, as Jinja2 applies it.
std::string decode_string_literal(std::string_view body, int line) {
  std::string out;
  auto hex = [&](size_t at, int digits, size_t* used) -> int32_t {
    int32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      if (at + size_t(k) >= body.size() || !std::isxdigit(static_cast<unsigned char>(body[at + size_t(k)])))
        syntax_error("truncated \\x, \\u or \\U escape in a string literal", line);
      const char c = body[at + size_t(k)];
      v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    *used = size_t(digits);
    return v;
  };
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\' || i + 1 == body.size()) {
      out += c;
      continue;
    }
    const char e = body[++i];
    size_t used = 0;
    switch (e) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
      case 'u':
      case 'U': {
        const int32_t cp = hex(i + 1, e == 'x' ? 2 : e == 'u' ? 4 : 8, &used);
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
          unsupported("string escape for a surrogate or out-of-range code point", line);
        append_cp(out, cp);
        i += used;
        break;
      }
      case 'N': unsupported("\\N{...} string escape", line);
      default:
        if (e >= '0' && e <= '7') {
          int32_t v = e - '0';
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
            v = v * 8 + (body[++i] - '0');
          append_cp(out, v);
        } else {
          out += '\\';  // unknown escapes stay as written, as in Python
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_source(source)) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      const size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        emit(Tok::kData, src_.substr(pos_));
        break;
      }
      std::string text = src_.substr(pos_, tag - pos_);
      const char kind = src_[tag + 1];
      const char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+') ? src_[tag + 2] : 0;
      if (kind == '%') refuse_raw(tag + 2 + (sign ? 1 : 0));
      if (sign == '-') {
        text = py_strip(text, false, true);
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: a block or comment tag alone on its line (after indentation) takes the indentation.
        const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if ((line_start > 0 || line_starting) && line_start < text.size() &&
            py_strip(std::string_view(text).substr(line_start), true, false).empty())
          text.resize(line_start);
      }
      const int data_line = line_;
      line_ += int(std::count(src_.begin() + long(pos_), src_.begin() + long(tag), '\n'));
      if (!text.empty()) tokens_.push_back({Tok::kData, std::move(text), data_line});
      pos_ = tag + 2 + (sign ? 1 : 0);
      if (kind == '#')
        line_starting = comment();
      else
        line_starting = tag_body(kind == '%');
    }
    tokens_.push_back({Tok::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos && i + 1 < src_.size(); i = src_.find('{', i + 1))
      if (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#') return i;
    return std::string::npos;
  }

  void emit(Tok type, std::string text) {
    tokens_.push_back({type, std::move(text), line_});
    line_ += int(std::count(tokens_.back().text.begin(), tokens_.back().text.end(), '\n'));
  }

  void refuse_raw(size_t at) const {
    size_t p = at;
    while (p < src_.size() && uint8_t(src_[p]) < 0x80 && py_space(uint8_t(src_[p]))) ++p;
    if (src_.compare(p, 3, "raw") == 0 && (p + 3 == src_.size() || !is_name_char(src_[p + 3])))
      unsupported("{% raw %}", line_);
  }

  // After the end of a tag: "-" strips all following whitespace, trim_blocks one newline after block tags.
  // Returns whether the consumed text ended with a newline (Jinja2's line_starting, used by lstrip_blocks).
  bool after_tag_end(char sign, bool is_block) {
    bool last_newline = false;
    if (sign == '-') {
      while (pos_ < src_.size()) {
        const CodePoint c = decode_at(src_, pos_);
        if (c.cp < 0 || !py_space(c.cp)) break;
        last_newline = c.cp == '\n';
        if (c.cp == '\n') ++line_;
        pos_ += size_t(c.length);
      }
    } else if (sign == 0 && is_block && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
      ++line_;
      last_newline = true;
    }
    return last_newline;
  }

  bool comment() {
    const int start_line = line_;
    for (size_t p = pos_; p + 1 < src_.size(); ++p) {
      char sign = 0;
      size_t end = std::string::npos;
      if ((src_[p] == '-' || src_[p] == '+') && src_.compare(p + 1, 2, "#}") == 0) {
        sign = src_[p];
        end = p + 3;
      } else if (src_.compare(p, 2, "#}") == 0) {
        end = p + 2;
      }
      if (end == std::string::npos) continue;
      line_ += int(std::count(src_.begin() + long(pos_), src_.begin() + long(end), '\n'));
      pos_ = end;
      return after_tag_end(sign, true);
    }
    syntax_error("missing end of comment tag", start_line);
  }

  static bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

  // Tokens of a {{ }} or {% %} tag up to its end delimiter, which only counts outside brackets (Jinja2's
  // balancing stack), so "{{ {'a': 1} }}" works.
  bool tag_body(bool is_block) {
    const int open_line = line_;
    tokens_.push_back({is_block ? Tok::kBlockBegin : Tok::kVarBegin, "", line_});
    std::vector<char> closers;
    while (true) {
      while (pos_ < src_.size()) {
        const CodePoint c = decode_at(src_, pos_);
        if (c.cp < 0 || !py_space(c.cp)) break;
        if (c.cp == '\n') ++line_;
        pos_ += size_t(c.length);
      }
      if (pos_ >= src_.size())
        syntax_error(std::string("unexpected end of template, expected '") + (is_block ? "%}" : "}}") +
                         "' to close the tag opened at line " + std::to_string(open_line),
                     line_);
      if (closers.empty()) {
        const char* close = is_block ? "%}" : "}}";
        char sign = 0;
        bool closed = false;
        if ((src_[pos_] == '-' || (is_block && src_[pos_] == '+')) && src_.compare(pos_ + 1, 2, close) == 0) {
          sign = src_[pos_];
          pos_ += 3;
          closed = true;
        } else if (src_.compare(pos_, 2, close) == 0) {
          pos_ += 2;
          closed = true;
        }
        if (closed) {
          tokens_.push_back({is_block ? Tok::kBlockEnd : Tok::kVarEnd, "", line_});
          return after_tag_end(sign, is_block);
        }
      }
      const char c = src_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        number();
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos_;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        emit(Tok::kName, src_.substr(pos_, e - pos_));
        pos_ = e;
      } else if (c == '\'' || c == '"') {
        string_literal(c);
      } else {
        op(closers);
      }
    }
  }

  void number() {
    size_t e = pos_;
    while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
    const bool after_dot = pos_ > 0 && src_[pos_ - 1] == '.';
    if (!after_dot && e < src_.size() &&
        ((src_[e] == '.' && e + 1 < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) ||
         src_[e] == 'e' || src_[e] == 'E'))
      unsupported("float literal", line_);
    if (e < src_.size() && std::isalpha(static_cast<unsigned char>(src_[e])))
      unsupported("number literal '" + src_.substr(pos_, e + 1 - pos_) + "'", line_);
    std::string digits;
    for (size_t k = pos_; k < e; ++k)
      if (src_[k] != '_') digits += src_[k];
    if (digits.size() > 18) unsupported("integer literal longer than 18 digits", line_);
    tokens_.push_back({Tok::kInt, digits, line_});
    pos_ = e;
  }

  void string_literal(char quote) {
    const int start_line = line_;
    size_t e = pos_ + 1;
    while (e < src_.size() && src_[e] != quote) e += src_[e] == '\\' ? 2 : 1;
    if (e >= src_.size()) syntax_error("unterminated string literal", start_line);
    const std::string_view body = std::string_view(src_).substr(pos_ + 1, e - pos_ - 1);
    tokens_.push_back({Tok::kString, decode_string_literal(body, start_line), start_line});
    line_ += int(std::count(body.begin(), body.end(), '\n'));
    pos_ = e + 1;
  }

  void op(std::vector<char>& closers) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* two : kTwo) {
      if (src_.compare(pos_, 2, two) == 0) {
        emit(Tok::kOp, two);
        pos_ += 2;
        return;
      }
    }
    const char c = src_[pos_];
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos)
      syntax_error(std::string("unexpected character '") + one_char(c) + "' in a tag", line_);
    if (c == '(' || c == '[' || c == '{') closers.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (closers.empty()) syntax_error(std::string("unexpected '") + c + "'", line_);
      if (closers.back() != c)
        syntax_error(std::string("unexpected '") + c + "', expected '" + closers.back() + "'", line_);
      closers.pop_back();
    }
    emit(Tok::kOp, std::string(1, c));
    ++pos_;
  }

  static std::string one_char(char c) {
    if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f) return std::string(1, c);
    static const char kHex[] = "0123456789abcdef";
    return std::string("\\x") + kHex[static_cast<unsigned char>(c) >> 4] + kHex[c & 15];
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

// ---------------------------------------------------------------------------------------------------------------
// Syntax tree.

enum class ExprKind {
  kLiteral,    // value
  kName,       // name
  kAttr,       // kids[0].name
  kItem,       // kids[0][kids[1]]
  kSlice,      // kids[0][kids[1]:kids[2]:kids[3]] (null kids for omitted parts)
  kNeg,        // -kids[0]
  kPos,        // +kids[0]
  kNot,        // not kids[0]
  kBinary,     // kids[0] name kids[1] for + - * // % ** ~
  kAnd,        // kids[0] and kids[1]
  kOr,         // kids[0] or kids[1]
  kCompare,    // kids[0] ops[0] kids[1] ops[1] kids[2] ...
  kCondition,  // kids[1] if kids[0] else kids[2] (kids[2] may be null)
  kFilter,     // kids[0] | name(kids[1..], keywords for the last keywords.size() kids)
  kTest,       // kids[0] is [not] name(kids[1..])
  kCall,       // name(kids..) for the global functions; method calls are kMethod
  kMethod,     // kids[0].name(kids[1..])
  kList,       // [kids...]
  kDict,       // {kids[0]: kids[1], ...}
};

struct Expr {
  ExprKind kind;
  int line;
  int depth = 1;
  Value value;
  std::string name;
  bool negated = false;
  std::vector<std::string> ops;       // kCompare operators
  std::vector<std::string> keywords;  // keyword argument names of kFilter / kCall
  std::vector<std::unique_ptr<Expr>> kids;
};
using ExprPtr = std::unique_ptr<Expr>;

enum class StmtKind { kText, kOutput, kIf, kFor, kSet };

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  StmtKind kind;
  int line;
  std::string text;                  // kText
  ExprPtr expr;                      // kOutput, kSet value, kFor iterable
  ExprPtr filter;                    // kFor's "if" condition
  std::vector<std::string> targets;  // kFor loop variables; kSet: {name} or {namespace, attribute}
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: condition and body per if/elif
  Body body;                                       // kFor body
  Body else_body;                                  // kIf / kFor else
};

}  // namespace

struct ChatTemplate::Node {
  Body body;
};

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Parser: Jinja2's grammar and operator precedence for the supported subset.

const char* const kFilters[] = {"trim",  "length",     "count", "upper", "lower", "default", "d",
                                "title", "capitalize", "first", "last",  "string", "join"};
const char* const kTests[] = {"defined", "undefined", "none",    "string", "number", "integer", "boolean",
                              "true",    "false",     "mapping", "sequence", "iterable", "odd",  "even",
                              "divisibleby", "eq",    "equalto", "ne",      "in"};
const char* const kMethods[] = {"strip", "lstrip", "rstrip", "title",  "upper", "lower", "capitalize",
                                "startswith", "endswith", "items", "keys", "values", "get"};
const char* const kFunctions[] = {"raise_exception", "namespace", "range"};
// Jinja2 statements outside the subset, refused by name rather than reported as unknown tags.
const char* const kKnownTags[] = {"macro", "call", "filter", "include", "import", "from", "extends", "block",
                                  "with", "autoescape", "do", "break", "continue", "print", "trans", "endset"};

template <size_t N>
bool one_of(const std::string& s, const char* const (&list)[N]) {
  return std::find_if(std::begin(list), std::end(list), [&](const char* x) { return s == x; }) != std::end(list);
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body parse_template() {
    Body body = parse_body({});
    if (peek().type != Tok::kEnd) syntax_error("unexpected '" + peek_block_name() + "'", peek().line);
    return body;
  }

 private:
  const Token& peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& next() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool at_op(const char* op) const { return peek().type == Tok::kOp && peek().text == op; }
  bool at_name(const char* name) const { return peek().type == Tok::kName && peek().text == name; }
  std::string peek_block_name() const { return peek(1).type == Tok::kName ? peek(1).text : "?"; }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::kEnd: return "end of template";
      case Tok::kData: return "template text";
      case Tok::kVarBegin: return "'{{'";
      case Tok::kVarEnd: return "'}}'";
      case Tok::kBlockBegin: return "'{%'";
      case Tok::kBlockEnd: return "'%}'";
      case Tok::kString: return "string literal";
      case Tok::kInt: return "integer literal";
      default: return "'" + t.text + "'";
    }
  }

  void expect_op(const char* op) {
    if (!at_op(op)) syntax_error(std::string("expected '") + op + "', got " + describe(peek()), peek().line);
    next();
  }
  void expect(Tok type, const char* what) {
    if (peek().type != type) syntax_error(std::string("expected ") + what + ", got " + describe(peek()), peek().line);
    next();
  }
  std::string expect_name() {
    if (peek().type != Tok::kName) syntax_error("expected a name, got " + describe(peek()), peek().line);
    return next().text;
  }

  // Statements until a {% tag %} whose name is in `ends` (left unconsumed) or the end of the template.
  Body parse_body(const std::vector<std::string>& ends) {
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.type == Tok::kEnd) return body;
      if (t.type == Tok::kData) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kText;
        s->line = t.line;
        s->text = next().text;
        body.push_back(std::move(s));
      } else if (t.type == Tok::kVarBegin) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kOutput;
        s->line = next().line;
        if (peek().type == Tok::kVarEnd) syntax_error("expected an expression, got '}}'", peek().line);
        s->expr = parse_tuple(true);
        expect(Tok::kVarEnd, "'}}'");
        body.push_back(std::move(s));
      } else if (t.type == Tok::kBlockBegin) {
        const std::string name = peek_block_name();
        if (std::find(ends.begin(), ends.end(), name) != ends.end()) return body;
        body.push_back(parse_statement());
      } else {
        syntax_error("unexpected " + describe(t), t.line);
      }
    }
  }

  struct NestingGuard {
    explicit NestingGuard(Parser* p, int line) : p(p) {
      if (++p->nesting_ > kMaxBlockNesting)
        syntax_error("blocks nested deeper than " + std::to_string(kMaxBlockNesting), line);
    }
    ~NestingGuard() { --p->nesting_; }
    Parser* p;
  };

  std::unique_ptr<Stmt> parse_statement() {
    next();  // {%
    const int line = peek().line;
    if (peek().type != Tok::kName) syntax_error("expected a statement name, got " + describe(peek()), line);
    const std::string name = next().text;
    if (name == "if") return parse_if(line);
    if (name == "for") return parse_for(line);
    if (name == "set") return parse_set(line);
    if (one_of(name, kKnownTags)) unsupported("{% " + name + " %}", line);
    if (name == "elif" || name == "else" || name == "endif" || name == "endfor")
      syntax_error("unexpected '" + name + "'", line);
    syntax_error("unknown tag '" + name + "'", line);
  }

  std::unique_ptr<Stmt> parse_if(int line) {
    NestingGuard guard(this, line);
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::kIf;
    s->line = line;
    ExprPtr cond = parse_tuple(true);
    expect(Tok::kBlockEnd, "'%}'");
    while (true) {
      Body body = parse_body({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (peek().type == Tok::kEnd) syntax_error("missing '{% endif %}' for the 'if' at line " + std::to_string(line), peek().line);
      next();  // {%
      const std::string tag = next().text;
      if (tag == "elif") {
        cond = parse_tuple(true);
        expect(Tok::kBlockEnd, "'%}'");
        continue;
      }
      if (tag == "else") {
        expect(Tok::kBlockEnd, "'%}'");
        s->else_body = parse_body({"endif"});
        if (peek().type == Tok::kEnd) syntax_error("missing '{% endif %}' for the 'if' at line " + std::to_string(line), peek().line);
        next();
        next();
      }
      expect(Tok::kBlockEnd, "'%}'");
      return s;
    }
  }

  std::unique_ptr<Stmt> parse_for(int line) {
    NestingGuard guard(this, line);
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::kFor;
    s->line = line;
    s->targets.push_back(expect_name());
    while (at_op(",")) {
      next();
      s->targets.push_back(expect_name());
    }
    if (at_op("(")) unsupported("parenthesised loop target", line);
    if (!at_name("in")) syntax_error("expected 'in', got " + describe(peek()), peek().line);
    next();
    s->expr = parse_tuple(false);
    if (at_name("if")) {
      next();
      s->filter = parse_expression(true);
    }
    if (at_name("recursive")) unsupported("recursive for loop", line);
    expect(Tok::kBlockEnd, "'%}'");
    s->body = parse_body({"else", "endfor"});
    if (peek().type == Tok::kEnd) syntax_error("missing '{% endfor %}' for the 'for' at line " + std::to_string(line), peek().line);
    next();
    if (next().text == "else") {
      expect(Tok::kBlockEnd, "'%}'");
      s->else_body = parse_body({"endfor"});
      if (peek().type == Tok::kEnd) syntax_error("missing '{% endfor %}' for the 'for' at line " + std::to_string(line), peek().line);
      next();
      next();
    }
    expect(Tok::kBlockEnd, "'%}'");
    return s;
  }

  std::unique_ptr<Stmt> parse_set(int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = StmtKind::kSet;
    s->line = line;
    s->targets.push_back(expect_name());
    if (at_op(".")) {
      next();
      s->targets.push_back(expect_name());
    } else if (at_op(",")) {
      unsupported("{% set %} of several names", line);
    }
    if (peek().type == Tok::kBlockEnd) unsupported("{% set %} block", line);
    expect_op("=");
    s->expr = parse_tuple(true);
    expect(Tok::kBlockEnd, "'%}'");
    return s;
  }

  // ---- expressions

  ExprPtr make(ExprKind kind, int line, std::vector<ExprPtr> kids = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    for (const auto& k : kids)
      if (k) e->depth = std::max(e->depth, k->depth + 1);
    if (e->depth > kMaxExpressionDepth)
      syntax_error("expression nested deeper than " + std::to_string(kMaxExpressionDepth), line);
    e->kids = std::move(kids);
    return e;
  }
  ExprPtr make1(ExprKind kind, int line, ExprPtr a) {
    std::vector<ExprPtr> kids;
    kids.push_back(std::move(a));
    return make(kind, line, std::move(kids));
  }
  ExprPtr make2(ExprKind kind, int line, ExprPtr a, ExprPtr b) {
    std::vector<ExprPtr> kids;
    kids.push_back(std::move(a));
    kids.push_back(std::move(b));
    return make(kind, line, std::move(kids));
  }

  // Recursion guard for the descent itself (prefix operators and parentheses recurse without building depth
  // until they return).
  struct DepthGuard {
    DepthGuard(Parser* p, int line) : p(p) {
      if (++p->depth_ > kMaxExpressionDepth)
        syntax_error("expression nested deeper than " + std::to_string(kMaxExpressionDepth), line);
    }
    ~DepthGuard() { --p->depth_; }
    Parser* p;
  };

  // An expression, or a tuple when commas follow ("a, b"); a tuple is a list that prints as (a, b).
  ExprPtr parse_tuple(bool with_condition, ExprPtr first = nullptr) {
    const int line = peek().line;
    if (!first) first = parse_expression(with_condition);
    if (!at_op(",")) return first;
    std::vector<ExprPtr> items;
    items.push_back(std::move(first));
    while (at_op(",")) {
      next();
      if (!starts_expression()) break;
      items.push_back(parse_expression(with_condition));
    }
    ExprPtr e = make(ExprKind::kList, line, std::move(items));
    e->name = "tuple";
    return e;
  }

  bool starts_expression() const {
    const Token& t = peek();
    if (t.type == Tok::kName) return t.text != "in" && t.text != "if" && t.text != "else";
    if (t.type == Tok::kString || t.type == Tok::kInt) return true;
    return t.type == Tok::kOp && (t.text == "(" || t.text == "[" || t.text == "{" || t.text == "-" || t.text == "+");
  }

  ExprPtr parse_expression(bool with_condition = true) {
    DepthGuard guard(this, peek().line);
    ExprPtr e = parse_or();
    if (!with_condition) return e;
    while (at_name("if")) {
      const int line = next().line;
      ExprPtr cond = parse_or();
      ExprPtr otherwise;
      if (at_name("else")) {
        next();
        otherwise = parse_expression(true);
      }
      std::vector<ExprPtr> kids;
      kids.push_back(std::move(cond));
      kids.push_back(std::move(e));
      kids.push_back(std::move(otherwise));
      e = make(ExprKind::kCondition, line, std::move(kids));
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (at_name("or")) {
      const int line = next().line;
      e = make2(ExprKind::kOr, line, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (at_name("and")) {
      const int line = next().line;
      e = make2(ExprKind::kAnd, line, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      DepthGuard guard(this, peek().line);
      const int line = next().line;
      return make1(ExprKind::kNot, line, parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = peek().line;
    ExprPtr first = parse_math1();
    std::vector<ExprPtr> kids;
    std::vector<std::string> ops;
    while (true) {
      std::string op;
      if (peek().type == Tok::kOp &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == ">" ||
           peek().text == "<=" || peek().text == ">=")) {
        op = next().text;
      } else if (at_name("in")) {
        next();
        op = "in";
      } else if (at_name("not") && peek(1).type == Tok::kName && peek(1).text == "in") {
        next();
        next();
        op = "not in";
      } else {
        break;
      }
      if (kids.empty()) kids.push_back(std::move(first));
      kids.push_back(parse_math1());
      ops.push_back(op);
    }
    if (kids.empty()) return first;
    ExprPtr e = make(ExprKind::kCompare, line, std::move(kids));
    e->ops = std::move(ops);
    return e;
  }

  ExprPtr binary(const std::string& op, int line, ExprPtr a, ExprPtr b) {
    ExprPtr e = make2(ExprKind::kBinary, line, std::move(a), std::move(b));
    e->name = op;
    return e;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (at_op("+") || at_op("-")) {
      const Token& t = next();
      const std::string op = t.text;
      e = binary(op, t.line, std::move(e), parse_concat());
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (at_op("~")) {
      const int line = next().line;
      e = binary("~", line, std::move(e), parse_math2());
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& t = next();
      const std::string op = t.text;
      if (op == "/") unsupported("'/' (true division gives floats)", t.line);
      e = binary(op, t.line, std::move(e), parse_pow());
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (at_op("**")) {
      const int line = next().line;
      e = binary("**", line, std::move(e), parse_unary(true));
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(this, peek().line);
    ExprPtr e;
    if (at_op("-") || at_op("+")) {
      const Token& t = next();
      const bool neg = t.text == "-";
      const int line = t.line;
      e = make1(neg ? ExprKind::kNeg : ExprKind::kPos, line, parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr literal(Value v, int line) {
    ExprPtr e = make(ExprKind::kLiteral, line);
    e->value = std::move(v);
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    const int line = t.line;
    if (t.type == Tok::kName) {
      const std::string name = next().text;
      if (name == "true" || name == "True") return literal(Value::boolean(true), line);
      if (name == "false" || name == "False") return literal(Value::boolean(false), line);
      if (name == "none" || name == "None") return literal(Value::none(), line);
      ExprPtr e = make(ExprKind::kName, line);
      e->name = name;
      return e;
    }
    if (t.type == Tok::kString) {
      std::string s = next().text;
      while (peek().type == Tok::kString) s += next().text;
      return literal(Value::str(std::move(s)), line);
    }
    if (t.type == Tok::kInt) return literal(Value::integer(std::stoll(next().text)), line);
    if (at_op("(")) {
      next();
      if (at_op(")")) {
        next();
        ExprPtr e = make(ExprKind::kList, line);
        e->name = "tuple";
        return e;
      }
      ExprPtr e = parse_tuple(true);
      expect_op(")");
      return e;
    }
    if (at_op("[")) {
      next();
      std::vector<ExprPtr> items;
      while (!at_op("]")) {
        if (!items.empty()) expect_op(",");
        if (at_op("]")) break;
        items.push_back(parse_expression(true));
      }
      next();
      return make(ExprKind::kList, line, std::move(items));
    }
    if (at_op("{")) {
      next();
      std::vector<ExprPtr> items;
      while (!at_op("}")) {
        if (!items.empty()) expect_op(",");
        if (at_op("}")) break;
        items.push_back(parse_expression(true));
        expect_op(":");
        items.push_back(parse_expression(true));
      }
      next();
      return make(ExprKind::kDict, line, std::move(items));
    }
    syntax_error("unexpected " + describe(t), line);
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (at_op(".")) {
        const int line = next().line;
        if (peek().type == Tok::kInt) {
          e = make2(ExprKind::kItem, line, std::move(e), literal(Value::integer(std::stoll(next().text)), line));
          continue;
        }
        const std::string attr = expect_name();
        if (at_op("(")) {
          if (!one_of(attr, kMethods)) unsupported("method call '." + attr + "()'", line);
          std::vector<ExprPtr> kids;
          kids.push_back(std::move(e));
          std::vector<std::string> keywords;
          parse_call_args(kids, keywords);
          if (!keywords.empty()) unsupported("keyword arguments to '." + attr + "()'", line);
          e = make(ExprKind::kMethod, line, std::move(kids));
          e->name = attr;
          continue;
        }
        e = make1(ExprKind::kAttr, line, std::move(e));
        e->name = attr;
      } else if (at_op("[")) {
        const int line = next().line;
        e = parse_subscript(std::move(e), line);
      } else if (at_op("(")) {
        const int line = peek().line;
        if (e->kind != ExprKind::kName) unsupported("call of a computed value", line);
        if (!one_of(e->name, kFunctions)) unsupported("function call '" + e->name + "()'", line);
        std::vector<ExprPtr> kids;
        std::vector<std::string> keywords;
        parse_call_args(kids, keywords);
        const std::string fn = e->name;
        if (fn == "namespace" && keywords.size() != kids.size())
          unsupported("namespace() with positional arguments", line);
        if (fn != "namespace" && !keywords.empty()) unsupported("keyword arguments to '" + fn + "()'", line);
        e = make(ExprKind::kCall, line, std::move(kids));
        e->name = fn;
        e->keywords = std::move(keywords);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target, int line) {
    std::vector<ExprPtr> parts(3);
    bool slice = false;
    int part = 0;
    while (!at_op("]")) {
      if (at_op(":")) {
        next();
        slice = true;
        if (++part > 2) syntax_error("too many ':' in a slice", line);
        continue;
      }
      if (parts[size_t(part)]) syntax_error("expected ']' or ':', got " + describe(peek()), peek().line);
      parts[size_t(part)] = parse_expression(true);
      if (at_op(",")) unsupported("tuple subscript", line);
    }
    next();
    if (!slice) {
      if (!parts[0]) syntax_error("expected a subscript", line);
      return make2(ExprKind::kItem, line, std::move(target), std::move(parts[0]));
    }
    std::vector<ExprPtr> kids;
    kids.push_back(std::move(target));
    for (auto& p : parts) kids.push_back(std::move(p));
    return make(ExprKind::kSlice, line, std::move(kids));
  }

  // (a, b, key=c): positional arguments first, then keyword ones (Jinja2 refuses the other order too).
  void parse_call_args(std::vector<ExprPtr>& kids, std::vector<std::string>& keywords) {
    const int line = peek().line;
    expect_op("(");
    bool first = true;
    while (!at_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (at_op(")")) break;
      if (at_op("*") || at_op("**")) unsupported("*args / **kwargs", line);
      if (peek().type == Tok::kName && peek(1).type == Tok::kOp && peek(1).text == "=") {
        keywords.push_back(next().text);
        next();
      } else if (!keywords.empty()) {
        syntax_error("positional argument after keyword argument", line);
      }
      kids.push_back(parse_expression(true));
    }
    next();
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (at_op("|")) {
        next();
        const int line = peek().line;
        std::string name = expect_name();
        while (at_op(".")) {
          next();
          name += '.';
          name += expect_name();
        }
        if (!one_of(name, kFilters)) unsupported("filter '" + name + "'", line);
        std::vector<ExprPtr> kids;
        kids.push_back(std::move(e));
        std::vector<std::string> keywords;
        if (at_op("(")) parse_call_args(kids, keywords);
        e = make(ExprKind::kFilter, line, std::move(kids));
        e->name = name;
        e->keywords = std::move(keywords);
      } else if (at_name("is")) {
        const int line = next().line;
        bool negated = false;
        if (at_name("not")) {
          next();
          negated = true;
        }
        const std::string name = expect_name();
        if (!one_of(name, kTests)) unsupported("test '" + name + "'", line);
        std::vector<ExprPtr> kids;
        kids.push_back(std::move(e));
        std::vector<std::string> keywords;
        if (at_op("(")) {
          parse_call_args(kids, keywords);
        } else if (peek().type == Tok::kString || peek().type == Tok::kInt || at_op("[") || at_op("{") ||
                   (peek().type == Tok::kName && peek().text != "else" && peek().text != "or" &&
                    peek().text != "and")) {
          // Jinja2 lets a test take one argument without parentheses ("x is divisibleby 3").
          if (at_name("is")) syntax_error("cannot chain tests with 'is'", line);
          kids.push_back(parse_postfix(parse_primary()));
        }
        if (!keywords.empty()) unsupported("keyword arguments to test '" + name + "'", line);
        e = make(ExprKind::kTest, line, std::move(kids));
        e->name = name;
        e->negated = negated;
      } else if (at_op("(")) {
        unsupported("call of a computed value", peek().line);
      } else {
        return e;
      }
    }
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int nesting_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// Renderer.

class Renderer {
 public:
  explicit Renderer(std::map<std::string, Value> globals) { scopes_.push_back(std::move(globals)); }

  std::string run(const Body& body) {
    exec(body);
    return std::move(out_);
  }

 private:
  void step(int line) {
    if (++steps_ > kMaxSteps) render_error("the template ran for more than " + std::to_string(kMaxSteps) + " steps", line);
  }

  void write(const std::string& s, int line) {
    if (out_.size() + s.size() > kMaxStringBytes) render_error("output larger than 64 MiB", line);
    out_ += s;
  }

  void exec(const Body& body) {
    for (const auto& s : body) exec(*s);
  }

  void exec(const Stmt& s) {
    step(s.line);
    switch (s.kind) {
      case StmtKind::kText: write(s.text, s.line); return;
      case StmtKind::kOutput: write(py_str(eval(*s.expr)), s.line); return;
      case StmtKind::kIf:
        for (const auto& [cond, body] : s.branches) {
          if (truthy(eval(*cond))) {
            exec(body);
            return;
          }
        }
        exec(s.else_body);
        return;
      case StmtKind::kSet: {
        Value v = eval(*s.expr);
        if (s.targets.size() == 1) {
          scopes_.back()[s.targets[0]] = std::move(v);
          return;
        }
        const Value ns = lookup(s.targets[0]);
        if (ns.kind != Value::Kind::kNamespace)
          render_error("cannot assign attribute on non-namespace object '" + s.targets[0] + "'", s.line);
        for (auto& [k, old] : *ns.dict) {
          if (k == s.targets[1]) {
            old = std::move(v);
            return;
          }
        }
        ns.dict->emplace_back(s.targets[1], std::move(v));
        return;
      }
      case StmtKind::kFor: exec_for(s); return;
    }
  }

  void exec_for(const Stmt& s) {
    const Value iterable = eval(*s.expr);
    std::shared_ptr<const List> items;
    if (s.filter) {
      // The loop's own "if" filters before loop.index and loop.length are computed, as in Jinja2.
      auto kept = std::make_shared<List>();
      for (auto& item : iterate(iterable, s.line)) {
        step(s.line);
        scopes_.emplace_back();
        bind(s, item);
        const bool keep = truthy(eval(*s.filter));
        scopes_.pop_back();
        if (keep) kept->push_back(std::move(item));
      }
      items = std::move(kept);
    } else if (iterable.kind == Value::Kind::kList) {
      items = iterable.list;  // lists are never mutated in place, so the loop can share it
    } else {
      items = std::make_shared<List>(iterate(iterable, s.line));
    }
    if (items->empty()) {
      exec(s.else_body);
      return;
    }
    for (size_t k = 0; k < items->size(); ++k) {
      step(s.line);
      // Each iteration gets a fresh scope: a {% set %} in the body neither survives to the next iteration nor
      // leaks out of the loop (Jinja2's scoping).
      scopes_.emplace_back();
      bind(s, (*items)[k]);
      Value loop;
      loop.kind = Value::Kind::kLoop;
      loop.loop = std::make_shared<const LoopInfo>(LoopInfo{items, k});
      scopes_.back()["loop"] = std::move(loop);
      exec(s.body);
      scopes_.pop_back();
    }
  }

  void bind(const Stmt& s, const Value& item) {
    if (s.targets.size() == 1) {
      scopes_.back()[s.targets[0]] = item;
      return;
    }
    const List parts = iterate(item, s.line);
    if (parts.size() != s.targets.size())
      render_error("cannot unpack " + std::to_string(parts.size()) + " values into " +
                       std::to_string(s.targets.size()) + " loop variables",
                   s.line);
    for (size_t k = 0; k < parts.size(); ++k) scopes_.back()[s.targets[k]] = parts[k];
  }

  // The items a for loop (or `in`, |join, ...) sees: list items, dict keys, string characters.
  List iterate(const Value& v, int line) {
    switch (v.kind) {
      case Value::Kind::kUndefined: return {};
      case Value::Kind::kList: return *v.list;
      case Value::Kind::kDict: {
        List keys;
        for (const auto& [k, unused] : *v.dict) keys.push_back(Value::str(k));
        return keys;
      }
      case Value::Kind::kStr: {
        List chars;
        for (size_t i = 0; i < v.s.size();) {
          const size_t n = size_t(decode_at(v.s, i).length);
          chars.push_back(Value::str(v.s.substr(i, n)));
          i += n;
        }
        return chars;
      }
      default: render_error(std::string("'") + type_name(v) + "' object is not iterable", line);
    }
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      const auto found = it->find(name);
      if (found != it->end()) return found->second;
    }
    return Value::undefined("'" + name + "' is undefined");
  }

  [[noreturn]] static void undefined_error(const Value& v, int line) {
    render_error(v.s.empty() ? "undefined value" : v.s, line);
  }

  static Value check_size(Value v, int line) {
    if (v.kind == Value::Kind::kStr && v.s.size() > kMaxStringBytes) render_error("string larger than 64 MiB", line);
    if (v.kind == Value::Kind::kList && v.list->size() > kMaxListItems)
      render_error("list longer than " + std::to_string(kMaxListItems) + " items", line);
    return v;
  }

  Value attribute(const Value& obj, const std::string& name, int line) {
    switch (obj.kind) {
      case Value::Kind::kUndefined: undefined_error(obj, line);
      case Value::Kind::kDict:
      case Value::Kind::kNamespace:
        if (const Value* v = dict_find(*obj.dict, name)) return *v;
        return Value::undefined(std::string("'") + (obj.kind == Value::Kind::kDict ? "dict object" : "namespace") +
                                "' has no attribute '" + name + "'");
      case Value::Kind::kLoop: {
        const LoopInfo& l = *obj.loop;
        const int64_t n = int64_t(l.items->size()), k = int64_t(l.index0);
        if (name == "index") return Value::integer(k + 1);
        if (name == "index0") return Value::integer(k);
        if (name == "revindex") return Value::integer(n - k);
        if (name == "revindex0") return Value::integer(n - k - 1);
        if (name == "first") return Value::boolean(k == 0);
        if (name == "last") return Value::boolean(k == n - 1);
        if (name == "length") return Value::integer(n);
        if (name == "depth") return Value::integer(1);
        if (name == "depth0") return Value::integer(0);
        if (name == "previtem") return k > 0 ? (*l.items)[size_t(k - 1)] : Value::undefined("there is no previous item");
        if (name == "nextitem") return k + 1 < n ? (*l.items)[size_t(k + 1)] : Value::undefined("there is no next item");
        if (name == "cycle" || name == "changed") unsupported("loop." + name, line);
        return Value::undefined("'LoopContext' has no attribute '" + name + "'");
      }
      default:
        return Value::undefined(std::string("'") + type_name(obj) + " object' has no attribute '" + name + "'");
    }
  }

  static int64_t normalize_index(int64_t k, int64_t n) { return k < 0 ? k + n : k; }

  Value item(const Value& obj, const Value& key, int line) {
    switch (obj.kind) {
      case Value::Kind::kUndefined: undefined_error(obj, line);
      case Value::Kind::kDict:
      case Value::Kind::kNamespace:
        if (key.kind == Value::Kind::kStr) {
          if (obj.kind == Value::Kind::kNamespace) return attribute(obj, key.s, line);
          if (const Value* v = dict_find(*obj.dict, key.s)) return *v;
        }
        return Value::undefined("'dict object' has no attribute " + py_repr(key));
      case Value::Kind::kList:
        if (key.is_number()) {
          const int64_t n = int64_t(obj.list->size()), k = normalize_index(key.number(), n);
          if (k >= 0 && k < n) return (*obj.list)[size_t(k)];
          return Value::undefined("'list object' has no element " + py_str(key));
        }
        return Value::undefined("'list object' has no attribute " + py_repr(key));
      case Value::Kind::kStr:
        if (key.is_number()) {
          const std::vector<size_t> starts = char_starts(obj.s);
          const int64_t n = int64_t(starts.size()), k = normalize_index(key.number(), n);
          if (k >= 0 && k < n) {
            const size_t b = starts[size_t(k)], e = size_t(k + 1) < starts.size() ? starts[size_t(k + 1)] : obj.s.size();
            return Value::str(obj.s.substr(b, e - b));
          }
          return Value::undefined("'str object' has no element " + py_str(key));
        }
        return Value::undefined("'str object' has no attribute " + py_repr(key));
      case Value::Kind::kLoop:
        if (key.kind == Value::Kind::kStr) return attribute(obj, key.s, line);
        return Value::undefined("'LoopContext' has no element " + py_str(key));
      default: return Value::undefined(std::string("'") + type_name(obj) + " object' has no element " + py_str(key));
    }
  }

  // Python slice semantics (negative bounds count from the end, a negative step walks backwards), on list items
  // or string characters.
  Value slice(const Value& obj, const Expr& e) {
    auto bound = [&](size_t k) -> std::pair<bool, int64_t> {
      if (!e.kids[k]) return {false, 0};
      const Value v = eval(*e.kids[k]);
      if (v.kind == Value::Kind::kNone) return {false, 0};
      if (!v.is_number()) render_error("slice indices must be integers or None", e.line);
      return {true, v.number()};
    };
    const auto [has_start, start_raw] = bound(1);
    const auto [has_stop, stop_raw] = bound(2);
    const auto [has_step, step_raw] = bound(3);
    const int64_t step = has_step ? step_raw : 1;
    if (step == 0) render_error("slice step cannot be zero", e.line);
    std::vector<size_t> starts;
    int64_t n = 0;
    if (obj.kind == Value::Kind::kList) {
      n = int64_t(obj.list->size());
    } else if (obj.kind == Value::Kind::kStr) {
      starts = char_starts(obj.s);
      n = int64_t(starts.size());
    } else if (obj.kind == Value::Kind::kUndefined) {
      undefined_error(obj, e.line);
    } else {
      render_error(std::string("'") + type_name(obj) + "' object is not subscriptable", e.line);
    }
    auto clamp = [&](bool has, int64_t raw, int64_t dflt) {
      if (!has) return dflt;
      int64_t k = raw < 0 ? raw + n : raw;
      if (step > 0) return std::clamp<int64_t>(k, 0, n);
      return std::clamp<int64_t>(k, -1, n - 1);
    };
    const int64_t begin = clamp(has_start, start_raw, step > 0 ? 0 : n - 1);
    const int64_t end = clamp(has_stop, stop_raw, step > 0 ? n : -1);
    List items;
    std::string text;
    for (int64_t k = begin; step > 0 ? k < end : k > end; k += step) {
      if (obj.kind == Value::Kind::kList) {
        items.push_back((*obj.list)[size_t(k)]);
      } else {
        const size_t b = starts[size_t(k)], en = size_t(k + 1) < starts.size() ? starts[size_t(k + 1)] : obj.s.size();
        text.append(obj.s, b, en - b);
      }
    }
    if (obj.kind == Value::Kind::kList) return Value::of_list(std::move(items));
    return Value::str(std::move(text));
  }

  static void overflow_check(bool overflow, int line) {
    if (overflow) render_error("integer overflow", line);
  }

  Value binary(const std::string& op, const Value& a, const Value& b, int line) {
    if (op == "~") return check_size(Value::str(py_str(a) + py_str(b)), line);
    if (a.is_undefined()) undefined_error(a, line);
    if (b.is_undefined()) undefined_error(b, line);
    int64_t r = 0;
    if (a.is_number() && b.is_number()) {
      const int64_t x = a.number(), y = b.number();
      if (op == "+" || op == "-" || op == "*") {
        overflow_check(op == "+"   ? __builtin_add_overflow(x, y, &r)
                       : op == "-" ? __builtin_sub_overflow(x, y, &r)
                                   : __builtin_mul_overflow(x, y, &r),
                       line);
        return Value::integer(r);
      }
      if (op == "//" || op == "%") {
        if (y == 0) render_error("integer division or modulo by zero", line);
        if (x == INT64_MIN && y == -1) render_error("integer overflow", line);
        int64_t q = x / y, m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors; C++ truncates
          --q;
          m += y;
        }
        return Value::integer(op == "//" ? q : m);
      }
      if (op == "**") {
        if (y < 0) unsupported("negative exponent (gives a float)", line);
        int64_t result = 1;
        for (int64_t k = 0; k < y; ++k) {
          step(line);
          overflow_check(__builtin_mul_overflow(result, x, &r), line);
          result = r;
          if (result == 0 || result == 1) break;
        }
        return Value::integer(result);
      }
    }
    if (op == "+") {
      if (a.kind == Value::Kind::kStr && b.kind == Value::Kind::kStr) {
        if (a.s.size() + b.s.size() > kMaxStringBytes) render_error("string larger than 64 MiB", line);
        return Value::str(a.s + b.s);
      }
      if (a.kind == Value::Kind::kList && b.kind == Value::Kind::kList) {
        List items = *a.list;
        items.insert(items.end(), b.list->begin(), b.list->end());
        return check_size(Value::of_list(std::move(items)), line);
      }
    }
    if (op == "*") {
      const Value* seq = a.is_number() ? &b : &a;
      const Value* count = a.is_number() ? &a : &b;
      if (count->is_number() && (seq->kind == Value::Kind::kStr || seq->kind == Value::Kind::kList)) {
        const int64_t times = std::max<int64_t>(0, count->number());
        const size_t unit = seq->kind == Value::Kind::kStr ? seq->s.size() : seq->list->size();
        const size_t limit = seq->kind == Value::Kind::kStr ? kMaxStringBytes : kMaxListItems;
        if (unit != 0 && uint64_t(times) > limit / unit) render_error("repetition result too large", line);
        if (seq->kind == Value::Kind::kStr) {
          std::string s;
          for (int64_t k = 0; k < times; ++k) s += seq->s;
          return Value::str(std::move(s));
        }
        List items;
        for (int64_t k = 0; k < times; ++k) items.insert(items.end(), seq->list->begin(), seq->list->end());
        return Value::of_list(std::move(items));
      }
    }
    if (op == "%" && a.kind == Value::Kind::kStr) unsupported("'%' string formatting", line);
    render_error("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'",
                 line);
  }

  bool contains(const Value& container, const Value& x, int line) {
    switch (container.kind) {
      case Value::Kind::kUndefined: return false;
      case Value::Kind::kStr:
        if (x.kind != Value::Kind::kStr)
          render_error(std::string("'in <string>' requires string as left operand, not ") + type_name(x), line);
        return container.s.find(x.s) != std::string::npos;
      case Value::Kind::kList:
        for (const auto& v : *container.list)
          if (py_equal(v, x)) return true;
        return false;
      case Value::Kind::kDict:
        return x.kind == Value::Kind::kStr && dict_find(*container.dict, x.s) != nullptr;
      default: render_error(std::string("argument of type '") + type_name(container) + "' is not iterable", line);
    }
  }

  bool compare(const std::string& op, const Value& a, const Value& b, int line) {
    if (op == "==") return py_equal(a, b);
    if (op == "!=") return !py_equal(a, b);
    if (op == "in") return contains(b, a, line);
    if (op == "not in") return !contains(b, a, line);
    const int c = py_compare(a, b, op.c_str(), line);
    if (op == "<") return c < 0;
    if (op == ">") return c > 0;
    if (op == "<=") return c <= 0;
    return c >= 0;
  }

  int64_t length(const Value& v, int line) {
    switch (v.kind) {
      case Value::Kind::kUndefined: return 0;
      case Value::Kind::kStr: return int64_t(char_starts(v.s).size());
      case Value::Kind::kList: return int64_t(v.list->size());
      case Value::Kind::kDict:
      case Value::Kind::kNamespace: return int64_t(v.dict->size());
      default: render_error(std::string("object of type '") + type_name(v) + "' has no len()", line);
    }
  }

  // Arguments of a filter or call: positional ones from kids[first..], then keywords by name.
  struct Args {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keywords;
    const Value* get(size_t index, const char* keyword) const {
      if (index < positional.size()) return &positional[index];
      for (const auto& [k, v] : keywords)
        if (k == keyword) return &v;
      return nullptr;
    }
  };

  Args args(const Expr& e, size_t first) {
    Args a;
    const size_t n_keywords = e.keywords.size();
    const size_t n_positional = e.kids.size() - first - n_keywords;
    for (size_t k = 0; k < n_positional; ++k) a.positional.push_back(eval(*e.kids[first + k]));
    for (size_t k = 0; k < n_keywords; ++k)
      a.keywords.emplace_back(e.keywords[k], eval(*e.kids[first + n_positional + k]));
    return a;
  }

  static void arity(const Expr& e, const Args& a, size_t most, const char* what) {
    if (a.positional.size() + a.keywords.size() > most)
      render_error(std::string(what) + " '" + e.name + "' takes at most " + std::to_string(most) + " argument(s)",
                   e.line);
  }

  static const std::string& need_str(const Value& v, const Expr& e) {
    if (v.kind != Value::Kind::kStr)
      render_error("'" + e.name + "' needs a string argument, got '" + type_name(v) + "'", e.line);
    return v.s;
  }

  Value filter(const Expr& e) {
    const Value v = eval(*e.kids[0]);
    const Args a = args(e, 1);
    const std::string& f = e.name;
    if (f == "default" || f == "d") {
      arity(e, a, 2, "filter");
      const Value* fallback = a.get(0, "default_value");
      const Value* boolean = a.get(1, "boolean");
      const bool use_fallback = v.is_undefined() || (boolean && truthy(*boolean) && !truthy(v));
      if (!use_fallback) return v;
      return fallback ? *fallback : Value::str("");
    }
    if (f == "length" || f == "count") {
      arity(e, a, 0, "filter");
      return Value::integer(length(v, e.line));
    }
    if (f == "first" || f == "last") {
      arity(e, a, 0, "filter");
      const List items = iterate(v, e.line);
      if (items.empty()) return Value::undefined("No " + f + " item, sequence was empty.");
      return f == "first" ? items.front() : items.back();
    }
    if (f == "join") {
      arity(e, a, 1, "filter");
      const Value* sep = a.get(0, "d");
      const std::string separator = sep ? py_str(*sep) : "";
      std::string out;
      const List items = iterate(v, e.line);
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += separator;
        out += py_str(items[k]);
        if (out.size() > kMaxStringBytes) render_error("string larger than 64 MiB", e.line);
      }
      return Value::str(std::move(out));
    }
    // The string filters work on str(value), as Jinja2's soft_str does.
    const std::string s = py_str(v);
    if (f == "trim") {
      arity(e, a, 1, "filter");
      const Value* chars = a.get(0, "chars");
      if (chars && chars->kind != Value::Kind::kNone) return Value::str(py_strip(s, true, true, &need_str(*chars, e)));
      return Value::str(py_strip(s, true, true));
    }
    arity(e, a, 0, "filter");
    if (f == "upper") return Value::str(py_upper(s));
    if (f == "lower") return Value::str(py_lower(s));
    if (f == "title") return Value::str(jinja_title(s));
    if (f == "capitalize") return Value::str(py_capitalize(s));
    return Value::str(s);  // "string"
  }

  bool test(const Expr& e) {
    const Value v = eval(*e.kids[0]);
    const Args a = args(e, 1);
    const std::string& t = e.name;
    auto arg = [&]() -> const Value& {
      if (a.positional.size() != 1) render_error("test '" + t + "' takes one argument", e.line);
      return a.positional[0];
    };
    if (t != "divisibleby" && t != "eq" && t != "equalto" && t != "ne" && t != "in" &&
        !a.positional.empty())
      render_error("test '" + t + "' takes no argument", e.line);
    if (t == "defined") return !v.is_undefined();
    if (t == "undefined") return v.is_undefined();
    if (t == "none") return v.kind == Value::Kind::kNone;
    if (t == "string") return v.kind == Value::Kind::kStr;
    if (t == "number" || t == "integer") return v.is_number() && (t == "number" || v.kind == Value::Kind::kInt);
    if (t == "boolean") return v.kind == Value::Kind::kBool;
    if (t == "true") return v.kind == Value::Kind::kBool && v.b;
    if (t == "false") return v.kind == Value::Kind::kBool && !v.b;
    if (t == "mapping") return v.kind == Value::Kind::kDict;
    if (t == "sequence")
      return v.kind == Value::Kind::kStr || v.kind == Value::Kind::kList || v.kind == Value::Kind::kDict;
    if (t == "iterable")
      return v.kind == Value::Kind::kStr || v.kind == Value::Kind::kList || v.kind == Value::Kind::kDict ||
             v.kind == Value::Kind::kUndefined;
    if (t == "odd" || t == "even" || t == "divisibleby") {
      if (v.is_undefined()) undefined_error(v, e.line);
      if (!v.is_number()) render_error("test '" + t + "' needs an integer", e.line);
      int64_t divisor = 2;
      if (t == "divisibleby") {
        const Value& d = arg();
        if (!d.is_number()) render_error("test 'divisibleby' needs an integer argument", e.line);
        divisor = d.number();
        if (divisor == 0) render_error("integer division or modulo by zero", e.line);
      }
      const int64_t m = divisor == -1 ? 0 : v.number() % divisor;
      return t == "odd" ? m != 0 : m == 0;
    }
    if (t == "eq" || t == "equalto") return py_equal(v, arg());
    if (t == "ne") return !py_equal(v, arg());
    return contains(arg(), v, e.line);  // "in"
  }

  Value call(const Expr& e) {
    const Args a = args(e, 0);
    if (e.name == "raise_exception") {
      if (a.positional.size() != 1) render_error("raise_exception() takes one argument", e.line);
      throw ChatTemplateError(py_str(a.positional[0]));
    }
    if (e.name == "namespace") {
      Dict attrs;
      for (const auto& [k, v] : a.keywords) {
        bool replaced = false;
        for (auto& [old_k, old_v] : attrs) {
          if (old_k == k) {
            old_v = v;
            replaced = true;
          }
        }
        if (!replaced) attrs.emplace_back(k, v);
      }
      return Value::of_dict(std::move(attrs), Value::Kind::kNamespace);
    }
    // range(stop) / range(start, stop[, step])
    if (a.positional.empty() || a.positional.size() > 3) render_error("range() takes 1 to 3 arguments", e.line);
    for (const auto& v : a.positional)
      if (!v.is_number()) render_error("range() needs integer arguments", e.line);
    int64_t start = 0, stop = 0, inc = 1;
    if (a.positional.size() == 1) {
      stop = a.positional[0].number();
    } else {
      start = a.positional[0].number();
      stop = a.positional[1].number();
      if (a.positional.size() == 3) inc = a.positional[2].number();
    }
    if (inc == 0) render_error("range() arg 3 must not be zero", e.line);
    List items;
    for (int64_t k = start; inc > 0 ? k < stop : k > stop; k += inc) {
      if (int64_t(items.size()) >= kMaxRange)
        render_error("range too big (more than " + std::to_string(kMaxRange) + " items)", e.line);
      step(e.line);
      items.push_back(Value::integer(k));
      if ((inc > 0 && k > INT64_MAX - inc) || (inc < 0 && k < INT64_MIN - inc)) break;
    }
    return Value::of_list(std::move(items));
  }

  Value method(const Expr& e) {
    const Value obj = eval(*e.kids[0]);
    const Args a = args(e, 1);
    const std::string& m = e.name;
    if (obj.is_undefined()) undefined_error(obj, e.line);
    auto no_args = [&]() {
      if (!a.positional.empty()) render_error("'." + m + "()' takes no arguments", e.line);
    };
    if (obj.kind == Value::Kind::kStr) {
      const std::string& s = obj.s;
      if (m == "strip" || m == "lstrip" || m == "rstrip") {
        if (a.positional.size() > 1) render_error("'." + m + "()' takes at most one argument", e.line);
        const std::string* chars = nullptr;
        if (!a.positional.empty() && a.positional[0].kind != Value::Kind::kNone) chars = &need_str(a.positional[0], e);
        return Value::str(py_strip(s, m != "rstrip", m != "lstrip", chars));
      }
      if (m == "upper" || m == "lower" || m == "title" || m == "capitalize") {
        no_args();
        if (m == "upper") return Value::str(py_upper(s));
        if (m == "lower") return Value::str(py_lower(s));
        if (m == "title") return Value::str(py_title(s));
        return Value::str(py_capitalize(s));
      }
      if (m == "startswith" || m == "endswith") {
        if (a.positional.size() != 1) render_error("'." + m + "()' takes one argument", e.line);
        std::vector<std::string> options;
        if (a.positional[0].kind == Value::Kind::kList) {
          for (const auto& v : *a.positional[0].list) options.push_back(need_str(v, e));
        } else {
          options.push_back(need_str(a.positional[0], e));
        }
        for (const auto& p : options) {
          if (p.size() > s.size()) continue;
          if (m == "startswith" ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0)
            return Value::boolean(true);
        }
        return Value::boolean(false);
      }
    }
    if (obj.kind == Value::Kind::kDict) {
      if (m == "get") {
        if (a.positional.empty() || a.positional.size() > 2) render_error("'.get()' takes 1 or 2 arguments", e.line);
        if (a.positional[0].kind == Value::Kind::kStr)
          if (const Value* v = dict_find(*obj.dict, a.positional[0].s)) return *v;
        return a.positional.size() == 2 ? a.positional[1] : Value::none();
      }
      no_args();
      List items;
      for (const auto& [k, v] : *obj.dict) {
        if (m == "keys") items.push_back(Value::str(k));
        if (m == "values") items.push_back(v);
        if (m == "items") {
          items.push_back(Value::of_list({Value::str(k), v}));
          items.back().b = true;  // (key, value) tuples
        }
      }
      if (m == "items" || m == "keys" || m == "values") return Value::of_list(std::move(items));
    }
    render_error(std::string("'") + type_name(obj) + "' object has no method '" + m + "'", e.line);
  }

  Value eval(const Expr& e) {
    step(e.line);
    switch (e.kind) {
      case ExprKind::kLiteral: return e.value;
      case ExprKind::kName: return lookup(e.name);
      case ExprKind::kAttr: return attribute(eval(*e.kids[0]), e.name, e.line);
      case ExprKind::kItem: {
        const Value obj = eval(*e.kids[0]);
        return item(obj, eval(*e.kids[1]), e.line);
      }
      case ExprKind::kSlice: return slice(eval(*e.kids[0]), e);
      case ExprKind::kNeg:
      case ExprKind::kPos: {
        const Value v = eval(*e.kids[0]);
        if (v.is_undefined()) undefined_error(v, e.line);
        if (!v.is_number()) render_error(std::string("bad operand type for unary operator: '") + type_name(v) + "'", e.line);
        if (e.kind == ExprKind::kPos) return Value::integer(v.number());
        if (v.number() == INT64_MIN) render_error("integer overflow", e.line);
        return Value::integer(-v.number());
      }
      case ExprKind::kNot: return Value::boolean(!truthy(eval(*e.kids[0])));
      case ExprKind::kBinary: {
        const Value a = eval(*e.kids[0]);
        return binary(e.name, a, eval(*e.kids[1]), e.line);
      }
      case ExprKind::kAnd: {
        Value a = eval(*e.kids[0]);
        return truthy(a) ? eval(*e.kids[1]) : a;
      }
      case ExprKind::kOr: {
        Value a = eval(*e.kids[0]);
        return truthy(a) ? a : eval(*e.kids[1]);
      }
      case ExprKind::kCompare: {
        // Chained comparisons: a < b < c is (a < b) and (b < c), each operand evaluated once.
        Value left = eval(*e.kids[0]);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value right = eval(*e.kids[k + 1]);
          if (!compare(e.ops[k], left, right, e.line)) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      case ExprKind::kCondition:
        if (truthy(eval(*e.kids[0]))) return eval(*e.kids[1]);
        if (e.kids[2]) return eval(*e.kids[2]);
        return Value::undefined("the inline if expression evaluated to false and no else section was defined");
      case ExprKind::kFilter: return check_size(filter(e), e.line);
      case ExprKind::kTest: return Value::boolean(test(e) != e.negated);
      case ExprKind::kCall: return call(e);
      case ExprKind::kMethod: return method(e);
      case ExprKind::kList: {
        List items;
        for (const auto& k : e.kids) items.push_back(eval(*k));
        Value v = Value::of_list(std::move(items));
        v.b = e.name == "tuple";
        return v;
      }
      case ExprKind::kDict: {
        Dict items;
        for (size_t k = 0; k + 1 < e.kids.size(); k += 2) {
          const Value key = eval(*e.kids[k]);
          if (key.kind != Value::Kind::kStr) unsupported("dict literal with a non-string key", e.line);
          Value v = eval(*e.kids[k + 1]);
          bool replaced = false;
          for (auto& [old_k, old_v] : items) {
            if (old_k == key.s) {
              old_v = v;
              replaced = true;
            }
          }
          if (!replaced) items.emplace_back(key.s, std::move(v));
        }
        return Value::of_dict(std::move(items));
      }
    }
    return Value();
  }

  std::vector<std::map<std::string, Value>> scopes_;
  std::string out_;
  uint64_t steps_ = 0;
};

}  // namespace

ChatTemplate::ChatTemplate(std::string_view source) : root_(std::make_unique<Node>()) {
  root_->body = Parser(Lexer(source).run()).parse_template();
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token) const {
  List list;
  list.reserve(messages.size());
  for (const auto& m : messages) list.push_back(Value::of_dict({{"role", Value::str(m.role)}, {"content", Value::str(m.content)}}));
  std::map<std::string, Value> globals;
  globals["messages"] = Value::of_list(std::move(list));
  globals["add_generation_prompt"] = Value::boolean(add_generation_prompt);
  globals["bos_token"] = Value::str(bos_token);
  globals["eos_token"] = Value::str(eos_token);
  return Renderer(std::move(globals)).run(root_->body);
}

}  // namespace mlfaas
