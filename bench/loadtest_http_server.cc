// A trivial, fast HTTP/1.1 endpoint for the load tester's capacity benchmark (bench/loadtest_capacity.sh):
// epoll, one thread per --threads with SO_REUSEPORT, keep-alive, a fixed JSON answer shaped like the emotion
// function's. It measures the clients, so it must not be the bottleneck.
//   loadtest_http_server --port-file FILE [--threads N]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

const std::string kBody =
    R"({"predicted_label": "happy", "confidence_score": 0.97, "details": {"others": 0.01, "happy": 0.97, "sad": 0.01, "angry": 0.01}})";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(kBody.size()) +
    "\r\n\r\n" + kBody;

int listen_on(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || listen(fd, 4096) < 0) {
    std::perror("bind/listen");
    std::exit(1);
  }
  return fd;
}

// Complete requests in buf (head up to CRLFCRLF plus Content-Length bytes); returns how many were consumed.
size_t count_requests(const std::string& buf, int* requests) {
  size_t at = 0;
  while (true) {
    const size_t head_end = buf.find("\r\n\r\n", at);
    if (head_end == std::string::npos) return at;
    size_t length = 0;
    const size_t cl = buf.find("Content-Length:", at);
    if (cl != std::string::npos && cl < head_end) length = std::strtoul(buf.c_str() + cl + 15, nullptr, 10);
    const size_t end = head_end + 4 + length;
    if (end > buf.size()) return at;
    ++*requests;
    at = end;
  }
}

void serve(int listener) {
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::unordered_map<int, std::string> pending;
  std::vector<epoll_event> events(1024);
  std::vector<char> buffer(64 * 1024);
  std::string out;
  while (true) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        while (true) {
          const int c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          const int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      std::string& buf = pending[fd];
      bool closed = false;
      while (true) {
        const ssize_t r = recv(fd, buffer.data(), buffer.size(), 0);
        if (r > 0) {
          buf.append(buffer.data(), static_cast<size_t>(r));
          if (static_cast<size_t>(r) < buffer.size()) break;
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          closed = true;
          break;
        } else {
          break;
        }
      }
      int requests = 0;
      buf.erase(0, count_requests(buf, &requests));
      if (requests > 0) {
        out.clear();
        for (int k = 0; k < requests; ++k) out += kResponse;
        // Responses are tiny; the socket buffer takes them whole.
        if (send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) closed = true;
      }
      if (closed) {
        pending.erase(fd);
        close(fd);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string port_file;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port-file" && i + 1 < argc)
      port_file = argv[++i];
    else if (arg == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: loadtest_http_server --port-file FILE [--threads N]\n");
      return 2;
    }
  }
  if (port_file.empty() || threads < 1) {
    std::fprintf(stderr, "usage: loadtest_http_server --port-file FILE [--threads N]\n");
    return 2;
  }
  const int first = listen_on(0);
  sockaddr_in addr{};
  socklen_t length = sizeof addr;
  getsockname(first, reinterpret_cast<sockaddr*>(&addr), &length);
  const uint16_t port = ntohs(addr.sin_port);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    const int listener = t == 0 ? first : listen_on(port);
    workers.emplace_back(serve, listener);
  }
  const std::string tmp = port_file + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fprintf(f, "%u\n", port);
    std::fclose(f);
    std::rename(tmp.c_str(), port_file.c_str());
  }
  for (auto& w : workers) w.join();
}
