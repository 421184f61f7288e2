// Chat templates against real Jinja2: every row of tests/data/llama/chat_templates/expected.jsonl (real models'
// templates over many conversations) and snippets.jsonl (the lexer's whitespace rules, Python value semantics)
// was rendered by tools/render_chat_template.py with the environment HF's apply_chat_template uses, and must
// come out byte for byte, or fail where Jinja2 failed (with raise_exception's exact message). TinyLlama's
// template must also reproduce the renderings real HF transformers made in tiny-llama/expected.jsonl. Then the
// refusals: constructs outside the subset and syntax errors name themselves and their line, and hostile
// templates (deep nesting, runaway loops, a megabyte of source) end in an error rather than a crash.
#include "engine/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include "jsonl_fixtures.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using mlfaas::ChatMessage;
using mlfaas::ChatTemplate;
using mlfaas::ChatTemplateError;

const std::string kDir = std::string(MLFAAS_TEST_DATA) + "/llama/chat_templates";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using mlfaas::test_fixtures::read_jsonl;

std::vector<ChatMessage> messages_of(const nlohmann::json& list) {
  std::vector<ChatMessage> out;
  for (const auto& m : list) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  return out;
}

// Renders and compares one expected row ({rendered} or {error, raised}); returns whether it matched.
bool matches(const ChatTemplate& tmpl, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
             const std::string& bos, const std::string& eos, const nlohmann::json& row, const std::string& label) {
  std::string got;
  try {
    got = tmpl.render(messages, add_generation_prompt, bos, eos);
  } catch (const ChatTemplateError& e) {
    if (!row.contains("error")) {
      ADD_FAILURE() << label << ": unexpected error: " << e.what();
      return false;
    }
    if (row["raised"].get<bool>() && e.what() != row["error"].get<std::string>()) {
      ADD_FAILURE() << label << ": raise_exception message\n expected " << row["error"] << "\n got      " << e.what();
      return false;
    }
    return true;
  }
  if (row.contains("error")) {
    ADD_FAILURE() << label << ": rendered " << nlohmann::json(got).dump() << " where Jinja2 failed with "
                  << row["error"];
    return false;
  }
  if (got != row["rendered"].get<std::string>()) {
    ADD_FAILURE() << label << "\n expected " << row["rendered"].dump() << "\n got      " << nlohmann::json(got).dump();
    return false;
  }
  return true;
}

TEST(ChatTemplate, ModelTemplatesMatchJinja2OnEveryRow) {
  const auto rows = read_jsonl(kDir + "/expected.jsonl");
  ASSERT_GE(rows.size(), 200u);
  std::map<std::string, ChatTemplate> templates;
  size_t same = 0, errors = 0, raised = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const std::string name = row["template"].get<std::string>();
    auto it = templates.find(name);
    if (it == templates.end()) it = templates.emplace(name, ChatTemplate(read_file(kDir + "/" + name))).first;
    same += matches(it->second, messages_of(row["messages"]), row["add_generation_prompt"].get<bool>(),
                    row["bos_token"].get<std::string>(), row["eos_token"].get<std::string>(), row,
                    name + " row " + std::to_string(i + 1));
    errors += row.contains("error");
    raised += row.contains("error") && row["raised"].get<bool>();
  }
  EXPECT_EQ(same, rows.size());
  EXPECT_EQ(templates.size(), 10u);
  EXPECT_GE(raised, 30u);  // the non-alternating and system-role conversations
  EXPECT_GT(errors, raised);
}

