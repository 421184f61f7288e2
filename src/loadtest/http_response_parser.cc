#include "loadtest/http_response_parser.h"

#include <algorithm>
#include <cstring>

namespace mlfaas::loadtest {

namespace {
// A response head larger than this is not an HTTP server we want to measure.
constexpr size_t kMaxHeadBytes = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool contains_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool parse_decimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}
}  // namespace

void HttpResponseParser::reset(bool head_request) {
  head_request_ = head_request;
  state_ = State::kStatusLine;
  line_.clear();
  reason_.clear();
  body_.clear();
  error_.clear();
  status_code_ = 0;
  http10_ = false;
  keep_alive_ = true;
  chunked_ = false;
  has_content_length_ = false;
  started_ = false;
  content_length_ = remaining_ = body_size_ = 0;
  header_bytes_ = 0;
}

HttpResponseParser::Status HttpResponseParser::fail(const std::string& message) {
  state_ = State::kError;
  error_ = message;
  keep_alive_ = false;
  return Status::kError;
}

// Collects one CRLF- (or bare LF-) terminated line, possibly across calls.
bool HttpResponseParser::take_line(const char* data, size_t size, size_t* pos, std::string_view* line) {
  const char* start = data + *pos;
  const char* newline = static_cast<const char*>(std::memchr(start, '\n', size - *pos));
  if (!newline) {
    line_.append(start, data + size);
    header_bytes_ += static_cast<size_t>(data + size - start);
    *pos = size;
    return false;
  }
  const size_t taken = static_cast<size_t>(newline - start) + 1;
  header_bytes_ += taken;
  *pos += taken;
  if (line_.empty()) {
    *line = std::string_view(start, static_cast<size_t>(newline - start));
  } else {
    line_.append(start, newline);
    *line = line_;
  }
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  return true;
}

bool HttpResponseParser::parse_status_line(std::string_view line) {
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return false;
  http10_ = line[7] == '0';
  keep_alive_ = !http10_;
  const std::string_view code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  if (line.size() > 12 && line[12] != ' ') return false;
  status_code_ = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  reason_ = line.size() > 13 ? std::string(line.substr(13)) : std::string();
  return true;
}

bool HttpResponseParser::parse_header(std::string_view line) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view name = line.substr(0, colon);
  if (name.find_first_of(" \t") != std::string_view::npos) return false;
  const std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, "content-length")) {
    uint64_t length = 0;
    if (!parse_decimal(value, &length)) return false;
    if (has_content_length_ && length != content_length_) return false;  // conflicting lengths: unsafe framing
    has_content_length_ = true;
    content_length_ = length;
  } else if (iequals(name, "transfer-encoding")) {
    chunked_ = contains_token(value, "chunked");
  } else if (iequals(name, "connection")) {
    if (contains_token(value, "close")) keep_alive_ = false;
    if (contains_token(value, "keep-alive")) keep_alive_ = true;
  }
  return true;
}

void HttpResponseParser::headers_done() {
  const bool no_body = head_request_ || status_code_ == 204 || status_code_ == 304;
  if (no_body) {
    state_ = State::kDone;
  } else if (chunked_) {
    state_ = State::kChunkSize;
  } else if (has_content_length_) {
    remaining_ = content_length_;
    state_ = remaining_ == 0 ? State::kDone : State::kFixedBody;
  } else {
    keep_alive_ = false;
    state_ = State::kUntilClose;
  }
}

void HttpResponseParser::append_body(const char* data, size_t size) {
  body_size_ += size;
  if (keep_body_) body_.append(data, size);
}

HttpResponseParser::Status HttpResponseParser::feed(const char* data, size_t size, size_t* consumed) {
  size_t pos = 0;
  if (size > 0) started_ = true;
  while (pos < size || state_ == State::kDone || state_ == State::kError) {
    switch (state_) {
      case State::kDone: *consumed = pos; return Status::kComplete;
      case State::kError: *consumed = pos; return Status::kError;
      case State::kStatusLine:
      case State::kHeaders:
      case State::kTrailers: {
        std::string_view line;
        if (!take_line(data, size, &pos, &line)) {
          if (header_bytes_ > kMaxHeadBytes) return *consumed = pos, fail("response head larger than 64 KiB");
          break;
        }
        if (header_bytes_ > kMaxHeadBytes) return *consumed = pos, fail("response head larger than 64 KiB");
        if (state_ == State::kStatusLine) {
          if (line.empty()) {  // tolerated: a stray CRLF before the status line
            line_.clear();
            break;
          }
          if (!parse_status_line(line)) return *consumed = pos, fail("malformed status line");
          state_ = State::kHeaders;
        } else if (state_ == State::kHeaders) {
          if (line.empty()) {
            if (status_code_ >= 100 && status_code_ < 200) {  // interim response: the real one follows
              const bool head = head_request_;
              line_.clear();
              reset(head);
              started_ = true;
              break;
            }
            headers_done();
          } else if (!parse_header(line)) {
            return *consumed = pos, fail("malformed header line");
          }
        } else if (line.empty()) {  // end of trailers
          state_ = State::kDone;
        }
        line_.clear();
        break;
      }
      case State::kFixedBody: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, size - pos));
        append_body(data + pos, take);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDone;
        break;
      }
      case State::kChunkSize: {
        std::string_view line;
        if (!take_line(data, size, &pos, &line)) {
          if (line_.size() > 1024) return *consumed = pos, fail("chunk size line too long");
          break;
        }
        const std::string_view digits = trim(line.substr(0, line.find(';')));  // ';' starts chunk extensions
        if (digits.empty() || digits.size() > 15) return *consumed = pos, fail("malformed chunk size");
        uint64_t chunk = 0;
        for (char c : digits) {
          int v;
          if (c >= '0' && c <= '9')
            v = c - '0';
          else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
          else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
          else
            return *consumed = pos, fail("malformed chunk size");
          chunk = chunk * 16 + static_cast<uint64_t>(v);
        }
        line_.clear();
        header_bytes_ = 0;  // trailers get their own head budget
        remaining_ = chunk;
        state_ = chunk == 0 ? State::kTrailers : State::kChunkData;
        break;
      }
      case State::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, size - pos));
        append_body(data + pos, take);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd: {
        std::string_view line;
        if (!take_line(data, size, &pos, &line)) {
          if (line_.size() > 2) return *consumed = pos, fail("chunk not followed by CRLF");
          break;
        }
        if (!line.empty()) return *consumed = pos, fail("chunk not followed by CRLF");
        line_.clear();
        state_ = State::kChunkSize;
        break;
      }
      case State::kUntilClose:
        append_body(data + pos, size - pos);
        pos = size;
        break;
    }
  }
  *consumed = pos;
  return Status::kNeedMore;
}

HttpResponseParser::Status HttpResponseParser::finish_on_eof() {
  if (state_ == State::kUntilClose || state_ == State::kDone) {
    state_ = State::kDone;
    keep_alive_ = false;
    return Status::kComplete;
  }
  if (state_ == State::kError) return Status::kError;
  return fail(started_ ? "connection closed in the middle of a response" : "connection closed before a response");
}

}  // namespace mlfaas::loadtest
