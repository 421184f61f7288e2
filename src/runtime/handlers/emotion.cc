// Seed A's emotion classifier: MobileBERT/BERT sequence classification, answered in seed A's exact shape
// {"predicted_label", "confidence_score", "details": {label: probability}}. The model is loaded once, in INIT.
// Compiled only when the engine provides engine/model.h (see src/runtime/CMakeLists.txt).
#include <algorithm>
#include <cmath>

#include "engine/model.h"
#include "engine/tokenizer/wordpiece.h"
#include "runtime/handler.h"
#include "runtime/sentences.h"

namespace mlfaas::runtime {

using nlohmann::json;

namespace {

// A Lambda of 512 MB has 0.29 vCPU: more threads would only contend for the quota.
mlfaas::ModelOptions single_thread() {
  mlfaas::ModelOptions options;
  options.threads = 1;
  return options;
}

// Seed A padded to 512 tokens; we keep emo-mobilebert's 128-token limit and do not pad.
constexpr int kMaxTokens = 128;

class EmotionHandler final : public Handler {
 public:
  explicit EmotionHandler(const HandlerSetup& setup)
      : dir_(resolve_model_dir(setup, "emotion", /*compiled_ok=*/true)),
        model_(mlfaas::Model::load(dir_, single_thread())),
        tokenizer_(model_->tokenizer()) {
    if (model_->config().labels.empty())
      throw std::runtime_error(dir_ + ": the model has no labels (not a sequence classifier)");
  }

  json handle(const json& input, const Context&) override {
    auto in = extract_sentences(input);
    if (!in.is_batch) return classify(in.sentences.front());
    json results = json::array();
    for (const auto& s : in.sentences) results.push_back(classify(s));
    return {{"results", results}};
  }

  std::string model_name() const override { return dir_; }

 private:
  json classify(const std::string& sentence) {
    auto& enc = encoding_;  // reused: no allocation per request after warm-up
    tokenizer_->encode(sentence, std::min(kMaxTokens, model_->max_tokens()), &enc);
    std::vector<float> logits = model_->classify(mlfaas::TokenIds{enc.input_ids, enc.token_type_ids});
    const auto& labels = model_->config().labels;
    std::vector<double> p(logits.begin(), logits.end());
    double top = *std::max_element(p.begin(), p.end()), sum = 0;
    for (auto& v : p) sum += (v = std::exp(v - top));
    json details = json::object();
    size_t best = 0;
    for (size_t i = 0; i < p.size() && i < labels.size(); ++i) {
      p[i] /= sum;
      details[labels[i]] = p[i];
      if (p[i] > p[best]) best = i;
    }
    return {{"predicted_label", labels[best]}, {"confidence_score", p[best]}, {"details", details}};
  }

  std::string dir_;
  std::unique_ptr<mlfaas::Model> model_;
  std::shared_ptr<const mlfaas::WordPieceTokenizer> tokenizer_;
  mlfaas::Encoding encoding_;
};

}  // namespace

void register_emotion_handler(HandlerRegistry& r) {
  r.add("emotion", "seed A's emotion classifier (others/happy/sad/angry) over the function's model",
        [](const HandlerSetup& setup) -> std::unique_ptr<Handler> {
          return std::make_unique<EmotionHandler>(setup);
        });
}

}  // namespace mlfaas::runtime
