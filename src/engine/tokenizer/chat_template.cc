// A hand-written interpreter for the Jinja2 subset that chat templates use. Debian ships no C++ Jinja library,
// and pulling in a general one would also mean trusting it with untrusted templates; this one follows Jinja2
// 3.1's lexer rules (the ones HF's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) runs)
// closely enough that real templates render byte for byte, and it refuses everything else up front.
//
// Three stages: the lexer turns the source into data and tag tokens, applying Jinja2's whitespace control
// ({%- -%}, trim_blocks, lstrip_blocks) exactly where Jinja2's lexer does; the parser builds a tree, refusing
// unknown constructs with their line; the renderer walks the tree with Python's value semantics (str(), truthiness,
// ==, slicing by code point, Undefined).
//
// The stages live in jinja/: lexer.cc, parser.cc (syntax.h), value.cc (Python values) and text.cc (Python string
// methods); the renderer is here.
#include "engine/tokenizer/chat_template.h"

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/tokenizer/jinja/syntax.h"
#include "engine/tokenizer/jinja/text.h"

namespace mlfaas {

struct ChatTemplate::Node {
  jinja::Body body;
};

namespace jinja {
namespace {

class Renderer {
 public:
  // Scopes hold a handful of names each, so a flat vector beats a map (a loop iteration opens one).
  using Scope = std::vector<std::pair<std::string, Value>>;

  explicit Renderer(Scope globals) { scopes_.push_back(std::move(globals)); }

  std::string run(const Body& body) {
    exec(body);
    return std::move(out_);
  }

 private:
  void step(int line) {
    if (++steps_ > kMaxSteps)
      render_error("the template ran for more than " + std::to_string(kMaxSteps) + " steps", line);
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
      case StmtKind::kText:
        write(s.text, s.line);
        return;
      case StmtKind::kOutput:
        write(py_str(eval(*s.expr)), s.line);
        return;
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
          assign(s.targets[0], std::move(v));
          return;
        }
        const Value ns = lookup(s.targets[0]);
        if (ns.kind != Value::Kind::kNamespace)
          render_error("cannot assign attribute on non-namespace object '" + s.targets[0] + "'", s.line);
        // Namespaces are shared by reference: one inside another could end up inside itself, a cycle that
        // printing would never finish.
        if (holds_namespace(v)) unsupported("a namespace stored in a namespace attribute", s.line);
        for (auto& [k, old] : *ns.dict) {
          if (k == s.targets[1]) {
            old = std::move(v);
            return;
          }
        }
        ns.dict->emplace_back(s.targets[1], std::move(v));
        return;
      }
      case StmtKind::kFor:
        exec_for(s);
        return;
    }
  }

