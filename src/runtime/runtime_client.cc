#include "runtime/runtime_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/codec.h"

#include <sstream>
#include <stdexcept>

namespace mlfaas::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr const char* kApi = "/2018-06-01/runtime";
// Lambda accepts 6 MB synchronous payloads; leave room for the JSON envelope of proxy events.
constexpr size_t kMaxEvent = 16 * 1024 * 1024;

std::pair<std::string, std::string> split_host_port(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    throw std::runtime_error("AWS_LAMBDA_RUNTIME_API must be host:port, got '" + address + "'");
  return {address.substr(0, colon), address.substr(colon + 1)};
}
}  // namespace

struct RuntimeClient::Impl {
  asio::io_context io;
  beast::tcp_stream stream{io};
  std::string host_header;
  tcp::resolver::results_type endpoints;
  bool connected = false;

  void connect() {
    beast::error_code ec;
    stream.socket().close(ec);
    stream.connect(endpoints);
    stream.socket().set_option(tcp::no_delay(true));
    connected = true;
  }

  http::response<http::string_body> exchange(http::request<http::string_body>& req) {
    // A platform may close an idle keep-alive connection between events; retry once on a fresh one.
    for (int attempt = 0;; ++attempt) {
      try {
        if (!connected) connect();
        http::write(stream, req);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(kMaxEvent);
        http::read(stream, buffer, parser);
        auto res = parser.release();
        if (!res.keep_alive()) connected = false;
        return res;
      } catch (const beast::system_error&) {
        connected = false;
        if (attempt == 1) throw;
      }
    }
  }

  http::request<http::string_body> make(http::verb verb, const std::string& target) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, "mlfaas-bootstrap/0.1");
    req.keep_alive(true);
    return req;
  }

  void post_error_to(const std::string& target, const ErrorReport& error) {
    auto req = make(http::verb::post, target);
    req.set(http::field::content_type, "application/json");
    req.set("Lambda-Runtime-Function-Error-Type", error.error_type);
    req.body() = error_body(error);
    req.prepare_payload();
    exchange(req);
  }
};

namespace {

class ChunkedResponse final : public StreamedResponse {
 public:
  ChunkedResponse(RuntimeClient::Impl& client, const std::string& target, const std::string& content_type)
      : client_(client) {
    http::request<http::empty_body> req{http::verb::post, target, 11};
    req.set(http::field::host, client_.host_header);
    req.set(http::field::user_agent, "mlfaas-bootstrap/0.1");
    req.set(http::field::content_type, content_type);
    req.set("Lambda-Runtime-Function-Response-Mode", "streaming");
    req.set(http::field::trailer, "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body");
    req.keep_alive(true);
    req.chunked(true);
    // The previous event's connection may have been closed while idle: one retry on a fresh one, as exchange().
    for (int attempt = 0;; ++attempt) {
      try {
        if (!client_.connected) client_.connect();
        http::request_serializer<http::empty_body> serializer{req};
        http::write_header(client_.stream, serializer);
        return;
      } catch (const beast::system_error&) {
        client_.connected = false;
        if (attempt == 1) throw;
      }
    }
  }

  ~ChunkedResponse() override {
    if (!finished_) client_.connected = false;  // abandoned mid-body: the connection cannot be reused
  }

  bool write(std::string_view bytes) override {
    if (broken_) return false;
    if (bytes.empty()) return true;  // an empty chunk would end the body
    beast::error_code ec;
    asio::write(client_.stream, http::make_chunk(asio::const_buffer(bytes.data(), bytes.size())), ec);
    if (ec) broken_ = true;
    return !broken_;
  }

  void finish(const ErrorReport* error) override {
    finished_ = true;
    if (broken_) {
      client_.connected = false;
      return;
    }
    http::fields trailer;
    if (error) {
      trailer.set("Lambda-Runtime-Function-Error-Type", error->error_type);
      trailer.set("Lambda-Runtime-Function-Error-Body", lambda::base64_encode(error_body(*error)));
    }
    try {
      asio::write(client_.stream, http::make_chunk_last(trailer));
      beast::flat_buffer buffer;
      http::response<http::string_body> res;
      http::read(client_.stream, buffer, res);
      if (!res.keep_alive()) client_.connected = false;
    } catch (const beast::system_error&) {
      client_.connected = false;  // the platform gave up on this invocation; the next one reconnects
    }
  }

 private:
  RuntimeClient::Impl& client_;
  bool broken_ = false;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<StreamedResponse> RuntimeClient::start_streamed_response(const std::string& request_id,
                                                                          const std::string& content_type) {
  return std::make_unique<ChunkedResponse>(*impl_, std::string(kApi) + "/invocation/" + request_id + "/response",
                                           content_type);
}

RuntimeClient::RuntimeClient(const std::string& address) : impl_(std::make_unique<Impl>()) {
  auto [host, port] = split_host_port(address);
  impl_->host_header = address;
  tcp::resolver resolver(impl_->io);
  impl_->endpoints = resolver.resolve(host, port);
}

RuntimeClient::~RuntimeClient() = default;

Invocation RuntimeClient::next() {
  auto req = impl_->make(http::verb::get, std::string(kApi) + "/invocation/next");
  auto res = impl_->exchange(req);
  if (res.result() != http::status::ok)
    throw std::runtime_error("runtime API /next answered " + std::to_string(res.result_int()));
  Invocation inv;
  inv.request_id = std::string(res["Lambda-Runtime-Aws-Request-Id"]);
  auto deadline = res["Lambda-Runtime-Deadline-Ms"];
  if (!deadline.empty()) inv.deadline_ms = std::stoll(std::string(deadline));
  inv.invoked_function_arn = std::string(res["Lambda-Runtime-Invoked-Function-Arn"]);
  inv.trace_id = std::string(res["Lambda-Runtime-Trace-Id"]);
  inv.client_context = std::string(res["Lambda-Runtime-Client-Context"]);
  inv.cognito_identity = std::string(res["Lambda-Runtime-Cognito-Identity"]);
  inv.payload = std::move(res.body());
  if (inv.request_id.empty()) throw std::runtime_error("runtime API /next gave no Lambda-Runtime-Aws-Request-Id");
  return inv;
}

void RuntimeClient::post_response(const std::string& request_id, const std::string& body) {
  auto req = impl_->make(http::verb::post, std::string(kApi) + "/invocation/" + request_id + "/response");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  auto res = impl_->exchange(req);
  if (res.result_int() >= 300)
    throw std::runtime_error("runtime API refused the response: " + std::to_string(res.result_int()) + " " +
                             res.body());
}

std::string error_body(const ErrorReport& error) {
  nlohmann::json trace = nlohmann::json::array();
  std::istringstream lines(error.stack_trace);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) trace.push_back(line);
  nlohmann::json body = {
      {"errorMessage", error.error_message}, {"errorType", error.error_type}, {"stackTrace", trace}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void RuntimeClient::post_error(const std::string& request_id, const ErrorReport& error) {
  impl_->post_error_to(std::string(kApi) + "/invocation/" + request_id + "/error", error);
}

void RuntimeClient::post_init_error(const ErrorReport& error) {
  impl_->post_error_to(std::string(kApi) + "/init/error", error);
}

}  // namespace mlfaas::runtime
