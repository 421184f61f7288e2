#pragma once
// The public port: the Lambda Invoke API (2015-03-31), the template's API Gateway routes (HTTP API payload 2.0
// and REST API payload 1.0, answering with API Gateway's shapes), and dispatch to the AWS control-plane APIs of
// src/platform/aws (Lambda, CloudWatch Logs, SNS, S3).
#include <boost/asio/ip/address.hpp>
#include <boost/asio/thread_pool.hpp>

#include <memory>

#include "platform/http_server.h"
#include "platform/platform.h"
#include "platform/sigv4.h"

namespace mlfaas::platform {

class Monitoring;
namespace aws {
class LambdaApi;
class LogsApi;
class SnsApi;
class S3Api;
}  // namespace aws

// The AWS control-plane APIs serve answers besides the Invoke API (src/platform/aws); null ones are not served.
struct AwsApis {
  aws::LambdaApi* lambda = nullptr;
  aws::LogsApi* logs = nullptr;
  aws::SnsApi* sns = nullptr;
  aws::S3Api* s3 = nullptr;
};

class Front {
 public:
  // With credentials, Invoke API and SNS calls must carry a valid SigV4 signature made with them.
  // With `monitoring`, GET /metrics, /api/info, /api/dashboard, / and /dashboard are served where no template
  // route claims the path, and SNS Publish also reaches e-mail and HTTP(S) subscribers.
  Front(Platform& platform, const std::string& host, unsigned short port, Credentials credentials = {},
        Monitoring* monitoring = nullptr, AwsApis apis = {});
  ~Front();
  unsigned short port() const { return server_->port(); }
  void close() { server_->close(); }

 private:
  void on_request(Request&& req, ExchangePtr ex);
  // "" when the request may go on (no credentials configured, or a valid signature); else why not.
  std::string signature_problem(const Request& req) const;
  Response on_too_large(const Request& header);
  void invoke_api(const std::string& function_name, Request&& req, ExchangePtr ex);
  void invoke_stream_api(const std::string& function_name, Request&& req, ExchangePtr ex);
  void stream_route_answer(Invocation& inv, ExchangePtr ex);
  void openai_api(bool chat, Request&& req, ExchangePtr ex);
  bool api_route(Request&& req, ExchangePtr ex);
  bool monitoring_route(const Request& req, const std::string& path, const std::string& query, ExchangePtr ex);

  Platform& platform_;
  std::string host_header_;
  Credentials credentials_;
  std::unique_ptr<HttpServer> server_;
  Monitoring* monitoring_ = nullptr;
  AwsApis apis_;
  // SQLite queries of /metrics and /api/dashboard run here, so the event loop keeps serving invocations.
  boost::asio::thread_pool queries_{1};
};

// Matching of API Gateway paths with {param} and {proxy+} segments; fills `params`.
bool match_route_path(const std::string& pattern, const std::string& path, std::map<std::string, std::string>& params);
std::string url_decode(std::string_view s, bool plus_is_space);
// `host` as an address, or the first address the name resolves to (IPv4 first). Throws when it does not resolve.
boost::asio::ip::address resolve_host(const std::string& host);

}  // namespace mlfaas::platform
