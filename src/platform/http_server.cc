#include "platform/http_server.h"

#include <fcntl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>

#include <cerrno>
#include <cstdio>
#include <deque>
#include <optional>

namespace mlfaas::platform {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// Asio opens sockets without SOCK_CLOEXEC. Instances are forked from the io thread, the only one that opens
// sockets, so setting the flag right after open leaves no window in which a child could inherit one.
void set_cloexec(int fd) { ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC); }

}  // namespace

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(asio::io_context& io, const tcp::endpoint& ep) : io(io), acceptor(io), accept_backoff(io) {
    acceptor.open(ep.protocol());
    set_cloexec(acceptor.native_handle());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(asio::socket_base::max_listen_connections);
  }
  State(asio::io_context& io, int listening_fd) : io(io), acceptor(io), accept_backoff(io) {
    set_cloexec(listening_fd);
    acceptor.assign(tcp::v4(), listening_fd);
  }
  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer accept_backoff;
  HttpServerOptions options;
  RequestHandler on_request;
  TooLargeHandler on_too_large;
  bool closed = false;
  bool backoff_logged = false;  // said once per server, not per failed accept

  void accept();
};

namespace {

// After refusing an oversized body, read and drop what the client still sends (bounded), so that it sees our
// answer instead of a connection reset.
constexpr size_t kLingerBytes = 64u << 20;
constexpr auto kLingerTime = std::chrono::seconds(5);

constexpr size_t kHeaderLimit = 64 * 1024;

void configure(http::request_parser<http::string_body>& parser, const HttpServerOptions& options) {
  parser.body_limit(options.body_limit);
  parser.header_limit(kHeaderLimit);
}

// API Gateway's answers to requests it cannot parse; nullopt for errors of the connection itself (a peer that
// goes away, a timeout), which get no answer.
std::optional<Response> parse_error_answer(beast::error_code ec) {
  if (ec == http::error::header_limit)
    return make_response(http::status::request_header_fields_too_large,
                         R"({"message":"Request Header Fields Too Large"})");
  if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message && ec != http::error::need_more &&
      ec != http::error::need_buffer && ec != http::error::body_limit)
    return make_response(http::status::bad_request, R"({"message":"Bad Request"})");
  return std::nullopt;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpServer::State> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    set_cloexec(stream_.socket().native_handle());
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }

  void read_next() {
    parser_.emplace();
    configure(*parser_, server_->options);
    if (server_->options.idle_timeout.count() > 0) stream_.expires_after(server_->options.idle_timeout);
    else stream_.expires_never();
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void write(Response res, bool keep_alive, unsigned version, bool head = false) {
    res.version(version);
    res.keep_alive(keep_alive && !server_->closed);
    // A HEAD answer may state the length of the body a GET would have (S3's HeadObject): keep it.
    if (!(head && res.body().empty() && res.count(http::field::content_length))) res.prepare_payload();
    auto msg = std::make_shared<Response>(std::move(res));
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, size_t) {
      if (ec) return self->close();
      if (!msg->keep_alive()) return self->close();
      self->read_next();
    });
  }

 private:
  class SessionExchange final : public Exchange {
   public:
    SessionExchange(std::shared_ptr<Session> s, bool keep_alive, unsigned version, bool head)
        : session_(std::move(s)), keep_alive_(keep_alive), version_(version), head_(head) {}
    void respond(Response res) override {
      if (answered_) return;
      answered_ = true;
      auto s = std::move(session_);
      s->write(std::move(res), keep_alive_, version_, head_);
    }
    bool answered() const override { return answered_; }
    std::shared_ptr<ResponseWriter> respond_streaming(Response head) override {
      if (answered_) return nullptr;
      answered_ = true;
      auto s = std::move(session_);
      return s->write_streaming(std::move(head), keep_alive_, version_);
    }

   private:
    std::shared_ptr<Session> session_;
    bool keep_alive_;
    unsigned version_;
    bool head_;
    bool answered_ = false;
  };

  class ChunkWriter final : public ResponseWriter, public std::enable_shared_from_this<ChunkWriter> {
   public:
    ChunkWriter(std::shared_ptr<Session> session, http::response<http::empty_body> head)
        : session_(std::move(session)), head_(std::move(head)), serializer_(head_) {}

    void start() {
      writing_ = true;
      http::async_write_header(session_->stream_, serializer_,
                               [self = shared_from_this()](beast::error_code ec, size_t) { self->on_written(ec); });
    }
    void write(std::string data) override {
      if (gone_ || ended_ || data.empty()) return;  // an empty chunk would end the body
      queue_.push_back(std::move(data));
      pump();
    }
    void end() override {
      if (ended_) return;
      ended_ = true;
      pump();
    }
    bool client_gone() const override { return gone_; }

   private:
    void pump() {
      if (writing_ || gone_) return;
      if (!queue_.empty()) {
        writing_ = true;
        current_ = std::move(queue_.front());
        queue_.pop_front();
        asio::async_write(session_->stream_, http::make_chunk(asio::buffer(current_)),
                          [self = shared_from_this()](beast::error_code ec, size_t) { self->on_written(ec); });
      } else if (ended_ && !last_sent_) {
        last_sent_ = writing_ = true;
        asio::async_write(session_->stream_, http::make_chunk_last(),
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            self->writing_ = false;
                            if (ec || !self->head_.keep_alive()) return self->session_->close();
                            self->session_->read_next();
                          });
      }
    }
    void on_written(beast::error_code ec) {
      writing_ = false;
      if (ec) {
        gone_ = true;
        queue_.clear();
        return session_->close();
      }
      pump();
    }

    std::shared_ptr<Session> session_;
    http::response<http::empty_body> head_;
    http::response_serializer<http::empty_body> serializer_;
    std::deque<std::string> queue_;
    std::string current_;
    bool writing_ = false, ended_ = false, last_sent_ = false, gone_ = false;
  };

  std::shared_ptr<ResponseWriter> write_streaming(Response res, bool keep_alive, unsigned version) {
    http::response<http::empty_body> head;
    head.base() = res.base();
    head.version(version);
    head.keep_alive(keep_alive && !server_->closed);
    head.chunked(true);
    stream_.expires_never();  // a stream lasts as long as its producer
    auto writer = std::make_shared<ChunkWriter>(shared_from_this(), std::move(head));
    writer->start();
    return writer;
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    auto& req = parser_->get();
    if (parser_->is_done()) return on_read(ec);
    if (server_->options.body_limit_for) {
      size_t limit = server_->options.body_limit_for(req);
      if (parser_->content_length() && *parser_->content_length() > limit) return on_read(http::error::body_limit);
      parser_->body_limit(limit);
    }
    if (server_->options.body_observer) observe_body();
    // A client that waits for `100 Continue` before sending its body (curl does for large ones) gets it once
    // the header has passed the checks above (a too-large Content-Length was already refused).
    if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue")) {
      auto msg = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      asio::async_write(stream_, asio::buffer(*msg), [self = shared_from_this(), msg](beast::error_code ec, size_t) {
        if (ec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  // Hands a chunked body to the server's observer as it arrives, where the observer wants it.
  void observe_body() {
    observer_ = server_->options.body_observer(parser_->get());
    if (!observer_) return;
    parser_->body_limit(server_->options.observed_body_limit);
    chunk_body_ = [self = this](std::uint64_t, beast::string_view body, beast::error_code& ec) {
      if (!self->observer_(std::string_view(body.data(), body.size()))) ec = asio::error::connection_aborted;
      return body.size();
    };
    parser_->on_chunk_body(chunk_body_);
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void answer_and_linger(Response res) {
    res.version(11);
    res.keep_alive(false);
    res.prepare_payload();
    auto msg = std::make_shared<Response>(std::move(res));
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->linger();
    });
  }

  void on_read(beast::error_code ec) {
    observer_ = nullptr;
    if (ec && ec != http::error::body_limit) {
      if (auto res = parse_error_answer(ec)) return answer_and_linger(std::move(*res));
      return close();
    }
    if (ec == http::error::body_limit) {
      Request header_only;
      header_only.base() = parser_->get().base();
      Response res = server_->on_too_large(header_only);
      res.version(header_only.version());
      res.keep_alive(false);
      res.prepare_payload();
      auto msg = std::make_shared<Response>(std::move(res));
      http::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, size_t) {
        if (ec) return self->close();
        self->linger();
      });
      return;
    }
    if (ec) return close();
    // The answer may take as long as the function runs: no read deadline while it is pending.
    stream_.expires_never();
    auto& req = parser_->get();
    auto exchange = std::make_shared<SessionExchange>(shared_from_this(), req.keep_alive(), req.version(),
                                                      req.method() == http::verb::head);
    server_->on_request(parser_->release(), exchange);
  }

  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kLingerTime);
    drain_ = std::make_shared<std::vector<char>>(64 * 1024);
    drain_next();
  }

  void drain_next() {
    stream_.async_read_some(asio::buffer(*drain_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kLingerBytes) return self->close();
      self->drain_next();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::function<bool(std::string_view)> observer_;
  std::function<size_t(std::uint64_t, beast::string_view, beast::error_code&)> chunk_body_;
  std::shared_ptr<HttpServer::State> server_;
  std::shared_ptr<std::vector<char>> drain_;
  size_t drained_ = 0;
};

}  // namespace

