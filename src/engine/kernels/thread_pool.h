#pragma once
// A small fork-join pool for splitting one operation across at most `threads` threads (the caller is one of them).
// Between jobs of one request workers spin briefly (a few tens of microseconds, so back-to-back GEMMs do not pay a
// wake-up each), then sleep on a condition variable: an idle model burns no CPU.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mlfaas {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(ctx, part) for part in [0, parts), parts <= threads(); part 0 runs on the calling thread. Returns when
  // all parts are done. Not re-entrant: one run at a time.
  void run(int parts, void (*fn)(void*, int), void* ctx);

  template <typename F>
  void run(int parts, F& f) {
    run(parts, [](void* c, int part) { (*static_cast<F*>(c))(part); }, &f);
  }

 private:
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  // (job sequence number << 8) | number of parts: read together, so a worker never pairs one job's number with
  // another job's part count.
  std::atomic<uint64_t> job_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  void (*fn_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace mlfaas
