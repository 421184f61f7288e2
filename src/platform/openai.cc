#include "platform/openai.h"

#include <set>

#include "common/json_limits.h"

namespace mlfaas::platform {

using nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

[[noreturn]] void refuse(const std::string& message, const std::string& param = "") {
  throw OpenAIError{400, message, "invalid_request_error", param, ""};
}

// OpenAI's fields that the llm function has no use for, accepted when they ask for OpenAI's default behaviour.
bool neutral(const std::string& key, const json& v) {
  if (key == "user" || key == "logit_bias" || key == "stream_options") return true;
  if (key == "n") return v.is_null() || v == 1;
  if (key == "presence_penalty" || key == "frequency_penalty") return v.is_null() || (v.is_number() && v == 0);
  if (key == "echo" || key == "logprobs") return v.is_null() || v == false;
  if (key == "top_logprobs") return v.is_null();
  if (key == "best_of") return v.is_null() || v == 1;
  if (key == "suffix") return v.is_null();
  return false;
}

}  // namespace

std::string openai_error_body(const OpenAIError& e) {
  return dump(json{{"error",
                    {{"message", e.message},
                     {"type", e.type},
                     {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                     {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}});
}

OpenAIRequest parse_openai_request(std::string_view body, bool chat) {
  json in;
  if (common::json_nesting_depth(body) > common::kMaxJsonDepth) refuse("the request body nests too deeply");
  try {
    in = json::parse(body);
  } catch (const std::exception&) {
    refuse("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
           "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)");
  }
  if (!in.is_object()) refuse("the request body must be a JSON object");
  OpenAIRequest out;
  out.chat = chat;
  json& ev = out.llm_event = json::object();
  const std::set<std::string> passed = {"temperature", "top_p", "stop", "seed"};
  for (auto& [key, v] : in.items()) {
    if (key == "model") {
      if (!v.is_string() && !v.is_null()) refuse("'model' must be a string", "model");
      if (v.is_string()) out.model = v.get<std::string>();
    } else if (key == "stream") {
      if (!v.is_boolean() && !v.is_null()) refuse("'stream' must be a boolean", "stream");
      out.stream = v.is_boolean() && v.get<bool>();
    } else if ((key == "max_tokens" || (chat && key == "max_completion_tokens")) && !v.is_null()) {
      if (!v.is_number_integer() || v.get<int64_t>() < 1) refuse("'" + key + "' must be a positive integer", key);
      ev["max_new_tokens"] = v;
    } else if (passed.count(key)) {
      if (!v.is_null()) ev[key] = v;  // the function checks types and ranges; its 400 comes back as OpenAI's
    } else if (!chat && key == "prompt") {
      // OpenAI also takes a list of prompts (one answer each); one prompt in a list is the same as the string.
      if (v.is_array() && v.size() == 1 && v[0].is_string()) ev["prompt"] = v[0];
      else if (v.is_string()) ev["prompt"] = v;
      else refuse("'prompt' must be a string (or a list of one string)", "prompt");
      if (ev["prompt"].get<std::string>().empty()) refuse("'prompt' must not be empty", "prompt");
    } else if (chat && key == "messages") {
      if (!v.is_array() || v.empty()) refuse("'messages' must be a non-empty array", "messages");
      json messages = json::array();
      for (size_t i = 0; i < v.size(); ++i) {
        const json& m = v[i];
        std::string at = "messages[" + std::to_string(i) + "]";
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
          refuse(at + " must be an object with a string 'role'", at);
        std::string content;
        if (m.contains("content") && m["content"].is_string()) {
          content = m["content"].get<std::string>();
        } else if (m.contains("content") && m["content"].is_array()) {  // content parts: text only
          for (const json& part : m["content"]) {
            if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
                !part["text"].is_string())
              refuse(at + ".content: only text parts are supported", at + ".content");
            content += part["text"].get<std::string>();
          }
        } else {
          refuse(at + ".content must be a string or a list of text parts", at + ".content");
        }
        messages.push_back({{"role", m["role"]}, {"content", content}});
      }
      ev["messages"] = messages;
    } else if (neutral(key, v)) {
      if (key == "stream_options" && v.is_object() && v.contains("include_usage"))
        out.include_usage = v["include_usage"] == true;
    } else {
      refuse("Unrecognized request argument supplied: " + key, key);
    }
  }
  if (!chat && !ev.contains("prompt")) refuse("you must provide a 'prompt'", "prompt");
  if (chat && !ev.contains("messages")) refuse("you must provide 'messages'", "messages");
  if (out.stream) {
    ev["stream"] = true;
    ev["stream_format"] = "ndjson";
  }
  return out;
}

json openai_answer(bool chat, const OpenAIAnswerId& who, const json& llm) {
  std::string text = llm.value("generated_text", "");
  json finish = llm.contains("finish_reason") ? llm["finish_reason"] : json("stop");
  json usage = llm.value("usage", json::object());
  int prompt = usage.value("prompt_tokens", 0), completion = usage.value("completion_tokens", 0);
  json choice = chat ? json{{"index", 0},
                            {"message", {{"role", "assistant"}, {"content", text}}},
                            {"logprobs", nullptr},
                            {"finish_reason", finish}}
                     : json{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish}};
  return {{"id", who.id},
          {"object", chat ? "chat.completion" : "text_completion"},
          {"created", who.created},
          {"model", who.model},
          {"choices", json::array({choice})},
          {"usage", {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}}}};
}

json openai_chunk(bool chat, const OpenAIAnswerId& who, std::string_view text, const json& finish_reason, bool first) {
  json choice;
  if (chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || finish_reason.is_null()) delta["content"] = std::string(text);
    choice = {{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
  } else {
    choice = {{"index", 0}, {"text", std::string(text)}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
  }
  return {{"id", who.id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", who.created},
          {"model", who.model},
          {"choices", json::array({choice})}};
}

OpenAIError openai_error_from_llm(const json& llm) {
  if (!llm.is_object() || !llm.contains("statusCode")) return {0, "", "", "", ""};
  int status = llm["statusCode"].is_number_integer() ? llm["statusCode"].get<int>() : 500;
  if (status < 400) return {0, "", "", "", ""};
  std::string message = "the function answered " + std::to_string(status);
  if (llm.contains("body") && llm["body"].is_string()) {
    json body = json::parse(llm["body"].get<std::string>(), nullptr, false);
    if (body.is_object() && body.contains("details") && body["details"].is_string())
      message = body["details"].get<std::string>();
    else if (body.is_object() && body.contains("error") && body["error"].is_string())
      message = body["error"].get<std::string>();
  }
  return {status, message, status < 500 ? "invalid_request_error" : "server_error", "", ""};
}

}  // namespace mlfaas::platform
