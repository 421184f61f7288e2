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
// How long a thread polls before it blocks. Long enough to bridge the gap between two GEMMs of one forward pass,
// short enough that an idle process is idle.
constexpr auto kSpinFor = std::chrono::microseconds(50);

uint32_t seq_of(uint64_t job) { return static_cast<uint32_t>(job >> 32); }
int chunks_of(uint64_t job) { return static_cast<int>((job >> 16) & 0xffff); }
int next_of(uint64_t job) { return static_cast<int>(job & 0xffff); }
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    job_.store((static_cast<uint64_t>(seq_of(job_.load()) + 1)) << 32);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::claim(uint32_t seq, int* chunk) {
  uint64_t job = job_.load(std::memory_order_acquire);
  for (;;) {
    if (seq_of(job) != seq || next_of(job) >= chunks_of(job)) return false;
    if (job_.compare_exchange_weak(job, job + 1, std::memory_order_acq_rel)) {
      *chunk = next_of(job);
      return true;
    }
  }
}

int ThreadPool::work_on(uint32_t seq) {
  int chunk, ran = 0;
  while (claim(seq, &chunk)) {
    ++ran;
    // A successful claim means the job is unfinished, so fn_/ctx_ still belong to it.
    fn_(ctx_, chunk);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
  return ran;
}

void ThreadPool::run(int chunks, void (*fn)(void*, int), void* ctx) {
  if (chunks <= 1 || workers_.empty()) {
    for (int c = 0; c < chunks; ++c) fn(ctx, c);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t seq = seq_of(job_.load()) + 1;
  job_.store(static_cast<uint64_t>(seq) << 32 | static_cast<uint64_t>(chunks) << 16);  // seq_cst: see worker_loop
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  work_on(seq);
  // Only chunks a worker already started remain; they end within microseconds unless that worker lost its CPU,
  // in which case block so it can get it back.
  const auto deadline = std::chrono::steady_clock::now() + kSpinFor;
  int polls = 0;
  int done;
  while ((done = done_.load(std::memory_order_acquire)) != chunks) {
    MLFAAS_CPU_RELAX();
    if (++polls % 64 == 0 && std::chrono::steady_clock::now() > deadline) {
      while ((done = done_.load(std::memory_order_acquire)) != chunks) done_.wait(done);
      break;
    }
  }
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    uint32_t now = seq_of(job_.load(std::memory_order_acquire));
    if (now == seen) {
      const auto deadline = std::chrono::steady_clock::now() + kSpinFor;
      int polls = 0;
      while ((now = seq_of(job_.load(std::memory_order_acquire))) == seen) {
        MLFAAS_CPU_RELAX();
        if (++polls % 64 == 0 && std::chrono::steady_clock::now() > deadline) break;
      }
      if (now == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);  // seq_cst, before re-reading job_: run() either sees us or we see its job
        wake_.wait(lock, [&] { return seq_of(job_.load()) != seen; });
        sleepers_.fetch_sub(1);
        now = seq_of(job_.load());
      }
    }
    seen = now;
    if (stop_.load()) return;
    if (work_on(now) > 0) done_.notify_one();
  }
}

}  // namespace mlfaas
