// SigV4 client signing (common/sigv4.h) against independent signers: AWS's published test suite and botocore.
#include "common/sigv4.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>

namespace mlfaas::sigv4 {
namespace {

std::chrono::system_clock::time_point utc(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// aws-sig-v4-test-suite: get-vanilla and get-vanilla-query-order-key-case.
TEST(Sigv4, AwsTestSuite) {
  CanonicalRequest r;
  r.method = "GET";
  r.uri = canonical_uri("/", false);
  r.headers = {{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}};
  r.payload_hash = sha256_hex("");
  const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  EXPECT_EQ(signature(r, secret, "20150830T123600Z", "us-east-1", "service"),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  r.query = canonical_query("Param2=value2&Param1=value1");
  EXPECT_EQ(r.query, "Param1=value1&Param2=value2");
  EXPECT_EQ(signature(r, secret, "20150830T123600Z", "us-east-1", "service"),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

// What botocore's SigV4Auth added to the same request (PUT with a body, an encoded path and query, a session
// token), signed at 2026-12-06T05:36:19Z.
TEST(Sigv4, SignsAsBotocore) {
  auto added = sign("PUT", "/2017-10-31/functions/my%20fn/concurrency", "b=2&a=x%2Fy",
                    {{"Host", "lambda.eu-west-1.amazonaws.com"}, {"Content-Type", "application/json"}},
                    R"({"ReservedConcurrentExecutions":2})",
                    {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "SESSIONTOKEN"}, "eu-west-1", "lambda",
                    utc(2026, 12, 6, 5, 36, 19));
  EXPECT_EQ(added["X-Amz-Date"], "20261206T053619Z");
  EXPECT_EQ(added["X-Amz-Content-Sha256"], "6129831134dc6912db2ed089f04f4e6c1510eadca01ba793d959b9130658128a");
  EXPECT_EQ(added["X-Amz-Security-Token"], "SESSIONTOKEN");
  EXPECT_EQ(added["Authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/eu-west-1/lambda/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "
            "Signature=35eec4b0a0664d1405d2e9cbead8114a91e482b8b2eab68ecafb698ab5f83724");
}

TEST(Sigv4, Encoding) {
  EXPECT_EQ(uri_encode("a b/c~", true), "a%20b/c~");
  EXPECT_EQ(uri_encode("a b/c", false), "a%20b%2Fc");
  EXPECT_EQ(url_decode("a%20b+c", true), "a b c");
  EXPECT_EQ(url_decode("a+%2", false), "a+%2");
  EXPECT_EQ(trim_collapse("  a   b\t c "), "a b c");
  EXPECT_EQ(canonical_uri("/my%20fn", false), "/my%2520fn");
  EXPECT_EQ(canonical_uri("/bucket/my%20key", true), "/bucket/my%20key");
}

}  // namespace
}  // namespace mlfaas::sigv4