TEST(ChatTemplate, SnippetsMatchJinja2) {
  const auto rows = read_jsonl(kDir + "/snippets.jsonl");
  ASSERT_GE(rows.size(), 40u);
  const auto& header = rows[0];
  const auto messages = messages_of(header["messages"]);
  size_t same = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const std::string source = rows[i]["source"].get<std::string>();
    try {
      const ChatTemplate tmpl(source);
      same +=
          matches(tmpl, messages, header["add_generation_prompt"].get<bool>(), header["bos_token"].get<std::string>(),
                  header["eos_token"].get<std::string>(), rows[i], "snippet " + nlohmann::json(source).dump());
    } catch (const ChatTemplateError& e) {
      // Refused when parsed: right only where Jinja2 failed too (its syntax errors come from compiling).
      if (rows[i].contains("error") && !rows[i]["raised"].get<bool>())
        ++same;
      else
        ADD_FAILURE() << "snippet " << nlohmann::json(source).dump() << " refused: " << e.what();
    }
  }
  EXPECT_EQ(same, rows.size() - 1);
}

TEST(ChatTemplate, TinyLlamaReproducesHuggingFaceRenderings) {
  const auto config =
      nlohmann::json::parse(read_file(std::string(MLFAAS_TEST_DATA) + "/llama/tiny-llama/tokenizer_config.json"));
  const ChatTemplate tmpl(config["chat_template"].get<std::string>());
  size_t chat_rows = 0;
  for (const auto& row : read_jsonl(std::string(MLFAAS_TEST_DATA) + "/llama/tiny-llama/expected.jsonl")) {
    if (row.value("kind", "") != "chat") continue;
    ++chat_rows;
    EXPECT_EQ(tmpl.render(messages_of(row["messages"]), true, config["bos_token"].get<std::string>(),
                          config["eos_token"].get<std::string>()),
              row["rendered"].get<std::string>());
  }
  EXPECT_EQ(chat_rows, 5u);
}

std::string error_of(const std::string& source, const std::vector<ChatMessage>& messages = {}) {
  try {
    const ChatTemplate tmpl(source);
    tmpl.render(messages, true, "<s>", "</s>");
  } catch (const ChatTemplateError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ChatTemplate, RefusesConstructsOutsideTheSubsetByNameAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"{% macro m() %}x{% endmacro %}", "'{% macro %}' at line 1"},
      {"a\n{% include 'other.jinja' %}", "'{% include %}' at line 2"},
      {"\n\n{% call m() %}{% endcall %}", "'{% call %}' at line 3"},
      {"{% import 'x' as y %}", "'{% import %}'"},
      {"{% extends 'base' %}", "'{% extends %}'"},
      {"{% raw %}{{ x }}{% endraw %}", "'{% raw %}'"},
      {"{% filter upper %}x{% endfilter %}", "'{% filter %}'"},
      {"{% for m in messages %}{% break %}{% endfor %}", "'{% break %}'"},
      {"{% set x %}block{% endset %}", "'{% set %} block'"},
      {"{{ messages | pprint }}", "'filter 'pprint'' at line 1"},
      {"\n{{ messages | map(attribute='role') | list }}", "'filter 'map'' at line 2"},
      {"{{ x is sameas none }}", "'test 'sameas''"},
      {"{{ dict(a=1) }}", "'function call 'dict()''"},
      {"{{ cycler('a', 'b') }}", "'function call 'cycler()''"},
      {"{{ '{}'.format(1) }}", "'method call '.format()''"},
      {"{{ messages | unique | list }}", "'filter 'unique''"},
      {"{{ messages | join(', ', attribute='role') }}", "'keyword argument 'attribute' to filter 'join''"},
      {"{{ 1.5 }}", "'float literal'"},
      {"{{ 3 / 2 }}", "true division"},
      {"{{ messages | selectattr('role', 'sameas', none) | list }}", "'test 'sameas''"},
      {"{{ messages[0, 1] }}", "'tuple subscript'"},
      {"{% for m in messages recursive %}{% endfor %}", "'recursive for loop'"},
      {"{% for m in messages %}{{ loop.cycle('a', 'b') }}{% endfor %}", "'method call '.cycle()''"},
  };
  for (const auto& [source, expected] : cases) {
    const std::string what = error_of(source, {{"user", "hi"}});
    EXPECT_NE(what.find("unsupported construct"), std::string::npos) << source << " -> " << what;
    EXPECT_NE(what.find(expected), std::string::npos) << source << " -> " << what;
    EXPECT_NE(what.find("--chat-template FILE"), std::string::npos) << source << " -> " << what;
  }
}

