#pragma once
// A small fork-join pool for splitting one operation into chunks across at most `threads` threads (the caller is
// one of them). Chunks are claimed dynamically, so when a worker is slow to wake (a busy machine) the caller simply
// runs more of them itself instead of waiting. Between the jobs of one request workers poll briefly (tens of
// microseconds, so back-to-back GEMMs do not each pay a wake-up), then sleep on a condition variable: an idle model
// burns no CPU.
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

  // Calls fn(ctx, chunk) once for every chunk in [0, chunks) (chunks < 65536), spread over the threads, and
  // returns when all are done. Not re-entrant: one run at a time.
  void run(int chunks, void (*fn)(void*, int), void* ctx);

  template <typename F>
  void run(int chunks, F& f) {
    run(chunks, [](void* c, int chunk) { (*static_cast<F*>(c))(chunk); }, &f);
  }

 private:
  void worker_loop();
  // Claims the next chunk of job `seq`; false when the job is finished or was replaced.
  bool claim(uint32_t seq, int* chunk);
  int work_on(uint32_t seq);  // returns how many chunks this thread ran

  std::vector<std::thread> workers_;
  // The current job in one word, so a claim can never pair one job's counter with another's chunk count:
  // bits 63..32 sequence number, 31..16 chunk count, 15..0 next unclaimed chunk.
  std::atomic<uint64_t> job_{0};
  std::atomic<int> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  void (*fn_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace mlfaas
