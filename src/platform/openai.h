#pragma once
// OpenAI's completions and chat completions API in terms of the `llm` function's events (docs/LLM.md,
// "OpenAI-compatible routes"): requests become direct invocations, the function's answers and streamed pieces
// become OpenAI's objects and chunks. Pure translation, so the platform never links the engine.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace mlfaas::platform {

// An answer in OpenAI's error shape {"error": {"message", "type", "param", "code"}}.
struct OpenAIError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // empty: null
  std::string code;   // empty: null
};
std::string openai_error_body(const OpenAIError& e);

struct OpenAIRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage and no choices
  std::string model;           // empty: the default function
  nlohmann::json llm_event;    // the `llm` function's direct event
};

// Throws OpenAIError for a body OpenAI would refuse, or one the llm function cannot serve (n > 1, logprobs).
OpenAIRequest parse_openai_request(std::string_view body, bool chat);

// The identity of one answer: its id, its creation time (Unix seconds) and the model (function) named in it.
struct OpenAIAnswerId {
  std::string id;
  int64_t created = 0;
  std::string model;
};

// The non-streamed answer from the function's {"generated_text", "finish_reason", "usage"}.
nlohmann::json openai_answer(bool chat, const OpenAIAnswerId& who, const nlohmann::json& llm_answer);
// One streamed chunk: a piece of text (finish_reason null), or the last one (empty text, finish_reason given).
nlohmann::json openai_chunk(bool chat, const OpenAIAnswerId& who, std::string_view text, const nlohmann::json& finish_reason,
                            bool first);
// The function's 400 answer ({"statusCode": 400, "body": "{\"error\", \"details\"}"}) as an OpenAIError, or nullopt-like
// status 0 when `llm_answer` is not an error.
OpenAIError openai_error_from_llm(const nlohmann::json& llm_answer);

}  // namespace mlfaas::platform
