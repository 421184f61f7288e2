// MobileBertForSequenceClassification as transformers' modeling_mobilebert.py computes it in eval mode, for
// unpadded sequences (several stack their rows into the same GEMMs). Linears that read the same input are stacked
// into one GEMM and NoNorm is fused into the GEMM's epilogue, so a no_norm layer is 12 GEMM calls plus attention.
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/kernels/ops.h"
#include "engine/models/network.h"

namespace mlfaas::models {

namespace {

// torch.nn.LayerNorm's default, which HF keeps for embeddings.LayerNorm and output.LayerNorm.
constexpr float kTorchDefaultEps = 1e-5f;

struct Ffn {
  PackedLinear intermediate;
  LinearNorm output;
};

struct MobileBertLayer {
  // One GEMM over the layer input: [bottleneck.input | bottleneck.attention | value] or [query | key | value],
  // depending on the bottleneck flags; column offsets below (-1 = not in this stack).
  PackedLinear from_input;
  // The norms of its bottleneck parts; NoNorm is already fused into from_input, LayerNorm runs after it.
  struct PartNorm {
    int offset;
    LinearNorm norm;
  };
  std::vector<PartNorm> input_norms;
  int off_bottleneck = -1, off_shared = -1, off_q = -1, off_k = -1, off_v = -1;
  // Second GEMM over the bottleneck (shared: [query | key]; use_bottleneck_attention: [query | key | value]).
  PackedLinear from_bottleneck;
  LinearNorm attn_out;
  std::vector<Ffn> ffn;
  PackedLinear intermediate;
  LinearNorm output;             // MobileBertOutput.dense + LayerNorm (torch default eps)
  LinearNorm output_bottleneck;  // OutputBottleneck (use_bottleneck only)
};

class MobileBert final : public Network {
 public:
  MobileBert(const ModelConfig& c, ParamSource& ps, GemmRunner& runner)
      : Network(runner, c), c_(c), kernel_(runner.kernel()), arena_(&runner.arena()), ps_(ps) {
    const int H = c.hidden_size, E = c.embedding_size, I = c.intermediate_size;
    // As MobileBertConfig does: the attention width follows the bottleneck, whatever config.json says.
    T_ = c.use_bottleneck ? c.intra_bottleneck_size : H;
    if (T_ % c.num_attention_heads != 0) {
      throw FormatError(c.path, "attention width " + std::to_string(T_) + " is not a multiple of num_attention_heads");
    }
    no_norm_ = c.normalization_type == "no_norm";
    act_ = activation_code(c.hidden_act);
    eps_ = static_cast<float>(c.layer_norm_eps);

    word_ = ps.embedding("embeddings.word_embeddings.weight", c.vocab_size, E);
    position_ = ps.tensor("embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
    token_type_ = ps.tensor("embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
    emb_in_ = c.trigram_input ? 3 * E : E;
    has_transformation_ = c.trigram_input || E != H;
    load_norm("embeddings.LayerNorm", H, kTorchDefaultEps, &emb_transform_);
    if (has_transformation_) {
      emb_transform_.linear = dense("embeddings.embedding_transformation", H, emb_in_, runner.precision(),
                                    &emb_transform_);
    }

    for (int l = 0; l < c.num_hidden_layers; ++l) layers_.push_back(load_layer("encoder.layer." + std::to_string(l) + "."));

    if (c.classifier_activation) pooler_ = dense("pooler.dense", H, H, Precision::Fp32, nullptr);
    const int L = c.num_labels();
    classifier_ = ps.linear("classifier", L, H, [&] {
      auto w = ps.read_head("classifier.weight", {L, H});
      auto b = ps.read_head("classifier.bias", {L});
      return PackedLinear(kernel_, arena_, w.data(), b.data(), L, H);
    });

    const int S = max_rows();
    int in_width = 0;
    for (const auto& layer : layers_) in_width = std::max(in_width, layer.from_input.out());
    trigram_.allocate(S, emb_in_);
    pos_type_.allocate(S, H);
    x_.allocate(S, H);
    from_input_.allocate(S, in_width);
    from_bottleneck_.allocate(S, 3 * T_);
    ctx_.allocate(S, T_);
    attn_.allocate(S, T_);
    inter_.allocate(S, I);
    out_.allocate(S, T_);
    const int head_dim = T_ / c.num_attention_heads;
    probs_.allocate(1, attention_scratch_floats(c.max_position_embeddings, c.num_attention_heads, head_dim));
  }

  const float* encode(const int32_t* ids, const int32_t* types, const int* starts, int count) override {
    const int H = c_.hidden_size, E = c_.embedding_size;
    const int seq = starts[count];  // all rows
    for (int s = 0; s < count; ++s) {
      const int begin = starts[s], end = starts[s + 1];
      for (int i = begin; i < end; ++i) {
        // Trigram input: [x[t+1], x[t], x[t-1]] with zero rows past either end of this sequence.
        float* row = trigram_.row(i);
        auto put = [&](int slot, int t) {
          float* dst = row + slot * E;
          if (t < begin || t >= end) {
            std::memset(dst, 0, sizeof(float) * E);
          } else {
            word_.row(ids[t], dst);
          }
        };
        if (c_.trigram_input) {
          put(0, i + 1);
          put(1, i);
          put(2, i - 1);
        } else {
          put(0, i);
        }
        float* pt = pos_type_.row(i);
        const float* p = position_.data() + static_cast<int64_t>(i - begin) * H;
        const float* t = token_type_.data() + static_cast<int64_t>(types[i]) * H;
        for (int j = 0; j < H; ++j) pt[j] = p[j] + t[j];
      }
    }
    if (has_transformation_) {
      linear_norm(emb_transform_, trigram_.row(0), emb_in_, seq, x_.row(0), H, pos_type_.row(0), H, kActNone);
    } else {  // embedding_size == hidden_size without trigram: the word embedding itself
      for (int i = 0; i < seq; ++i) {
        for (int j = 0; j < H; ++j) x_.row(i)[j] = trigram_.row(i)[j] + pos_type_.row(i)[j];
      }
      apply_norm(emb_transform_, x_.row(0), H, seq);
    }
    for (const MobileBertLayer& layer : layers_) run_layer(layer, starts, count);
    return x_.row(0);
  }

  bool has_pooler() const override { return true; }
  void pool(const float* cls_row, float* pooled) override {
    if (c_.classifier_activation) {
      gemm_.linear(pooler_, cls_row, hidden_, 1, pooled, hidden_, {.act = kActTanh});
    } else {
      std::memcpy(pooled, cls_row, sizeof(float) * hidden_);
    }
  }
  bool has_classifier() const override { return true; }
  void classify(const float* pooled, float* logits) override {
    gemm_.linear(classifier_, pooled, hidden_, 1, logits, classifier_.out());
  }

 private:
  // Reads a norm's parameters (before its linear is built: NoNorm goes into the linear's epilogue, LayerNorm is
  // kept for a pass after it).
  void load_norm(const std::string& name, int width, float ln_eps, LinearNorm* ln) {
    ln->norm_w = ps_.tensor(name + ".weight", {width});
    ln->norm_b = ps_.tensor(name + ".bias", {width});
    ln->layer_norm = !no_norm_;
    ln->eps = ln_eps;
  }

  // The linear `prefix`.weight/.bias; a NoNorm `norm` over its outputs is fused into it.
  PackedLinear dense(const std::string& prefix, int out, int in, Precision precision, const LinearNorm* norm) {
    return ps_.linear(prefix, out, in, [&] {
      auto w = ps_.read(prefix + ".weight", {out, in});
      auto b = ps_.read(prefix + ".bias", {out});
      PackedLinear layer(kernel_, arena_, w.data(), b.data(), out, in, precision);
      if (norm != nullptr && !norm->layer_norm) layer.set_affine(norm->norm_w, norm->norm_b);
      return layer;
    });
  }

  LinearNorm load_linear_norm(const std::string& prefix, int out, int in, float ln_eps) {
    LinearNorm ln;
    load_norm(prefix + ".LayerNorm", out, ln_eps, &ln);
    ln.linear = dense(prefix + ".dense", out, in, gemm_.precision(), &ln);
    return ln;
  }

  MobileBertLayer load_layer(const std::string& p) {
    const int H = c_.hidden_size, I = c_.intermediate_size, T = T_;
    MobileBertLayer layer;
    const bool bottleneck = c_.use_bottleneck;
    const bool bottleneck_attention = bottleneck && c_.use_bottleneck_attention;
    const bool shared = bottleneck && !bottleneck_attention && c_.key_query_shared_bottleneck;
    const std::string attn = p + "attention.self.";

    // The parts of the GEMM over the layer input, in column order; the layout follows from the config alone.
    struct Part {
      std::string weight, bias;
      const LinearNorm* norm;  // fused when NoNorm
    };
    std::vector<Part> parts;
    int width = 0;
    auto add = [&](const std::string& prefix_w, const std::string& prefix_b, const LinearNorm* norm) {
      parts.push_back({prefix_w, prefix_b, norm});
      width += T;
      return width - T;
    };
    layer.input_norms.reserve(2);  // parts point at these norms
    if (bottleneck) {
      layer.input_norms.push_back({width, {}});
      load_norm(p + "bottleneck.input.LayerNorm", T, eps_, &layer.input_norms.back().norm);
      layer.off_bottleneck = add(p + "bottleneck.input.dense.weight", p + "bottleneck.input.dense.bias",
                                 &layer.input_norms.back().norm);
    }
    if (shared) {
      layer.input_norms.push_back({width, {}});
      load_norm(p + "bottleneck.attention.LayerNorm", T, eps_, &layer.input_norms.back().norm);
      layer.off_shared = add(p + "bottleneck.attention.dense.weight", p + "bottleneck.attention.dense.bias",
                             &layer.input_norms.back().norm);
    }
    if (!bottleneck_attention) {
      if (!shared) {
        layer.off_q = add(attn + "query.weight", attn + "query.bias", nullptr);
        layer.off_k = add(attn + "key.weight", attn + "key.bias", nullptr);
      }
      layer.off_v = add(attn + "value.weight", attn + "value.bias", nullptr);
    }
    layer.from_input = ps_.linear(p + "from_input", width, H, [&] {
      std::vector<std::vector<float>> keep;  // owns the tensors while they are stacked
      std::vector<const float*> w, b, scale, shift;
      std::vector<int> outs;
      keep.reserve(2 * parts.size());
      for (const Part& part : parts) {
        keep.push_back(ps_.read(part.weight, {T, H}));
        w.push_back(keep.back().data());
        keep.push_back(ps_.read(part.bias, {T}));
        b.push_back(keep.back().data());
        const bool fuse = part.norm != nullptr && !part.norm->layer_norm;
        scale.push_back(fuse ? part.norm->norm_w.data() : nullptr);
        shift.push_back(fuse ? part.norm->norm_b.data() : nullptr);
        outs.push_back(T);
      }
      return stack_linears(kernel_, arena_, w, b, outs, H, scale, shift, gemm_.precision());
    });

    if (shared || bottleneck_attention) {
      const int parts_out = shared ? 2 : 3;
      layer.from_bottleneck = ps_.linear(p + "from_bottleneck", parts_out * T, T, [&] {
        std::vector<std::vector<float>> keep;
        std::vector<const float*> w, b;
        for (const char* name : {"query", "key", "value"}) {
          if (w.size() == static_cast<size_t>(parts_out)) break;
          keep.push_back(ps_.read(attn + name + ".weight", {T, T}));
          w.push_back(keep.back().data());
          keep.push_back(ps_.read(attn + name + ".bias", {T}));
          b.push_back(keep.back().data());
        }
        return stack_linears(kernel_, arena_, w, b, std::vector<int>(parts_out, T), T, {}, {}, gemm_.precision());
      });
    }

    layer.attn_out = load_linear_norm(p + "attention.output", T, T, eps_);
    for (int f = 0; f + 1 < c_.num_feedforward_networks; ++f) {
      const std::string fp = p + "ffn." + std::to_string(f) + ".";
      Ffn ffn;
      ffn.intermediate = dense(fp + "intermediate.dense", I, T, gemm_.precision(), nullptr);
      ffn.output = load_linear_norm(fp + "output", T, I, eps_);
      layer.ffn.push_back(std::move(ffn));
    }
    layer.intermediate = dense(p + "intermediate.dense", I, T, gemm_.precision(), nullptr);
    layer.output = load_linear_norm(p + "output", T, I, kTorchDefaultEps);
    if (bottleneck) layer.output_bottleneck = load_linear_norm(p + "output.bottleneck", H, T, eps_);
    return layer;
  }

  void apply_norm(const LinearNorm& ln, float* x, int64_t ld, int rows) {
    const int width = static_cast<int>(ln.norm_w.size());
    if (ln.layer_norm) {
      layer_norm_rows(x, ld, rows, width, ln.norm_w.data(), ln.norm_b.data(), ln.eps);
    } else {
      for (int r = 0; r < rows; ++r) {
        float* row = x + r * ld;
        for (int j = 0; j < width; ++j) row[j] = row[j] * ln.norm_w[j] + ln.norm_b[j];
      }
    }
  }

  // c = norm(act(a · Wᵀ + b) + residual); NoNorm is already inside the linear's epilogue.
  void linear_norm(const LinearNorm& ln, const float* a, int64_t lda, int m, float* c, int64_t ldc,
                   const float* residual, int64_t ldr, int act) {
    gemm_.linear(ln.linear, a, lda, m, c, ldc, {.act = act, .residual = residual, .ldr = ldr});
    if (ln.layer_norm) apply_norm(ln, c, ldc, m);
  }

  void run_layer(const MobileBertLayer& layer, const int* starts, int count) {
    const int H = c_.hidden_size, I = c_.intermediate_size, T = T_;
    const int seq = starts[count];  // all rows
    const int64_t in_ld = layer.from_input.out();
    float* in = from_input_.row(0);
    gemm_.linear(layer.from_input, x_.row(0), H, seq, in, in_ld);
    if (!no_norm_) {
      for (const auto& part : layer.input_norms) apply_norm(part.norm, in + part.offset, in_ld, seq);
    }
    // Where attention reads its inputs and where the attention output's residual comes from.
    const float *q, *k, *v, *layer_input;
    int64_t ldq, ldk, ldv, ld_input;
    if (layer.off_bottleneck >= 0) {
      layer_input = in + layer.off_bottleneck;
      ld_input = in_ld;
    } else {
      layer_input = x_.row(0);
      ld_input = H;
    }
    if (layer.from_bottleneck.out() > 0) {
      const bool shared = layer.off_shared >= 0;
      const float* src = shared ? in + layer.off_shared : layer_input;
      const int64_t ld = layer.from_bottleneck.out();
      float* qkv = from_bottleneck_.row(0);
      gemm_.linear(layer.from_bottleneck, src, in_ld, seq, qkv, ld);
      q = qkv;
      k = qkv + T;
      ldq = ldk = ld;
      if (shared) {
        v = in + layer.off_v;
        ldv = in_ld;
      } else {
        v = qkv + 2 * T;
        ldv = ld;
      }
    } else {
      q = in + layer.off_q;
      k = in + layer.off_k;
      v = in + layer.off_v;
      ldq = ldk = ldv = in_ld;
    }
    const int heads = c_.num_attention_heads;
    for (int s = 0; s < count; ++s) {
      const int64_t r = starts[s];
      self_attention(q + r * ldq, ldq, k + r * ldk, ldk, v + r * ldv, ldv, ctx_.row(r), T, starts[s + 1] - starts[s],
                     heads, T / heads, gemm_.kernel().attention, probs_.row(0), &gemm_.pool());
    }
    linear_norm(layer.attn_out, ctx_.row(0), T, seq, attn_.row(0), T, layer_input, ld_input, kActNone);
    for (const Ffn& ffn : layer.ffn) {
      gemm_.linear(ffn.intermediate, attn_.row(0), T, seq, inter_.row(0), I, {.act = act_});
      linear_norm(ffn.output, inter_.row(0), I, seq, attn_.row(0), T, attn_.row(0), T, kActNone);
    }
    gemm_.linear(layer.intermediate, attn_.row(0), T, seq, inter_.row(0), I, {.act = act_});
    if (c_.use_bottleneck) {
      linear_norm(layer.output, inter_.row(0), I, seq, out_.row(0), T, attn_.row(0), T, kActNone);
      linear_norm(layer.output_bottleneck, out_.row(0), T, seq, x_.row(0), H, x_.row(0), H, kActNone);
    } else {
      linear_norm(layer.output, inter_.row(0), I, seq, x_.row(0), H, attn_.row(0), T, kActNone);
    }
  }

  ModelConfig c_;
  const GemmKernel& kernel_;
  WeightArena* arena_;
  ParamSource& ps_;  // construction only
  int T_ = 0;
  bool no_norm_ = true;
  int act_ = kActRelu;
  float eps_ = 1e-12f;
  int emb_in_ = 0;
  bool has_transformation_ = true;
  EmbeddingTable word_;
  std::span<const float> position_, token_type_;
  LinearNorm emb_transform_;
  std::vector<MobileBertLayer> layers_;
  PackedLinear pooler_, classifier_;
  Buffer trigram_, pos_type_, x_, from_input_, from_bottleneck_, ctx_, attn_, inter_, out_, probs_;
};

}  // namespace

std::unique_ptr<Network> make_mobilebert(const ModelConfig& config, ParamSource& params, GemmRunner& runner) {
  return std::make_unique<MobileBert>(config, params, runner);
}

}  // namespace mlfaas::models
