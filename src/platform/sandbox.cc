#include "platform/sandbox.h"

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace mlfaas::platform {

namespace {

constexpr unsigned short kRuntimePort = 9001;  // Lambda's AWS_LAMBDA_RUNTIME_API is 127.0.0.1:9001

[[noreturn]] void fail(const std::string& step) {
  throw std::runtime_error(step + ": " + std::strerror(errno));
}

// A socket bound and listening on 127.0.0.1:`port` of the calling thread's network namespace.
int listen_on_loopback(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    fail("bind 127.0.0.1:" + std::to_string(port));
  }
  return fd;
}

// A new network namespace starts with `lo` down.
void bring_loopback_up() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket for lo");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  int err = errno;
  ::close(fd);
  errno = err;
  if (!ok) fail("bringing lo up");
}

unsigned short bound_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

}  // namespace

Sandbox::Sandbox(InstanceNetwork requested) : network_(requested) {
  if (requested == InstanceNetwork::Host) return;
  const char* disabled = std::getenv("MLFAAS_DISABLE_NAMESPACES");
  std::string why;
  if (disabled && std::strcmp(disabled, "1") == 0) {
    why = "namespaces disabled by MLFAAS_DISABLE_NAMESPACES=1";
  } else {
    host_netns_fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (host_netns_fd_ < 0) {
      why = std::string("/proc/thread-self/ns/net: ") + std::strerror(errno);
    } else {
      try {
        RuntimeEndpoint probe = make_endpoint();
        ::close(probe.listening_fd);
        ::close(probe.netns_fd);
        return;
      } catch (const std::exception& e) {
        why = e.what();
        if (::geteuid() != 0) why += " (not root: network namespaces need CAP_SYS_ADMIN)";
      }
    }
  }
  network_ = InstanceNetwork::Host;
  warning_ = "instances share the host's network: any local process can reach an instance's Runtime API "
             "(take its events, answer for it) and functions reach the network; " + why;
}

Sandbox::~Sandbox() {
  if (host_netns_fd_ >= 0) ::close(host_netns_fd_);
}

std::string Sandbox::describe() const {
  return network_ == InstanceNetwork::Isolated
             ? "isolated (own network namespace, Runtime API at 127.0.0.1:9001 inside it), no_new_privs, no "
               "inherited descriptors"
             : "host (the host's network; Runtime API on a loopback port of the host), no_new_privs, no "
               "inherited descriptors";
}

RuntimeEndpoint Sandbox::make_endpoint() const {
  RuntimeEndpoint ep;
  if (network_ == InstanceNetwork::Host) {
    ep.listening_fd = listen_on_loopback(0);
    ep.address = "127.0.0.1:" + std::to_string(bound_port(ep.listening_fd));
    return ep;
  }
  // The io thread steps into a fresh namespace to make the socket, then straight back: a socket keeps the
  // namespace it was made in, and the platform serves it from its event loop like any other. Namespaces are
  // per thread, so the server's other threads never notice.
  if (::unshare(CLONE_NEWNET) != 0) fail("unshare(CLONE_NEWNET)");
  std::string error;
  try {
    ep.netns_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ep.netns_fd < 0) fail("/proc/thread-self/ns/net");
    bring_loopback_up();
    ep.listening_fd = listen_on_loopback(kRuntimePort);
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (::setns(host_netns_fd_, CLONE_NEWNET) != 0) {
    // Staying in the instance's namespace would cut the platform off from its callers.
    std::perror("mlfaas: fatal: cannot return to the host's network namespace (setns)");
    std::abort();
  }
  if (!error.empty()) {
    if (ep.netns_fd >= 0) ::close(ep.netns_fd);
    throw std::runtime_error(error);
  }
  ep.address = "127.0.0.1:" + std::to_string(kRuntimePort);
  return ep;
}

int enter_sandbox(const RuntimeEndpoint& endpoint, int max_fd, const char** step) {
  if (endpoint.netns_fd >= 0 && ::setns(endpoint.netns_fd, CLONE_NEWNET) != 0) {
    *step = "setns(network)";
    return errno;
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *step = "prctl(PR_SET_NO_NEW_PRIVS)";
    return errno;
  }
  // Nothing of the platform's crosses execve: not its listening sockets, clients' connections, other
  // instances' Runtime API sockets or log files. close_range is Linux 5.9; older kernels get the loop.
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
    for (int fd = 3; fd <= max_fd; ++fd) ::close(fd);
  return 0;
}

}  // namespace mlfaas::platform
