// Max Memory Used counts an instance's own pages: what it maps from a file the platform (or another instance)
// read first still counts, and the sandbox's supervisor does not (docs/PLATFORM.md, "Max Memory Used").
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "platform/cgroups.h"

namespace fs = std::filesystem;
using mlfaas::platform::process_tree_peak_bytes;

namespace {

constexpr long long kFileBytes = 32LL << 20;

// Maps `path` and reads every page, then tells the parent and waits to be killed.
[[noreturn]] void map_and_wait(const std::string& path, int ready_fd) {
  int fd = ::open(path.c_str(), O_RDONLY);
  void* p = fd >= 0 ? ::mmap(nullptr, kFileBytes, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  if (p == MAP_FAILED) ::_exit(1);
  volatile unsigned char sum = 0;
  for (long long i = 0; i < kFileBytes; i += 4096) sum += static_cast<const unsigned char*>(p)[i];
  (void)!::write(ready_fd, "r", 1);
  for (;;) ::pause();
}

struct Children {
  std::vector<pid_t> pids;
  ~Children() {
    for (pid_t pid : pids) ::kill(pid, SIGKILL), ::waitpid(pid, nullptr, 0);
  }
};

}  // namespace

TEST(PlatformMemory, CountsMappedFilePagesAlreadyInPageCache) {
  fs::path file = fs::temp_directory_path() / ("mlfaas-memory-test-" + std::to_string(::getpid()));
  {
    std::ofstream out(file, std::ios::binary);
    std::vector<char> block(1 << 20, 'x');
    for (int i = 0; i < 32; ++i) out.write(block.data(), block.size());
  }
  {
    // The test reads it first: the page cache is charged to the test's cgroup, not to the children.
    std::ifstream in(file, std::ios::binary);
    std::vector<char> block(1 << 20);
    while (in.read(block.data(), block.size())) {}
  }
  Children children;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  // A plain function process.
  pid_t direct = ::fork();
  if (direct == 0) map_and_wait(file.string(), ready[1]);
  children.pids.push_back(direct);
  // A supervisor (as the sandbox's) whose child is the function.
  pid_t supervisor = ::fork();
  if (supervisor == 0) {
    pid_t function = ::fork();
    if (function == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // goes with the supervisor, which the test kills
      map_and_wait(file.string(), ready[1]);
    }
    ::waitpid(function, nullptr, 0);
    ::_exit(0);
  }
  children.pids.push_back(supervisor);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(::read(ready[0], &c, 1), 1);

  auto direct_bytes = process_tree_peak_bytes(direct, false);
  ASSERT_TRUE(direct_bytes.has_value());
  EXPECT_GE(*direct_bytes, kFileBytes);
  EXPECT_LT(*direct_bytes, kFileBytes + (64LL << 20));  // the file plus the test binary's own pages

  auto tree = process_tree_peak_bytes(supervisor, true);
  auto with_supervisor = process_tree_peak_bytes(supervisor, false);
  ASSERT_TRUE(tree && with_supervisor);
  EXPECT_GE(*tree, kFileBytes);  // the function, a grandchild of nothing but the supervisor
  EXPECT_GT(*with_supervisor, *tree);

  EXPECT_FALSE(process_tree_peak_bytes(0, false).has_value());
  fs::remove(file);
}
