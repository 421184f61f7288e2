// Parser: Jinja2's grammar and operator precedence for the supported subset.
#include <algorithm>
#include <iterator>

#include "engine/tokenizer/jinja/syntax.h"

namespace mlfaas::jinja {
namespace {

const char* const kFilters[] = {"trim",  "length",     "count",  "upper",  "lower",      "default",    "d",
                                "title", "capitalize", "first",  "last",   "string",     "join",       "tojson",
                                "items", "list",       "select", "reject", "selectattr", "rejectattr", "replace"};
const char* const kTests[] = {"defined",     "undefined", "none",    "string",   "number",   "integer", "boolean",
                              "true",        "false",     "mapping", "sequence", "iterable", "odd",     "even",
                              "divisibleby", "eq",        "equalto", "ne",       "in"};
const char* const kMethods[] = {"strip",    "lstrip", "rstrip",  "title", "upper", "lower",  "capitalize", "startswith",
                                "endswith", "split",  "replace", "items", "keys",  "values", "get"};
const char* const kFunctions[] = {"raise_exception", "namespace", "range"};
// Jinja2's other default globals: refused, since a template calling them would fail here and work in HF.
const char* const kOtherJinjaGlobals[] = {"dict", "lipsum", "cycler", "joiner"};
// Jinja2 statements outside the subset, refused by name rather than reported as unknown tags.
const char* const kKnownTags[] = {"macro", "call",       "filter", "include", "import",   "from",  "extends", "block",
                                  "with",  "autoescape", "do",     "break",   "continue", "print", "trans",   "endset"};

// The keyword arguments the supported filters accept (by Jinja2's parameter names); any other would be ignored.
bool filter_takes_keyword(const std::string& filter, const std::string& keyword) {
  if (filter == "default" || filter == "d") return keyword == "default_value" || keyword == "boolean";
  if (filter == "trim") return keyword == "chars";
  if (filter == "join") return keyword == "d";
  if (filter == "tojson") return keyword == "indent";
  if (filter == "replace") return keyword == "old" || keyword == "new" || keyword == "count";
  return false;
}

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
      case Tok::kEnd:
        return "end of template";
      case Tok::kData:
        return "template text";
      case Tok::kVarBegin:
        return "'{{'";
      case Tok::kVarEnd:
        return "'}}'";
      case Tok::kBlockBegin:
        return "'{%'";
      case Tok::kBlockEnd:
        return "'%}'";
      case Tok::kString:
        return "string literal";
      case Tok::kInt:
        return "integer literal";
      default:
        return "'" + t.text + "'";
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
    ExprPtr cond = parse_tuple(false);  // Jinja2 parses if/elif tests without "a if b else c"
    expect(Tok::kBlockEnd, "'%}'");
    while (true) {
      Body body = parse_body({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (peek().type == Tok::kEnd)
        syntax_error("missing '{% endif %}' for the 'if' at line " + std::to_string(line), peek().line);
      next();  // {%
      const std::string tag = next().text;
      if (tag == "elif") {
        cond = parse_tuple(false);
        expect(Tok::kBlockEnd, "'%}'");
        continue;
      }
      if (tag == "else") {
        expect(Tok::kBlockEnd, "'%}'");
        s->else_body = parse_body({"endif"});
        if (peek().type == Tok::kEnd)
          syntax_error("missing '{% endif %}' for the 'if' at line " + std::to_string(line), peek().line);
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
    if (peek().type == Tok::kEnd)
      syntax_error("missing '{% endfor %}' for the 'for' at line " + std::to_string(line), peek().line);
    next();
    if (next().text == "else") {
      expect(Tok::kBlockEnd, "'%}'");
      s->else_body = parse_body({"endfor"});
      if (peek().type == Tok::kEnd)
        syntax_error("missing '{% endfor %}' for the 'for' at line " + std::to_string(line), peek().line);
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
      if (peek().type == Tok::kOp && (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
                                      peek().text == ">" || peek().text == "<=" || peek().text == ">=")) {
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
        // Any other name is undefined in HF's render too (it passes only the messages and special tokens), so
        // calling it fails there and here alike, at render time; templates guard such calls with "is defined".
        if (one_of(e->name, kOtherJinjaGlobals)) unsupported("function call '" + e->name + "()'", line);
        std::vector<ExprPtr> kids;
        std::vector<std::string> keywords;
        parse_call_args(kids, keywords);
        const std::string fn = e->name;
        if (fn == "namespace" && keywords.size() != kids.size())
          unsupported("namespace() with positional arguments", line);
        if (one_of(fn, kFunctions) && fn != "namespace" && !keywords.empty())
          unsupported("keyword arguments to '" + fn + "()'", line);
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
        for (const auto& k : keywords)
          if (!filter_takes_keyword(name, k))
            unsupported("keyword argument '" + k + "' to filter '" + name + "'", line);
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

}  // namespace

Body parse(std::vector<Token> tokens) { return Parser(std::move(tokens)).parse_template(); }
bool is_supported_test(const std::string& name) { return one_of(name, kTests); }
bool is_builtin_function(const std::string& name) { return one_of(name, kFunctions); }

}  // namespace mlfaas::jinja
