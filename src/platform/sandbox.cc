#include "platform/sandbox.h"

#include <algorithm>

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <grp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <climits>
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

// Whether a child can make mount and PID namespaces (root, or CAP_SYS_ADMIN, and a kernel that has them).
bool can_make_private_namespaces() {
  if (::geteuid() != 0) return false;
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) ::_exit(::unshare(CLONE_NEWNS | CLONE_NEWPID) == 0 ? 0 : 1);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Sandbox::Sandbox(InstanceNetwork requested) : network_(requested) {
  const char* disabled = std::getenv("MLFAAS_DISABLE_NAMESPACES");
  bool namespaces_disabled = disabled && std::strcmp(disabled, "1") == 0;
  private_namespaces_ = !namespaces_disabled && can_make_private_namespaces();
  std::string not_private =
      private_namespaces_ ? ""
                          : "; instances run as this server's user, see its processes and can write their code and "
                            "the host's /tmp";
  if (requested == InstanceNetwork::Host) {
    if (!private_namespaces_)
      warning_ = "no mount, PID or user separation" + std::string(namespaces_disabled ? " (MLFAAS_DISABLE_NAMESPACES=1)"
                                                                                    : " (not root)") + not_private;
    return;
  }
  std::string why;
  if (namespaces_disabled) {
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
        if (!private_namespaces_) warning_ = "no mount, PID or user separation (not root)" + not_private;
        return;
      } catch (const std::exception& e) {
        why = e.what();
        if (::geteuid() != 0) why += " (not root: network namespaces need CAP_SYS_ADMIN)";
      }
    }
  }
  network_ = InstanceNetwork::Host;
  warning_ = "instances share the host's network: any local process can reach an instance's Runtime API "
             "(take its events, answer for it) and functions reach the network; " + why + not_private;
}

Sandbox::~Sandbox() {
  if (host_netns_fd_ >= 0) ::close(host_netns_fd_);
}

std::string Sandbox::describe() const {
  std::string text = network_ == InstanceNetwork::Isolated
                         ? "isolated (own network namespace, Runtime API at 127.0.0.1:9001 inside it)"
                         : "host (the host's network; Runtime API on a loopback port of the host)";
  if (private_namespaces_) text += ", own PID and mount namespaces (code read-only, private /tmp), uid 65534";
  return text + ", no_new_privs, no inherited descriptors";
}

