#include "runtime/events.h"

#include "common/codec.h"
#include "common/json_limits.h"

namespace mlfaas::runtime {

using nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json bad_request_body(const BadRequest& e) { return {{"error", e.error}, {"details", e.details}}; }

// Lambda payloads and API Gateway bodies are JSON text; both must be valid UTF-8 before parsing so that the
// caller learns which of the two rules it broke.
json parse_body(const std::string& text) {
  if (!lambda::is_valid_utf8(text)) throw BadRequest("Invalid UTF-8", "the request body is not valid UTF-8");
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw BadRequest("Invalid JSON", "the request body is empty");
  // Deeper documents would overflow the stack when handlers copy or serialise them.
  if (common::json_nesting_depth(text) > common::kMaxJsonDepth)
    throw BadRequest("Invalid JSON", "the request body nests arrays and objects more than " +
                                                     std::to_string(common::kMaxJsonDepth) + " deep");
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers such as 1e400
    throw BadRequest("Invalid JSON", e.what());
  }
}

EventKind classify(const json& event) {
  if (!event.is_object()) return EventKind::Direct;
  if (event.contains("Records") && event["Records"].is_array() && !event["Records"].empty()) {
    const auto& first = event["Records"][0];
    if (first.is_object() && first.value("EventSource", "") == "aws:sns" && first.contains("Sns"))
      return EventKind::Sns;
  }
  if (event.contains("requestContext") && event["requestContext"].is_object()) {
    if (event.value("version", "") == "2.0") return EventKind::HttpApiV2;
    if (event.contains("httpMethod")) return EventKind::RestApiV1;
  }
  return EventKind::Direct;
}

std::string proxy_response(int status, const json& body) {
  json res = {{"statusCode", status}, {"headers", cors_headers()}, {"body", dump(body)},
              {"isBase64Encoded", false}};
  return dump(res);
}

EventOutcome handle_proxy(Handler& handler, const json& event, EventKind kind, Context& ctx) {
  EventOutcome out;
  out.kind = kind;
  std::string method = kind == EventKind::HttpApiV2 ? event["requestContext"].value("/http/method"_json_pointer, "")
                                                    : event.value("httpMethod", "");
  if (method == "OPTIONS") {
    out.response = dump(json{{"statusCode", 200}, {"headers", cors_headers()}, {"body", ""}});
    return out;
  }
  try {
    std::string body;
    if (event.contains("body") && event["body"].is_string()) body = event["body"].get<std::string>();
    if (event.value("isBase64Encoded", false)) {
      auto decoded = lambda::base64_decode(body);
      if (!decoded) throw BadRequest("Invalid request", "the body is marked base64 but does not decode");
      body = std::move(*decoded);
    }
    json input = parse_body(body);
    out.batch_size = handler.batch_size(input);
    json answer = handler.handle(input, ctx);
    out.response = proxy_response(200, answer);
  } catch (const BadRequest& e) {
    out.status_code = 400;
    out.bad_request = e.what();
    out.response = proxy_response(400, bad_request_body(e));
  }
  return out;
}

EventOutcome handle_sns(Handler& handler, const json& event, Context& ctx) {
  EventOutcome out;
  out.kind = EventKind::Sns;
  json results = json::array();
  for (const auto& record : event["Records"]) {
    try {
      if (!record.is_object() || !record.contains("Sns") || !record["Sns"].is_object())
        throw BadRequest("Invalid SNS record", "each record needs an \"Sns\" object");
      const auto& sns = record["Sns"];
      if (!sns.contains("Message") || !sns["Message"].is_string())
        throw BadRequest("Invalid SNS record", "\"Sns.Message\" must be a string");
      json message = parse_body(sns["Message"].get<std::string>());
      if (message.is_object()) {
        if (message.contains("ExperimentId")) ctx.experiment_id = message["ExperimentId"].dump();
        if (message.contains("MessageId")) ctx.message_id = message["MessageId"].dump();
        for (auto* id : {&ctx.experiment_id, &ctx.message_id})  // keep strings bare, numbers as written
          if (id->size() >= 2 && id->front() == '"') *id = id->substr(1, id->size() - 2);
      }
      out.batch_size += handler.batch_size(message);
      results.push_back(handler.handle(message, ctx));
    } catch (const BadRequest& e) {
      out.status_code = 400;
      out.bad_request = e.what();
      results.push_back(bad_request_body(e));
    }
  }
  out.response = dump(json{{"results", results}});
  return out;
}

}  // namespace

const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::HttpApiV2: return "apigateway-v2";
    case EventKind::RestApiV1: return "apigateway-v1";
    case EventKind::Sns: return "sns";
    case EventKind::Direct: return "direct";
  }
  return "direct";
}

json cors_headers() {
  return {{"Content-Type", "application/json"},
          {"Access-Control-Allow-Origin", "*"},
          {"Access-Control-Allow-Headers", "Content-Type"},
          {"Access-Control-Allow-Methods", "OPTIONS,POST"}};
}

EventOutcome process_event(Handler& handler, const std::string& payload, Context& ctx) {
  json event;
  try {
    event = parse_body(payload);
  } catch (const BadRequest& e) {
    EventOutcome out;
    out.status_code = 400;
    out.bad_request = e.what();
    out.response = proxy_response(400, bad_request_body(e));
    return out;
  }
  EventKind kind = classify(event);
  if (kind == EventKind::HttpApiV2 || kind == EventKind::RestApiV1) return handle_proxy(handler, event, kind, ctx);
  if (kind == EventKind::Sns) return handle_sns(handler, event, ctx);

  EventOutcome out;
  try {
    out.batch_size = handler.batch_size(event);
    out.response = dump(handler.handle(event, ctx));
  } catch (const BadRequest& e) {
    // Direct callers get the same 400 proxy response API Gateway clients get, so one client handles both.
    out.status_code = 400;
    out.bad_request = e.what();
    out.response = proxy_response(400, bad_request_body(e));
  }
  return out;
}

}  // namespace mlfaas::runtime
