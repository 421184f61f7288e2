// LlamaModel: format detection, the precision option and the accessors. The per-format readers are in
// llama_load_hf.cc, llama_load_gguf.cc and llama_load_llama2c.cc.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "engine/error.h"
#include "engine/formats/gguf.h"
#include "engine/formats/llama2c.h"
#include "engine/formats/mlf.h"
#include "engine/formats/weights.h"
#include "engine/llm/llama_impl.h"
#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas {

void AlignedBytes::Free::operator()(std::byte* p) const { std::free(p); }

AlignedBytes allocate_aligned(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) throw std::bad_alloc();
  AlignedBytes out;
  out.data.reset(static_cast<std::byte*>(p));
  out.size = bytes;
  return out;
}

QWeight qweight_view(QuantType type, int rows, int k, const std::byte* data) {
  QWeight w;
  w.type = type;
  w.rows = rows;
  w.k = k;
  w.data = data;
  w.row_bytes = quant_row_bytes(type, k);
  return w;
}

size_t qweight_bytes(const QWeight& w) {
  return quant_type_x16(w.type) ? x16_weight_bytes(w.type, w.rows, w.k) : w.row_bytes * static_cast<size_t>(w.rows);
}

std::vector<float> norm_to_f32(QuantType type, int n, const std::byte* data) {
  std::vector<float> out(n);
  dequantize_row(qweight_view(type, 1, n, data), 0, out.data());
  return out;
}

void validate_llama_config(const LlamaConfig& c, const std::string& path) {
  auto bad = [&](const std::string& what) { throw FormatError(path, what); };
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 || c.num_hidden_layers <= 0 ||
      c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.max_position_embeddings <= 0) {
    bad("model sizes must be positive (vocab " + std::to_string(c.vocab_size) + ", hidden " +
        std::to_string(c.hidden_size) + ", intermediate " + std::to_string(c.intermediate_size) + ", layers " +
        std::to_string(c.num_hidden_layers) + ", heads " + std::to_string(c.num_attention_heads) + ", kv heads " +
        std::to_string(c.num_key_value_heads) + ", max positions " + std::to_string(c.max_position_embeddings) + ")");
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    bad("hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
        std::to_string(c.num_attention_heads));
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    bad("num_attention_heads " + std::to_string(c.num_attention_heads) + " is not a multiple of num_key_value_heads " +
        std::to_string(c.num_key_value_heads));
  }
  if (c.head_dim() % 2 != 0) bad("head_dim " + std::to_string(c.head_dim()) + " is odd (rotary needs pairs)");
  if (!(c.rms_norm_eps > 0.0f) || !(c.rope_theta > 0.0f)) bad("rms_norm_eps and rope_theta must be positive");
}

namespace {

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool starts_with_magic(const std::string& path, const char* magic) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char buf[4] = {};
  const size_t got = std::fread(buf, 1, 4, f);
  std::fclose(f);
  return got == 4 && std::memcmp(buf, magic, 4) == 0;
}

bool is_float_type(QuantType t) { return t == QuantType::F32 || t == QuantType::F16 || t == QuantType::BF16; }

QuantType parse_precision(const std::string& p) {
  if (p == "f32") return QuantType::F32;
  if (p == "f16") return QuantType::F16;
  if (p == "q8_0") return QuantType::Q8_0;
  if (p == "q4_0") return QuantType::Q4_0;
  throw std::invalid_argument("unknown precision '" + p + "' (expected f32, f16, q8_0 or q4_0)");
}

// Re-encodes one float weight as `target` into memory the model owns. Weights whose row length is not a multiple
// of the target's block keep their encoding (llama.cpp falls back the same way for such tensors).
void reencode(QWeight* w, QuantType target, LlamaModel::Impl* m) {
  if (w->type == target || w->k % quant_block_elems(target) != 0) return;
  const size_t row_bytes = quant_row_bytes(target, w->k);
  AlignedBytes bytes = allocate_aligned(row_bytes * static_cast<size_t>(w->rows));
  std::vector<float> row(w->k);
  for (int r = 0; r < w->rows; ++r) {
    std::byte* out = bytes.data.get() + row_bytes * r;
    if (target == QuantType::F32) {
      dequantize_row(*w, r, reinterpret_cast<float*>(out));
    } else {
      dequantize_row(*w, r, row.data());
      quantize_row(target, row.data(), w->k, out);
    }
  }
  *w = qweight_view(target, w->rows, w->k, bytes.data.get());
  m->owned.push_back(std::move(bytes));
}

