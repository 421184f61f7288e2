#include "platform/cgroups.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace mlfaas::platform {

namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Cgroup files take one value per write(2); an error comes back from that write.
bool write_text(const std::string& path, const std::string& value, std::string* error = nullptr) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (error) *error = path + ": " + std::strerror(errno);
    return false;
  }
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != ssize_t(value.size())) {
    if (error) *error = path + ": writing '" + value + "': " + std::strerror(err);
    return false;
  }
  return true;
}

void must_write(const std::string& path, const std::string& value) {
  std::string error;
  if (!write_text(path, value, &error)) throw std::runtime_error(error);
}

bool make_dir(const std::string& path, std::string* error) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return true;
  *error = path + ": " + std::strerror(errno);
  return false;
}

std::optional<long long> read_number(const std::string& path) {
  auto text = read_text(path);
  if (!text) return std::nullopt;
  try {
    return std::stoll(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "key value" lines (memory.events, memory.oom_control).
long long read_key(const std::string& path, const std::string& key) {
  auto text = read_text(path);
  if (!text) return 0;
  std::istringstream in(*text);
  std::string k;
  long long v;
  while (in >> k >> v)
    if (k == key) return v;
  return 0;
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (int c : cpus) out += (out.empty() ? "" : ",") + std::to_string(c);
  return out;
}

std::vector<int> own_affinity() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

// A server holds an exclusive flock on each of its mlfaas-<pid> directories for as long as it lives (the kernel
// drops it when the process dies, kill -9 included). A directory whose lock can be taken and whose pid is gone
// belongs to a dead server: the lock spares live servers whose pid we cannot see (another PID namespace) or
// that reuse a dead one's pid, and the pid check spares a server between its mkdir and its flock.
bool owner_is_dead(const std::string& dir, int pid) {
  if (pid <= 0 || !(::kill(pid, 0) != 0 && errno == ESRCH)) return false;
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool unlocked = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return unlocked;
}

std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') out.push_back(dir + "/" + e->d_name);
    ::closedir(d);
  }
  return out;
}

// Ends and removes what servers that died without cleaning up (kill -9) left in `bases` (one per hierarchy).
// Their instances outlive them, frozen ones without noticing. Every instance is thawed before any is killed
// (a frozen task only dies once thawed), all are killed at once, and then all are awaited together, so that 20
// orphans cost about what one does.
void remove_stale(const std::vector<std::string>& bases) {
  std::vector<std::string> servers, instances;
  for (const auto& base : bases)
    for (const auto& dir : subdirectories(base)) {
      std::string name = dir.substr(dir.rfind('/') + 1);
      if (!name.starts_with("mlfaas-") || !std::isdigit(static_cast<unsigned char>(name[7]))) continue;
      if (!owner_is_dead(dir, std::atoi(name.c_str() + 7))) continue;
      servers.push_back(dir);
      for (auto& inst : subdirectories(dir)) instances.push_back(std::move(inst));
    }
  for (const auto& inst : instances) {
    write_text(inst + "/freezer.state", "THAWED");
    write_text(inst + "/cgroup.freeze", "0");
  }
  for (const auto& inst : instances) {
    std::ifstream procs(inst + "/cgroup.procs");
    for (long pid; procs >> pid;)
      if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
  }
  // A killed task leaves its cgroup a moment later; a cgroup is removable once empty.
  for (int attempt = 0; attempt < 300 && !instances.empty(); ++attempt) {
    std::erase_if(instances, [](const std::string& inst) { return ::rmdir(inst.c_str()) == 0 || errno != EBUSY; });
    if (!instances.empty()) ::usleep(5'000);
  }
  for (const auto& server : servers) ::rmdir(server.c_str());
}

// An instance's cgroup empties a moment after the platform reaps its child: with a PID namespace the child is
// the supervisor, and the function (SIGKILLed with it) may still be exiting. Bounded: at most ~50 ms, rarely.
void remove_cgroup_dir(const std::string& dir) {
  for (int attempt = 0; attempt < 50 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++attempt) ::usleep(1'000);
}

// Removes what instances left below a server's directory, then the directory.
void remove_server_dir(const std::string& dir) {
  for (const auto& inst : subdirectories(dir)) remove_cgroup_dir(inst);
  ::rmdir(dir.c_str());
}

// Takes the lock that tells other servers this directory's owner is alive (see owner_is_dead).
int hold_lock(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Mount {
  std::string point;
  std::set<std::string> options;
};

// cgroup (v1) mounts by controller name, and the cgroup2 mount point if any.
void read_mounts(std::map<std::string, std::string>& v1, std::string& v2) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, dev, root, point, fstype, source, super;
    pre >> id >> parent >> dev >> root >> point;
    post >> fstype >> source >> super;
    if (fstype == "cgroup2") {
      if (v2.empty()) v2 = point;
    } else if (fstype == "cgroup") {
      std::istringstream opts(super);
      for (std::string opt; std::getline(opts, opt, ',');) v1.emplace(opt, point);
    }
  }
}

// This process's cgroup path per v1 controller, and its v2 path (key "").
std::map<std::string, std::string> own_cgroups() {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (path == "/") path = "";
    if (controllers.empty()) out[""] = path;
    std::istringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');) out[c] = path;
  }
  return out;
}

// ---------------------------------------------------------------- v1

class V1Instance final : public InstanceCgroup {
 public:
  std::map<std::string, std::string> dirs;  // controller -> directory
  std::vector<std::string> procs;

  const std::vector<std::string>& procs_files() const override { return procs; }
  bool freeze() override { return dirs.count("freezer") && write_text(dirs["freezer"] + "/freezer.state", "FROZEN"); }
  bool thaw() override { return dirs.count("freezer") && write_text(dirs["freezer"] + "/freezer.state", "THAWED"); }
  std::optional<long long> peak_bytes() const override {
    return read_number(dirs.at("memory") + "/memory.max_usage_in_bytes");
  }
  long long oom_kills() const override {
    // oom_kill (kernel >= 4.13) counts kills; under_oom alone would miss a kill that already happened.
    return read_key(dirs.at("memory") + "/memory.oom_control", "oom_kill");
  }
  void remove() override {
    for (const auto& [_, dir] : dirs) remove_cgroup_dir(dir);
  }
};

class V1 final : public Cgroups {
 public:
  std::map<std::string, std::string> server_dirs;  // controller -> mlfaas-<pid> directory
  std::string mems;

  ~V1() override {
    for (const auto& [_, dir] : server_dirs) remove_server_dir(dir);
  }
  CgroupMode mode() const override { return CgroupMode::V1; }
  std::string describe() const override {
    std::string list;
    for (const auto& [c, _] : server_dirs) list += (list.empty() ? "" : ", ") + c;
    return "cgroup v1 (" + list + ")";
  }

  std::unique_ptr<InstanceCgroup> create(const std::string& name, const ResourceShape& shape,
                                         const std::vector<int>& cpus) override {
    auto inst = std::make_unique<V1Instance>();
    std::string error;
    for (const auto& [controller, server] : server_dirs) {
      std::string dir = server + "/" + name;
      if (!make_dir(dir, &error)) throw std::runtime_error(error);
      inst->dirs[controller] = dir;
      inst->procs.push_back(dir + "/cgroup.procs");
    }
    const std::string& cpu = inst->dirs["cpu"];
    must_write(cpu + "/cpu.cfs_period_us", "100000");
    must_write(cpu + "/cpu.cfs_quota_us", std::to_string(std::max(1000L, std::lround(shape.vcpus * 100000))));
    const std::string& mem = inst->dirs["memory"];
    long long bytes = (long long)shape.memory_mb << 20;
    must_write(mem + "/memory.limit_in_bytes", std::to_string(bytes));
    // With swap accounting, memory+swap gets the same cap: Lambda has no swap.
    if (::access((mem + "/memory.memsw.limit_in_bytes").c_str(), W_OK) == 0)
      write_text(mem + "/memory.memsw.limit_in_bytes", std::to_string(bytes));
    write_text(mem + "/memory.swappiness", "0");
    if (inst->dirs.count("cpuset")) {
      must_write(inst->dirs["cpuset"] + "/cpuset.cpus", cpu_list(cpus));
      must_write(inst->dirs["cpuset"] + "/cpuset.mems", mems);
    }
    return inst;
  }

  static std::unique_ptr<Cgroups> open(const std::map<std::string, std::string>& mounts,
                                       const std::map<std::string, std::string>& own, std::string* why) {
    auto v1 = std::make_unique<V1>();
    std::string suffix = "/mlfaas-" + std::to_string(::getpid());
    std::vector<std::string> bases;
    for (const char* controller : {"cpu", "memory", "cpuset", "freezer"})
      if (auto m = mounts.find(controller); m != mounts.end())
        bases.push_back(m->second + (own.count(controller) ? own.at(controller) : ""));
    remove_stale(bases);
    for (const char* controller : {"cpu", "memory", "cpuset", "freezer"}) {
      auto m = mounts.find(controller);
      bool required = std::strcmp(controller, "cpu") == 0 || std::strcmp(controller, "memory") == 0;
      if (m == mounts.end()) {
        if (required) {
          *why = std::string("no cgroup v1 ") + controller + " controller mounted";
          return nullptr;
        }
        continue;
      }
      std::string base = m->second + (own.count(controller) ? own.at(controller) : "");
      std::string error;
      if (!make_dir(base + suffix, &error)) {
        if (required) {
          *why = error;
          return nullptr;
        }
        continue;
      }
      if (std::strcmp(controller, "cpuset") == 0) {
        // A v1 cpuset cgroup starts empty: copy the parent's CPUs and memory nodes before any task can join.
        auto cpus = read_text(base + "/cpuset.cpus");
        auto mems = read_text(base + "/cpuset.mems");
        if (!cpus || !mems || !write_text(base + suffix + "/cpuset.cpus", *cpus) ||
            !write_text(base + suffix + "/cpuset.mems", *mems)) {
          ::rmdir((base + suffix).c_str());
          continue;
        }
        v1->mems = *mems;
        while (!v1->mems.empty() && std::isspace(static_cast<unsigned char>(v1->mems.back()))) v1->mems.pop_back();
      }
      v1->server_dirs[controller] = base + suffix;
      v1->locks_.push_back(hold_lock(base + suffix));
    }
    return v1;
  }
};

// ---------------------------------------------------------------- v2

class V2Instance final : public InstanceCgroup {
 public:
  std::string dir;
  std::vector<std::string> procs;

  const std::vector<std::string>& procs_files() const override { return procs; }
  bool freeze() override { return write_text(dir + "/cgroup.freeze", "1"); }
  bool thaw() override { return write_text(dir + "/cgroup.freeze", "0"); }
  std::optional<long long> peak_bytes() const override { return read_number(dir + "/memory.peak"); }
  long long oom_kills() const override { return read_key(dir + "/memory.events", "oom_kill"); }
  void remove() override { remove_cgroup_dir(dir); }
};

class V2 final : public Cgroups {
 public:
  std::string server_dir;
  std::string supervisor_dir;
  bool has_cpuset = false;

  ~V2() override { remove_server_dir(server_dir); }
  CgroupMode mode() const override { return CgroupMode::V2; }
  std::string describe() const override {
    return std::string("cgroup v2 (cpu, memory") + (has_cpuset ? ", cpuset" : "") + ", freeze)";
  }

  std::unique_ptr<InstanceCgroup> create(const std::string& name, const ResourceShape& shape,
                                         const std::vector<int>& cpus) override {
    auto inst = std::make_unique<V2Instance>();
    inst->dir = server_dir + "/" + name;
    std::string error;
    if (!make_dir(inst->dir, &error)) throw std::runtime_error(error);
    inst->procs.push_back(inst->dir + "/cgroup.procs");
    must_write(inst->dir + "/cpu.max", std::to_string(std::max(1000L, std::lround(shape.vcpus * 100000))) + " 100000");
    must_write(inst->dir + "/memory.max", std::to_string((long long)shape.memory_mb << 20));
    write_text(inst->dir + "/memory.swap.max", "0");
    if (has_cpuset) must_write(inst->dir + "/cpuset.cpus", cpu_list(cpus));
    return inst;
  }

  static std::unique_ptr<Cgroups> open(const std::string& mount, const std::string& own, std::string* why) {
    auto v2 = std::make_unique<V2>();
    std::string base = mount + own;
    auto text = read_text(base + "/cgroup.controllers");
    std::set<std::string> available;
    if (text) {
      std::istringstream list(*text);
      for (std::string c; list >> c;) available.insert(c);
    }
    if (!available.count("cpu") || !available.count("memory")) {
      *why = "cgroup v2 at " + base + " does not offer the cpu and memory controllers";
      return nullptr;
    }
    remove_stale({base});
    bool cpuset = available.count("cpuset") > 0;
    std::string enable = cpuset ? "+cpu +memory +cpuset" : "+cpu +memory";
    std::string error;
    if (!write_text(base + "/cgroup.subtree_control", enable, &error)) {
      // v2 forbids controllers below a cgroup that holds processes: move this server into a leaf of its own.
      v2->supervisor_dir = base + "/mlfaas-supervisor-" + std::to_string(::getpid());
      if (!make_dir(v2->supervisor_dir, &error) ||
          !write_text(v2->supervisor_dir + "/cgroup.procs", std::to_string(::getpid()), &error) ||
          !write_text(base + "/cgroup.subtree_control", enable, &error)) {
        *why = "cannot enable cgroup v2 controllers: " + error;
        return nullptr;
      }
    }
    v2->server_dir = base + "/mlfaas-" + std::to_string(::getpid());
    if (!make_dir(v2->server_dir, &error) || !write_text(v2->server_dir + "/cgroup.subtree_control", enable, &error)) {
      *why = error;
      return nullptr;
    }
    v2->locks_.push_back(hold_lock(v2->server_dir));
    v2->has_cpuset = cpuset;
    return v2;
  }
};

class NoCgroups final : public Cgroups {
 public:
  explicit NoCgroups(std::string why) { warning_ = std::move(why); }
  CgroupMode mode() const override { return CgroupMode::None; }
  std::string describe() const override { return "unenforced (no usable cgroups)"; }
  std::unique_ptr<InstanceCgroup> create(const std::string&, const ResourceShape&, const std::vector<int>&) override {
    return nullptr;
  }
};

}  // namespace

