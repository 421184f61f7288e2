// generate(): prefill, then one token at a time - greedy or sampled in HF's warper order - with UTF-8-safe
// streaming and stop strings.
#include "engine/llm/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "engine/error.h"
#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// pcg32 (O'Neill 2014, pcg32_srandom_r / pcg32_random_r): state seeded with the request's seed, the stream
// fixed to the reference implementation's default increment.
class Pcg32 {
 public:
  explicit Pcg32(uint64_t seed) {
    inc_ = (0xda3e39cb94b95bdbULL << 1u) | 1u;
    next();
    state_ += seed;
    next();
  }
  uint32_t next() {
    const uint64_t old = state_;
    state_ = old * 6364136223846793005ULL + inc_;
    const uint32_t xorshifted = static_cast<uint32_t>(((old >> 18u) ^ old) >> 27u);
    const uint32_t rot = static_cast<uint32_t>(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
  }
  // Uniform in [0, 1) with 24 random bits (every value exactly representable as a float).
  float uniform() { return static_cast<float>(next() >> 8) * (1.0f / 16777216.0f); }

 private:
  uint64_t state_ = 0;
  uint64_t inc_ = 0;
};

// torch.argmax: the first maximum.
int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

// Sampling with buffers sized once per request.
class Sampler {
 public:
  Sampler(const SamplingParams& p, uint64_t seed, int vocab) : p_(p), rng_(seed) {
    candidates_.reserve(vocab);
    probs_.reserve(vocab);
  }

  int32_t sample(std::span<const float> logits) {
    const float inv_t = 1.0f / p_.temperature;
    candidates_.clear();
    for (size_t i = 0; i < logits.size(); ++i) candidates_.push_back({logits[i] * inv_t, static_cast<int32_t>(i)});
    // Descending by logit; ties by lower id so the order (and thus the draw) is deterministic.
    auto higher = [](const Candidate& a, const Candidate& b) {
      return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    size_t keep = candidates_.size();
    if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) {
      // TopKLogitsWarper keeps every token whose logit reaches the k-th largest (ties at the boundary survive).
      std::nth_element(candidates_.begin(), candidates_.begin() + (p_.top_k - 1), candidates_.end(), higher);
      const float kth = candidates_[p_.top_k - 1].logit;
      keep =
          std::partition(candidates_.begin(), candidates_.end(), [kth](const Candidate& c) { return c.logit >= kth; }) -
          candidates_.begin();
    }
    std::sort(candidates_.begin(), candidates_.begin() + keep, higher);
    softmax(keep);
    if (p_.top_p < 1.0f) {
      // TopPLogitsWarper: ascending cumulative probabilities; drop those <= 1 - top_p, keep at least the top one.
      float cumulative = 0;
      size_t dropped = 0;
      for (size_t i = keep; i-- > 1;) {
        cumulative += probs_[i];
        if (cumulative <= 1.0f - p_.top_p) {
          dropped = keep - i;
        } else {
          break;
        }
      }
      keep -= dropped;
      softmax(keep);
    }
    const float u = rng_.uniform();
    float cumulative = 0;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs_[i];
      if (u < cumulative) return candidates_[i].id;
    }
    return candidates_[keep - 1].id;  // u beyond a sum that rounded below 1
  }

 private:
  struct Candidate {
    float logit;
    int32_t id;
  };
  void softmax(size_t n) {
    probs_.resize(n);
    const float max_logit = candidates_[0].logit;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      probs_[i] = std::exp(candidates_[i].logit - max_logit);
      sum += probs_[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (size_t i = 0; i < n; ++i) probs_[i] *= inv;
  }

  SamplingParams p_;
  Pcg32 rng_;
  std::vector<Candidate> candidates_;
  std::vector<float> probs_;
};

// Text on its way out: held back while its end could still begin a stop string; cut at the first stop string.
class StopFilter {
 public:
  StopFilter(const std::vector<std::string>& stop, const TextCallback& on_text, std::string* text)
      : stop_(stop), on_text_(on_text), text_(text) {
    for (const auto& s : stop_) max_stop_ = std::max(max_stop_, s.size());
  }

  enum class Status { Going, Stopped, Cancelled };

  Status push(const std::string& piece, bool final) {
    pending_ += piece;
    size_t cut = std::string::npos;
    for (const auto& s : stop_) {
      if (s.empty()) continue;
      const size_t at = pending_.find(s);
      if (at != std::string::npos && (cut == std::string::npos || at < cut)) cut = at;
    }
    if (cut != std::string::npos) {
      pending_.resize(cut);
      return emit(pending_.size()) ? Status::Stopped : Status::Cancelled;
    }
    const size_t hold = final ? 0 : held_suffix();
    return emit(pending_.size() - hold) ? Status::Going : Status::Cancelled;
  }