void apply_precision(const std::string& precision, LlamaModel::Impl* m) {
  if (precision.empty()) return;
  const QuantType target = parse_precision(precision);
  for (const auto& layer : m->layers) {
    for (const QWeight* w : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down}) {
      if (!is_float_type(w->type)) {
        throw FormatError(m->config.path, std::string("weights are already quantized (") +
                                              quant_type_name(quant_type_base(w->type)) +
                                              "); a precision can only be chosen for float weights");
      }
    }
  }
  for (auto& layer : m->layers) {
    for (QWeight* w : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down}) {
      reencode(w, target, m);
    }
  }
  // An untied head follows the layers, but stays at 8 bits under q4_0: it is the most precision-sensitive
  // linear (llama.cpp keeps it at 6 bits or more for the same reason).
  if (!m->config.tie_word_embeddings && is_float_type(m->lm_head.type)) {
    reencode(&m->lm_head, target == QuantType::Q4_0 ? QuantType::Q8_0 : target, m);
  }
}

// Quantized weights already in the precision asked for (a q4_0 GGUF or .mlf asked for q4_0) are left alone: only
// asking for another encoding of quantized weights is refused.
void apply_precision_unless_same(const std::string& precision, LlamaModel::Impl* m) {
  const QuantType type = quant_type_base(m->layers.front().q.type);
  if (!precision.empty() && !is_float_type(type) && parse_precision(precision) == type) return;
  apply_precision(precision, m);
}

// The path of the one file in `dir` whose name ends in `suffix` (".gguf", ".mlf"), or "" when there is none or
// more than one.
std::string only_file_in(const std::string& dir, std::string_view suffix) {
  std::string found;
  int count = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix && ++count == 1) {
        found = dir + "/" + std::string(name);
      }
    }
    ::closedir(d);
  }
  return count == 1 ? found : "";
}

}  // namespace

LlamaModel::LlamaModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LlamaModel::~LlamaModel() = default;

std::shared_ptr<const LlamaModel> LlamaModel::load(const std::string& path, const LlamaOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->isa = resolve_isa(options.isa);
  if (!options.precision.empty()) parse_precision(options.precision);  // refuse a bad name before reading
  if (is_directory(path)) {
    if (exists(path + "/config.json")) {
      load_hf_llama(path, impl.get());
    } else if (std::string gguf = only_file_in(path, ".gguf"); !gguf.empty()) {
      // A package's model/ directory holding the one GGUF file the function names (mlfaas package, experiments).
      load_gguf_llama(gguf, impl.get());
    } else if (std::string mlf = only_file_in(path, ".mlf"); !mlf.empty() && is_mlf_file(mlf)) {
      // ... or the one compiled file (`mlfaas compile`: the layout decode streams fastest).
      return load_compiled(MlfFile::open(mlf), options);
    } else {
      load_llama2c(path, impl.get());
    }
  } else if (!exists(path)) {
    throw FormatError(path, "no such file or directory");
  } else if (starts_with_magic(path, "GGUF")) {
    load_gguf_llama(path, impl.get());
  } else if (is_mlf_file(path)) {
    return load_compiled(MlfFile::open(path), options);
  } else {
    load_llama2c(path, impl.get());
  }
  apply_precision_unless_same(options.precision, impl.get());
  return std::shared_ptr<const LlamaModel>(new LlamaModel(std::move(impl)));
}

std::shared_ptr<const LlamaModel> LlamaModel::load_compiled(std::shared_ptr<const MlfFile> file,
                                                            const LlamaOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->isa = resolve_isa(options.isa);
  if (!options.precision.empty()) parse_precision(options.precision);
  load_mlf_llama(std::move(file), impl.get());
  apply_precision_unless_same(options.precision, impl.get());
  return std::shared_ptr<const LlamaModel>(new LlamaModel(std::move(impl)));
}

const LlamaConfig& LlamaModel::config() const { return impl_->config; }
const GenerationDefaults& LlamaModel::generation_defaults() const { return impl_->defaults; }
std::shared_ptr<const LlamaTokenizer> LlamaModel::tokenizer() const { return impl_->tokenizer; }
const std::string& LlamaModel::chat_template() const { return impl_->chat_template; }
Isa LlamaModel::isa() const { return impl_->isa; }
QuantType LlamaModel::weight_type() const { return quant_type_base(impl_->layers.front().q.type); }

bool LlamaModel::interleaved_weights() const {
  for (const auto& l : impl_->layers) {
    for (const QWeight* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) {
      if (quant_type_x16(w->type)) return true;
    }
  }
  return quant_type_x16(impl_->lm_head.type);
}

size_t LlamaModel::weight_bytes() const {
  size_t total = qweight_bytes(impl_->embedding) + impl_->final_norm.size() * sizeof(float);
  if (impl_->lm_head.data != impl_->embedding.data) total += qweight_bytes(impl_->lm_head);
  for (const auto& l : impl_->layers) {
    for (const QWeight* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) total += qweight_bytes(*w);
    total += (l.attn_norm.size() + l.ffn_norm.size()) * sizeof(float);
  }
  return total;
}

}  // namespace mlfaas
