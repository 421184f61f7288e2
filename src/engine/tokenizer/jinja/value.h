#pragma once
// The values a chat template computes with, and Python's semantics for them (str(), repr(), truthiness, ==,
// ordering) plus json.dumps as |tojson uses it.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer/jinja/limits.h"

namespace mlfaas::jinja {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, as Python dicts

struct LoopInfo;

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kStr, kList, kDict, kNamespace, kLoop };
  Kind kind = Kind::kUndefined;
  bool b = false;  // kBool's value; for kList, whether it is a tuple; for kStr, whether it is Markup (|tojson)
  int depth = 0;   // nesting of lists and dicts
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
    for (const auto& item : items) v.depth = std::max(v.depth, item.depth + 1);
    v.check_depth();
    v.list = std::make_shared<List>(std::move(items));
    return v;
  }
  static Value of_dict(Dict items, Kind kind = Kind::kDict) {
    Value v;
    v.kind = kind;
    for (const auto& [k, item] : items) v.depth = std::max(v.depth, item.depth + 1);
    v.check_depth();
    v.dict = std::make_shared<Dict>(std::move(items));
    return v;
  }
  void check_depth() const {
    if (depth > kMaxValueDepth)
      throw ChatTemplateError("chat template error: lists and dicts nested deeper than " +
                              std::to_string(kMaxValueDepth));
  }
  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kBool; }
  int64_t number() const { return kind == Kind::kBool ? int64_t(b) : i; }
};

struct LoopInfo {
  std::shared_ptr<const List> items;
  size_t index0;
};

const Value* dict_find(const Dict& d, std::string_view key);
const char* type_name(const Value& v);
bool truthy(const Value& v);
std::string py_repr(const Value& v);
std::string py_str(const Value& v);
// markupsafe.escape(), which Markup (what |tojson returns) applies to a plain string added to it with '+'.
std::string html_escape(std::string_view s);
// json.dumps(value, sort_keys=True[, indent]) as Jinja2's |tojson calls it (indent < 0: none), HTML-safe.
void json_dump(const Value& v, int indent, int level, std::string& out, int line);
bool py_equal(const Value& a, const Value& b);
// -1, 0, 1 for the orderable pairs Python allows; anything else is a TypeError there and an error here.
int py_compare(const Value& a, const Value& b, const char* op, int line);

}  // namespace mlfaas::jinja
