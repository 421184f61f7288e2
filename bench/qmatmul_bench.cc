// Speed of the quantized linear kernels (kernels/qmatmul.h) on TinyLlama-1.1B's shapes (dim 2048, ff 5632, 4 KV
// heads of 64, vocab 32000): decode (m = 1) as weight GB/s, prefill (m = 128) as GOP/s (2 m rows k / time).
//
//   qmatmul_bench [--isa LEVEL] [--threads 1,2] [--types q8_0,q4_0] [--repeat 20] [--stream-mb 512]
//
// Decode is reported twice: "hot", one matrix over and over (it may sit in L2/L3), and "stream", a rotation
// through copies totalling --stream-mb so every call reads its weights from DRAM as a real forward pass does. Each
// figure is the best of --repeat runs (the machine is shared; the minimum is the least disturbed run); one-thread
// figures are also given by thread CPU time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/kernels/isa.h"
#include "engine/kernels/qmatmul.h"
#include "engine/kernels/thread_pool.h"

namespace {

using namespace mlfaas;
using Clock = std::chrono::steady_clock;

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

struct Shape {
  const char* name;
  int rows, k;
};
const Shape kShapes[] = {{"attn_q/o 2048x2048", 2048, 2048},
                         {"attn_k/v 256x2048", 256, 2048},
                         {"ffn_gate/up 5632x2048", 5632, 2048},
                         {"ffn_down 2048x5632", 2048, 5632},
                         {"output 32000x2048", 32000, 2048}};

struct Timing {
  double wall = 1e30, cpu = 1e30;  // best seconds per call
};

template <typename F>
Timing best_of(int repeat, int calls_per_run, F&& f) {
  Timing t;
  f();  // warm-up
  for (int r = 0; r < repeat; ++r) {
    const auto w0 = Clock::now();
    const double c0 = thread_cpu_s();
    for (int c = 0; c < calls_per_run; ++c) f();
    const double cpu = (thread_cpu_s() - c0) / calls_per_run;
    const double wall = std::chrono::duration<double>(Clock::now() - w0).count() / calls_per_run;
    t.wall = std::min(t.wall, wall);
    t.cpu = std::min(t.cpu, cpu);
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::string isa_name_arg, threads_arg = "1,2", types_arg = "q8_0,q4_0", shapes_arg;
  int repeat = 20;
  double stream_mb = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--isa") isa_name_arg = argv[i + 1];
    else if (a == "--threads") threads_arg = argv[i + 1];
    else if (a == "--types") types_arg = argv[i + 1];
    else if (a == "--repeat") repeat = std::stoi(argv[i + 1]);
    else if (a == "--stream-mb") stream_mb = std::stod(argv[i + 1]);
    else if (a == "--shapes") shapes_arg = argv[i + 1];  // substrings of the shape names, e.g. "down,output"
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const Isa isa = resolve_isa(isa_name_arg);
  std::printf("isa %s\n", std::string(isa_name(isa)).c_str());
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0.f, 1.f);
  const int m_prefill = 128;
  QMatmulScratch scratch(m_prefill, 5632);
  std::vector<float> x(static_cast<size_t>(m_prefill) * 5632);
  for (float& v : x) v = g(rng);
  std::vector<float> y(static_cast<size_t>(m_prefill) * 32000);

  for (const std::string& type_name : split(types_arg)) {
    // q8_0_x16 / q4_0_x16: the row-interleaved forms of compiled .mlf files (quant_blocks.h).
    const QuantType named = type_name == "q8_0_x16" ? QuantType::Q8_0_X16
                           : type_name == "q4_0_x16" ? QuantType::Q4_0_X16
                           : type_name == "q8_0" ? QuantType::Q8_0
                           : type_name == "q4_0" ? QuantType::Q4_0
                           : type_name == "f16"  ? QuantType::F16
                           : type_name == "bf16" ? QuantType::BF16
                           : type_name == "q4_k" ? QuantType::Q4_K
                           : type_name == "q6_k" ? QuantType::Q6_K
                                                 : QuantType::F32;
    const QuantType type = quant_type_base(named);
    const bool kquant = type == QuantType::Q4_K || type == QuantType::Q6_K;
    for (const Shape& s : kShapes) {
      if (!shapes_arg.empty()) {
        bool wanted = false;
        for (const std::string& part : split(shapes_arg)) wanted |= std::string(s.name).find(part) != std::string::npos;
        if (!wanted) continue;
      }
      const size_t row_bytes = quant_row_bytes(type, s.k);
      const size_t bytes = row_bytes * s.rows;
      // Copies for the streaming runs (the first is the hot one).
      const int copies = std::max<int>(1, static_cast<int>(stream_mb * 1e6 / bytes) + 1);
      std::vector<std::byte> data(bytes);
      std::vector<float> row(s.k);
      uint32_t state = 12345;  // a cheap generator: the values do not matter, only that they vary
      for (int r = 0; r < s.rows && !kquant; ++r) {
        for (float& v : row) {
          state = state * 1664525u + 1013904223u;
          v = static_cast<float>(static_cast<int32_t>(state)) * 1e-10f;
        }
        quantize_row(type, row.data(), s.k, data.data() + r * row_bytes);
      }
      if (kquant) {  // no k-quant quantizer yet: random bytes, with small fp16 super-block scales
        for (std::byte& b : data) {
          state = state * 1664525u + 1013904223u;
          b = static_cast<std::byte>(state >> 24);
        }
        const int block = quant_block_bytes(type);
        const uint16_t d = 0x1C00;
        for (size_t off = 0; off < bytes; off += block) {
          std::memcpy(data.data() + off + (type == QuantType::Q6_K ? 208 : 0), &d, 2);
          if (type == QuantType::Q4_K) std::memcpy(data.data() + off + 2, &d, 2);
        }
      }
      QWeight w{type, s.rows, s.k, data.data(), row_bytes};
      if (quant_type_x16(named)) {
        std::vector<std::byte> packed(x16_weight_bytes(named, s.rows, s.k));
        w = interleave_x16(w, packed.data());
        data = std::move(packed);  // the same bytes (s.rows is a multiple of 16): the view stays valid
        w.data = data.data();
      }
      std::vector<std::byte> stream(bytes * copies);
      for (int c = 0; c < copies; ++c) std::memcpy(stream.data() + c * bytes, data.data(), bytes);
      for (const std::string& t : split(threads_arg)) {
        const int threads = std::stoi(t);
        ThreadPool pool(threads);
        ThreadPool* p = threads > 1 ? &pool : nullptr;
        const Timing hot = best_of(repeat, 1, [&] { qmatmul(isa, w, x.data(), s.k, 1, y.data(), s.rows, &scratch, p); });
        int next = 0;
        const Timing cold = best_of(std::max(3, repeat / 4), copies, [&] {
          QWeight ws = w;
          ws.data = stream.data() + (next++ % copies) * bytes;
          qmatmul(isa, ws, x.data(), s.k, 1, y.data(), s.rows, &scratch, p);
        });
        const Timing pre = best_of(std::max(3, repeat / 2), 1, [&] {
          qmatmul(isa, w, x.data(), s.k, m_prefill, y.data(), s.rows, &scratch, p);
        });
        const double gb = bytes / 1e9, gop = 2.0 * m_prefill * s.rows * s.k / 1e9;
        if (threads == 1) {
          std::printf("%-5s %-22s t=1  m=1 hot %6.1f GB/s (cpu %6.1f)  stream %6.1f GB/s (cpu %6.1f)   m=128 %6.1f GOP/s (cpu %6.1f)\n",
                      type_name.c_str(), s.name, gb / hot.wall, gb / hot.cpu, gb / cold.wall, gb / cold.cpu,
                      gop / pre.wall, gop / pre.cpu);
        } else {  // the caller's CPU time says nothing about the other threads: wall time only
          std::printf("%-5s %-22s t=%d  m=1 hot %6.1f GB/s             stream %6.1f GB/s               m=128 %6.1f GOP/s\n",
                      type_name.c_str(), s.name, threads, gb / hot.wall, gb / cold.wall, gop / pre.wall);
        }
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
