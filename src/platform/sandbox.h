#pragma once
// What separates an instance from the platform, from other instances and from the host (docs/SECURITY.md).
// Every instance starts with no descriptor of the platform and `no_new_privs`. With --instance-network isolated
// (the default) it also gets a network namespace of its own, holding only a loopback interface on which the
// platform listens for its Runtime API at 127.0.0.1:9001, as on Lambda: nothing outside the instance can reach
// that endpoint, and the function has no network. Where the namespace cannot be made, instances share the host's
// network and `warning()` says so, once, at start-up.
// Where the server is root, each instance also gets its own mount and PID namespaces: the code directory
// read-only, a private /tmp of the function's EphemeralStorage, its own /proc, and an unprivileged uid.
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

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
  bool private_namespaces() const { return private_namespaces_; }
  std::string describe() const;              // for the start-up banner
  const std::string& warning() const { return warning_; }  // non-empty: what is not enforced, and why

  // Throws std::runtime_error naming the failing step and errno.
  RuntimeEndpoint make_endpoint() const;

 private:
  InstanceNetwork network_;
  bool private_namespaces_ = false;
  int host_netns_fd_ = -1;  // the namespace the platform returns to after making an instance's
  std::string warning_;
};

// Everything the child's side needs, prepared before fork.
struct InstanceJail {
  RuntimeEndpoint endpoint;
  bool private_namespaces = false;
  std::string code_dir;     // bound read-only
  // Directories under /tmp the function needs (its code, the bootstrap's directory, and those its environment
  // names, such as MODEL_PATH), bound read-only again into the private /tmp, which would hide them; at most
  // kMaxKeptUnderTmp, none inside another. Mutable copies: the child makes their parents in place.
  std::vector<std::vector<char>> keep_under_tmp;
  std::string tmp_options;  // of the /tmp tmpfs: "size=...,mode=1777"
  uid_t uid = 65534;        // nobody
  gid_t gid = 65534;
  int max_fd = 1024;        // the descriptor loop's end where close_range is missing
  // PackageType: Image with private namespaces: the unpacked root filesystem becomes the function's root
  // (read-only, with a tmpfs /tmp, its own /proc and the host's /dev/{null,zero,random,urandom} bound in), and
  // the function starts in `image_workdir` inside it. Empty: the code directory's sandbox above.
  std::string image_root;
  std::string image_workdir;
  std::vector<std::string> image_mount_points;  // under image_root: tmp, proc, then the dev nodes' files
};
constexpr size_t kMaxKeptUnderTmp = 8;
InstanceJail make_jail(const Sandbox& sandbox, RuntimeEndpoint endpoint, const std::string& code_dir,
                       const std::string& bootstrap, int ephemeral_mb,
                       const std::map<std::string, std::string>& environment = {});

// An image function's jail: `rootfs` as unpack_image left it (mount points made). Without private namespaces the
// image's root is not enforced and the jail is the code-directory one around `rootfs`.
InstanceJail make_image_jail(const Sandbox& sandbox, RuntimeEndpoint endpoint, const std::string& rootfs,
                             const std::string& workdir, int ephemeral_mb);

// The child's side, between fork and execve; only async-signal-safe calls (docs/PLATFORM.md, "Instance
// operation"). With private namespaces the calling process stays outside the new PID namespace as its
// supervisor: it forks the function's process (PID 1 inside), waits for it and exits as it did, so the platform
// still sees one child whose exit status is the function's. Returns 0 in the process that goes on to execve, or
// the errno of the step that failed with `*step` naming it (the child then reports it on its stderr pipe).
int enter_sandbox(const InstanceJail& jail, const char** step);

}  // namespace mlfaas::platform
