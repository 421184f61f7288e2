// Compiled Llama models (.mlf): LlamaModel::compile writes what a loaded model holds, load_mlf_llama points the
// weights back into the mapped file. The entries (docs/FORMATS.md) are fixed-layout numbers and the weights in the
// kernels' encoding, so loading reads the table, a few hundred bytes of config and the tokenizer's vocabulary -
// never a weight page.
#include <cstring>
#include <stdexcept>

#include "engine/error.h"
#include "engine/formats/mlf.h"
#include "engine/llm/llama_impl.h"
#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas {

namespace {

constexpr const char* kArchitecture = "meta/architecture";
constexpr const char* kLlama = "llama";

// llama/config (i32): the LlamaConfig integers in this order; llama/config_f32: rms_norm_eps, rope_theta.
enum ConfigInt {
  kVocab, kHidden, kIntermediate, kLayers, kHeads, kKvHeads, kMaxPositions, kTied, kRotary, kConfigInts
};
// llama/generation (i32) and llama/generation_f32.
enum GenerationInt { kBos, kDoSample, kTopK, kMaxNewTokens, kGenerationInts };
enum GenerationFloat { kTemperature, kTopP, kGenerationFloats };
// tokenizer/ids and tokenizer/flags.
enum TokenizerId { kTokBos, kTokEos, kTokUnk, kTokPad, kTokenizerIds };
enum TokenizerFlag { kAddBos, kAddEos, kAddDummyPrefix, kByteFallback, kLlama2cRules, kTokenizerFlags };

MlfType mlf_type(QuantType t) {
  switch (t) {
    case QuantType::F32: return MlfType::F32;
    case QuantType::F16: return MlfType::F16;
    case QuantType::BF16: return MlfType::BF16;
    case QuantType::Q8_0: return MlfType::Q8_0;
    case QuantType::Q4_0: return MlfType::Q4_0;
    case QuantType::Q4_K: return MlfType::Q4_K;
    case QuantType::Q6_K: return MlfType::Q6_K;
    case QuantType::Q8_0_X16: return MlfType::Q8_0_X16;
    case QuantType::Q4_0_X16: return MlfType::Q4_0_X16;
  }
  throw std::logic_error("no .mlf type for weight type " + std::string(quant_type_name(t)));
}

bool quant_type_of(MlfType t, QuantType* out) {
  switch (t) {
    case MlfType::F32: *out = QuantType::F32; return true;
    case MlfType::F16: *out = QuantType::F16; return true;
    case MlfType::BF16: *out = QuantType::BF16; return true;
    case MlfType::Q8_0: *out = QuantType::Q8_0; return true;
    case MlfType::Q4_0: *out = QuantType::Q4_0; return true;
    case MlfType::Q4_K: *out = QuantType::Q4_K; return true;
    case MlfType::Q6_K: *out = QuantType::Q6_K; return true;
    case MlfType::Q8_0_X16: *out = QuantType::Q8_0_X16; return true;
    case MlfType::Q4_0_X16: *out = QuantType::Q4_0_X16; return true;
    default: return false;
  }
}

std::string layer_prefix(int i) { return "blk." + std::to_string(i) + "."; }

// The linear weights of a layer under their GGUF names (the rotary layout is llama/config's, not GGUF's).
template <typename Layer, typename F>
void for_each_linear(Layer& l, const std::string& p, F&& f) {
  f(p + "attn_q.weight", l.q);
  f(p + "attn_k.weight", l.k);
  f(p + "attn_v.weight", l.v);
  f(p + "attn_output.weight", l.o);
  f(p + "ffn_gate.weight", l.gate);
  f(p + "ffn_up.weight", l.up);
  f(p + "ffn_down.weight", l.down);
}

void add_weight(MlfWriter& w, const std::string& name, const QWeight& q) {
  w.add_view(name, mlf_type(q.type), {q.rows, q.k}, q.data, qweight_bytes(q));
}

// `q` in `layout`: Q8_0 / Q4_0 interleaved, or Q8_0_X16 / Q4_0_X16 (a compiled source) back in rows, into memory
// appended to `keep` (which must outlive the write); any other weight as it is.
QWeight in_layout(const QWeight& q, LlamaWeightLayout layout, std::vector<AlignedBytes>* keep) {
  if (layout == LlamaWeightLayout::X16 && (q.type == QuantType::Q8_0 || q.type == QuantType::Q4_0)) {
    keep->push_back(allocate_aligned(x16_weight_bytes(quant_type_interleaved(q.type), q.rows, q.k)));
    return interleave_x16(q, keep->back().data.get());
  }
  if (layout == LlamaWeightLayout::Rows && quant_type_x16(q.type)) {
    keep->push_back(allocate_aligned(q.row_bytes * static_cast<size_t>(q.rows)));
    return deinterleave_x16(q, keep->back().data.get());
  }
  return q;
}

void add_tokenizer(MlfWriter& w, const SentencePieceVocab& v) {
  std::string text;
  std::vector<uint32_t> offsets{0};
  for (const std::string& piece : v.pieces) {
    text += piece;
    offsets.push_back(static_cast<uint32_t>(text.size()));
  }
  if (text.size() > UINT32_MAX) throw std::length_error("tokenizer pieces over 4 GiB");
  std::vector<uint8_t> kinds;
  for (PieceKind k : v.kinds) kinds.push_back(static_cast<uint8_t>(k));
  w.add_text("tokenizer/pieces", text);
  w.add("tokenizer/piece_offsets", MlfType::U32, {}, offsets.data(), offsets.size() * sizeof(uint32_t));
  w.add_f32("tokenizer/scores", v.scores);
  w.add("tokenizer/kinds", MlfType::Bytes, {}, kinds.data(), kinds.size());
  const int32_t ids[kTokenizerIds] = {v.bos_id, v.eos_id, v.unk_id, v.pad_id};
  w.add_i32("tokenizer/ids", ids);
  int32_t flags[kTokenizerFlags] = {};
  flags[kAddBos] = v.add_bos;
  flags[kAddEos] = v.add_eos;
  flags[kAddDummyPrefix] = v.add_dummy_prefix;
  flags[kByteFallback] = v.byte_fallback;
  flags[kLlama2cRules] = v.llama2c_rules;
  w.add_i32("tokenizer/flags", flags);
}

// ---- reading ----

class Reader {
 public:
  explicit Reader(const MlfFile& f) : f_(f) {}

