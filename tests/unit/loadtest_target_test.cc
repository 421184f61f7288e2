// The --host URL, the embedded default sentences and the serialised requests.
#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "engine/error.h"
#include "loadtest/target.h"

using namespace mlfaas::loadtest;

TEST(LoadtestTarget, ParsesHttpAndHttpsUrls) {
  const Target plain = parse_target("http://127.0.0.1:8080/prod/");
  EXPECT_EQ(plain.scheme, "http");
  EXPECT_FALSE(plain.tls());
  EXPECT_EQ(plain.host, "127.0.0.1");
  EXPECT_EQ(plain.port, 8080);
  EXPECT_EQ(plain.base_path, "/prod");
  EXPECT_EQ(plain.host_header(), "127.0.0.1:8080");
  const Target tls = parse_target("https://localhost");
  EXPECT_TRUE(tls.tls());
  EXPECT_EQ(tls.port, 443);
  EXPECT_EQ(tls.base_path, "");
  EXPECT_EQ(tls.host_header(), "localhost");
  EXPECT_EQ(parse_target("http://localhost").host_header(), "localhost");
  const Target v6 = parse_target("http://[::1]:9000");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.host_header(), "[::1]:9000");
}

TEST(LoadtestTarget, RejectsBadUrls) {
  for (const char* bad : {"localhost:8080", "ftp://x", "http://", "http://host:0", "http://host:99999",
                          "http://host:12ab", "http://[::1", "http://no-such-host.invalid"})
    EXPECT_THROW(parse_target(bad), std::invalid_argument) << bad;
}

TEST(LoadtestTarget, DefaultSentencesAreSeedAsTen) {
  const auto sentences = default_sentences();
  ASSERT_EQ(sentences.size(), 10u);
  EXPECT_EQ(sentences[8], "This is a sentence.");
  for (const auto& s : sentences) {
    EXPECT_GE(s.size(), 19u);
    EXPECT_LE(s.size(), 187u);
  }
  // The embedded copy is the test data's copy.
  EXPECT_EQ(load_sentences(std::string(MLFAAS_TEST_DATA) + "/loadtest/ten_sentences.txt"), sentences);
}

TEST(LoadtestTarget, SentenceFileErrorsNameTheFile) {
  const std::string missing = std::string(MLFAAS_BINARY_DIR) + "/no_such_sentences.txt";
  try {
    load_sentences(missing);
    FAIL() << "no error";
  } catch (const mlfaas::FormatError& e) {
    EXPECT_EQ(e.path(), missing);
  }
  const std::string empty = std::string(MLFAAS_BINARY_DIR) + "/loadtest_empty_sentences.txt";
  std::ofstream(empty) << "\n\r\n";
  EXPECT_THROW(load_sentences(empty), mlfaas::FormatError);
  const std::string invalid = std::string(MLFAAS_BINARY_DIR) + "/loadtest_invalid_sentences.txt";
  std::ofstream(invalid) << "ok\n\xff\xfe broken\n";
  EXPECT_THROW(load_sentences(invalid), mlfaas::FormatError);
}

TEST(LoadtestTarget, RequestsAreCompleteHttpMessages) {
  const Target t = parse_target("http://127.0.0.1:8080/prod");
  const auto requests = build_requests(t, "/sentimentAnalysisONNX", "text", {"say \"hi\"", "héllo"});
  ASSERT_EQ(requests.size(), 2u);
  const std::string& r = requests[0];
  EXPECT_EQ(r.rfind("POST /prod/sentimentAnalysisONNX HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n", 0), 0u) << r;
  const std::string body = "{\"text\":\"say \\\"hi\\\"\"}";
  EXPECT_NE(r.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(r.find("Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.size() - body.size()), body);
  const std::string body2 = "{\"text\":\"h\xc3\xa9llo\"}";
  EXPECT_NE(requests[1].find("Content-Length: " + std::to_string(body2.size()) + "\r\n"), std::string::npos);
  EXPECT_EQ(build_requests(t, "path", "sentence", {"x"})[0].rfind("POST /prod/path HTTP/1.1", 0), 0u);
}
