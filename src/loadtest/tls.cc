#include "loadtest/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace mlfaas::loadtest {

TlsContext::TlsContext(const TlsSettings& settings) : verify_(settings.verify) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) throw std::runtime_error("TLS: cannot create a context: " + take_tls_error());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  // SSL_write may be retried from a different position of the same request buffer after WANT_WRITE.
  SSL_CTX_set_mode(ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (verify_) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_default_verify_paths(ctx_);
    if (!settings.ca_file.empty() && SSL_CTX_load_verify_locations(ctx_, settings.ca_file.c_str(), nullptr) != 1) {
      const std::string why = take_tls_error();
      SSL_CTX_free(ctx_);
      throw std::invalid_argument("--ca-file " + settings.ca_file + ": cannot load certificates (" + why + ")");
    }
  } else {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  }
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

SSL* TlsContext::new_session(int fd, const std::string& host) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_quiet_shutdown(ssl, 1);  // connections are simply closed; no close_notify round trip to wait for
  in6_addr ip{};
  const bool is_ip = inet_pton(AF_INET, host.c_str(), &ip) == 1 || inet_pton(AF_INET6, host.c_str(), &ip) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI takes names only
  if (verify_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : SSL_set1_host(ssl, host.c_str());
    if (ok != 1) {
      SSL_free(ssl);
      return nullptr;
    }
  }
  SSL_set_connect_state(ssl);
  return ssl;
}

std::string take_tls_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown TLS error";
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : "TLS error " + std::to_string(code);
}

}  // namespace mlfaas::loadtest
