#pragma once
// TLS for https:// targets (a real API Gateway endpoint): one OpenSSL client context per run, one session per
// connection, driven non-blockingly by the workers' epoll loops.
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace mlfaas::loadtest {

struct TlsSettings {
  bool verify = true;   // check the certificate chain and the host name (off: --insecure)
  std::string ca_file;  // extra trusted certificates (PEM), e.g. a test server's self-signed one
};

class TlsContext {
 public:
  // Throws std::invalid_argument when the CA file cannot be loaded.
  explicit TlsContext(const TlsSettings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A client session on a connected socket, with SNI and host-name verification for `host`; nullptr on failure.
  SSL* new_session(int fd, const std::string& host) const;

 private:
  SSL_CTX* ctx_ = nullptr;
  bool verify_ = true;
};

// The reason of the last OpenSSL failure on this thread (and clears the queue), e.g. "certificate verify failed".
std::string take_tls_error();

}  // namespace mlfaas::loadtest
