// Our side of bench/llama.sh: the same measurement as the llama.cpp peer's bench.mjs (../shared/peers/llama-cpp),
// on the same GGUF file, so the two JSON lines compare field for field. Prompt ids are the peer's deterministic
// sequence (no tokenizer involved); greedy decode; median over --repeat runs after one warm-up run.
//   llama_bench --model FILE [--threads 1] [--prompt-tokens 128] [--gen-tokens 64] [--repeat 3] [--isa L]
//
// As in bench.mjs: prefill = the first n-1 prompt tokens; the first generated token comes from the last prompt
// token; decode ms/token = time from the first generated token to the last over (generated - 1).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "engine/llm/llama.h"

namespace {

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

int argmax(std::span<const float> v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, isa;
  int threads = 1, n_prompt = 128, n_gen = 64, repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--model") model_path = v;
    else if (a == "--threads") threads = std::atoi(v);
    else if (a == "--prompt-tokens") n_prompt = std::atoi(v);
    else if (a == "--gen-tokens") n_gen = std::atoi(v);
    else if (a == "--repeat") repeat = std::atoi(v);
    else if (a == "--isa") isa = v;
    else {
      std::fprintf(stderr, "llama_bench: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (model_path.empty() || threads < 1 || n_prompt < 2 || n_gen < 2 || repeat < 1) {
    std::fprintf(stderr,
                 "usage: llama_bench --model FILE [--threads N] [--prompt-tokens N>=2] [--gen-tokens N>=2] "
                 "[--repeat N] [--isa L]\n");
    return 2;
  }
  try {
    const double t0 = now_ms();
    mlfaas::LlamaOptions options;
    options.isa = isa;
    auto model = mlfaas::LlamaModel::load(model_path, options);
    const double t_model = now_ms();
    mlfaas::LlamaSession session(model, {.threads = threads, .context = n_prompt + n_gen + 8});
    const double t_ctx = now_ms();

    const int vocab = model->config().vocab_size;
    std::vector<int32_t> prompt{1};
    for (int i = 1; i < n_prompt; i++) prompt.push_back(259 + (i * 7919) % std::max(1, std::min(vocab, 1024) - 259));

    std::vector<double> prefill, decode, first_token;
    for (int r = 0; r <= repeat; r++) {
      session.reset();
      const double a = now_ms();
      session.forward(std::span<const int32_t>(prompt.data(), prompt.size() - 1));
      const double b = now_ms();
      int32_t tok = argmax(session.forward(std::span<const int32_t>(&prompt.back(), 1)));
      const double first = now_ms();
      for (int g = 1; g < n_gen; g++) tok = argmax(session.forward(std::span<const int32_t>(&tok, 1)));
      const double c = now_ms();
      if (r == 0) continue;  // warm-up
      prefill.push_back(b - a);
      first_token.push_back(first - a);
      decode.push_back((c - first) / (n_gen - 1));
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double p = median(prefill), d = median(decode);
    std::printf(
        "{\"engine\":\"mlfaas\",\"isa\":\"%s\",\"threads\":%d,\"prompt_tokens\":%d,\"gen_tokens\":%d,"
        "\"load_ms\":{\"model\":%.1f,\"context\":%.1f},\"prefill_ms\":%.2f,\"prefill_tok_s\":%.1f,"
        "\"first_token_ms\":%.2f,\"decode_ms_per_token\":%.3f,\"decode_tok_s\":%.2f,\"peak_rss_mib\":%.1f}\n",
        std::string(mlfaas::isa_name(model->isa())).c_str(), threads, n_prompt, n_gen, t_model - t0, t_ctx - t_model,
        p, (n_prompt - 1) / p * 1000.0, median(first_token), d, 1000.0 / d, ru.ru_maxrss / 1024.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llama_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
