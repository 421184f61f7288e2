#include "platform/aws/protocol.h"

#include <openssl/evp.h>

#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "common/codec.h"
#include "platform/front.h"

namespace mlfaas::platform::aws {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Response rest_json_error(http::status status, const std::string& type, const std::string& message, json extra) {
  json body = {{"Type", "User"}, {"message", message}};
  body.update(extra);
  Response res = make_response(status, dump(body));
  res.set("x-amzn-ErrorType", type);
  res.set("x-amzn-RequestId", lambda::random_uuid());
  return res;
}

Response json11_error(http::status status, const std::string& type, const std::string& message) {
  Response res = make_response(status, dump(json{{"__type", type}, {"message", message}}),
                               "application/x-amz-json-1.1");
  res.set("x-amzn-RequestId", lambda::random_uuid());
  return res;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  return out;
}

Response sns_error(http::status status, const std::string& code, const std::string& message) {
  std::string body = fmt::format(
      "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{}</Code>"
      "<Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
      code, xml_escape(message), lambda::random_uuid());
  return make_response(status, body, "text/xml");
}

Response sns_result(const std::string& action, const std::string& result_xml) {
  return make_response(
      http::status::ok,
      fmt::format("<{0}Response xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><{0}Result>{1}</{0}Result>"
                  "<ResponseMetadata><RequestId>{2}</RequestId></ResponseMetadata></{0}Response>",
                  action, result_xml, lambda::random_uuid()),
      "text/xml");
}

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : lambda::query_pairs(body)) out[url_decode(name, true)] = url_decode(value, true);
  return out;
}

namespace {
std::string digest(const EVP_MD* md, std::string_view bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &n, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), n);
}
}  // namespace

std::string sha256_base64(std::string_view bytes) { return lambda::base64_encode(digest(EVP_sha256(), bytes)); }

namespace {
std::string hex(std::string_view raw) {
  std::string out;
  for (unsigned char c : raw) out += fmt::format("{:02x}", c);
  return out;
}
}  // namespace

std::string sha256_hex(std::string_view bytes) { return hex(digest(EVP_sha256(), bytes)); }

std::string md5_hex(std::string_view bytes) { return hex(digest(EVP_md5(), bytes)); }

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string lambda_timestamp(int64_t unix_ms) { return lambda::iso8601_ms(unix_ms, "+0000"); }

int64_t parse_iso8601_ms(std::string_view s) {
  std::tm tm{};
  int ms = 0;
  if (s.size() < 19) return -1;
  std::string head(s.substr(0, 19));
  if (!strptime(head.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return -1;
  if (s.size() >= 23 && s[19] == '.') ms = std::atoi(std::string(s.substr(20, 3)).c_str());
  return int64_t(timegm(&tm)) * 1000 + ms;
}

}  // namespace mlfaas::platform::aws