void HttpServer::State::accept() {
  acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->closed) return;
    if (!ec) std::make_shared<Session>(std::move(socket), self)->read_next();
    // Out of descriptors (or kernel memory) the pending connection stays in the backlog and accept fails at
    // once, again and again: wait for connections to close instead of spinning on it.
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE || ec == asio::error::no_buffer_space ||
        ec == asio::error::no_memory) {
      if (!self->backoff_logged) {
        self->backoff_logged = true;
        std::fprintf(stderr, "mlfaas: accept: %s; new connections wait until some close\n", ec.message().c_str());
      }
      self->accept_backoff.expires_after(std::chrono::milliseconds(100));
      self->accept_backoff.async_wait([self](beast::error_code wait_ec) {
        if (!wait_ec && !self->closed) self->accept();
      });
      return;
    }
    self->accept();
  });
}

HttpServer::HttpServer(asio::io_context& io, const tcp::endpoint& endpoint, HttpServerOptions options,
                       RequestHandler on_request, TooLargeHandler on_too_large)
    : state_(std::make_shared<State>(io, endpoint)) {
  state_->options = options;
  state_->on_request = std::move(on_request);
  state_->on_too_large = std::move(on_too_large);
  state_->accept();
}

HttpServer::HttpServer(asio::io_context& io, int listening_fd, HttpServerOptions options, RequestHandler on_request,
                       TooLargeHandler on_too_large)
    : state_(std::make_shared<State>(io, listening_fd)) {
  state_->options = options;
  state_->on_request = std::move(on_request);
  state_->on_too_large = std::move(on_too_large);
  state_->accept();
}

HttpServer::~HttpServer() { close(); }

unsigned short HttpServer::port() const { return state_->acceptor.local_endpoint().port(); }

void HttpServer::close() {
  if (state_->closed) return;
  state_->closed = true;
  beast::error_code ec;
  state_->acceptor.close(ec);
  state_->accept_backoff.cancel();
}

int classify_request_bytes(std::string_view bytes, const HttpServerOptions& options, Request* out) {
  http::request_parser<http::string_body> parser;
  configure(parser, options);
  parser.eager(true);
  beast::error_code ec;
  size_t used = 0;
  while (!parser.is_done() && used < bytes.size()) {
    size_t n = parser.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) return -1;
    if (ec == http::error::body_limit) return 413;
    if (ec) {
      auto answer = parse_error_answer(ec);
      return answer ? int(answer->result_int()) : -1;
    }
    if (n == 0) break;
  }
  if (!parser.is_done()) return -1;
  if (out) *out = parser.release();
  return 0;
}

Response make_response(http::status status, std::string body, const std::string& content_type) {
  Response res{status, 11};
  res.set(http::field::server, "mlfaas");
  if (!content_type.empty()) res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

}  // namespace mlfaas::platform