Cgroups::~Cgroups() {
  for (int fd : locks_)
    if (fd >= 0) ::close(fd);
}

ResourceShape lambda_shape(int memory_mb, int host_cpus) {
  ResourceShape s;
  s.memory_mb = memory_mb;
  double vcpus = std::min(6.0, memory_mb / 1769.0);
  s.vcpus = std::min(vcpus, double(host_cpus));
  s.quota_capped = vcpus > host_cpus;
  int visible = memory_mb <= 3008 ? 2 : memory_mb <= 5307 ? 3 : memory_mb <= 7076 ? 4 : memory_mb <= 8845 ? 5 : 6;
  s.visible_cpus = std::min(visible, host_cpus);
  return s;
}

std::unique_ptr<Cgroups> Cgroups::detect() {
  std::map<std::string, std::string> v1_mounts;
  std::string v2_mount;
  read_mounts(v1_mounts, v2_mount);
  auto own = own_cgroups();
  std::string why_v2, why_v1;
  std::unique_ptr<Cgroups> result;
  // A pure v2 host mounts cgroup2 with the controllers; hybrid hosts keep the controllers on v1.
  if (!v2_mount.empty() && own.count("")) result = V2::open(v2_mount, own[""], &why_v2);
  if (!result && v1_mounts.count("cpu") && v1_mounts.count("memory")) result = V1::open(v1_mounts, own, &why_v1);
  if (!result) {
    std::string why = !why_v1.empty() ? why_v1 : !why_v2.empty() ? why_v2 : "no cgroup controllers found";
    if (::geteuid() != 0) why += " (not running as root)";
    result = std::make_unique<NoCgroups>(why);
  }
  result->host_cpus_ = own_affinity();
  return result;
}

