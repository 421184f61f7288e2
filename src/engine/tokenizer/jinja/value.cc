// Python's semantics for chat template values: str(), repr(), truthiness, ==, ordering, and json.dumps.
#include "engine/tokenizer/jinja/value.h"

#include <algorithm>

#include "engine/tokenizer/jinja/text.h"

namespace mlfaas::jinja {

const Value* dict_find(const Dict& d, std::string_view key) {
  for (const auto& [k, v] : d)
    if (k == key) return &v;
  return nullptr;
}

const char* type_name(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kStr:
      return "str";
    case Value::Kind::kList:
      return "list";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kLoop:
      return "LoopContext";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.b;
    case Value::Kind::kInt:
      return v.i != 0;
    case Value::Kind::kStr:
      return !v.s.empty();
    case Value::Kind::kList:
      return !v.list->empty();
    case Value::Kind::kDict:
      return !v.dict->empty();
    case Value::Kind::kNamespace:
    case Value::Kind::kLoop:
      return true;
  }
  return false;
}

namespace {

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

}  // namespace

std::string py_str(const Value& v);

std::string py_repr(const Value& v) { return v.kind == Value::Kind::kStr ? py_repr_str(v.s) : py_str(v); }

std::string py_str(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return v.b ? "True" : "False";
    case Value::Kind::kInt:
      return std::to_string(v.i);
    case Value::Kind::kStr:
      return v.s;
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
      return "<LoopContext " + std::to_string(v.loop->index0 + 1) + "/" + std::to_string(v.loop->items->size()) + ">";
  }
  return "";
}

// markupsafe.escape(), which Markup (what |tojson returns) applies to a plain string added to it with '+'.
std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '"':
        out += "&#34;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// json.dumps(value, sort_keys=True[, indent=n]) with its default ensure_ascii, as Jinja2's |tojson calls it; then
// <, >, & and ' are written as \u escapes (htmlsafe_json_dumps).
void json_string(std::string_view s, std::string& out) {
  static const char kHex[] = "0123456789abcdef";
  auto u_escape = [&](uint32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(unit >> shift) & 15];
  };
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const CodePoint c = decode_at(s, i);
    const int32_t cp = c.cp < 0 ? 0xFFFD : c.cp;
    i += size_t(c.length);
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '<':
      case '>':
      case '&':
      case '\'':
        u_escape(uint32_t(cp));
        continue;
      default:
        break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
      out += char(cp);
    } else if (cp < 0x10000) {
      u_escape(uint32_t(cp));
    } else {
      const uint32_t v = uint32_t(cp) - 0x10000;
      u_escape(0xD800 + (v >> 10));
      u_escape(0xDC00 + (v & 0x3FF));
    }
  }
  out += '"';
}

}  // namespace

void json_dump(const Value& v, int indent, int level, std::string& out, int line) {
  auto newline = [&](int at) {
    if (indent < 0) return;
    out += '\n';
    out.append(size_t(indent) * size_t(at), ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.kind) {
    case Value::Kind::kNone:
      out += "null";
      return;
    case Value::Kind::kBool:
      out += v.b ? "true" : "false";
      return;
    case Value::Kind::kInt:
      out += std::to_string(v.i);
      return;
    case Value::Kind::kStr:
      json_string(v.s, out);
      return;
    case Value::Kind::kList:
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += item_sep;
        newline(level + 1);
        json_dump((*v.list)[k], indent, level + 1, out, line);
      }
      newline(level);
      out += ']';
      return;
    case Value::Kind::kDict: {
      if (v.dict->empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> sorted;
      for (const auto& kv : *v.dict) sorted.push_back(&kv);
      std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t k = 0; k < sorted.size(); ++k) {
        if (k) out += item_sep;
        newline(level + 1);
        json_string(sorted[k]->first, out);
        out += ": ";
        json_dump(sorted[k]->second, indent, level + 1, out, line);
      }
      newline(level);
      out += '}';
      return;
    }
    default:
      render_error(std::string("Object of type ") + type_name(v) + " is not JSON serializable", line);
  }
}

bool py_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.number() == b.number();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kStr:
      return a.s == b.s;
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
    case Value::Kind::kNamespace:
      return a.dict == b.dict;
    case Value::Kind::kLoop:
      return a.loop == b.loop;
    default:
      return false;
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
  render_error(
      std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'",
      line);
}

}  // namespace mlfaas::jinja
