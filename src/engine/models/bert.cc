// BERT (BertModel, BertForSequenceClassification, BertForMaskedLM) as transformers' modeling_bert.py computes it
// in eval mode, for unpadded sequences.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/kernels/ops.h"
#include "engine/models/network.h"

namespace mlfaas::models {

namespace {

struct BertLayer {
  PackedLinear qkv;  // query, key, value stacked: one GEMM
  PackedLinear attn_out;
  std::span<const float> attn_ln_w, attn_ln_b;
  PackedLinear intermediate;
  PackedLinear output;
  std::span<const float> out_ln_w, out_ln_b;
};

class Bert final : public Network {
 public:
  Bert(const ModelConfig& c, ParamSource& ps, GemmRunner& runner) : Network(runner, c), c_(c) {
    const GemmKernel& kernel = runner.kernel();
    WeightArena* arena = &runner.arena();
    const int H = c.hidden_size, I = c.intermediate_size;
    act_ = activation_code(c.hidden_act);
    eps_ = static_cast<float>(c.layer_norm_eps);

    word_ = ps.embedding("embeddings.word_embeddings.weight", c.vocab_size, H);
    position_ = ps.tensor("embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
    token_type_ = ps.tensor("embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
    emb_ln_w_ = ps.tensor("embeddings.LayerNorm.weight", {H});
    emb_ln_b_ = ps.tensor("embeddings.LayerNorm.bias", {H});

    // One linear from a stored weight + bias pair (name without ".weight"), in `precision`.
    auto dense = [&](const std::string& key, const std::string& name, int out, int in, Precision precision,
                     bool is_head) {
      return ps.linear(key, out, in, [&] {
        auto w = is_head ? ps.read_head(name + ".weight", {out, in}) : ps.read(name + ".weight", {out, in});
        auto b = is_head ? ps.read_head(name + ".bias", {out}) : ps.read(name + ".bias", {out});
        return PackedLinear(kernel, arena, w.data(), b.data(), out, in, precision);
      });
    };
    const Precision q = runner.precision();  // encoder linears; pooler and heads stay fp32
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      const std::string p = "encoder.layer." + std::to_string(l) + ".";
      BertLayer layer;
      layer.qkv = ps.linear(p + "qkv", 3 * H, H, [&] {
        auto wq = ps.read(p + "attention.self.query.weight", {H, H});
        auto bq = ps.read(p + "attention.self.query.bias", {H});
        auto wk = ps.read(p + "attention.self.key.weight", {H, H});
        auto bk = ps.read(p + "attention.self.key.bias", {H});
        auto wv = ps.read(p + "attention.self.value.weight", {H, H});
        auto bv = ps.read(p + "attention.self.value.bias", {H});
        return stack_linears(kernel, arena, {wq.data(), wk.data(), wv.data()}, {bq.data(), bk.data(), bv.data()},
                             {H, H, H}, H, {}, {}, q);
      });
      layer.attn_out = dense(p + "attention.output.dense", p + "attention.output.dense", H, H, q, false);
      layer.attn_ln_w = ps.tensor(p + "attention.output.LayerNorm.weight", {H});
      layer.attn_ln_b = ps.tensor(p + "attention.output.LayerNorm.bias", {H});
      layer.intermediate = dense(p + "intermediate.dense", p + "intermediate.dense", I, H, q, false);
      layer.output = dense(p + "output.dense", p + "output.dense", H, I, q, false);
      layer.out_ln_w = ps.tensor(p + "output.LayerNorm.weight", {H});
      layer.out_ln_b = ps.tensor(p + "output.LayerNorm.bias", {H});
      layers_.push_back(std::move(layer));
    }

    // BertForMaskedLM is built without a pooler; a BertModel may have been saved without one (add_pooling_layer
    // false, or the encoder of another head); the classifier needs it.
    const bool wants_pooler = c.architecture == Architecture::BertForSequenceClassification ||
                              (c.architecture == Architecture::BertModel && ps.has("pooler.dense.weight"));
    if (wants_pooler) pooler_ = dense("pooler.dense", "pooler.dense", H, H, Precision::Fp32, false);
    if (c.architecture == Architecture::BertForSequenceClassification) {
      const int L = c.num_labels();
      classifier_ = dense("classifier", "classifier", L, H, Precision::Fp32, true);
    }
    if (c.architecture == Architecture::BertForMaskedLM) {
      const int V = c.vocab_size;
      transform_ = dense("cls.predictions.transform.dense", "cls.predictions.transform.dense", H, H, Precision::Fp32,
                         true);
      transform_ln_w_ = ps.head("cls.predictions.transform.LayerNorm.weight", {H});
      transform_ln_b_ = ps.head("cls.predictions.transform.LayerNorm.bias", {H});
      decoder_ = ps.linear("cls.predictions.decoder", V, H, [&] {
        // HF ties the decoder to the word embeddings; safetensors files omit the tied copies.
        std::vector<float> decoder_w = ps.has_head("cls.predictions.decoder.weight")
                                           ? ps.read_head("cls.predictions.decoder.weight", {V, H})
                                           : word_.to_f32();
        std::vector<float> decoder_b = ps.has_head("cls.predictions.bias")
                                           ? ps.read_head("cls.predictions.bias", {V})
                                           : ps.read_head("cls.predictions.decoder.bias", {V});
        return PackedLinear(kernel, arena, decoder_w.data(), decoder_b.data(), V, H);
      });
    }

    const int S = max_rows();
    x_.allocate(S, H);
    qkv_.allocate(S, 3 * H);
    ctx_.allocate(S, H);
    attn_.allocate(S, H);
    inter_.allocate(S, I);
    const int head_dim = c.hidden_size / c.num_attention_heads;
    probs_.allocate(1, attention_scratch_floats(c.max_position_embeddings, c.num_attention_heads, head_dim));
    head_in_.allocate(c.max_position_embeddings, H);
    head_.allocate(c.max_position_embeddings, H);
  }

  const float* encode(const int32_t* ids, const int32_t* types, const int* starts, int count) override {
    const int H = c_.hidden_size;
    const int rows = starts[count];
    for (int s = 0; s < count; ++s) {
      for (int i = starts[s]; i < starts[s + 1]; ++i) {
        float* row = x_.row(i);
        word_.row(ids[i], row);
        const float* p = position_.data() + static_cast<int64_t>(i - starts[s]) * H;
        const float* t = token_type_.data() + static_cast<int64_t>(types[i]) * H;
        for (int j = 0; j < H; ++j) row[j] = row[j] + t[j] + p[j];
      }
    }
    layer_norm_rows(x_.row(0), H, rows, H, emb_ln_w_.data(), emb_ln_b_.data(), eps_);

    const int heads = c_.num_attention_heads;
    for (const BertLayer& layer : layers_) {
      gemm_.linear(layer.qkv, x_.row(0), H, rows, qkv_.row(0), 3 * H);
      for (int s = 0; s < count; ++s) {
        const float* q = qkv_.row(starts[s]);
        self_attention(q, 3 * H, q + H, 3 * H, q + 2 * H, 3 * H, ctx_.row(starts[s]), H, starts[s + 1] - starts[s],
                       heads, H / heads, gemm_.kernel().attention, probs_.row(0), &gemm_.pool());
      }
      gemm_.linear(layer.attn_out, ctx_.row(0), H, rows, attn_.row(0), H, {.residual = x_.row(0), .ldr = H});
      layer_norm_rows(attn_.row(0), H, rows, H, layer.attn_ln_w.data(), layer.attn_ln_b.data(), eps_);
      gemm_.linear(layer.intermediate, attn_.row(0), H, rows, inter_.row(0), c_.intermediate_size, {.act = act_});
      gemm_.linear(layer.output, inter_.row(0), c_.intermediate_size, rows, x_.row(0), H,
                   {.residual = attn_.row(0), .ldr = H});
      layer_norm_rows(x_.row(0), H, rows, H, layer.out_ln_w.data(), layer.out_ln_b.data(), eps_);
    }
    return x_.row(0);
  }

  bool has_pooler() const override { return pooler_.out() > 0; }
  void pool(const float* cls_row, float* pooled) override {
    gemm_.linear(pooler_, cls_row, hidden_, 1, pooled, hidden_, {.act = kActTanh});
  }
  bool has_classifier() const override { return classifier_.out() > 0; }
  void classify(const float* pooled, float* logits) override {
    gemm_.linear(classifier_, pooled, hidden_, 1, logits, classifier_.out());
  }
  bool has_mlm_head() const override { return decoder_.out() > 0; }
  void mlm_logits(const float* hidden, const int* positions, int count, float* logits) override {
    const int H = hidden_, V = c_.vocab_size;
    const int group = c_.max_position_embeddings;  // rows the head buffers hold
    for (int first = 0; first < count; first += group) {
      const int n = std::min(group, count - first);
      for (int i = 0; i < n; ++i) {
        std::memcpy(head_in_.row(i), hidden + static_cast<int64_t>(positions[first + i]) * H, sizeof(float) * H);
      }
      gemm_.linear(transform_, head_in_.row(0), H, n, head_.row(0), H, {.act = act_});
      layer_norm_rows(head_.row(0), H, n, H, transform_ln_w_.data(), transform_ln_b_.data(), eps_);
      gemm_.linear(decoder_, head_.row(0), H, n, logits + static_cast<int64_t>(first) * V, V);
    }
  }

 private:
  ModelConfig c_;
  int act_ = kActGeluErf;
  float eps_ = 1e-12f;
  EmbeddingTable word_;
  std::span<const float> position_, token_type_, emb_ln_w_, emb_ln_b_;
  std::vector<BertLayer> layers_;
  PackedLinear pooler_, classifier_, transform_, decoder_;
  std::span<const float> transform_ln_w_, transform_ln_b_;
  Buffer x_, qkv_, ctx_, attn_, inter_, probs_, head_in_, head_;
};

}  // namespace

std::unique_ptr<Network> make_bert(const ModelConfig& config, ParamSource& params, GemmRunner& runner) {
  return std::make_unique<Bert>(config, params, runner);
}

}  // namespace mlfaas::models
