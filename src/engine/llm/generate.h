#pragma once
// Text generation over a LlamaSession: greedy (temperature 0, identical to HF's generate(do_sample=False)) or
// sampled (temperature, top-k, top-p, in HF's order: temperature, then top-k, then top-p, then a draw), stopping
// on an EOS id, a stop string, max_new_tokens or a full context.
//
// Randomness: a request's seed drives a 64-bit PCG (pcg32, O'Neill 2014) - fixed, documented, portable - so the
// same seed, model and request give the same tokens on every machine and kernel level whose logits agree to the
// sampled precision: pcg32_srandom_r(seed, 0xda3e39cb94b95bdb), one draw per sampled token as
// (pcg32_random_r() >> 8) / 2^24, walked over the kept tokens in descending probability (ties: lower id first).
// No seed = one drawn from std::random_device (reported back, so a run can be replayed).
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/llm/llama.h"

namespace mlfaas {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // 1 = off
  std::optional<uint64_t> seed;
};

struct GenerateRequest {
  std::vector<int32_t> prompt_ids;  // BOS included when the model wants one
  int max_new_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;  // stop strings: generation ends before the first occurrence
  bool ignore_eos = false;
};

struct GenerateTimings {
  int prompt_tokens = 0;
  double prefill_ms = 0;
  int generated_tokens = 0;
  double decode_ms = 0;
  double first_token_ms = 0;  // from the call to the first generated token
};

struct GenerateResult {
  // The generated ids, an EOS that ended generation included (as HF's generate returns it; it adds no text).
  std::vector<int32_t> generated_ids;
  // The decoded continuation: what decode(prompt + generated) adds to decode(prompt) - so the first word keeps its
  // leading space unless the generation starts the text - with the stop string and anything after it removed.
  std::string text;
  // "stop" (EOS or stop string), "length" (max_new_tokens), "context" (context full), "cancelled" (callback)
  std::string finish_reason;
  uint64_t seed = 0;          // the seed used (sampling only)
  GenerateTimings timings;
};

// Called for each piece of final text as it is produced (never a broken UTF-8 sequence; text held back while it
// could still be the start of a stop string). Return false to stop early (finish_reason "cancelled").
using TextCallback = std::function<bool(std::string_view text)>;

// Resets the session, runs the prompt, then samples. Throws InputError for an empty prompt or one that leaves no
// room in the context ("prompt of N tokens does not fit the context of C").
GenerateResult generate(LlamaSession& session, const GenerateRequest& request, const TextCallback& on_text = {});

}  // namespace mlfaas
