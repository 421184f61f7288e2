// The Llama forward pass over one sequence's KV cache, as HF's modeling_llama computes it (fp32 activations,
// RMSNorm and softmax in fp32, RoPE from float32 tables) with the linears in the weights' own encoding.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "engine/error.h"
#include "engine/kernels/thread_pool.h"
#include "engine/llm/attention_rows.h"
#include "engine/llm/llama_impl.h"

namespace mlfaas {

namespace {

// HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * w.
void rms_norm(const float* x, const float* w, int n, float eps, float* out) {
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float inv = 1.0f / std::sqrt(static_cast<float>(sum / n) + eps);
  for (int i = 0; i < n; ++i) out[i] = w[i] * (x[i] * inv);
}

// e^x to within 1 ulp (measured on every 64th float of [-87, 88]) on the range SiLU needs (Cephes' expf: x = n ln2 + r, |r| <= ln2 / 2, a
// degree-6 polynomial for e^r, 2^n put into the exponent bits), written without calls or branches so the compiler
// vectorizes a loop of it: libm's expf, a call per element, was ~7% of prefill (SiLU and softmax). Inputs are clamped to
// [-87.3, 88.3], so the result is a normal float (never inf or a denormal); NaN stays NaN.
inline float exp_approx(float x) {
  const float clamped = std::min(std::max(x, -87.3f), 88.3f);
  x = x != x ? x : clamped;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer
  const float shifted = x * 1.44269504088896341f + kRound;  // n in the low mantissa bits
  const float n = shifted - kRound;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;  // ln 2 split in two so that n * ln2_hi is exact
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  // n as an integer from the bits (mod 2^32), not by converting the float: that is undefined behaviour for NaN
  // (whose p is NaN whatever the exponent) and a select on NaN stops the loops from vectorizing.
  const uint32_t n_bits = std::bit_cast<uint32_t>(shifted) - std::bit_cast<uint32_t>(kRound);
  return p * std::bit_cast<float>((n_bits + 127u) << 23);
}

void add_into(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

struct LlamaSession::Impl {
  std::shared_ptr<const LlamaModel> model;
  const LlamaModel::Impl& m;
  const LlamaConfig& c;
  int context;
  int pos = 0;
  int head_dim, kv_dim;
  ThreadPool pool;
  QMatmulScratch qscratch;
  AttentionRowOps row_ops;
  std::vector<float> rope_cos, rope_sin;  // [context, head_dim / 2]
  // [layers, context, kv_dim], left uninitialised so that pages are committed only as positions fill (a 2048-token
  // cache of a 1B model is ~90 MB that a short request never touches).
  std::unique_ptr<float[]> k_cache, v_cache;
  // Activations for one chunk of up to kPrefillChunk tokens.
  std::vector<float> x, xn, q, attn, gate, up, logits, scores;

  Impl(std::shared_ptr<const LlamaModel> model_in, const SessionOptions& options)
      : model(std::move(model_in)),
        m(model->impl()),
        c(m.config),
        context(options.context > 0 ? options.context : std::min(c.max_position_embeddings, 4096)),
        head_dim(c.head_dim()),
        kv_dim(c.num_key_value_heads * c.head_dim()),
        pool(std::max(1, options.threads)),
        qscratch(kPrefillChunk, std::max(c.hidden_size, c.intermediate_size)),
        row_ops(attention_row_ops(m.isa)) {
    if (options.threads < 1) throw std::invalid_argument("threads must be at least 1");
    if (options.context < 0) throw InputError("context must not be negative");
    if (options.context > c.max_position_embeddings) {
      throw InputError("context " + std::to_string(options.context) + " exceeds the model's " +
                       std::to_string(c.max_position_embeddings) + " positions");
    }
    build_rope_tables();
    const size_t cache = static_cast<size_t>(c.num_hidden_layers) * context * kv_dim;
    k_cache = std::make_unique_for_overwrite<float[]>(cache);
    v_cache = std::make_unique_for_overwrite<float[]>(cache);
    const size_t rows = kPrefillChunk;
    x.resize(rows * c.hidden_size);
    xn.resize(rows * c.hidden_size);
    q.resize(rows * c.hidden_size);
    attn.resize(rows * c.hidden_size);
    gate.resize(rows * c.intermediate_size);
    up.resize(rows * c.intermediate_size);
    logits.resize(c.vocab_size);
    scores.resize(static_cast<size_t>(c.num_attention_heads) * context);
  }

  // HF: inv_freq = 1 / theta ** (arange(0, hd, 2).float() / hd); cos/sin(pos * inv_freq), all float32.
  void build_rope_tables() {
    const int half = head_dim / 2;
    std::vector<float> inv_freq(half);
    for (int i = 0; i < half; ++i) {
      const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
      inv_freq[i] = 1.0f / std::pow(c.rope_theta, exponent);
    }
    rope_cos.resize(static_cast<size_t>(context) * half);
    rope_sin.resize(static_cast<size_t>(context) * half);
    for (int p = 0; p < context; ++p) {
      for (int i = 0; i < half; ++i) {
        const float angle = static_cast<float>(p) * inv_freq[i];
        rope_cos[static_cast<size_t>(p) * half + i] = std::cos(angle);
        rope_sin[static_cast<size_t>(p) * half + i] = std::sin(angle);
      }
    }
  }

  // Rotates each head_dim slice of `row` ([heads * head_dim]) for position p, in the weights' layout.
  void rope(float* row, int heads, int p) const {
    const int half = head_dim / 2;
    const float* cs = rope_cos.data() + static_cast<size_t>(p) * half;
    const float* sn = rope_sin.data() + static_cast<size_t>(p) * half;
    for (int h = 0; h < heads; ++h) {
      float* v = row + h * head_dim;
      if (c.rotary == RotaryLayout::HalfSplit) {
        for (int i = 0; i < half; ++i) {
          const float a = v[i], b = v[i + half];
          v[i] = a * cs[i] - b * sn[i];
          v[i + half] = b * cs[i] + a * sn[i];
        }
      } else {
        for (int i = 0; i < half; ++i) {
          const float a = v[2 * i], b = v[2 * i + 1];
          v[2 * i] = a * cs[i] - b * sn[i];
          v[2 * i + 1] = b * cs[i] + a * sn[i];
        }
      }
    }
  }

  float* k_at(int layer, int p) { return k_cache.get() + (static_cast<size_t>(layer) * context + p) * kv_dim; }
  float* v_at(int layer, int p) { return v_cache.get() + (static_cast<size_t>(layer) * context + p) * kv_dim; }

  // Causal grouped-query attention of the chunk's n queries (positions p0..) over cache positions 0..p0+i.
  void attention(int layer, int n, int p0) {
    const int heads = c.num_attention_heads, group = heads / c.num_key_value_heads, hidden = c.hidden_size;
    const float scale_div = static_cast<float>(std::sqrt(static_cast<double>(head_dim)));
    const float* keys = k_at(layer, 0);
    const float* values = v_at(layer, 0);
    auto head_fn = [&](int h) {
      const int kvh = h / group;
      float* s = scores.data() + static_cast<size_t>(h) * context;
      const float* head_keys = keys + kvh * head_dim;
      const float* head_values = values + kvh * head_dim;
      for (int i = 0; i < n; ++i) {
        const float* qi = q.data() + static_cast<size_t>(i) * hidden + h * head_dim;
        const int len = p0 + i + 1;
        row_ops.dots(qi, head_keys, kv_dim, len, head_dim, s);
        float max_score = -INFINITY;
        for (int t = 0; t < len; ++t) {
          s[t] /= scale_div;
          max_score = std::max(max_score, s[t]);
        }
        for (int t = 0; t < len; ++t) s[t] = exp_approx(s[t] - max_score);  // a loop of its own: vectorized
        float sum = 0;
        for (int t = 0; t < len; ++t) sum += s[t];
        const float inv_sum = 1.0f / sum;
        for (int t = 0; t < len; ++t) s[t] *= inv_sum;
        row_ops.weighted_sum(s, head_values, kv_dim, len, head_dim,
                             attn.data() + static_cast<size_t>(i) * hidden + h * head_dim);
      }
    };
    pool.run(heads, head_fn);
  }

  void linear(const QWeight& w, const float* in, int64_t ldin, int n, float* out, int64_t ldout) {
    qmatmul(m.isa, w, in, ldin, n, out, ldout, &qscratch, &pool);
  }

  // Runs ids[0..n) at positions pos..; fills logits when `want_logits`.
  void run_chunk(const int32_t* ids, int n, bool want_logits) {
    const int h = c.hidden_size, inter = c.intermediate_size;
    const int p0 = pos;
    for (int i = 0; i < n; ++i) dequantize_row(m.embedding, ids[i], x.data() + static_cast<size_t>(i) * h);
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      const LlamaLayerWeights& w = m.layers[l];
      auto attn_norm = [&](int i) {
        rms_norm(x.data() + static_cast<size_t>(i) * h, w.attn_norm.data(), h, c.rms_norm_eps,
                 xn.data() + static_cast<size_t>(i) * h);
      };
      pool.run(n, attn_norm);
      linear(w.q, xn.data(), h, n, q.data(), h);
      // K and V go straight into the cache rows of their positions.
      linear(w.k, xn.data(), h, n, k_at(l, p0), kv_dim);
      linear(w.v, xn.data(), h, n, v_at(l, p0), kv_dim);
      auto rotate = [&](int i) {
        rope(q.data() + static_cast<size_t>(i) * h, c.num_attention_heads, p0 + i);
        rope(k_at(l, p0 + i), c.num_key_value_heads, p0 + i);
      };
      pool.run(n, rotate);
      attention(l, n, p0);
      linear(w.o, attn.data(), h, n, xn.data(), h);
      auto residual_ffn_norm = [&](int i) {
        float* xi = x.data() + static_cast<size_t>(i) * h;
        float* xni = xn.data() + static_cast<size_t>(i) * h;
        add_into(xi, xni, h);
        rms_norm(xi, w.ffn_norm.data(), h, c.rms_norm_eps, xni);
      };
      pool.run(n, residual_ffn_norm);
      linear(w.gate, xn.data(), h, n, gate.data(), inter);
      linear(w.up, xn.data(), h, n, up.data(), inter);
      auto silu_gate = [&](int i) {
        float* g_row = gate.data() + static_cast<size_t>(i) * inter;
        const float* u_row = up.data() + static_cast<size_t>(i) * inter;
        for (int j = 0; j < inter; ++j) {
          const float g = g_row[j];
          g_row[j] = g / (1.0f + exp_approx(-g)) * u_row[j];
        }
      };
      pool.run(n, silu_gate);
      linear(w.down, gate.data(), inter, n, xn.data(), h);
      auto residual = [&](int i) {
        add_into(x.data() + static_cast<size_t>(i) * h, xn.data() + static_cast<size_t>(i) * h, h);
      };
      pool.run(n, residual);
    }
    pos = p0 + n;
    if (!want_logits) return;
    rms_norm(x.data() + static_cast<size_t>(n - 1) * h, m.final_norm.data(), h, c.rms_norm_eps, xn.data());
    linear(m.lm_head, xn.data(), h, 1, logits.data(), c.vocab_size);
  }
};

LlamaSession::LlamaSession(std::shared_ptr<const LlamaModel> model, const SessionOptions& options)
    : impl_(std::make_unique<Impl>(std::move(model), options)) {}
LlamaSession::~LlamaSession() = default;

std::span<const float> LlamaSession::forward(std::span<const int32_t> ids) {
  Impl& s = *impl_;
  if (ids.empty()) throw InputError("no tokens to run");
  for (int32_t id : ids) {
    if (id < 0 || id >= s.c.vocab_size) {
      throw InputError("token id " + std::to_string(id) + " is out of range (vocabulary of " +
                       std::to_string(s.c.vocab_size) + ")");
    }
  }
  if (static_cast<int64_t>(ids.size()) > s.context - s.pos) {
    if (s.pos == 0) {
      throw InputError("prompt of " + std::to_string(ids.size()) + " tokens does not fit the context of " +
                       std::to_string(s.context));
    }
    throw InputError(std::to_string(ids.size()) + " more tokens after " + std::to_string(s.pos) +
                     " do not fit the context of " + std::to_string(s.context));
  }
  const int total = static_cast<int>(ids.size());
  for (int done = 0; done < total; done += kPrefillChunk) {
    const int n = std::min(kPrefillChunk, total - done);
    s.run_chunk(ids.data() + done, n, done + n == total);
  }
  return {s.logits.data(), s.logits.size()};
}

int LlamaSession::pos() const { return impl_->pos; }
int LlamaSession::context() const { return impl_->context; }
void LlamaSession::reset() { impl_->pos = 0; }

void LlamaSession::truncate(int pos) {
  if (pos < 0 || pos > impl_->pos) {
    throw InputError("cannot truncate to " + std::to_string(pos) + " of " + std::to_string(impl_->pos) + " positions");
  }
  impl_->pos = pos;
}

const LlamaModel& LlamaSession::model() const { return *impl_->model; }

}  // namespace mlfaas