TEST(ChatTemplate, SyntaxErrorsNameTheirLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"{% if x %}\nno end", "line 2: missing '{% endif %}' for the 'if' at line 1"},
      {"ok\n{% for x in y %}", "missing '{% endfor %}'"},
      {"{% endif %}", "line 1: unexpected 'endif'"},
      {"a\nb\n{{ x ", "line 3: unexpected end of template, expected '}}'"},
      {"{{ 'unterminated }}", "line 1: unterminated string literal"},
      {"\n{# never closed", "line 2: missing end of comment tag"},
      {"{% frobnicate %}", "unknown tag 'frobnicate'"},
      {"{{ x ) }}", "unexpected ')'"},
      {"{{ [1, 2 }}", "unexpected '}', expected ']'"},
      {"{{ }}", "expected an expression"},
      {"{{ a b }}", "expected '}}', got 'b'"},
      {"{% if %}{% endif %}", "unexpected '%}'"},
      {"{{ x @ y }}", "unexpected character '@'"},
      {"{% for in xs %}{% endfor %}", "expected 'in', got 'xs'"},
      {"{% for x y %}{% endfor %}", "expected 'in', got 'y'"},
      {"{% set = 1 %}", "expected a name, got '='"},
  };
  for (const auto& [source, expected] : cases) {
    const std::string what = error_of(source);
    EXPECT_NE(what.find("syntax error"), std::string::npos) << source << " -> " << what;
    EXPECT_NE(what.find(expected), std::string::npos) << source << " -> " << what;
  }
}

TEST(ChatTemplate, RaiseExceptionCarriesTheTemplatesMessage) {
  const ChatTemplate llama2(read_file(kDir + "/llama-2-7b-chat.jinja"));
  const std::vector<ChatMessage> bad = {{"user", "a"}, {"user", "b"}};
  try {
    llama2.render(bad, false, "<s>", "</s>");
    FAIL() << "rendered a conversation whose roles do not alternate";
  } catch (const ChatTemplateError& e) {
    EXPECT_STREQ(e.what(), "Conversation roles must alternate user/assistant/user/assistant/...");
  }
  EXPECT_EQ(error_of("{{ raise_exception('bad: ' ~ messages[0].role) }}", {{"tool", ""}}), "bad: tool");
}

TEST(ChatTemplate, RenderErrorsNameTheirLine) {
  EXPECT_EQ(error_of("\n{{ nothing.here }}"), "chat template error at line 2: 'nothing' is undefined");
  EXPECT_NE(error_of("{{ 1 + 'x' }}").find("unsupported operand type(s) for +: 'int' and 'str'"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 // 0 }}").find("division or modulo by zero"), std::string::npos);
  EXPECT_NE(error_of("{{ 999999999999999999 * 10 }}").find("integer overflow"), std::string::npos);
  EXPECT_NE(error_of("{% set x = 1 %}{% set x.y = 2 %}").find("non-namespace"), std::string::npos);
  // A function HF does not pass either: undefined there too, so it fails only when reached.
  EXPECT_EQ(error_of("{% if strftime_now is defined %}{{ strftime_now('%Y') }}{% endif %}ok"), "(no error)");
  EXPECT_EQ(error_of("\n\n{{ strftime_now('%Y') }}"), "chat template error at line 3: 'strftime_now' is undefined");
  EXPECT_NE(error_of("{{ bos_token() }}").find("'str' object is not callable"), std::string::npos);
}

TEST(ChatTemplate, NestingBeyondTheLimitIsRefusedNotACrash) {
  auto nested_ifs = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "{% if true %}";
    s += "x";
    for (int i = 0; i < n; ++i) s += "{% endif %}";
    return s;
  };
  EXPECT_EQ(ChatTemplate(nested_ifs(64)).render({}, false, "", ""), "x");
  EXPECT_NE(error_of(nested_ifs(65)).find("blocks nested deeper than 64"), std::string::npos);
  EXPECT_NE(error_of(nested_ifs(100000)).find("blocks nested deeper than 64"), std::string::npos);

  const std::string parens = "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  EXPECT_NE(error_of(parens).find("expression nested deeper than 128"), std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(100000, '-') + "1 }}").find("nested deeper"), std::string::npos);
  std::string nots = "{{ ";
  for (int i = 0; i < 100000; ++i) nots += "not ";
  EXPECT_NE(error_of(nots + "x }}").find("nested deeper"), std::string::npos);
  std::string chain = "{{ 1";  // a left-deep tree built by a loop, not by recursion
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  EXPECT_NE(error_of(chain + " }}").find("nested deeper"), std::string::npos);
  std::string subscripts = "{{ messages";
  for (int i = 0; i < 100000; ++i) subscripts += "[0]";
  EXPECT_NE(error_of(subscripts + " }}").find("nested deeper"), std::string::npos);
}

