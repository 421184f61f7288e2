#pragma once
// Lambda's resource model on one Linux host: each function instance gets its own cgroup (v2, or v1 with the
// cpu, memory, cpuset and freezer controllers) with a CPU quota proportional to its memory size, Lambda's
// visible CPU count, a memory limit, and a freezer. Cgroups are created below the server's own cgroup, so the
// platform never escapes the place it was started in. Without usable cgroups the platform runs unenforced.
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlfaas::platform {

enum class CgroupMode { V2, V1, None };

// What Lambda gives a function of `memory_mb` on a host with `host_cpus` CPUs.
struct ResourceShape {
  int memory_mb = 128;
  double vcpus = 0;          // CPU quota: memory / 1769 MB, at most 6 and at most the host's CPUs
  int visible_cpus = 2;      // 2 up to 3008 MB, 3 to 5307, 4 to 7076, 5 to 8845, 6 above (capped by the host)
  bool quota_capped = false; // true when the host has fewer CPUs than Lambda would give
};
ResourceShape lambda_shape(int memory_mb, int host_cpus);

// An instance's own memory at its peak: the sum of VmHWM (peak resident set: anonymous pages and the file pages
// it maps, wherever they are charged) over `root` and its descendants, without `root` itself when it is the
// sandbox's supervisor (`exclude_root`: a forked copy of the platform, not the function). Works with cgroup v1,
// v2 and none. A cgroup's own usage is no measure of this: page cache is charged to whichever cgroup read a
// file first, so a second instance that maps the same 144 MB model would show 2-3 MB. nullopt when no process
// of the tree is left.
std::optional<long long> process_tree_peak_bytes(pid_t root, bool exclude_root);

class InstanceCgroup {
 public:
  virtual ~InstanceCgroup() = default;
  // Files the child writes "0" into, between fork and exec, to join the cgroup before it runs any code.
  virtual const std::vector<std::string>& procs_files() const = 0;
  virtual bool freeze() = 0;  // false: the caller falls back to SIGSTOP
  virtual bool thaw() = 0;
  virtual std::optional<long long> peak_bytes() const = 0;  // the charge's peak, page cache included
  virtual long long oom_kills() const = 0;
  // Removes the (empty) cgroup directories; called after the instance's processes are reaped.
  virtual void remove() = 0;
};

class Cgroups {
 public:
  // Detects what this host allows. Never throws: on failure the mode is None and `warning()` says why.
  static std::unique_ptr<Cgroups> detect();
  virtual ~Cgroups();
  virtual CgroupMode mode() const = 0;
  virtual std::string describe() const = 0;  // for the start-up banner
  const std::string& warning() const { return warning_; }
  // Throws std::runtime_error when the cgroup cannot be created or configured.
  virtual std::unique_ptr<InstanceCgroup> create(const std::string& name, const ResourceShape& shape,
                                                 const std::vector<int>& cpus) = 0;
  // The CPUs this server may use (its own affinity), from which instances get their visible CPUs.
  const std::vector<int>& host_cpus() const { return host_cpus_; }

 protected:
  std::string warning_;
  std::vector<int> host_cpus_;
  std::vector<int> locks_;  // flocks on this server's directories: held while it lives (cgroups.cc, remove_stale)
};

}  // namespace mlfaas::platform
