#pragma once
// The wire shapes AWS's protocols answer with, shared by the Invoke API in front.cc and the APIs under aws/:
// rest-json errors (Lambda: x-amzn-ErrorType and {"Type", "message"}), json-1.1 errors (CloudWatch Logs:
// {"__type", "message"}), query-protocol XML (SNS), and the small codecs they need.
#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "platform/http_server.h"

namespace mlfaas::platform::aws {

// A refusal in the API's own terms: the HTTP status and error code (x-amzn-ErrorType, __type or <Code>).
struct ApiError : std::runtime_error {
  ApiError(http::status s, std::string t, const std::string& message)
      : std::runtime_error(message), status(s), type(std::move(t)) {}
  http::status status;
  std::string type;
};

std::string dump(const nlohmann::json& j);  // never throws on invalid UTF-8 (replaced)
// Lambda's rest-json error: `type` in x-amzn-ErrorType, {"Type": "User", "message", ...extra} in the body.
Response rest_json_error(http::status status, const std::string& type, const std::string& message,
                         nlohmann::json extra = nlohmann::json::object());
// A json-1.1 service's error (CloudWatch Logs): {"__type": type, "message"}.
Response json11_error(http::status status, const std::string& type, const std::string& message);
// A query-protocol service's error (SNS): <ErrorResponse><Error><Type>Sender</Type><Code>...
Response sns_error(http::status status, const std::string& code, const std::string& message);
// An SNS query action's answer: <{action}Response><{action}Result>{result}</...><ResponseMetadata>...
Response sns_result(const std::string& action, const std::string& result_xml);
std::string xml_escape(std::string_view s);
// application/x-www-form-urlencoded (also query strings).
std::map<std::string, std::string> parse_form(const std::string& body);
std::string sha256_base64(std::string_view bytes);
std::string sha256_hex(std::string_view bytes);
std::string md5_hex(std::string_view bytes);
int64_t unix_ms_now();
// "2024-05-01T12:00:00.000+0000", the Lambda API's LastModified.
std::string lambda_timestamp(int64_t unix_ms);
// "2024-05-01T12:00:00.000Z" -> ms since the epoch; -1 when malformed.
int64_t parse_iso8601_ms(std::string_view s);

}  // namespace mlfaas::platform::aws
