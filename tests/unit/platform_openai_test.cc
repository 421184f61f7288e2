// The OpenAI-compatible routes' translation (platform/openai.h): OpenAI requests become the llm function's events,
// its answers and streamed pieces become OpenAI's objects and chunks, and the template marks the functions
// serving the routes with Metadata OpenAICompatible.
#include <gtest/gtest.h>

#include "platform/openai.h"
#include "platform/template.h"

using namespace mlfaas::platform;
using nlohmann::json;

namespace {

OpenAIError refusal(const std::string& body, bool chat = false) {
  try {
    parse_openai_request(body, chat);
  } catch (const OpenAIError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << body;
  return {};
}

TEST(OpenAIRequest, CompletionBecomesTheLlmEvent) {
  OpenAIRequest r = parse_openai_request(
      R"({"model": "Story", "prompt": "Once", "max_tokens": 5, "temperature": 0, "top_p": 0.9, "stop": ["\n"],
          "seed": 3, "n": 1, "user": "u"})",
      false);
  EXPECT_EQ(r.model, "Story");
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.llm_event, json::parse(R"({"prompt": "Once", "max_new_tokens": 5, "temperature": 0, "top_p": 0.9,
                                         "stop": ["\n"], "seed": 3})"));
}

TEST(OpenAIRequest, StreamingAsksForNdjson) {
  OpenAIRequest r = parse_openai_request(R"({"prompt": ["Once"], "stream": true,
                                             "stream_options": {"include_usage": true}})", false);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.model.empty());
  EXPECT_EQ(r.llm_event, json::parse(R"({"prompt": "Once", "stream": true, "stream_format": "ndjson"})"));
}

TEST(OpenAIRequest, ChatMessagesKeepRoleAndTextContent) {
  OpenAIRequest r = parse_openai_request(
      R"({"messages": [{"role": "system", "content": "Be brief.", "name": "x"},
                       {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}],
          "max_completion_tokens": 7})",
      true);
  EXPECT_EQ(r.llm_event, json::parse(R"({"messages": [{"role": "system", "content": "Be brief."},
                                                       {"role": "user", "content": "Hi there"}],
                                         "max_new_tokens": 7})"));
}

TEST(OpenAIRequest, BadInputIsRefusedNamingTheParameter) {
  EXPECT_EQ(refusal(R"({"prompt": ""})").param, "prompt");
  EXPECT_EQ(refusal(R"({})").param, "prompt");
  EXPECT_EQ(refusal(R"({"prompt": 3})").param, "prompt");
  EXPECT_EQ(refusal(R"({"prompt": ["a", "b"]})").param, "prompt");
  EXPECT_EQ(refusal(R"({"prompt": "a", "max_tokens": "5"})").param, "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "a", "max_tokens": 0})").param, "max_tokens");
  EXPECT_EQ(refusal(R"({"prompt": "a", "stream": "yes"})").param, "stream");
  EXPECT_EQ(refusal(R"({"prompt": "a", "n": 2})").param, "n");
  EXPECT_EQ(refusal(R"({"prompt": "a", "wat": 1})").param, "wat");
  EXPECT_EQ(refusal(R"({"prompt": "a", "messages": []})").param, "messages");  // not a completions field
  EXPECT_EQ(refusal(R"({"messages": []})", true).param, "messages");
  EXPECT_EQ(refusal(R"({"messages": [{"role": "user"}]})", true).param, "messages[0].content");
  EXPECT_EQ(refusal(R"({"messages": [{"content": "x"}]})", true).param, "messages[0]");
  OpenAIError e = refusal("{\"prompt\": ");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(refusal("[1]").status, 400);
}

TEST(OpenAIAnswer, ErrorBodyHasOpenAIsFourFields) {
  json e = json::parse(openai_error_body({404, "no such model", "invalid_request_error", "model", "model_not_found"}));
  EXPECT_EQ(e, json::parse(R"({"error": {"message": "no such model", "type": "invalid_request_error",
                                          "param": "model", "code": "model_not_found"}})"));
  json plain = json::parse(openai_error_body({400, "bad", "invalid_request_error", "", ""}));
  EXPECT_TRUE(plain["error"]["param"].is_null());
  EXPECT_TRUE(plain["error"]["code"].is_null());
}

TEST(OpenAIAnswer, ShapesOfCompletionAndChat) {
  json llm = json::parse(R"({"generated_text": " there was", "finish_reason": "length",
                             "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})");
  OpenAIAnswerId who{"cmpl-1", 1700000000, "Story"};
  json c = openai_answer(false, who, llm);
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["choices"][0]["text"], " there was");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(c["usage"], json::parse(R"({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})"));
  EXPECT_EQ(c["created"], 1700000000);
  EXPECT_EQ(c["model"], "Story");
  json chat = openai_answer(true, who, llm);
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"], json::parse(R"({"role": "assistant", "content": " there was"})"));
}

TEST(OpenAIAnswer, ChunksCarryTextThenFinishReason) {
  OpenAIAnswerId who{"chatcmpl-1", 1, "Story"};
  json first = openai_chunk(true, who, "Once", nullptr, true);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"], json::parse(R"({"role": "assistant", "content": "Once"})"));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  json last = openai_chunk(true, who, "", "stop", false);
  EXPECT_EQ(last["choices"][0]["delta"], json::object());
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  json text = openai_chunk(false, who, " upon", nullptr, false);
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["text"], " upon");
}

TEST(OpenAIAnswer, TheFunctionsBadRequestBecomesA400) {
  json llm = {{"statusCode", 400}, {"body", R"({"error": "Invalid request", "details": "prompt too long"})"}};
  OpenAIError e = openai_error_from_llm(llm);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.message, "prompt too long");
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(openai_error_from_llm(json::parse(R"({"generated_text": "x"})")).status, 0);
}

TEST(OpenAITemplate, MetadataMarksTheServingFunctions) {
  const char* yaml = R"(
Transform: AWS::Serverless-2016-10-31
Resources:
  Story:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile, OpenAICompatible: true}
    Properties: {CodeUri: ., Runtime: provided.al2023, Handler: llm}
  Other:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ., Runtime: provided.al2023, Handler: echo}
)";
  Template t = parse_template(yaml, "t.yaml", ".");
  ASSERT_EQ(t.functions.size(), 2u);
  EXPECT_TRUE(t.function_by_name("Story")->openai_compatible);
  EXPECT_FALSE(t.function_by_name("Other")->openai_compatible);
  std::string bad = yaml;
  bad.replace(bad.find("OpenAICompatible: true"), 22, "OpenAICompatible: yes");
  try {
    parse_template(bad, "t.yaml", ".");
    FAIL() << "accepted OpenAICompatible: yes";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("Resources.Story.Metadata.OpenAICompatible"), std::string::npos) << e.what();
  }
}

}  // namespace
