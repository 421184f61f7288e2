// Jinja2 3.1's lexer rules, which decide the whitespace of the output.
#include <algorithm>
#include <cctype>

#include "engine/tokenizer/jinja/syntax.h"
#include "engine/tokenizer/jinja/text.h"

namespace mlfaas::jinja {
namespace {

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
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
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
      case 'N':
        unsupported("\\N{...} string escape", line);
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

  // Jinja2's integer rule: "0" (or "0_0..."), or a nonzero digit then digits with single underscores between
  // them. "011" is thus two integers (a syntax error later), as in Jinja2. Floats and 0b/0o/0x are refused.
  void number() {
    auto digit = [&](size_t at) { return at < src_.size() && std::isdigit(static_cast<unsigned char>(src_[at])); };
    size_t e = pos_;
    while (digit(e) || (src_[e] == '_' && e > pos_ && digit(e + 1))) ++e;
    const bool after_dot = pos_ > 0 && src_[pos_ - 1] == '.';
    if (!after_dot && e < src_.size() &&
        ((src_[e] == '.' && digit(e + 1)) ||
         ((src_[e] == 'e' || src_[e] == 'E') &&
          (digit(e + 1) || ((src_[e + 1] == '+' || src_[e + 1] == '-') && digit(e + 2))))))
      unsupported("float literal", line_);
    if (src_[pos_] == '0') {
      if (pos_ + 1 < src_.size() && std::string_view("bBoOxX").find(src_[pos_ + 1]) != std::string_view::npos &&
          (std::isxdigit(static_cast<unsigned char>(src_[pos_ + 2 < src_.size() ? pos_ + 2 : pos_])) ||
           src_[pos_ + 2 < src_.size() ? pos_ + 2 : pos_] == '_'))
        unsupported("binary, octal or hexadecimal integer literal", line_);
      e = pos_ + 1;
      while (e < src_.size() && (src_[e] == '0' || (src_[e] == '_' && e + 1 < src_.size() && src_[e + 1] == '0'))) ++e;
    }
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

}  // namespace

std::vector<Token> lex(std::string_view source) { return Lexer(source).run(); }

}  // namespace mlfaas::jinja
