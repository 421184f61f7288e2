#pragma once
// A small asynchronous HTTP/1.1 server on Boost.Beast, used twice: for the public port (Invoke API, SNS, API
// routes) and for each instance's private Runtime API endpoint. A request's answer may come much later (a
// Runtime API `next` waits for an event; an invoke waits for the function), so handlers get an Exchange to
// answer through. Everything runs on one io_context thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace mlfaas::platform {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// An answer sent in pieces (Transfer-Encoding: chunked) as they become available.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Queued and sent in order, each as one chunk; ignored once the client has gone.
  virtual void write(std::string data) = 0;
  // Sends the last chunk; the connection then serves the next request (or closes).
  virtual void end() = 0;
  virtual bool client_gone() const = 0;
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  // Answers the request (once; later calls are ignored). Keep-alive and HTTP version follow the request.
  virtual void respond(Response res) = 0;
  virtual bool answered() const = 0;
  // Answers with `head`'s status and headers now and the body in pieces through the writer (counts as the
  // answer). nullptr where the exchange cannot stream.
  virtual std::shared_ptr<ResponseWriter> respond_streaming(Response head) { return nullptr; }
};
using ExchangePtr = std::shared_ptr<Exchange>;

struct HttpServerOptions {
  size_t body_limit = 6 * 1024 * 1024;
  // How long a connection may sit idle between requests (0: forever, for the Runtime API's long polls).
  std::chrono::seconds idle_timeout{60};
  // Called when a request's header has been read. A callback returned receives the bytes of a chunked body as
  // they arrive (the Request handed on then has an empty body, and the chunked body's trailers in its fields);
  // it returns false to drop the request and its connection. None = the body is read whole as usual.
  std::function<std::function<bool(std::string_view)>(const Request& header)> body_observer;
  // Where set, the body limit of each request, chosen from its header (body_limit is then the largest any request
  // may get, as the parser checks it while reading the header).
  std::function<size_t(const Request& header)> body_limit_for;
  // The body limit for observed bodies (Lambda's streamed responses may reach 20 MB).
  size_t observed_body_limit = 20 * 1024 * 1024;
};

using RequestHandler = std::function<void(Request&& req, ExchangePtr exchange)>;
// A request the server cannot parse is answered here, as API Gateway does, and the connection closed:
// 400 for a malformed request line, header or chunk size, 431 for headers over 64 KB.
// Builds the answer to a request whose body is over the limit; the connection is then closed.
using TooLargeHandler = std::function<Response(const Request& header_only)>;

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint, HttpServerOptions options,
             RequestHandler on_request, TooLargeHandler on_too_large);
  // Serves a socket already bound and listening (IPv4 TCP), which it takes over: an instance's Runtime API
  // socket, made inside the instance's network namespace, is served from here whatever namespace we are in.
  HttpServer(boost::asio::io_context& io, int listening_fd, HttpServerOptions options, RequestHandler on_request,
             TooLargeHandler on_too_large);
  ~HttpServer();
  unsigned short port() const;
  void close();  // stops accepting; open connections finish their current request

  struct State;  // shared with the connections, which may outlive the server object

 private:
  std::shared_ptr<State> state_;
};

Response make_response(http::status status, std::string body, const std::string& content_type = "application/json");

// What the server does with `bytes` arriving on a fresh connection, with the same parser and limits: the status it
// answers by itself (400 malformed, 413 body over the limit, 431 headers over 64 KB), 0 when they hold a complete
// request for the handler (stored in `out` if given), -1 when it would wait for more. For tests and fuzzing.
int classify_request_bytes(std::string_view bytes, const HttpServerOptions& options, Request* out = nullptr);

}  // namespace mlfaas::platform