  static bool holds_namespace(const Value& v) {
    if (v.kind == Value::Kind::kNamespace) return true;
    if (v.kind == Value::Kind::kList)
      return std::any_of(v.list->begin(), v.list->end(), [](const Value& x) { return holds_namespace(x); });
    if (v.kind == Value::Kind::kDict)
      return std::any_of(v.dict->begin(), v.dict->end(), [](const auto& kv) { return holds_namespace(kv.second); });
    return false;
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
      scopes_.emplace_back();  // like the body, the else block keeps its assignments to itself
      exec(s.else_body);
      scopes_.pop_back();
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
      assign("loop", std::move(loop));
      exec(s.body);
      scopes_.pop_back();
    }
  }

  void bind(const Stmt& s, const Value& item) {
    if (s.targets.size() == 1) {
      assign(s.targets[0], item);
      return;
    }
    const List parts = iterate(item, s.line);
    if (parts.size() != s.targets.size())
      render_error("cannot unpack " + std::to_string(parts.size()) + " values into " +
                       std::to_string(s.targets.size()) + " loop variables",
                   s.line);
    for (size_t k = 0; k < parts.size(); ++k) assign(s.targets[k], parts[k]);
  }

  // The items a for loop (or `in`, |join, ...) sees: list items, dict keys, string characters.
  List iterate(const Value& v, int line) {
    switch (v.kind) {
      case Value::Kind::kUndefined:
        return {};
      case Value::Kind::kList:
        return *v.list;
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
      default:
        render_error(std::string("'") + type_name(v) + "' object is not iterable", line);
    }
  }

  void assign(const std::string& name, Value v) {
    for (auto& [k, old] : scopes_.back()) {
      if (k == name) {
        old = std::move(v);
        return;
      }
    }
    scopes_.back().emplace_back(name, std::move(v));
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      for (const auto& [k, v] : *it)
        if (k == name) return v;
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
      case Value::Kind::kUndefined:
        undefined_error(obj, line);
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
        if (name == "previtem")
          return k > 0 ? (*l.items)[size_t(k - 1)] : Value::undefined("there is no previous item");
        if (name == "nextitem")
          return k + 1 < n ? (*l.items)[size_t(k + 1)] : Value::undefined("there is no next item");
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
      case Value::Kind::kUndefined:
        undefined_error(obj, line);
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
            const size_t b = starts[size_t(k)],
                         e = size_t(k + 1) < starts.size() ? starts[size_t(k + 1)] : obj.s.size();
            Value c = Value::str(obj.s.substr(b, e - b));
            c.b = obj.b;  // Markup stays Markup
            return c;
          }
          return Value::undefined("'str object' has no element " + py_str(key));
        }
        return Value::undefined("'str object' has no attribute " + py_repr(key));
      case Value::Kind::kLoop:
        if (key.kind == Value::Kind::kStr) return attribute(obj, key.s, line);
        return Value::undefined("'LoopContext' has no element " + py_str(key));
      default:
        return Value::undefined(std::string("'") + type_name(obj) + " object' has no element " + py_str(key));
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
    if (obj.kind == Value::Kind::kList) {
      Value v = Value::of_list(std::move(items));
      v.b = obj.b;  // a tuple's slice is a tuple
      return v;
    }
    Value v = Value::str(std::move(text));
    v.b = obj.b;  // Markup stays Markup
    return v;
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
        // Markup + str escapes the plain side, whichever side it is on (Python tries Markup.__radd__ first).
        const bool markup = a.b || b.b;
        Value v = Value::str((markup && !a.b ? html_escape(a.s) : a.s) + (markup && !b.b ? html_escape(b.s) : b.s));
        if (v.s.size() > kMaxStringBytes) render_error("string larger than 64 MiB", line);
        v.b = markup;
        return v;
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
    render_error("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'", line);
  }

  bool contains(const Value& container, const Value& x, int line) {
    switch (container.kind) {
      case Value::Kind::kUndefined:
        return false;
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
      default:
        render_error(std::string("argument of type '") + type_name(container) + "' is not iterable", line);
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
      case Value::Kind::kUndefined:
        return 0;
      case Value::Kind::kStr:
        return int64_t(char_starts(v.s).size());
      case Value::Kind::kList:
        return int64_t(v.list->size());
      case Value::Kind::kDict:
      case Value::Kind::kNamespace:
        return int64_t(v.dict->size());
      default:
        render_error(std::string("object of type '") + type_name(v) + "' has no len()", line);
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
    if (f == "tojson") {
      arity(e, a, 1, "filter");
      const Value* indent = a.get(0, "indent");
      int width = -1;
      if (indent && indent->kind != Value::Kind::kNone) {
        if (!indent->is_number() || indent->number() < 0 || indent->number() > 64)
          render_error("tojson indent must be an integer from 0 to 64", e.line);
        width = int(indent->number());
      }
      std::string out;
      json_dump(v, width, 0, out, e.line);
      Value result = Value::str(std::move(out));
      result.b = true;  // Markup
      return result;
    }
    if (f == "items") {
      arity(e, a, 0, "filter");
      if (v.is_undefined()) return Value::of_list({});
      if (v.kind != Value::Kind::kDict) render_error("can only get item pairs from a mapping", e.line);
      List pairs;
      for (const auto& [k, item] : *v.dict) {
        pairs.push_back(Value::of_list({Value::str(k), item}));
        pairs.back().b = true;
      }
      return Value::of_list(std::move(pairs));
    }
    if (f == "list") {
      arity(e, a, 0, "filter");
      return Value::of_list(iterate(v, e.line));
    }
    if (f == "select" || f == "reject" || f == "selectattr" || f == "rejectattr") {
      // Jinja2 returns a generator; a list prints differently but behaves the same under |list, |join, loops.
      if (!a.keywords.empty()) render_error("keyword arguments to '" + f + "' are not supported", e.line);
      const bool by_attr = f == "selectattr" || f == "rejectattr";
      const bool keep_if = f == "select" || f == "selectattr";
      size_t next_arg = 0;
      std::string attr;
      if (by_attr) {
        if (a.positional.empty()) render_error("'" + f + "' needs an attribute name", e.line);
        attr = need_str(a.positional[0], e);
        next_arg = 1;
      }
      std::string test_name;
      std::vector<Value> test_args;
      if (next_arg < a.positional.size()) {
        test_name = need_str(a.positional[next_arg], e);
        if (!is_supported_test(test_name)) unsupported("test '" + test_name + "'", e.line);
        test_args.assign(a.positional.begin() + long(next_arg) + 1, a.positional.end());
      }
      List kept;
      for (const auto& item : iterate(v, e.line)) {
        step(e.line);
        Value probe = item;
        if (by_attr) {
          size_t start = 0;
          while (true) {  // "a.b" and "0" parts, as Jinja2's make_attrgetter
            const size_t dot = attr.find('.', start);
            const std::string part = attr.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit) && part.size() < 18;
            probe = numeric ? this->item(probe, Value::integer(std::stoll(part)), e.line)
                            : this->item(probe, Value::str(part), e.line);
            if (dot == std::string::npos) break;
            start = dot + 1;
          }
        }
        const bool pass = test_name.empty() ? truthy(probe) : apply_test(test_name, probe, test_args, e.line);
        if (pass == keep_if) kept.push_back(item);
      }
      return Value::of_list(std::move(kept));
    }
    if (f == "replace") {
      arity(e, a, 3, "filter");
      const Value* old = a.get(0, "old");
      const Value* with = a.get(1, "new");
      const Value* count = a.get(2, "count");
      if (!old || !with) render_error("'replace' needs the old and the new text", e.line);
      if (count && count->kind != Value::Kind::kNone && !count->is_number())
        render_error("'replace' count must be an integer", e.line);
      const int64_t n = count && count->is_number() ? count->number() : -1;
      return check_size(Value::str(py_replace(py_str(v), py_str(*old), py_str(*with), n)), e.line);
    }
    // The string filters work on str(value), as Jinja2's soft_str does; a Markup input gives Markup back,
    // except from |title, which joins plain strings.
    const std::string s = py_str(v);
    Value result;
    if (f == "trim") {
      arity(e, a, 1, "filter");
      const Value* chars = a.get(0, "chars");
      if (chars && chars->kind != Value::Kind::kNone)
        result = Value::str(py_strip(s, true, true, &need_str(*chars, e)));
      else
        result = Value::str(py_strip(s, true, true));
    } else {
      arity(e, a, 0, "filter");
      if (f == "upper") result = Value::str(py_upper(s));
      if (f == "lower") result = Value::str(py_lower(s));
      if (f == "title") return Value::str(jinja_title(s));
      if (f == "capitalize") result = Value::str(py_capitalize(s));
      if (f == "string") result = Value::str(s);
    }
    result.b = v.kind == Value::Kind::kStr && v.b;
    return result;
  }

  bool test(const Expr& e) {
    const Value v = eval(*e.kids[0]);
    const Args a = args(e, 1);
    return apply_test(e.name, v, a.positional, e.line);
  }

  bool apply_test(const std::string& t, const Value& v, const std::vector<Value>& args, int line) {
    auto arg = [&]() -> const Value& {
      if (args.size() != 1) render_error("test '" + t + "' takes one argument", line);
      return args[0];
    };
    if (t != "divisibleby" && t != "eq" && t != "equalto" && t != "ne" && t != "in" && !args.empty())
      render_error("test '" + t + "' takes no argument", line);
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
      if (v.is_undefined()) undefined_error(v, line);
      if (!v.is_number()) render_error("test '" + t + "' needs an integer", line);
      int64_t divisor = 2;
      if (t == "divisibleby") {
        const Value& d = arg();
        if (!d.is_number()) render_error("test 'divisibleby' needs an integer argument", line);
        divisor = d.number();
        if (divisor == 0) render_error("integer division or modulo by zero", line);
      }
      const int64_t m = divisor == -1 ? 0 : v.number() % divisor;
      return t == "odd" ? m != 0 : m == 0;
    }
    if (t == "eq" || t == "equalto") return py_equal(v, arg());
    if (t == "ne") return !py_equal(v, arg());
    if (t == "in") return contains(arg(), v, line);
    render_error("no test named '" + t + "'", line);
  }

  Value call(const Expr& e) {
    const Args a = args(e, 0);
    if (e.name == "raise_exception") {
      if (a.positional.size() != 1) render_error("raise_exception() takes one argument", e.line);
      throw ChatTemplateError(py_str(a.positional[0]));
    }
    if (!is_builtin_function(e.name)) {
      const Value f = lookup(e.name);
      if (f.is_undefined()) undefined_error(f, e.line);
      render_error(std::string("'") + type_name(f) + "' object is not callable", e.line);
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
      auto same_kind = [&](std::string text) {  // Markup's string methods return Markup
        Value v = Value::str(std::move(text));
        v.b = obj.b;
        return v;
      };
      if (m == "strip" || m == "lstrip" || m == "rstrip") {
        if (a.positional.size() > 1) render_error("'." + m + "()' takes at most one argument", e.line);
        const std::string* chars = nullptr;
        if (!a.positional.empty() && a.positional[0].kind != Value::Kind::kNone) chars = &need_str(a.positional[0], e);
        return same_kind(py_strip(s, m != "rstrip", m != "lstrip", chars));
      }
      if (m == "upper" || m == "lower" || m == "title" || m == "capitalize") {
        no_args();
        if (m == "upper") return same_kind(py_upper(s));
        if (m == "lower") return same_kind(py_lower(s));
        if (m == "title") return same_kind(py_title(s));
        return same_kind(py_capitalize(s));
      }
      if (m == "split") {
        if (a.positional.size() > 2) render_error("'.split()' takes at most two arguments", e.line);
        const std::string* sep = nullptr;
        if (!a.positional.empty() && a.positional[0].kind != Value::Kind::kNone) {
          sep = &need_str(a.positional[0], e);
          if (sep->empty()) render_error("empty separator", e.line);
        }
        int64_t maxsplit = -1;
        if (a.positional.size() == 2) {
          if (!a.positional[1].is_number()) render_error("'.split()' maxsplit must be an integer", e.line);
          maxsplit = a.positional[1].number();
        }
        List parts;
        for (auto& part : py_split(s, sep, maxsplit)) parts.push_back(same_kind(std::move(part)));
        return check_size(Value::of_list(std::move(parts)), e.line);
      }
      if (m == "replace") {
        if (a.positional.size() < 2 || a.positional.size() > 3)
          render_error("'.replace()' takes two or three arguments", e.line);
        int64_t count = -1;
        if (a.positional.size() == 3) {
          if (!a.positional[2].is_number()) render_error("'.replace()' count must be an integer", e.line);
          count = a.positional[2].number();
        }
        return check_size(same_kind(py_replace(s, need_str(a.positional[0], e), need_str(a.positional[1], e), count)),
                          e.line);
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
      case ExprKind::kLiteral:
        return e.value;
      case ExprKind::kName:
        return lookup(e.name);
      case ExprKind::kAttr:
        return attribute(eval(*e.kids[0]), e.name, e.line);
      case ExprKind::kItem: {
        const Value obj = eval(*e.kids[0]);
        return item(obj, eval(*e.kids[1]), e.line);
      }
      case ExprKind::kSlice:
        return slice(eval(*e.kids[0]), e);
      case ExprKind::kNeg:
      case ExprKind::kPos: {
        const Value v = eval(*e.kids[0]);
        if (v.is_undefined()) undefined_error(v, e.line);
        if (!v.is_number())
          render_error(std::string("bad operand type for unary operator: '") + type_name(v) + "'", e.line);
        if (e.kind == ExprKind::kPos) return Value::integer(v.number());
        if (v.number() == INT64_MIN) render_error("integer overflow", e.line);
        return Value::integer(-v.number());
      }
      case ExprKind::kNot:
        return Value::boolean(!truthy(eval(*e.kids[0])));
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
      case ExprKind::kFilter:
        return check_size(filter(e), e.line);
      case ExprKind::kTest:
        return Value::boolean(test(e) != e.negated);
      case ExprKind::kCall:
        return call(e);
      case ExprKind::kMethod:
        return method(e);
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

  std::vector<Scope> scopes_;
  std::string out_;
  uint64_t steps_ = 0;
};

}  // namespace
}  // namespace jinja

ChatTemplate::ChatTemplate(std::string_view source) : root_(std::make_unique<Node>()) {
  root_->body = jinja::parse(jinja::lex(source));
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token) const {
  using jinja::List;
  using jinja::Value;
  List list;
  list.reserve(messages.size());
  for (const auto& m : messages)
    list.push_back(Value::of_dict({{"role", Value::str(m.role)}, {"content", Value::str(m.content)}}));
  std::vector<std::pair<std::string, Value>> globals;
  globals.emplace_back("messages", Value::of_list(std::move(list)));
  globals.emplace_back("add_generation_prompt", Value::boolean(add_generation_prompt));
  globals.emplace_back("bos_token", Value::str(bos_token));
  globals.emplace_back("eos_token", Value::str(eos_token));
  return jinja::Renderer(std::move(globals)).run(root_->body);
}

}  // namespace mlfaas
