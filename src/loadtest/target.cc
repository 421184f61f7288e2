#include "loadtest/target.h"

#include <netdb.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "common/error.h"
#include "loadtest/embedded_sentences.h"

namespace mlfaas::loadtest {

std::string Target::host_header() const {
  const bool bracket = host.find(':') != std::string::npos;  // IPv6 literal
  std::string h;
  if (bracket) h += '[';
  h += host;
  if (bracket) h += ']';
  if (port != (tls() ? 443 : 80)) {
    h += ':';
    h += std::to_string(port);
  }
  return h;
}

Target parse_target(const std::string& url) {
  Target t;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    throw std::invalid_argument("--host '" + url + "' is not a URL (http://HOST[:PORT] or https://...)");
  t.scheme = url.substr(0, scheme_end);
  if (t.scheme != "http" && t.scheme != "https")
    throw std::invalid_argument("--host '" + url + "': only http:// and https:// URLs are supported");
  if (t.scheme == "https") t.port = 443;
  std::string rest = url.substr(scheme_end + 3);
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  t.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!t.base_path.empty() && t.base_path.back() == '/') t.base_path.pop_back();
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) throw std::invalid_argument("--host '" + url + "': unterminated IPv6 address");
    t.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw std::invalid_argument("--host '" + url + "': malformed authority");
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    t.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (t.host.empty()) throw std::invalid_argument("--host '" + url + "': no host name");
  if (!port_text.empty()) {
    char* end = nullptr;
    const long port = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) throw std::invalid_argument("--host '" + url + "': invalid port");
    t.port = static_cast<uint16_t>(port);
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &found);
  if (rc != 0) throw std::invalid_argument("--host '" + url + "': cannot resolve " + t.host + ": " + gai_strerror(rc));
  std::memcpy(&t.address, found->ai_addr, found->ai_addrlen);
  t.address_length = found->ai_addrlen;
  freeaddrinfo(found);
  return t;
}

namespace {
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}
}  // namespace

std::vector<std::string> default_sentences() { return split_lines(std::string(kEmbeddedSentences)); }

std::vector<std::string> load_sentences(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "cannot open sentences file");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto lines = split_lines(text);
  if (lines.empty()) throw FormatError(path, "no sentences (expected one per line)");
  for (const auto& line : lines) {
    try {
      (void)nlohmann::json(line).dump();  // rejects invalid UTF-8 up front instead of mid-run
    } catch (const nlohmann::json::exception&) {
      throw FormatError(path, "a line is not valid UTF-8");
    }
  }
  return lines;
}

std::vector<std::string> build_requests(const Target& target, const std::string& path, const std::string& field,
                                        const std::vector<std::string>& sentences) {
  std::string full_path = target.base_path + (path.empty() || path[0] != '/' ? "/" : "") + path;
  std::vector<std::string> requests;
  requests.reserve(sentences.size());
  for (const auto& sentence : sentences) {
    const std::string body = nlohmann::json{{field, sentence}}.dump();
    std::string request = "POST " + full_path + " HTTP/1.1\r\nHost: " + target.host_header() +
                          "\r\nUser-Agent: mlfaas-loadtest\r\nAccept: application/json\r\n"
                          "Content-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
    requests.push_back(std::move(request));
  }
  return requests;
}

}  // namespace mlfaas::loadtest