  [[noreturn]] void fail(const std::string& problem) const { throw FormatError(f_.path(), problem); }

  template <typename T>
  std::span<const T> array(const char* name, MlfType type, int64_t n) const {
    const MlfEntry& e = f_.require(name, type, {n});
    return {e.as<T>(), static_cast<size_t>(n)};
  }

  QWeight linear(const std::string& name, int rows, int k) const {
    const MlfEntry* e = f_.find(name);
    if (e == nullptr) fail("no entry '" + name + "'");
    QuantType type;
    if (!quant_type_of(e->type, &type)) {
      fail("entry '" + name + "' is " + std::string(mlf_type_name(e->type)) + ", not a weight type");
    }
    if (e->dims.size() != 2 || e->dims[0] != rows || e->dims[1] != k) {
      fail("entry '" + name + "' is not [" + std::to_string(rows) + ", " + std::to_string(k) + "]");
    }
    return qweight_view(type, rows, k, e->data);
  }

  std::vector<float> norm(const std::string& name, int n) const {
    const float* p = f_.require(name, MlfType::F32, {n}).as<float>();
    return std::vector<float>(p, p + n);
  }

  int flag(std::span<const int32_t> values, int i, const char* what) const {
    if (values[i] != 0 && values[i] != 1) fail(std::string(what) + " must be 0 or 1");
    return values[i];
  }

