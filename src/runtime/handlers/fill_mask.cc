// The `fill-mask` handler: a BERT masked-LM model (the study's bert-base-uncased) answering {"text": "... [MASK]
// ..."} as transformers' FillMaskPipeline does: for one mask, the top 5 [{score, token, token_str, sequence}];
// for several masks, one such list per mask, in text order. score is the softmax over the vocabulary; sequence is
// the input with the mask replaced, decoded as BERT's fast tokenizer decodes (the WordPiece decoder with its
// clean-up), without special tokens for one mask and with them (the other [MASK]s visible) for several.
// {"batch": [texts]} or the study's SNS message answers a list with one such answer per text.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "engine/model.h"
#include "engine/tokenizer/wordpiece.h"
#include "runtime/handler.h"
#include "runtime/sentences.h"

namespace mlfaas::runtime {

using nlohmann::json;

namespace {

constexpr int kTopK = 5;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

class FillMaskHandler final : public Handler {
 public:
  explicit FillMaskHandler(const HandlerSetup& setup)
      : dir_(resolve_model_dir(setup, "fill-mask", /*compiled_ok=*/true)),
        model_(mlfaas::Model::load(dir_, single_thread())),
        tokenizer_(model_->tokenizer()) {
    if (model_->task() != mlfaas::ModelTask::MaskedLM)
      throw std::runtime_error(dir_ + ": not a masked language model (fill-mask needs e.g. BertForMaskedLM)");
    if (tokenizer_->mask_id() < 0) throw std::runtime_error(dir_ + ": the vocabulary has no [MASK]");
  }

  json handle(const json& input, const Context&) override {
    SentenceInput in = extract_sentences(input);
    if (!in.is_batch) return fill(in.sentences.front());
    json answers = json::array();
    for (const auto& text : in.sentences) answers.push_back(fill(text));
    return answers;
  }

  std::string model_name() const override { return dir_; }

 private:
  static mlfaas::ModelOptions single_thread() {
    mlfaas::ModelOptions options;
    options.threads = 1;
    return options;
  }

  json fill(const std::string& text) {
    mlfaas::Encoding enc;
    try {
      tokenizer_->encode(text, 0, &enc);
    } catch (const mlfaas::InputError& e) {
      throw BadRequest("Invalid request", e.what());
    }
    if (int(enc.input_ids.size()) > model_->max_tokens())
      throw BadRequest("Invalid request", "the text is " + std::to_string(enc.input_ids.size()) +
                                              " tokens; the model takes at most " +
                                              std::to_string(model_->max_tokens()));
    std::vector<int> masks;
    for (size_t i = 0; i < enc.input_ids.size(); ++i)
      if (enc.input_ids[i] == tokenizer_->mask_id()) masks.push_back(int(i));
    if (masks.empty()) throw BadRequest("Invalid request", "no mask token ([MASK]) found in the text");

    std::vector<float> logits =
        model_->masked_lm_logits(mlfaas::TokenIds{enc.input_ids, enc.token_type_ids}, masks);
    const size_t vocab = logits.size() / masks.size();
    const bool single = masks.size() == 1;
    json rows = json::array();
    for (size_t m = 0; m < masks.size(); ++m) {
      std::span<const float> row(logits.data() + m * vocab, vocab);
      // softmax in double, then the k largest (ties: lower id first, as torch.topk on CPU returns them).
      double top = *std::max_element(row.begin(), row.end()), sum = 0;
      std::vector<double> p(vocab);
      for (size_t v = 0; v < vocab; ++v) sum += (p[v] = std::exp(double(row[v]) - top));
      std::vector<int32_t> ids(vocab);
      std::iota(ids.begin(), ids.end(), 0);
      const size_t k = std::min<size_t>(kTopK, vocab);
      std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                        [&](int32_t a, int32_t b) { return p[a] != p[b] ? p[a] > p[b] : a < b; });
      json candidates = json::array();
      for (size_t i = 0; i < k; ++i) {
        std::vector<int32_t> filled = enc.input_ids;
        filled[masks[m]] = ids[i];
        candidates.push_back({{"score", p[ids[i]] / sum},
                              {"token", ids[i]},
                              {"token_str", decode(std::span<const int32_t>(&ids[i], 1), false)},
                              {"sequence", decode(filled, single)}});
      }
      rows.push_back(std::move(candidates));
    }
    return single ? rows[0] : rows;
  }

  // BERT's fast tokenizer decode: tokens joined by spaces, "##" continuations glued, then the WordPiece decoder's
  // clean-up of spaces before punctuation and contractions (tokenizers' decoders/wordpiece.rs).
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
    std::string out;
    bool first = true;
    for (int32_t id : ids) {
      if (id == tokenizer_->pad_id()) continue;  // the pipeline filters padding out before decoding
      if (skip_special_tokens && (id == tokenizer_->cls_id() || id == tokenizer_->sep_id() ||
                                  id == tokenizer_->mask_id() || id == tokenizer_->unk_id()))
        continue;
      std::string_view token = tokenizer_->id_to_token(id);
      if (!first) {
        if (token.starts_with("##")) token.remove_prefix(2);
        else out += ' ';
      }
      out += token;
      first = false;
    }
    for (auto [from, to] : {std::pair{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                            {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"},
                            {" 're", "'re"}})
      replace_all(out, from, to);
    return out;
  }

  std::string dir_;
  std::unique_ptr<mlfaas::Model> model_;
  std::shared_ptr<const mlfaas::WordPieceTokenizer> tokenizer_;
};

}  // namespace

void register_fill_mask_handler(HandlerRegistry& r) {
  r.add("fill-mask", "BERT masked-LM: {\"text\": \"... [MASK] ...\"} -> the top 5 fills, as HF's fill-mask pipeline",
        [](const HandlerSetup& setup) -> std::unique_ptr<Handler> {
          return std::make_unique<FillMaskHandler>(setup);
        });
}

}  // namespace mlfaas::runtime
