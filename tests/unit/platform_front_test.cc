// The public port's defences that need no server: the request parser's own answers (400/413/431), the JSON
// nesting bound shared by the gateway and bootstrap, and bootstrap's event parsing of out-of-range numbers and
// deep nesting (a 400 answer, never an exception that becomes a function error, never a stack overflow).
#include <gtest/gtest.h>

#include <string>

#include "common/json_limits.h"
#include "platform/http_server.h"
#include "runtime/events.h"
#include "runtime/handler.h"

using namespace mlfaas;

namespace {

int classify(const std::string& bytes, size_t body_limit = 1024) {
  platform::HttpServerOptions options;
  options.body_limit = body_limit;
  return platform::classify_request_bytes(bytes, options);
}

TEST(HttpFront, ParserAnswersLikeApiGateway) {
  EXPECT_EQ(classify("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"), 0);
  EXPECT_EQ(classify("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{"), -1);
  EXPECT_EQ(classify("GARBAGE\r\n\r\n"), 400);
  EXPECT_EQ(classify("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(70'000, 'a') + "\r\n\r\n"), 431);
  EXPECT_EQ(classify("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(classify("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), 0);
  EXPECT_EQ(classify("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"), 413);
  EXPECT_EQ(classify("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"), 400);
}

TEST(JsonLimits, DepthIgnoresStrings) {
  EXPECT_EQ(common::json_nesting_depth(R"({"a": [1, {"b": "[[[[{{{"}]})"), 3u);
  EXPECT_EQ(common::json_nesting_depth(R"("\"[[[")"), 0u);
  EXPECT_EQ(common::json_nesting_depth(std::string(100'000, '[') + std::string(100'000, ']')), 100'000u);
}

runtime::EventOutcome run(const char* handler_name, const std::string& payload) {
  auto handler = (*runtime::HandlerRegistry::builtin().find(handler_name))({});
  runtime::Context ctx;
  return runtime::process_event(*handler, payload, ctx);
}

TEST(BootstrapEvents, NumberOutOfRangeIsBadRequest) {
  auto out = run("sentences", R"({"sentence": 1e400})");
  EXPECT_EQ(out.status_code, 400);
  EXPECT_NE(out.bad_request.find("Invalid JSON"), std::string::npos) << out.bad_request;
  std::string v2 = R"({"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "body": "{\"sentence\": -1e400}"})";
  EXPECT_EQ(run("sentences", v2).status_code, 400);
}

TEST(BootstrapEvents, SnsMessageNested100kDeepIsBadRequest) {
  std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  std::string event = R"({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": ")" + deep +
                      R"("}}]})";
  auto out = run("echo", event);
  EXPECT_EQ(out.status_code, 400);
  EXPECT_NE(out.response.find("deep"), std::string::npos) << out.response.substr(0, 200);
  // Within the bound, echo serialises it back.
  std::string ok = std::string(common::kMaxJsonDepth, '[') + std::string(common::kMaxJsonDepth, ']');
  EXPECT_EQ(run("echo", ok).status_code, 200);
  EXPECT_EQ(run("echo", "[" + ok + "]").status_code, 400);
}

}  // namespace
