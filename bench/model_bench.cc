// Batch-1 latency and batched throughput of a classifier on tokenized sentences (input_ids per JSONL line),
// measured the way the ONNX Runtime peer's bench.mjs does: per sentence `warmup` untimed then `repeat` timed runs;
// reports the median over sentences of each sentence's median, the p90 of all timed runs pooled, and sentences/s
// for batches of 8 and 32 (filled cyclically; run padding-free).
//
//   model_bench --model DIR --inputs FILE.jsonl [--threads N] [--repeat 20] [--warmup 3] [--isa LEVEL] [--precision fp32|int8]
//
// When the inputs carry "logits" (e.g. the ORT peer's reference_numpy.py output for a random model) the outputs are
// checked against them first and the largest difference is reported. Besides wall time it reports the caller
// thread's CPU time per sentence, the steadier figure on a shared machine. The 24-layer MobileBERT of the ORT
// peer: see ../shared/peers/ort/README.md (make_random_model.py ... mobilebert-24L.json --seed 0).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <ctime>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/model.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// CPU time of the calling thread: unlike wall time it does not count time the thread spent descheduled, which on a
// shared machine makes it the steadier figure for comparing kernels at one thread.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

struct Sentence {
  std::vector<int32_t> ids, types;
  std::vector<double> expected_logits;  // when the inputs file carries "logits" (e.g. reference_numpy.py output)
};

int usage(const char* msg) {
  std::fprintf(stderr, "model_bench: %s\nusage: model_bench --model DIR --inputs FILE.jsonl [--threads N] "
               "[--repeat N] [--warmup N] [--isa portable|avx2|avxvnni|avx512|avx512vnni|neon] [--precision fp32|int8]\n", msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, inputs;
  mlfaas::ModelOptions options;
  int repeat = 20, warmup = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = (a == "--help" || a == "-h") ? nullptr : value();
    if (v == nullptr) return usage(a == "--help" || a == "-h" ? "benchmark a model" : ("missing value for " + a).c_str());
    if (a == "--model") model_dir = v;
    else if (a == "--inputs") inputs = v;
    else if (a == "--threads") options.threads = std::atoi(v);
    else if (a == "--repeat") repeat = std::atoi(v);
    else if (a == "--warmup") warmup = std::atoi(v);
    else if (a == "--isa") options.isa = v;
    else if (a == "--precision") options.precision = v;
    else return usage(("unknown argument " + a).c_str());
  }
  if (model_dir.empty() || inputs.empty()) return usage("--model and --inputs are required");
  if (options.threads < 1 || repeat < 1 || warmup < 0) return usage("bad --threads/--repeat/--warmup");

  std::vector<Sentence> sentences;
  {
    std::ifstream in(inputs);
    if (!in) return usage(("cannot read " + inputs).c_str());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.contains("input_ids")) return usage(("bad line in " + inputs).c_str());
      Sentence s;
      s.ids = j["input_ids"].get<std::vector<int32_t>>();
      if (j.contains("token_type_ids")) s.types = j["token_type_ids"].get<std::vector<int32_t>>();
      if (j.contains("logits")) s.expected_logits = j["logits"].get<std::vector<double>>();
      sentences.push_back(std::move(s));
    }
  }
  if (sentences.empty()) return usage("no sentences in the inputs file");

  std::unique_ptr<mlfaas::Model> model;
  const auto t_load = Clock::now();
  try {
    model = mlfaas::Model::load(model_dir, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_bench: %s\n", e.what());
    return 2;
  }
  const double load_ms = ms_since(t_load);

  // Outputs first: a fast wrong answer is no result.
  double max_diff = -1;
  for (const Sentence& s : sentences) {
    if (s.expected_logits.empty()) continue;
    const std::vector<float> logits = model->classify({s.ids, s.types});
    if (logits.size() != s.expected_logits.size()) return usage("expected logits have the wrong length");
    for (size_t i = 0; i < logits.size(); ++i) max_diff = std::max(max_diff, std::fabs(logits[i] - s.expected_logits[i]));
  }

  std::vector<double> per_sentence_median, pooled, per_sentence_cpu;
  for (const Sentence& s : sentences) {
    const mlfaas::TokenIds seq{s.ids, s.types};
    for (int w = 0; w < warmup; ++w) model->classify(seq);
    std::vector<double> times, cpu;
    for (int r = 0; r < repeat; ++r) {
      const double c0 = thread_cpu_ms();
      const auto t0 = Clock::now();
      model->classify(seq);
      times.push_back(ms_since(t0));
      cpu.push_back(thread_cpu_ms() - c0);
    }
    per_sentence_median.push_back(quantile(times, 0.5));
    per_sentence_cpu.push_back(quantile(cpu, 0.5));
    pooled.insert(pooled.end(), times.begin(), times.end());
  }

  auto throughput = [&](int batch_size) {
    std::vector<mlfaas::TokenIds> batch;
    for (int i = 0; i < batch_size; ++i) {
      const Sentence& s = sentences[i % sentences.size()];
      batch.push_back({s.ids, s.types});
    }
    for (int w = 0; w < std::max(1, warmup / 2); ++w) model->classify_batch(batch);
    std::vector<double> rates;
    const int rounds = std::max(3, repeat / 4);
    for (int r = 0; r < rounds; ++r) {
      const auto t0 = Clock::now();
      model->classify_batch(batch);
      rates.push_back(batch_size / (ms_since(t0) / 1000.0));
    }
    return quantile(rates, 0.5);
  };
  const double tput8 = throughput(8), tput32 = throughput(32);

  const double median = quantile(per_sentence_median, 0.5);
  const double p90 = quantile(pooled, 0.9);
  nlohmann::json out = {
      {"model", model_dir},
      {"isa", std::string(mlfaas::isa_name(model->isa()))},
      {"precision", model->precision()},
      {"threads", options.threads},
      {"sentences", sentences.size()},
      {"warmup", warmup},
      {"repeat", repeat},
      {"load_ms", load_ms},
      {"latency_ms_median", median},
      {"latency_ms_p90_pooled", p90},
      {"caller_thread_cpu_ms_median", quantile(per_sentence_cpu, 0.5)},
      {"latency_ms_per_sentence", per_sentence_median},
      {"batch8_sentences_per_s", tput8},
      {"max_abs_logit_diff_vs_inputs", max_diff < 0 ? nlohmann::json(nullptr) : nlohmann::json(max_diff)},
      {"batch32_sentences_per_s", tput32},
  };
  std::printf("%s\n", out.dump().c_str());
  std::printf("%s isa=%s threads=%d: batch-1 median %.2f ms (pooled p90 %.2f ms), batch 8 %.1f sent/s, batch 32 "
              "%.1f sent/s, load %.0f ms, caller cpu %.2f ms\n",
              model_dir.c_str(), std::string(mlfaas::isa_name(model->isa())).c_str(), options.threads, median, p90,
              tput8, tput32, load_ms, quantile(per_sentence_cpu, 0.5));
  return 0;
}