 private:
  // The longest suffix of pending_ that is a proper prefix of some stop string.
  size_t held_suffix() const {
    const size_t longest = std::min(pending_.size(), max_stop_ == 0 ? 0 : max_stop_ - 1);
    for (size_t len = longest; len > 0; --len) {
      const std::string_view tail = std::string_view(pending_).substr(pending_.size() - len);
      for (const auto& s : stop_) {
        if (s.size() > len && std::string_view(s).substr(0, len) == tail) return len;
      }
    }
    return 0;
  }

  bool emit(size_t n) {
    if (n == 0) return true;
    const std::string_view out(pending_.data(), n);
    text_->append(out);
    const bool go_on = !on_text_ || on_text_(out);
    pending_.erase(0, n);
    return go_on;
  }

  const std::vector<std::string>& stop_;
  const TextCallback& on_text_;
  std::string* text_;
  std::string pending_;
  size_t max_stop_ = 0;
};

}  // namespace

GenerateResult generate(LlamaSession& session, const GenerateRequest& request, const TextCallback& on_text) {
  const auto t0 = Clock::now();
  const LlamaModel& model = session.model();
  const int context = session.context();
  const int n_prompt = static_cast<int>(request.prompt_ids.size());
  if (n_prompt == 0) throw InputError("empty prompt (no token ids)");
  if (n_prompt >= context) {
    throw InputError("prompt of " + std::to_string(n_prompt) + " tokens does not fit the context of " +
                     std::to_string(context) + " (with room for a generated token)");
  }
  if (request.max_new_tokens < 0) throw InputError("max_new_tokens must not be negative");
  const SamplingParams& sp = request.sampling;
  const bool greedy = sp.temperature <= 0.0f;
  if (!greedy && !(sp.top_p > 0.0f && sp.top_p <= 1.0f)) throw InputError("top_p must be in (0, 1]");
  if (sp.top_k < 0) throw InputError("top_k must not be negative");

  GenerateResult result;
  if (sp.seed) {
    result.seed = *sp.seed;
  } else if (!greedy) {
    std::random_device device;
    result.seed = (static_cast<uint64_t>(device()) << 32) | device();
  }
  Sampler sampler(greedy ? SamplingParams{1.0f, 0, 1.0f, {}} : sp, result.seed, model.config().vocab_size);
  const std::vector<int>& eos = model.generation_defaults().eos_token_ids;
  const LlamaTokenizer& tok = *model.tokenizer();
  // The text is the continuation of the prompt's. HF's rule drops the first token's leading space, so the decoder
  // is primed with the prompt's last text token: the first generated word keeps its space ("Lily and Tom" ->
  // " were playing") unless the generation starts the text. llama2.c's rule looks at the id before (BOS or not).
  LlamaTokenizer::StreamDecoder decoder(tok, true, request.prompt_ids.back());
  if (!tok.vocab().llama2c_rules) {
    for (auto it = request.prompt_ids.rbegin(); it != request.prompt_ids.rend(); ++it) {
      if (*it >= 0 && *it < tok.vocab_size() && !tok.is_special(*it)) {
        decoder.push(*it);
        break;
      }
    }
  }
  StopFilter filter(request.stop, on_text, &result.text);

  session.reset();
  std::span<const float> logits = session.forward(request.prompt_ids);
  result.timings.prompt_tokens = n_prompt;
  result.timings.prefill_ms = ms_since(t0);
  const auto decode_start = Clock::now();
  result.finish_reason = "length";
  bool cut_by_stop_string = false;
  while (static_cast<int>(result.generated_ids.size()) < request.max_new_tokens) {
    const int32_t next = greedy ? argmax(logits) : sampler.sample(logits);
    result.generated_ids.push_back(next);
    if (result.generated_ids.size() == 1) result.timings.first_token_ms = ms_since(t0);
    if (!request.ignore_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
      result.finish_reason = "stop";
      break;
    }
    // An embedding row past the tokenizer's vocabulary (padded tables) has no text.
    const auto status = filter.push(next < tok.vocab_size() ? decoder.push(next) : std::string(), false);
    if (status != StopFilter::Status::Going) {
      cut_by_stop_string = status == StopFilter::Status::Stopped;
      result.finish_reason = cut_by_stop_string ? "stop" : "cancelled";
      break;
    }
    if (static_cast<int>(result.generated_ids.size()) == request.max_new_tokens) break;
    if (session.pos() >= context) {
      result.finish_reason = "context";
      break;
    }
    logits = session.forward(std::span<const int32_t>(&result.generated_ids.back(), 1));
  }
  if (!cut_by_stop_string && result.finish_reason != "cancelled") {
    // Whatever the decoder and the stop filter still hold is final text now (and may still hold a stop string).
    const auto status = filter.push(decoder.finish(), true);
    if (status == StopFilter::Status::Stopped) result.finish_reason = "stop";
    if (status == StopFilter::Status::Cancelled) result.finish_reason = "cancelled";
  }
  result.timings.generated_tokens = static_cast<int>(result.generated_ids.size());
  // Decode time covers the forward passes after the first token (llama.cpp's "eval" runs).
  result.timings.decode_ms = ms_since(decode_start);
  return result;
}

}  // namespace mlfaas
