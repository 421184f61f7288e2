// The HTTP/1.1 response parser: framing by Content-Length, chunked coding and end of connection, fed whole
// and split at every possible byte boundary.
#include <gtest/gtest.h>

#include <string>

#include "loadtest/http_response_parser.h"

using mlfaas::loadtest::HttpResponseParser;
using Status = HttpResponseParser::Status;

namespace {

// Feeds text in pieces of `piece` bytes; returns the final status and the bytes consumed overall.
Status feed_in_pieces(HttpResponseParser& p, const std::string& text, size_t piece, size_t* total) {
  *total = 0;
  Status status = Status::kNeedMore;
  for (size_t at = 0; at < text.size(); at += piece) {
    size_t consumed = 0;
    const size_t n = std::min(piece, text.size() - at);
    status = p.feed(text.data() + at, n, &consumed);
    *total += consumed;
    if (status != Status::kNeedMore) return status;
  }
  return status;
}

void expect_parses_at_every_split(const std::string& response, int code, const std::string& body, bool keep_alive) {
  for (size_t piece = 1; piece <= response.size(); ++piece) {
    HttpResponseParser p(/*keep_body=*/true);
    size_t consumed = 0;
    ASSERT_EQ(feed_in_pieces(p, response, piece, &consumed), Status::kComplete) << "piece " << piece;
    EXPECT_EQ(consumed, response.size()) << "piece " << piece;
    EXPECT_EQ(p.status_code(), code);
    EXPECT_EQ(p.body(), body) << "piece " << piece;
    EXPECT_EQ(p.body_size(), body.size());
    EXPECT_EQ(p.keep_alive(), keep_alive);
  }
}

}  // namespace

TEST(LoadtestHttpParser, ContentLength) {
  expect_parses_at_every_split(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 25\r\n\r\n{\"predicted_label\":\"sad\"}",
      200, "{\"predicted_label\":\"sad\"}", true);
}

TEST(LoadtestHttpParser, ChunkedWithExtensionsAndTrailers) {
  expect_parses_at_every_split(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7;name=value\r\n{\"a\": 1\r\nA\r\n, \"b\": 22}\r\n0\r\nX-Trailer: t\r\n\r\n",
      200, "{\"a\": 1, \"b\": 22}", true);
}

TEST(LoadtestHttpParser, ChunkedWinsOverContentLength) {
  expect_parses_at_every_split(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200,
      "abc", true);
}

TEST(LoadtestHttpParser, ErrorStatusAndConnectionClose) {
  expect_parses_at_every_split("HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno",
                               500, "no", false);
  HttpResponseParser p;
  size_t consumed = 0;
  ASSERT_EQ(p.feed("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 56, &consumed), Status::kComplete);
  EXPECT_EQ(p.reason(), "Service Unavailable");
}

TEST(LoadtestHttpParser, Http10DefaultsToCloseUnlessKeepAlive) {
  expect_parses_at_every_split("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, "x", false);
  expect_parses_at_every_split("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", 200, "x",
                               true);
}

TEST(LoadtestHttpParser, BodyUntilCloseCompletesOnEof) {
  HttpResponseParser p(true);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ";
  size_t consumed = 0;
  EXPECT_EQ(p.feed(head.data(), head.size(), &consumed), Status::kNeedMore);
  EXPECT_EQ(p.feed("world", 5, &consumed), Status::kNeedMore);
  EXPECT_EQ(p.finish_on_eof(), Status::kComplete);
  EXPECT_EQ(p.body(), "hello world");
  EXPECT_FALSE(p.keep_alive());
}

TEST(LoadtestHttpParser, NoBodyFor204AndHead) {
  HttpResponseParser p;
  size_t consumed = 0;
  const std::string r = "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n";
  EXPECT_EQ(p.feed(r.data(), r.size(), &consumed), Status::kComplete);
  EXPECT_EQ(consumed, r.size());
  p.reset(/*head_request=*/true);
  const std::string h = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
  EXPECT_EQ(p.feed(h.data(), h.size(), &consumed), Status::kComplete);
}

TEST(LoadtestHttpParser, InterimContinueIsSkipped) {
  expect_parses_at_every_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201,
                               "ok", true);
}

TEST(LoadtestHttpParser, StopsAtTheEndOfOneResponse) {
  HttpResponseParser p;
  const std::string two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\n";
  size_t consumed = 0;
  EXPECT_EQ(p.feed(two.data(), two.size(), &consumed), Status::kComplete);
  EXPECT_EQ(consumed, 39u);
}

TEST(LoadtestHttpParser, EofMidResponseIsAnError) {
  HttpResponseParser p;
  EXPECT_EQ(p.finish_on_eof(), Status::kError);
  EXPECT_EQ(p.error(), "connection closed before a response");
  p.reset();
  size_t consumed = 0;
  const std::string partial = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  EXPECT_EQ(p.feed(partial.data(), partial.size(), &consumed), Status::kNeedMore);
  EXPECT_EQ(p.finish_on_eof(), Status::kError);
  EXPECT_EQ(p.error(), "connection closed in the middle of a response");
}

TEST(LoadtestHttpParser, MalformedInputIsRejected) {
  for (const std::string bad :
       {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "garbage\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n"}) {
    HttpResponseParser p;
    size_t consumed = 0;
    EXPECT_EQ(p.feed(bad.data(), bad.size(), &consumed), Status::kError) << bad;
    EXPECT_FALSE(p.error().empty());
    EXPECT_FALSE(p.keep_alive());
  }
}

TEST(LoadtestHttpParser, HugeHeadIsRejected) {
  HttpResponseParser p;
  std::string head = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'a');
  size_t consumed = 0;
  EXPECT_EQ(p.feed(head.data(), head.size(), &consumed), Status::kError);
}

// Mutated and random input never crashes, never consumes past its input, and ends in a definite state at EOF.
TEST(LoadtestHttpParser, SurvivesMutatedInput) {
  const std::string valid[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
      "HTTP/1.0 404 Not Found\r\n\r\nbody until close",
  };
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int round = 0; round < 20000; ++round) {
    std::string text = valid[round % 3];
    const int mutations = 1 + static_cast<int>(next() % 4);
    for (int m = 0; m < mutations; ++m) {
      const size_t at = next() % text.size();
      switch (next() % 3) {
        case 0: text[at] = static_cast<char>(next() & 0xff); break;
        case 1: text.erase(at, 1 + next() % 3); break;
        default: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(next() & 0xff));
      }
      if (text.empty()) text.push_back('x');
    }
    HttpResponseParser p(true);
    size_t fed = 0;
    Status status = Status::kNeedMore;
    while (fed < text.size() && status == Status::kNeedMore) {
      const size_t piece = 1 + next() % 7;
      const size_t n = std::min(piece, text.size() - fed);
      size_t consumed = 0;
      status = p.feed(text.data() + fed, n, &consumed);
      ASSERT_LE(consumed, n);
      fed += consumed;
    }
    if (status == Status::kNeedMore) status = p.finish_on_eof();
    ASSERT_NE(status, Status::kNeedMore);
    if (status == Status::kComplete) {
      EXPECT_GE(p.status_code(), 100);
      EXPECT_LE(p.status_code(), 999);
    }
  }
}