 private:
  const MlfFile& f_;
};

std::shared_ptr<const LlamaTokenizer> read_tokenizer(const MlfFile& f, const Reader& r, std::string chat_template) {
  const MlfEntry& scores_entry = f.require("tokenizer/scores", MlfType::F32);
  const int64_t n = static_cast<int64_t>(scores_entry.size / sizeof(float));
  const auto scores = r.array<float>("tokenizer/scores", MlfType::F32, n);  // one dimension, n pieces
  const MlfEntry& kinds_entry = f.require("tokenizer/kinds", MlfType::Bytes, {n});
  const std::string_view text = f.require("tokenizer/pieces", MlfType::Bytes).text();
  const auto offsets = r.array<uint32_t>("tokenizer/piece_offsets", MlfType::U32, n + 1);
  const auto ids = r.array<int32_t>("tokenizer/ids", MlfType::I32, kTokenizerIds);
  const auto flags = r.array<int32_t>("tokenizer/flags", MlfType::I32, kTokenizerFlags);
  SentencePieceVocab v;
  v.pieces.reserve(static_cast<size_t>(n));
  if (offsets[0] != 0 || offsets[n] != text.size()) r.fail("tokenizer/piece_offsets do not span tokenizer/pieces");
  for (int64_t i = 0; i < n; ++i) {
    if (offsets[i + 1] < offsets[i]) r.fail("tokenizer/piece_offsets are not increasing");
  }
  for (int64_t i = 0; i < n; ++i) v.pieces.emplace_back(text.substr(offsets[i], offsets[i + 1] - offsets[i]));
  v.scores.assign(scores.begin(), scores.end());
  const auto* kinds = kinds_entry.as<uint8_t>();
  for (int64_t i = 0; i < n; ++i) v.kinds.push_back(static_cast<PieceKind>(kinds[i]));
  v.bos_id = ids[kTokBos];
  v.eos_id = ids[kTokEos];
  v.unk_id = ids[kTokUnk];
  v.pad_id = ids[kTokPad];
  v.add_bos = r.flag(flags, kAddBos, "tokenizer add_bos");
  v.add_eos = r.flag(flags, kAddEos, "tokenizer add_eos");
  v.add_dummy_prefix = r.flag(flags, kAddDummyPrefix, "tokenizer add_dummy_prefix");
  v.byte_fallback = r.flag(flags, kByteFallback, "tokenizer byte_fallback");
  v.llama2c_rules = r.flag(flags, kLlama2cRules, "tokenizer llama2c_rules");
  v.chat_template = std::move(chat_template);
  try {
    return std::make_shared<const LlamaTokenizer>(std::move(v));
  } catch (const std::invalid_argument& e) {
    r.fail(std::string("bad tokenizer vocabulary: ") + e.what());
  }
}

}  // namespace

void load_mlf_llama(std::shared_ptr<const MlfFile> file, LlamaModel::Impl* m) {
  const MlfFile& f = *file;
  const Reader r(f);
  if (f.architecture() != kLlama) {
    r.fail(f.architecture() == "bert"
               ? "is a compiled BERT-family model, not a Llama one; run it with `mlfaas predict`"
               : "compiled for an architecture this mlfaas does not know");
  }
  const auto ci = r.array<int32_t>("llama/config", MlfType::I32, kConfigInts);
  const auto cf = r.array<float>("llama/config_f32", MlfType::F32, 2);
  LlamaConfig c;
  c.path = f.path();
  c.format = "mlf";
  c.vocab_size = ci[kVocab];
  c.hidden_size = ci[kHidden];
  c.intermediate_size = ci[kIntermediate];
  c.num_hidden_layers = ci[kLayers];
  c.num_attention_heads = ci[kHeads];
  c.num_key_value_heads = ci[kKvHeads];
  c.max_position_embeddings = ci[kMaxPositions];
  c.tie_word_embeddings = r.flag(ci, kTied, "llama/config tie_word_embeddings");
  c.rotary = r.flag(ci, kRotary, "llama/config rotary layout") ? RotaryLayout::Interleaved : RotaryLayout::HalfSplit;
  c.rms_norm_eps = cf[0];
  c.rope_theta = cf[1];
  validate_llama_config(c, f.path());
  m->config = c;

  const auto gi = r.array<int32_t>("llama/generation", MlfType::I32, kGenerationInts);
  const auto gf = r.array<float>("llama/generation_f32", MlfType::F32, kGenerationFloats);
  const MlfEntry& eos = f.require("llama/eos_ids", MlfType::I32);
  GenerationDefaults& d = m->defaults;
  d.bos_token_id = gi[kBos];
  d.do_sample = r.flag(gi, kDoSample, "llama/generation do_sample");
  d.top_k = gi[kTopK];
  d.max_new_tokens = gi[kMaxNewTokens];
  d.temperature = gf[kTemperature];
  d.top_p = gf[kTopP];
  d.eos_token_ids.assign(eos.as<int32_t>(), eos.as<int32_t>() + eos.size / sizeof(int32_t));

  m->chat_template = std::string(f.require("chat_template", MlfType::Bytes).text());
  m->tokenizer = read_tokenizer(f, r, m->chat_template);

  const int h = c.hidden_size, kv = c.num_key_value_heads * c.head_dim(), inter = c.intermediate_size;
  m->embedding = r.linear("token_embd.weight", c.vocab_size, h);
  // Layers are appended as they are read, so a config claiming a billion layers costs nothing before the first
  // missing entry refuses the file.
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = layer_prefix(i);
    LlamaLayerWeights& l = m->layers.emplace_back();
    l.attn_norm = r.norm(p + "attn_norm.weight", h);
    l.ffn_norm = r.norm(p + "ffn_norm.weight", h);
    const int rows[7] = {h, kv, kv, h, inter, inter, h};
    const int ks[7] = {h, h, h, h, h, h, inter};
    int j = 0;
    for_each_linear(l, p, [&](const std::string& name, QWeight& w) {
      w = r.linear(name, rows[j], ks[j]);
      ++j;
    });
  }
  m->final_norm = r.norm("output_norm.weight", h);
  m->lm_head = f.find("output.weight") ? r.linear("output.weight", c.vocab_size, h) : m->embedding;
  m->mlf = std::move(file);
}

