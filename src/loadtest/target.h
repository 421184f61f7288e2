#pragma once
// Where requests go and what they carry: the parsed --host URL (resolved once, before the run starts) and the
// pre-serialised HTTP/1.1 requests, one per sentence, so sending one costs a single write.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mlfaas::loadtest {

struct Target {
  std::string scheme;  // http or https
  bool tls() const { return scheme == "https"; }
  std::string host;
  uint16_t port = 80;     // 443 for https unless given
  std::string base_path;  // the URL's path without a trailing '/', prepended to --path
  sockaddr_storage address{};
  socklen_t address_length = 0;

  std::string host_header() const;
};

// Parses http(s)://HOST[:PORT][/BASE] and resolves HOST. Throws std::invalid_argument with a one-line reason.
Target parse_target(const std::string& url);

// The default sentences: seed A's ten, embedded in the binary.
std::vector<std::string> default_sentences();
// One sentence per non-empty line; throws mlfaas::FormatError for an unreadable or empty file.
std::vector<std::string> load_sentences(const std::string& path);

// `POST base_path + path` with body {"<field>": sentence} for each sentence.
std::vector<std::string> build_requests(const Target& target, const std::string& path, const std::string& field,
                                        const std::vector<std::string>& sentences);

}  // namespace mlfaas::loadtest
