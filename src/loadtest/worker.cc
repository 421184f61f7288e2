#include "loadtest/worker.h"

#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <queue>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "loadtest/http_response_parser.h"

namespace mlfaas::loadtest {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// xoshiro256** : fast, good enough for picking sentences and wait times, and independent per thread.
class Random {
 public:
  explicit Random(uint64_t seed) {
    for (auto& s : state_) s = seed = splitmix(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  uint64_t state_[4];
};

struct Connection {
  enum class State { kIdle, kConnecting, kHandshaking, kSending, kReceiving };
  int fd = -1;
  SSL* ssl = nullptr;       // https only
  uint32_t generation = 0;  // tells events of a closed socket from those of its successor
  State state = State::kIdle;
  HttpResponseParser parser;
  const std::string* request = nullptr;
  size_t written = 0;
  int64_t origin_ns = 0;  // latency is measured from here: the intended send time in the open model
  int64_t deadline_ns = 0;
};

}  // namespace

int64_t monotonic_ns() { return now_ns(); }

// One worker thread: its share of the users (closed model) or of the rate and connections (open model).
class Worker::Impl {
 public:
  Impl(const RunOptions& options, const TlsContext* tls, int index, int64_t start_ns, int64_t end_ns)
      : options_(options),
        tls_(tls),
        scenario_(options.scenario),
        index_(index),
        start_ns_(start_ns),
        end_ns_(end_ns),
        timeout_ns_(static_cast<int64_t>(options.timeout_s * kNsPerSecond)),
        random_(std::random_device{}() ^ (static_cast<uint64_t>(index) << 32) ^ static_cast<uint64_t>(start_ns)) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    const int threads = options.threads;
    if (scenario_.model == LoadModel::kClosed) {
      // User u (0-based, global) starts at u / spawn_rate; users are dealt to threads round-robin.
      for (int user = index; user < scenario_.users; user += threads) {
        const int local = static_cast<int>(connections_.size());
        connections_.emplace_back();
        const int64_t start = start_ns_ + static_cast<int64_t>(user / scenario_.spawn_rate * kNsPerSecond);
        wakeups_.push({start, local});
      }
    } else {
      const int count = scenario_.connections / threads + (index < scenario_.connections % threads ? 1 : 0);
      connections_.resize(static_cast<size_t>(std::max(count, 0)));
      for (int i = 0; i < count; ++i) idle_.push_back(i);
      // Threads interleave their arrivals: thread t's k-th request is intended at (k * threads + t) / rate.
      interval_ns_ = static_cast<double>(threads) / scenario_.rate * kNsPerSecond;
      next_arrival_index_ = 0;
    }
    scan_interval_ns_ = std::clamp<int64_t>(timeout_ns_ / 20, 1'000'000, 50'000'000);
  }
  ~Impl() {
    for (auto& c : connections_) close_connection(c);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  IntervalStats& stats() { return stats_; }
  std::mutex& mutex() { return mutex_; }

  void run() {
    std::vector<epoll_event> events(512);
    next_scan_ns_ = now_ns() + scan_interval_ns_;
    while (true) {
      int64_t wait_until;
      {
        std::lock_guard lock(mutex_);
        const int64_t now = now_ns();
        if (!stopping_ && (now >= end_ns_ || stop_requested())) begin_stop();
        run_due_work(now);  // after a late wake-up this still queues the arrivals intended before the end
        if (stopping_ && finished(now)) break;
        wait_until = next_deadline(now);
      }
      const int64_t wait_ns = std::max<int64_t>(0, wait_until - now_ns());
      timespec timeout{static_cast<time_t>(wait_ns / kNsPerSecond), static_cast<long>(wait_ns % kNsPerSecond)};
      const int n = epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()), &timeout, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(std::string("epoll_pwait2: ") + std::strerror(errno));
      }
      if (n == 0) continue;
      std::lock_guard lock(mutex_);
      const int64_t now = now_ns();
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        const int conn = static_cast<int>(tag >> 32);
        if (connections_[conn].fd < 0 || connections_[conn].generation != static_cast<uint32_t>(tag)) continue;
        handle_event(conn, events[i].events, now);
      }
      run_ready(now);
    }
  }

 private:
  bool closed_model() const { return scenario_.model == LoadModel::kClosed; }
  bool stop_requested() const {
    return options_.stop_requested && options_.stop_requested->load(std::memory_order_relaxed);
  }

  void begin_stop() {
    stopping_ = true;
    if (stop_requested()) pending_.clear();  // interrupted: report now rather than drain the queue
    if (closed_model() || stop_requested()) {
      // Like Locust, users stop where they are: requests still in flight are neither counted nor failed.
      for (auto& c : connections_) close_connection(c);
    }
  }

  // The open model finishes what was intended before the end (queued and in-flight requests), so queueing
  // delay is never hidden; the timeout bounds how long that takes.
  bool finished(int64_t) const {
    if (closed_model()) return true;
    if (!pending_.empty()) return false;
    return std::all_of(connections_.begin(), connections_.end(),
                       [](const Connection& c) { return c.state == Connection::State::kIdle; });
  }

  void run_due_work(int64_t now) {
    if (closed_model()) {
      while (!wakeups_.empty() && wakeups_.top().first <= now) {
        const int conn = wakeups_.top().second;
        wakeups_.pop();
        if (!stopping_) start_request(conn, now, now);
      }
    } else {
      while (!stop_requested()) {
        const int64_t intended = start_ns_ + static_cast<int64_t>((static_cast<double>(next_arrival_index_) +
                                                                   static_cast<double>(index_) / options_.threads) *
                                                                  interval_ns_);
        if (intended > now || intended >= end_ns_) break;
        pending_.push_back(intended);
        ++next_arrival_index_;
      }
    }
    if (now >= next_scan_ns_) {
      expire_timeouts(now);
      next_scan_ns_ = now + scan_interval_ns_;
    }
    run_ready(now);
  }

  int64_t next_deadline(int64_t now) const {
    if (!ready_.empty() || (!closed_model() && !pending_.empty() && !idle_.empty())) return now;
    int64_t next = std::min(next_scan_ns_, now + 100'000'000);  // wake up at least every 100 ms for a stop
    if (!stopping_) next = std::min(next, end_ns_);
    if (closed_model()) {
      if (!wakeups_.empty()) next = std::min(next, wakeups_.top().first);
    } else if (!stopping_) {
      const int64_t intended = start_ns_ + static_cast<int64_t>((static_cast<double>(next_arrival_index_) +
                                                                 static_cast<double>(index_) / options_.threads) *
                                                                interval_ns_);
      next = std::min(next, intended);
    }
    return next;
  }

  // Users whose next request is due now, and (open model) idle connections paired with queued requests.
  void run_ready(int64_t now) {
    if (closed_model()) {
      if (ready_.empty()) return;
      due_.swap(ready_);  // users that fail at once are queued for the next round, not restarted in a loop
      for (int conn : due_)
        if (!stopping_) start_request(conn, now, now);
      due_.clear();
    } else {
      while (!pending_.empty() && !idle_.empty()) {
        const int conn = idle_.back();
        idle_.pop_back();
        const int64_t intended = pending_.front();
        pending_.pop_front();
        start_request(conn, intended, now);
      }
    }
  }

  void expire_timeouts(int64_t now) {
    for (size_t i = 0; i < connections_.size(); ++i) {
      Connection& c = connections_[i];
      if (c.state != Connection::State::kIdle && now >= c.deadline_ns)
        fail(static_cast<int>(i), FailureCause::kTimeout, timeout_message(), now);
    }
    // Queued requests that could not even be sent within the timeout are failures too.
    while (!closed_model() && !pending_.empty() && now - pending_.front() >= timeout_ns_) {
      stats_.record_failure((now - pending_.front()) / 1000, FailureCause::kTimeout, timeout_message());
      pending_.pop_front();
    }
  }

  std::string timeout_message() const {
    char text[96];
    std::snprintf(text, sizeof text, "Timeout: no response within %g s", options_.timeout_s);
    return text;
  }

  void start_request(int conn, int64_t origin, int64_t now) {
    Connection& c = connections_[conn];
    c.request = &options_.requests[random_.below(options_.requests.size())];
    c.written = 0;
    c.origin_ns = origin;
    c.deadline_ns = origin + timeout_ns_;
    send_request(conn, now);
  }

  // (Re)sends c.request, connecting first when the connection is closed.
  void send_request(int conn, int64_t now) {
    Connection& c = connections_[conn];
    c.parser.reset();
    c.written = 0;
    if (c.fd >= 0) {
      c.state = Connection::State::kSending;
      write_request(conn, now);
      return;
    }
    const Target& target = options_.target;
    c.fd = ::socket(target.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0)
      return fail(conn, FailureCause::kConnection, std::string("ConnectionError: socket: ") + std::strerror(errno),
                  now);
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++c.generation;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (static_cast<uint64_t>(conn) << 32) | c.generation;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) < 0)
      return fail(conn, FailureCause::kConnection, std::string("ConnectionError: epoll_ctl: ") + std::strerror(errno),
                  now);
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&target.address), target.address_length) == 0) {
      connected(conn, now);
    } else if (errno == EINPROGRESS) {
      c.state = Connection::State::kConnecting;
    } else {
      fail(conn, FailureCause::kConnection, std::string("ConnectionError: connect: ") + std::strerror(errno), now);
    }
  }

  // TCP is up: plain HTTP sends at once, https first completes a TLS handshake.
  void connected(int conn, int64_t now) {
    Connection& c = connections_[conn];
    if (!tls_) {
      c.state = Connection::State::kSending;
      return write_request(conn, now);
    }
    c.ssl = tls_->new_session(c.fd, options_.target.host);
    if (!c.ssl) return fail(conn, FailureCause::kConnection, "ConnectionError: TLS: " + take_tls_error(), now);
    c.state = Connection::State::kHandshaking;
    handshake(conn, now);
  }

  void handshake(int conn, int64_t now) {
    Connection& c = connections_[conn];
    const int rc = SSL_do_handshake(c.ssl);
    if (rc == 1) {
      c.state = Connection::State::kSending;
      return write_request(conn, now);
    }
    const int error = SSL_get_error(c.ssl, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
    std::string why =
        error == SSL_ERROR_SYSCALL ? (errno ? std::strerror(errno) : "connection closed") : take_tls_error();
    const long verify = SSL_get_verify_result(c.ssl);
    if (verify != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    fail(conn, FailureCause::kConnection, "ConnectionError: TLS handshake: " + why, now);
  }

  void write_request(int conn, int64_t now) {
    Connection& c = connections_[conn];
    while (c.written < c.request->size()) {
      if (c.ssl) {
        const int n = SSL_write(c.ssl, c.request->data() + c.written, static_cast<int>(c.request->size() - c.written));
        if (n > 0) {
          c.written += static_cast<size_t>(n);
          continue;
        }
        const int error = SSL_get_error(c.ssl, n);
        if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) return;
        return connection_lost(conn, "TLS write: " + take_tls_error(), now);
      }
      const ssize_t n = ::send(c.fd, c.request->data() + c.written, c.request->size() - c.written, MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;  // EPOLLOUT resumes
      } else {
        return connection_lost(conn, std::string("send: ") + std::strerror(errno), now);
      }
    }
    c.state = Connection::State::kReceiving;
  }

  void handle_event(int conn, uint32_t events, int64_t now) {
    Connection& c = connections_[conn];
    if (c.state == Connection::State::kIdle) {
      // A kept-alive connection between requests: drop it when the server closed it or sent something
      // unasked (TLS 1.3 session tickets are consumed by OpenSSL and keep it).
      if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        char byte;
        if (c.ssl) {
          const int n = SSL_read(c.ssl, &byte, 1);
          if (n <= 0 && SSL_get_error(c.ssl, n) == SSL_ERROR_WANT_READ &&
              !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            return;
        } else {
          const ssize_t n = ::recv(c.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            return;
        }
        close_connection(c);
      }
      return;
    }
    if (c.state == Connection::State::kConnecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0)
        return fail(conn, FailureCause::kConnection, std::string("ConnectionError: connect: ") + std::strerror(error),
                    now);
      connected(conn, now);
      if (connections_[conn].fd < 0 || c.state == Connection::State::kHandshaking) return;
    } else if (c.state == Connection::State::kHandshaking) {
      handshake(conn, now);
      if (connections_[conn].fd < 0 || c.state == Connection::State::kHandshaking) return;
    } else if (c.state == Connection::State::kSending && (events & EPOLLOUT)) {
      write_request(conn, now);
      if (connections_[conn].fd < 0) return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_response(conn, now);
  }

  void read_response(int conn, int64_t now) {
    Connection& c = connections_[conn];
    static thread_local std::vector<char> buffer(64 * 1024);
    while (c.fd >= 0 && c.state != Connection::State::kIdle) {
      ssize_t n;
      if (c.ssl) {
        n = SSL_read(c.ssl, buffer.data(), static_cast<int>(buffer.size()));
        if (n <= 0) {
          const int error = SSL_get_error(c.ssl, static_cast<int>(n));
          if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
          if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0)) {
            ERR_clear_error();
            n = 0;  // the peer closed the connection
          } else {
            return connection_lost(
                conn,
                "TLS read: " + (error == SSL_ERROR_SYSCALL ? std::string(std::strerror(errno)) : take_tls_error()),
                now);
          }
        }
      } else {
        n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
      }
      if (n > 0) {
        size_t consumed = 0;
        const auto status = c.parser.feed(buffer.data(), static_cast<size_t>(n), &consumed);
        if (status == HttpResponseParser::Status::kComplete) {
          // Bytes after a complete response were never asked for: the connection cannot be trusted further.
          const bool clean = consumed == static_cast<size_t>(n);
          return complete(conn, clean, now);
        }
        if (status == HttpResponseParser::Status::kError)
          return fail(conn, FailureCause::kInvalidResponse, "InvalidResponse: " + c.parser.error(), now);
      } else if (n == 0) {
        const auto status = c.parser.finish_on_eof();
        if (status == HttpResponseParser::Status::kComplete) return complete(conn, false, now);
        return connection_lost(conn, c.parser.error(), now);
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
      } else {
        return connection_lost(conn, std::string("recv: ") + std::strerror(errno), now);
      }
    }
  }

  // No resend: like Locust's HTTP client, a request the server dropped is a failure. Idle connections the
  // server closes between requests are noticed (EPOLLRDHUP) and replaced before they are reused.
  void connection_lost(int conn, const std::string& why, int64_t now) {
    fail(conn, FailureCause::kConnection, "ConnectionError: " + why, now);
  }

  void complete(int conn, bool reusable, int64_t now) {
    Connection& c = connections_[conn];
    const int64_t latency_us = (now - c.origin_ns) / 1000;
    const int status = c.parser.status_code();
    if (c.written < c.request->size()) reusable = false;  // answered before the request was fully sent
    if (status >= 400) {
      std::string error = "HTTPError: " + std::to_string(status);
      if (!c.parser.reason().empty()) error += " " + c.parser.reason();
      stats_.record_failure(latency_us, FailureCause::kStatus, error);
    } else {
      stats_.record(latency_us, c.parser.body_size());
    }
    if (!reusable || !c.parser.keep_alive()) close_connection(c);
    c.state = Connection::State::kIdle;
    after_request(conn, now);
  }

  void fail(int conn, FailureCause cause, const std::string& error, int64_t now) {
    Connection& c = connections_[conn];
    stats_.record_failure((now - c.origin_ns) / 1000, cause, error);
    close_connection(c);
    after_request(conn, now);
  }

  void after_request(int conn, int64_t now) {
    if (!closed_model()) {
      idle_.push_back(conn);
      return;
    }
    if (stopping_) return;
    const double wait_s = scenario_.wait_min_s + (scenario_.wait_max_s - scenario_.wait_min_s) * random_.uniform01();
    const int64_t wait_ns = static_cast<int64_t>(wait_s * kNsPerSecond);
    if (wait_ns <= 0) {
      ready_.push_back(conn);
    } else {
      wakeups_.push({now + wait_ns, conn});
    }
  }

  void close_connection(Connection& c) {
    if (c.ssl) {
      SSL_free(c.ssl);
      c.ssl = nullptr;
    }
    if (c.fd >= 0) {
      ::close(c.fd);  // also removes it from the epoll set
      c.fd = -1;
    }
    c.state = Connection::State::kIdle;
  }

  const RunOptions& options_;
  const TlsContext* tls_;  // null for http://
  const Scenario& scenario_;
  const int index_;
  const int64_t start_ns_;
  const int64_t end_ns_;
  const int64_t timeout_ns_;
  Random random_;
  int epoll_fd_ = -1;
  std::vector<Connection> connections_;
  bool stopping_ = false;
  int64_t next_scan_ns_ = 0;
  int64_t scan_interval_ns_ = 0;
  // Closed model: (time, user) wake-ups after a wait, and users to restart at once.
  std::priority_queue<std::pair<int64_t, int>, std::vector<std::pair<int64_t, int>>, std::greater<>> wakeups_;
  std::vector<int> ready_;
  std::vector<int> due_;
  // Open model: intended send times not yet sent, and connections free to send them.
  std::deque<int64_t> pending_;
  std::vector<int> idle_;
  double interval_ns_ = 0;
  int64_t next_arrival_index_ = 0;

  std::mutex mutex_;
  IntervalStats stats_;
};

Worker::Worker(const RunOptions& options, const TlsContext* tls, int index, int64_t start_ns, int64_t end_ns)
    : impl_(std::make_unique<Impl>(options, tls, index, start_ns, end_ns)) {}
Worker::~Worker() = default;
void Worker::run() { impl_->run(); }
std::mutex& Worker::mutex() { return impl_->mutex(); }
IntervalStats& Worker::stats() { return impl_->stats(); }

}  // namespace mlfaas::loadtest
