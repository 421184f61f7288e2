#pragma once
// What separates an instance from the platform, from other instances and from the host (docs/SECURITY.md).
// Every instance starts with no descriptor of the platform and `no_new_privs`. With --instance-network isolated
// (the default) it also gets a network namespace of its own, holding only a loopback interface on which the
// platform listens for its Runtime API at 127.0.0.1:9001, as on Lambda: nothing outside the instance can reach
// that endpoint, and the function has no network. Where the namespace cannot be made, instances share the host's
// network and `warning()` says so, once, at start-up.
#include <string>

namespace mlfaas::platform {

enum class InstanceNetwork { Isolated, Host };

// One instance's Runtime API socket, bound and listening, and the namespace the child joins (-1: the host's).
struct RuntimeEndpoint {
  int listening_fd = -1;
  int netns_fd = -1;
  std::string address;  // AWS_LAMBDA_RUNTIME_API
};

class Sandbox {
 public:
  // Decides once what this host allows. Never throws. MLFAAS_DISABLE_NAMESPACES=1 behaves as a host without
  // namespaces (for tests of that path).
  explicit Sandbox(InstanceNetwork requested);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  InstanceNetwork network() const { return network_; }
  std::string describe() const;              // for the start-up banner
  const std::string& warning() const { return warning_; }  // non-empty: what is not enforced, and why

  // Throws std::runtime_error naming the failing step and errno.
  RuntimeEndpoint make_endpoint() const;

 private:
  InstanceNetwork network_;
  int host_netns_fd_ = -1;  // the namespace the platform returns to after making an instance's
  std::string warning_;
};

// The child's side, between fork and execve; only async-signal-safe calls. Joins the endpoint's namespace,
// sets no_new_privs and closes every descriptor above 2. Returns 0, or the errno of the step that failed with
// `*step` naming it (the child then reports it on its stderr pipe and exits).
int enter_sandbox(const RuntimeEndpoint& endpoint, int max_fd, const char** step);

}  // namespace mlfaas::platform
