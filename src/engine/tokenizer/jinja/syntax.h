#pragma once
// Tokens and the syntax tree of a chat template, and the two functions that produce them.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer/jinja/value.h"

namespace mlfaas::jinja {

enum class Tok { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kOp, kEnd };

struct Token {
  Tok type;
  std::string text;  // data, name, decoded string, operator, or the integer's digits
  int line;
};

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
  std::string text;                                // kText
  ExprPtr expr;                                    // kOutput, kSet value, kFor iterable
  ExprPtr filter;                                  // kFor's "if" condition
  std::vector<std::string> targets;                // kFor loop variables; kSet: {name} or {namespace, attribute}
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf: condition and body per if/elif
  Body body;                                       // kFor body
  Body else_body;                                  // kIf / kFor else
};

// The source as Jinja2's lexer splits it, with trim_blocks/lstrip_blocks/{%- -%} already applied to the data.
std::vector<Token> lex(std::string_view source);
// The tree, or ChatTemplateError for a syntax error or a construct outside the subset.
Body parse(std::vector<Token> tokens);

bool is_supported_test(const std::string& name);
// raise_exception, namespace, range: the globals the renderer provides.
bool is_builtin_function(const std::string& name);

}  // namespace mlfaas::jinja
