// Throughput of the AMX prefill kernel (qmatmul_amx) on the weight shapes of a TinyLlama-1.1B-shaped model (dim
// 2048, ff 5632, 22 layers, 4 KV heads of 64, vocab 32000), Q8_0 and Q4_0, for a prompt of m rows (128 by default),
// on 1 and 2 threads (1 thread: the thread's CPU time; 2: wall time). Weights are random blocks (the kernel's speed does not depend on the values). Prints GOP/s per
// shape (2 m rows k / time) and the prompt tokens/s that the model's linears alone would allow: m / (22 x the seven
// per-layer matmuls + the output head). Not a test.
//   qmatmul_amx_bench [--m M] [--seconds S] [--threads-max T] [--type q8_0|q4_0] [--rows R --k K]
// --type and --rows/--k restrict the run to one type / one shape (for comparing builds).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/qmatmul_amx.h"
#include "engine/kernels/thread_pool.h"

namespace {

using namespace mlfaas;

struct Shape {
  const char* name;
  int rows, k, per_model;  // per_model: how many times the model's forward pass runs this shape
};

constexpr int kLayers = 22;
const Shape kShapes[] = {
    {"attn_q/attn_output 2048x2048", 2048, 2048, 2 * kLayers},
    {"attn_k/attn_v 256x2048", 256, 2048, 2 * kLayers},
    {"ffn_gate/ffn_up 5632x2048", 5632, 2048, 2 * kLayers},
    {"ffn_down 2048x5632", 2048, 5632, kLayers},
    {"output 32000x2048", 32000, 2048, 1},
};

std::vector<std::byte> random_weight(QuantType type, int rows, int k, std::mt19937& rng) {
  const size_t bytes = static_cast<size_t>(rows) * (k / 32) * quant_block_bytes(type);
  std::vector<std::byte> data(bytes);
  for (size_t at = 0; at + 4 <= bytes; at += 4) {
    const uint32_t bits = static_cast<uint32_t>(rng());
    std::memcpy(&data[at], &bits, 4);
  }
  // Sane fp16 scales (about 0.001 .. 0.03) instead of random bits, which may be Inf/NaN.
  const size_t block = quant_block_bytes(type);
  std::uniform_int_distribution<int> scale(0x1400, 0x2700);
  for (size_t at = 0; at < bytes; at += block) {
    const auto bits = static_cast<uint16_t>(scale(rng));
    std::memcpy(&data[at], &bits, 2);
  }
  return data;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Best time of one call. On one thread (no pool) it is the calling thread's CPU time, which a busy shared machine
// does not inflate by preempting us; with a pool it is wall time.
double seconds_per_call(const QWeight& w, const float* x, int m, float* y, ThreadPool* pool, double budget) {
  using Clock = std::chrono::steady_clock;
  qmatmul_amx(w, x, w.k, m, y, w.rows, pool);  // warm-up: scratch, page faults
  double best = 1e30;
  const auto start = Clock::now();
  int calls = 0;
  do {
    const auto t0 = Clock::now();
    const double c0 = thread_cpu_seconds();
    qmatmul_amx(w, x, w.k, m, y, w.rows, pool);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, pool ? wall : thread_cpu_seconds() - c0);
    ++calls;
  } while (calls < 3 || std::chrono::duration<double>(Clock::now() - start).count() < budget);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int m = 128, threads_max = 2, only_rows = 0, only_k = 0;
  double budget = 0.5;
  std::string only_type;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "qmatmul_amx_bench: %s needs a value\n", a.c_str());
      return 2;
    }
    if (a == "--m") m = std::atoi(argv[++i]);
    else if (a == "--seconds") budget = std::atof(argv[++i]);
    else if (a == "--threads-max") threads_max = std::atoi(argv[++i]);
    else if (a == "--type") only_type = argv[++i];
    else if (a == "--rows") only_rows = std::atoi(argv[++i]);
    else if (a == "--k") only_k = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: qmatmul_amx_bench [--m M] [--seconds S] [--threads-max T] [--type q8_0|q4_0] "
                   "[--rows R --k K]\n");
      return 2;
    }
  }
  if (!amx_int8_usable()) {
    std::printf("AMX-INT8 is not available to this process (CPU, kernel or architecture): nothing to measure\n");
    return 0;
  }
  std::mt19937 rng(1234);
  std::vector<float> x(static_cast<size_t>(m) * 5632);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(m) * 32000);

  std::printf("qmatmul_amx, m = %d (best of >= %.1f s per shape)\n", m, budget);
  for (QuantType type : {QuantType::Q8_0, QuantType::Q4_0}) {
    const char* type_name = type == QuantType::Q8_0 ? "Q8_0" : "Q4_0";
    if (!only_type.empty() && only_type != (type == QuantType::Q8_0 ? "q8_0" : "q4_0")) continue;
    for (int threads = 1; threads <= threads_max; ++threads) {
      std::unique_ptr<ThreadPool> pool;
      if (threads > 1) pool = std::make_unique<ThreadPool>(threads);
      double model_seconds = 0, model_ops = 0;
      for (const Shape& s : kShapes) {
        if (only_rows && (s.rows != only_rows || s.k != only_k)) continue;
        const auto data = random_weight(type, s.rows, s.k, rng);
        QWeight w{type, s.rows, s.k, data.data(), static_cast<size_t>(s.k / 32) * quant_block_bytes(type)};
        const double t = seconds_per_call(w, x.data(), m, y.data(), pool.get(), budget);
        const double ops = 2.0 * m * s.rows * s.k;
        std::printf("%s %d thread%s  %-30s %8.3f ms  %7.1f GOP/s\n", type_name, threads, threads > 1 ? "s" : " ",
                    s.name, t * 1e3, ops / t * 1e-9);
        model_seconds += t * s.per_model;
        model_ops += ops * s.per_model;
      }
      if (only_rows) continue;
      std::printf("%s %d thread%s  whole model's linears: %.1f ms per %d tokens = %.1f tokens/s (%.1f GOP/s)\n\n",
                  type_name, threads, threads > 1 ? "s" : " ", model_seconds * 1e3, m, m / model_seconds,
                  model_ops / model_seconds * 1e-9);
    }
  }
  return 0;
}