// ---------------------------------------------------------------- process memory

namespace {

// ppid from /proc/<pid>/stat: the field after the command, which may itself hold spaces and parentheses.
std::optional<pid_t> parent_of(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  long long ppid = 0;
  if (!(rest >> state >> ppid)) return std::nullopt;
  return pid_t(ppid);
}

std::optional<long long> peak_rss_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmHWM:")) return std::atoll(line.c_str() + 6) * 1024;
  return std::nullopt;  // gone, or a zombie (no mm)
}

}  // namespace

std::optional<long long> process_tree_peak_bytes(pid_t root, bool exclude_root) {
  if (root <= 0) return std::nullopt;
  std::map<pid_t, std::vector<pid_t>> children;
  if (DIR* proc = ::opendir("/proc")) {
    while (dirent* e = ::readdir(proc)) {
      if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
      if (auto ppid = parent_of(e->d_name)) children[*ppid].push_back(pid_t(std::atoll(e->d_name)));
    }
    ::closedir(proc);
  }
  std::optional<long long> total;
  std::vector<pid_t> todo = {root};
  std::set<pid_t> seen;
  while (!todo.empty()) {
    pid_t pid = todo.back();
    todo.pop_back();
    if (!seen.insert(pid).second) continue;
    if (pid != root || !exclude_root)
      if (auto bytes = peak_rss_bytes(pid)) total = total.value_or(0) + *bytes;
    if (auto it = children.find(pid); it != children.end()) todo.insert(todo.end(), it->second.begin(), it->second.end());
  }
  return total;
}

}  // namespace mlfaas::platform
