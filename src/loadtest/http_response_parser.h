#pragma once
// An incremental HTTP/1.1 response parser: bytes arrive in arbitrary pieces (a status line may be split
// anywhere) and the parser says when one complete response has been read. Bodies are framed by
// Content-Length, chunked transfer coding (with extensions and trailers) or, failing both, the end of the
// connection. Interim 1xx responses are skipped. The body is kept only when asked (tests, debugging).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mlfaas::loadtest {

class HttpResponseParser {
 public:
  enum class Status { kNeedMore, kComplete, kError };

  explicit HttpResponseParser(bool keep_body = false) : keep_body_(keep_body) {}

  // Expect a response to a request with this method: a HEAD response has no body whatever its headers say.
  void reset(bool head_request = false);

  // Consumes bytes from data; *consumed says how many (fewer than size only when a response completed or an
  // error was found, so the rest belongs to what follows).
  Status feed(const char* data, size_t size, size_t* consumed);
  // The peer closed the connection: completes a response framed by the end of the connection.
  Status finish_on_eof();

  int status_code() const { return status_code_; }
  const std::string& reason() const { return reason_; }
  bool keep_alive() const { return keep_alive_; }
  uint64_t body_size() const { return body_size_; }
  const std::string& body() const { return body_; }
  const std::string& error() const { return error_; }
  bool started() const { return started_; }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kFixedBody,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kUntilClose,
    kDone,
    kError
  };

  bool take_line(const char* data, size_t size, size_t* pos, std::string_view* line);
  Status fail(const std::string& message);
  bool parse_status_line(std::string_view line);
  bool parse_header(std::string_view line);
  void headers_done();
  void append_body(const char* data, size_t size);

  bool keep_body_;
  bool head_request_ = false;
  State state_ = State::kStatusLine;
  std::string line_;
  std::string reason_;
  std::string body_;
  std::string error_;
  int status_code_ = 0;
  bool http10_ = false;
  bool keep_alive_ = true;
  bool chunked_ = false;
  bool has_content_length_ = false;
  bool started_ = false;
  uint64_t content_length_ = 0;
  uint64_t remaining_ = 0;
  uint64_t body_size_ = 0;
  size_t header_bytes_ = 0;
};

}  // namespace mlfaas::loadtest
