#pragma once
// The public port: the Lambda Invoke API (2015-03-31), the SNS query API's Publish, and the template's API
// Gateway routes (HTTP API payload 2.0 and REST API payload 1.0), answering with API Gateway's shapes.
#include <memory>

#include "platform/http_server.h"
#include "platform/platform.h"
#include "platform/sigv4.h"

namespace mlfaas::platform {

class Front {
 public:
  // With credentials, Invoke API and SNS calls must carry a valid SigV4 signature made with them.
  Front(Platform& platform, const std::string& host, unsigned short port, Credentials credentials = {});
  unsigned short port() const { return server_->port(); }
  void close() { server_->close(); }

 private:
  void on_request(Request&& req, ExchangePtr ex);
  Response on_too_large(const Request& header);
  void invoke_api(const std::string& function_name, Request&& req, ExchangePtr ex);
  void sns_api(Request&& req, ExchangePtr ex);
  bool api_route(Request&& req, ExchangePtr ex);

  Platform& platform_;
  std::string host_header_;
  Credentials credentials_;
  std::unique_ptr<HttpServer> server_;
};

// Matching of API Gateway paths with {param} and {proxy+} segments; fills `params`.
bool match_route_path(const std::string& pattern, const std::string& path, std::map<std::string, std::string>& params);
std::string url_decode(std::string_view s, bool plus_is_space);

}  // namespace mlfaas::platform