TEST(ChatTemplate, MegabyteTemplateRenders) {
  std::string source;
  std::string expected;
  while (source.size() < (1u << 20)) {
    source += "{% for m in messages %}{{ m.role }}:{{ m.content | trim }}{% endfor %} plain text {# note #}\n";
    expected += "user:hi plain text ";  // trim_blocks takes the newline after the comment tag too
  }
  const ChatTemplate tmpl(source);
  const std::string got = tmpl.render(std::vector<ChatMessage>{{"user", " hi "}}, false, "", "");
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
}

TEST(ChatTemplate, RunawayTemplatesStopWithAnError) {
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}").find("steps"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000000000 }}").find("too large"), std::string::npos);
  EXPECT_NE(error_of("{{ range(1000000) }}").find("range too big"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}")
                .find("nested deeper than 64"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace() %}{% set ns.me = [ns] %}{{ ns }}").find("namespace stored"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}"
                     "{% set ns.s = ns.s + ns.s %}{% endfor %}")
                .find("64 MiB"),
            std::string::npos);
}

// The step budget is sized for conversations, not for one template: every fixture template renders 10,000
// alternating messages (some 200 KB of prompt) well inside it.
TEST(ChatTemplate, LongConversationsFitTheStepBudget) {
  std::vector<ChatMessage> messages;
  for (int i = 0; i < 10000; ++i)
    messages.push_back({i % 2 ? "assistant" : "user", "message number " + std::to_string(i)});
  for (const char* name :
       {"tinyllama-1.1b-chat-v1.0.jinja", "llama-2-7b-chat.jinja", "mistral-7b-instruct-v0.2.jinja",
        "mistral-instruct-v1-system.jinja", "chatml-openhermes-2.5-mistral-7b.jinja", "qwen1.5-chat.jinja",
        "gemma-7b-it.jinja", "deepseek-coder-33b-instruct.jinja", "llama-3.2-instruct.jinja"}) {
    const ChatTemplate tmpl(read_file(kDir + "/" + name));
    std::string prompt;
    EXPECT_NO_THROW(prompt = tmpl.render(messages, true, "<s>", "</s>")) << name;
    EXPECT_NE(prompt.find("message number 9999"), std::string::npos) << name;
  }
}

TEST(ChatTemplate, MovedTemplateStillRenders) {
  ChatTemplate a("{{ bos_token }}{{ messages | length }}{{ eos_token }}");
  ChatTemplate b(std::move(a));
  EXPECT_EQ(b.render(std::vector<ChatMessage>{{"user", "x"}, {"assistant", "y"}}, false, "<s>", "</s>"), "<s>2</s>");
}

}  // namespace
