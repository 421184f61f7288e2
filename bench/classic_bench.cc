// Times the C++ classic-ML models on batches of texts, the work of one handler invocation: vectorize + predict,
// one thread. bench/classic.sh runs it next to scikit-learn on the same batches.
//
//   classic_bench MODEL_DIR TEXTS.jsonl BATCH REPEATS
// TEXTS.jsonl holds one JSON string per line; batch r is texts[r*BATCH .. (r+1)*BATCH) (wrapping around).
// Prints one JSON line: {"model": ..., "batch": B, "repeats": R, "median_ms": ..., "min_ms": ...,
// "median_cpu_ms": ... (this thread's CPU time), "load_ms": ...}
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "engine/classic/model.h"
#include "engine/error.h"

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of this thread: on a shared machine a batch longer than a scheduler slice is otherwise charged for
// the time other processes ran.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: classic_bench MODEL_DIR TEXTS.jsonl BATCH REPEATS\n");
    return 2;
  }
  try {
    const size_t batch = std::stoul(argv[3]);
    const size_t repeats = std::stoul(argv[4]);
    std::vector<std::string> texts;
    std::ifstream in(argv[2]);
    if (!in) throw mlfaas::FormatError(argv[2], "cannot open");
    for (std::string line; std::getline(in, line);) texts.push_back(nlohmann::json::parse(line).get<std::string>());
    if (texts.empty() || batch == 0 || repeats == 0) throw mlfaas::FormatError(argv[2], "no texts, or batch/repeats is 0");

    auto t0 = std::chrono::steady_clock::now();
    const auto model = mlfaas::classic::Model::load(argv[1]);
    const double load_ms = ms_since(t0);

    std::vector<std::string_view> warm(texts.begin(), texts.begin() + std::min(batch, texts.size()));
    (void)model.predict_batch(warm);  // first touch of the mapped tensors is not part of a warm invocation

    std::vector<double> times, cpu_times;
    size_t checksum = 0;  // keeps the predictions observable so nothing is optimised away
    for (size_t r = 0; r < repeats; ++r) {
      std::vector<std::string_view> views;
      for (size_t i = 0; i < batch; ++i) views.emplace_back(texts[(r * batch + i) % texts.size()]);
      t0 = std::chrono::steady_clock::now();
      const double cpu0 = thread_cpu_ms();
      const auto out = model.predict_batch(views);
      cpu_times.push_back(thread_cpu_ms() - cpu0);
      times.push_back(ms_since(t0));
      for (const auto& p : out) checksum += static_cast<size_t>(p.index + 1);
    }
    std::vector<double> sorted = times, sorted_cpu = cpu_times;
    std::sort(sorted.begin(), sorted.end());
    std::sort(sorted_cpu.begin(), sorted_cpu.end());
    nlohmann::json j = {{"model", std::string(mlfaas::classic::kind_name(model.kind()))},
                        {"batch", batch},
                        {"repeats", repeats},
                        {"median_ms", sorted[sorted.size() / 2]},
                        {"min_ms", sorted.front()},
                        {"median_cpu_ms", sorted_cpu[sorted_cpu.size() / 2]},
                        {"load_ms", load_ms},
                        {"checksum", checksum}};
    std::printf("%s\n", j.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "classic_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