InstanceJail make_jail(const Sandbox& sandbox, RuntimeEndpoint endpoint, const std::string& code_dir,
                       const std::string& bootstrap, int ephemeral_mb,
                       const std::map<std::string, std::string>& environment) {
  InstanceJail jail;
  jail.endpoint = std::move(endpoint);
  jail.private_namespaces = sandbox.private_namespaces();
  jail.code_dir = code_dir.empty() ? "/" : code_dir;
  // A checkout (or a model) may well live under /tmp: MODEL_PATH and the like must stay visible, read-only.
  std::vector<std::string> wanted = {jail.code_dir, bootstrap.substr(0, bootstrap.rfind('/'))};
  for (const auto& [name, value] : environment) {
    if (value.starts_with("/tmp/")) wanted.push_back(value);
  }
  std::vector<std::string> under_tmp;
  for (const std::string& dir : wanted) {
    char resolved[PATH_MAX];
    if (!::realpath(dir.c_str(), resolved)) continue;
    std::string path = resolved;
    struct stat st {};
    if (::stat(resolved, &st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) path = path.substr(0, path.rfind('/'));  // a file: its directory
    if (path.starts_with("/tmp/")) under_tmp.push_back(path);
  }
  std::sort(under_tmp.begin(), under_tmp.end());
  for (const std::string& path : under_tmp) {
    const bool inside_kept = std::any_of(jail.keep_under_tmp.begin(), jail.keep_under_tmp.end(), [&](const auto& k) {
      const std::string kept(k.data());
      return path == kept || path.starts_with(kept + "/");
    });
    if (!inside_kept && jail.keep_under_tmp.size() < kMaxKeptUnderTmp) {
      jail.keep_under_tmp.emplace_back(path.c_str(), path.c_str() + path.size() + 1);
    }
  }
  jail.tmp_options = "size=" + std::to_string((long long)ephemeral_mb << 20) + ",mode=1777";
  long open_max = ::sysconf(_SC_OPEN_MAX);
  jail.max_fd = open_max > 0 && open_max < (1 << 20) ? int(open_max) : (1 << 20);
  return jail;
}

namespace {
const char* const kImageDevices[] = {"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"};
}

InstanceJail make_image_jail(const Sandbox& sandbox, RuntimeEndpoint endpoint, const std::string& rootfs,
                             const std::string& workdir, int ephemeral_mb) {
  InstanceJail jail = make_jail(sandbox, std::move(endpoint), rootfs, rootfs + "/bootstrap", ephemeral_mb);
  if (!jail.private_namespaces) return jail;
  jail.keep_under_tmp.clear();  // the host's /tmp is out of sight in the image's root anyway
  jail.image_root = rootfs;
  jail.image_workdir = workdir;
  jail.image_mount_points = {rootfs + "/tmp", rootfs + "/proc"};
  for (const char* dev : kImageDevices) jail.image_mount_points.push_back(rootfs + dev);
  return jail;
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

namespace {

void close_from(unsigned first, int max_fd) {
  if (::syscall(SYS_close_range, first, ~0u, 0u) != 0)
    for (int fd = int(first); fd <= max_fd; ++fd) ::close(fd);
}

// Outside the function's PID namespace: waits for its PID 1 and ends the same way, so that waitpid in the
// platform reads the function's exit. Holds no descriptor, so the output pipe closes with the function.
[[noreturn]] void supervise(pid_t function, int max_fd) {
  close_from(0, max_fd);
  // It never execs, so it still has the platform's signal handlers: back to the defaults, so that a signal
  // ends it as it would end the function.
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  // It shares the platform's pages, which the OOM killer counts: the function, not its supervisor, is the one
  // to go when the instance runs out of memory.
  if (int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); fd >= 0) {
    (void)!::write(fd, "-1000", 5);
    ::close(fd);
  }
  int status = 0;
  while (::waitpid(function, &status, 0) < 0)
    if (errno != EINTR) ::_exit(127);
  if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // the function's core, if any, was already written
  ::signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
  ::kill(::getpid(), sig);
  ::_exit(128 + sig);
}

// An image function's root, after its mount namespace is made private (docs/PLATFORM.md, "Instance
// operation"): the mounts inside the unpacked root first, then the root read-only, then pivot_root into it, so
// that nothing of the host's file system stays reachable; privileges go last.
int enter_image_root(const InstanceJail& jail, const char** step) {
  auto failed = [step](const char* what) {
    *step = what;
    return errno;
  };
  const char* root = jail.image_root.c_str();
  const auto& at = jail.image_mount_points;  // tmp, proc, dev nodes (make_image_jail's order)
  if (::mount(root, root, nullptr, MS_BIND | MS_REC, nullptr) != 0) return failed("bind the image's root");
  if (::mount("tmpfs", at[0].c_str(), "tmpfs", MS_NOSUID | MS_NODEV, jail.tmp_options.c_str()) != 0)
    return failed("mount tmpfs on the image's /tmp");
  if (::mount("proc", at[1].c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    return failed("mount the image's /proc");
  for (size_t i = 0; i < sizeof kImageDevices / sizeof kImageDevices[0] && i + 2 < at.size(); ++i)
    if (::mount(kImageDevices[i], at[i + 2].c_str(), nullptr, MS_BIND, nullptr) != 0)
      return failed("bind a device into the image's /dev");
  // Read-only as Lambda's is; the mounts above keep their own flags.
  if (::mount(nullptr, root, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
    return failed("remount the image's root read-only");
  // pivot_root(".", "."): the old root ends up stacked on the new one, and is then detached.
  if (::chdir(root) != 0) return failed("chdir into the image's root");
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return failed("pivot_root into the image's root");
  if (::umount2(".", MNT_DETACH) != 0) return failed("detach the host's root");
  if (::chdir(jail.image_workdir.c_str()) != 0 && ::chdir("/") != 0) return failed("chdir to the image's WorkingDir");
  if (::setgroups(0, nullptr) != 0) return failed("setgroups");
  if (::setresgid(jail.gid, jail.gid, jail.gid) != 0) return failed("setresgid");
  if (::setresuid(jail.uid, jail.uid, jail.uid) != 0) return failed("setresuid");
  return 0;
}

}  // namespace

int enter_sandbox(const InstanceJail& jail, const char** step) {
  auto failed = [step](const char* what) {
    *step = what;
    return errno;
  };
  // The namespace first, while the child still holds its descriptor.
  if (jail.endpoint.netns_fd >= 0 && ::setns(jail.endpoint.netns_fd, CLONE_NEWNET) != 0)
    return failed("setns(network)");
  // Then bubblewrap's order: no_new_privs, the namespaces, then groups, gid and uid.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return failed("prctl(PR_SET_NO_NEW_PRIVS)");
  if (jail.private_namespaces) {
    if (::unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) return failed("unshare(CLONE_NEWNS | CLONE_NEWPID)");
    pid_t function = ::fork();
    if (function < 0) return failed("fork into the PID namespace");
    if (function > 0) supervise(function, jail.max_fd);
    // Mounts made from here on stay in this namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return failed("mount / private");
    if (!jail.image_root.empty()) {
      if (int err = enter_image_root(jail, step); err != 0) return err;
      close_from(3, jail.max_fd);
      return 0;
    }
    const char* code = jail.code_dir.c_str();
    if (::mount(code, code, nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
        ::mount(nullptr, code, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
      return failed("bind the code directory read-only");
    // Held open across the tmpfs mount, which hides them, to be bound back in below.
    int kept[kMaxKeptUnderTmp] = {-1, -1, -1, -1, -1, -1, -1, -1};
    for (size_t i = 0; i < jail.keep_under_tmp.size() && i < kMaxKeptUnderTmp; ++i)
      if ((kept[i] = ::open(jail.keep_under_tmp[i].data(), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return failed("open a directory under /tmp");
    if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, jail.tmp_options.c_str()) != 0)
      return failed("mount tmpfs on /tmp");
    for (size_t i = 0; i < jail.keep_under_tmp.size() && i < kMaxKeptUnderTmp; ++i) {
      char* path = const_cast<char*>(jail.keep_under_tmp[i].data());
      for (char* p = path + 5; *p; ++p)
        if (*p == '/') {
          *p = '\0';
          ::mkdir(path, 0755);
          *p = '/';
        }
      ::mkdir(path, 0755);
      char source[32] = "/proc/self/fd/";
      int n = 14;
      char digits[12];
      int d = 0;
      for (int v = kept[i]; v > 0 || d == 0; v /= 10) digits[d++] = char('0' + v % 10);
      while (d > 0) source[n++] = digits[--d];
      source[n] = '\0';
      if (::mount(source, path, nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
          ::mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
        return failed("bind a directory back into /tmp");
      ::close(kept[i]);
    }
    if (::chdir(code) != 0) return failed("chdir into the read-only code directory");  // not the one below
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
      return failed("mount /proc");
    if (::setgroups(0, nullptr) != 0) return failed("setgroups");
    if (::setresgid(jail.gid, jail.gid, jail.gid) != 0) return failed("setresgid");
    if (::setresuid(jail.uid, jail.uid, jail.uid) != 0) return failed("setresuid");
  }
  // Nothing of the platform's crosses execve: not its listening sockets, clients' connections, other
  // instances' Runtime API sockets or log files. close_range is Linux 5.9; older kernels get the loop.
  close_from(3, jail.max_fd);
  return 0;
}

}  // namespace mlfaas::platform