LlamaCompileResult LlamaModel::compile(const std::string& source, const LlamaOptions& options,
                                       const std::string& out, LlamaWeightLayout layout) {
  const std::shared_ptr<const LlamaModel> model = load(source, options);
  const Impl& m = model->impl();
  const LlamaConfig& c = m.config;
  MlfWriter w;
  w.add_text(kArchitecture, kLlama);
  w.add_text("llama/source_format", c.format);
  int32_t ci[kConfigInts] = {};
  ci[kVocab] = c.vocab_size;
  ci[kHidden] = c.hidden_size;
  ci[kIntermediate] = c.intermediate_size;
  ci[kLayers] = c.num_hidden_layers;
  ci[kHeads] = c.num_attention_heads;
  ci[kKvHeads] = c.num_key_value_heads;
  ci[kMaxPositions] = c.max_position_embeddings;
  ci[kTied] = c.tie_word_embeddings;
  ci[kRotary] = c.rotary == RotaryLayout::Interleaved;
  w.add_i32("llama/config", ci);
  const float cf[2] = {c.rms_norm_eps, c.rope_theta};
  w.add_f32("llama/config_f32", cf);

  const GenerationDefaults& d = m.defaults;
  int32_t gi[kGenerationInts] = {};
  gi[kBos] = d.bos_token_id;
  gi[kDoSample] = d.do_sample;
  gi[kTopK] = d.top_k;
  gi[kMaxNewTokens] = d.max_new_tokens;
  w.add_i32("llama/generation", gi);
  float gf[kGenerationFloats] = {};
  gf[kTemperature] = d.temperature;
  gf[kTopP] = d.top_p;
  w.add_f32("llama/generation_f32", gf);
  const std::vector<int32_t> eos(d.eos_token_ids.begin(), d.eos_token_ids.end());
  w.add_i32("llama/eos_ids", eos);

  w.add_text("chat_template", m.chat_template);
  add_tokenizer(w, m.tokenizer->vocab());

  // Re-laid-out weights live here until the file is written (the writer only views them). The embedding keeps
  // rows whatever the layout: the lookup dequantizes one row per token.
  std::vector<AlignedBytes> relaid;
  bool interleaved = false;
  auto add_linear = [&](const std::string& name, const QWeight& q) {
    const QWeight stored = in_layout(q, layout, &relaid);
    interleaved |= quant_type_x16(stored.type);
    add_weight(w, name, stored);
  };
  add_weight(w, "token_embd.weight", in_layout(m.embedding, LlamaWeightLayout::Rows, &relaid));
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = layer_prefix(i);
    const LlamaLayerWeights& l = m.layers[i];
    w.add_f32(p + "attn_norm.weight", l.attn_norm);
    w.add_f32(p + "ffn_norm.weight", l.ffn_norm);
    for_each_linear(l, p, add_linear);
  }
  w.add_f32("output_norm.weight", m.final_norm);
  // The head is written only when it is not the embedding itself (tied weights, not re-encoded).
  if (m.lm_head.data != m.embedding.data || m.lm_head.type != m.embedding.type) add_linear("output.weight", m.lm_head);
  LlamaCompileResult result;
  result.entries = w.entry_count();
  result.bytes = w.write(out);
  result.weight_type = model->weight_type();
  result.interleaved = interleaved;
  result.source_format = c.format;
  return result;
}

}  // namespace mlfaas
