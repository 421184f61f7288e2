#include "engine/kernels/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MLFAAS_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define MLFAAS_CPU_RELAX() asm volatile("yield")
#else
#define MLFAAS_CPU_RELAX() ((void)0)
#endif

namespace mlfaas {

namespace {
// How long a worker keeps polling after a job before it goes to sleep. Long enough to bridge the gap between two
// GEMMs of one forward pass, short enough that an idle process is idle.
constexpr auto kSpinFor = std::chrono::microseconds(50);
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads > 255) threads = 255;
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    job_.fetch_add(1 << 8);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(int parts, void (*fn)(void*, int), void* ctx) {
  if (parts <= 1 || workers_.empty()) {
    for (int p = 0; p < parts; ++p) fn(ctx, p);
    return;
  }
  if (parts > threads()) parts = threads();
  fn_ = fn;
  ctx_ = ctx;
  pending_.store(parts - 1);
  const uint64_t seq = (job_.load() >> 8) + 1;
  job_.store(seq << 8 | static_cast<uint64_t>(parts));  // seq_cst: pairs with the sleepers_ increment in worker_loop
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  fn(ctx, 0);
  while (pending_.load(std::memory_order_acquire) != 0) MLFAAS_CPU_RELAX();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t now = job_.load(std::memory_order_acquire);
    if (now == seen) {
      const auto deadline = std::chrono::steady_clock::now() + kSpinFor;
      int polls = 0;
      while ((now = job_.load(std::memory_order_acquire)) == seen) {
        MLFAAS_CPU_RELAX();
        if (++polls % 64 == 0 && std::chrono::steady_clock::now() > deadline) break;
      }
      if (now == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return job_.load() != seen; });
        sleepers_.fetch_sub(1);
        now = job_.load();
      }
    }
    seen = now;
    if (stop_.load()) return;
    if (index < static_cast<int>(now & 0xff)) {
      fn_(ctx_, index);
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }
}

}  // namespace mlfaas
