// llama2.c's legacy checkpoint (karpathy/llama2.c run.c, read_checkpoint / memory_map_weights): the seven-int32
// header, then fp32 tensors, each stacked over the layers where it is per layer, in this order:
//   token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim], wv [L, kv_dim, dim],
//   wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim],
//   rms_final [dim], freq_cis_real [seq_len, head_size/2], freq_cis_imag [same], classifier [vocab, dim] (only
//   when the header's vocab_size is negative).
// Old exporters wrote the freq_cis tables and run.c still skips them; a file without them is accepted too. The
// file must be exactly one of the two sizes, which is what catches a header that does not match its weights.
#include "engine/formats/llama2c.h"

#include <cstring>
#include <limits>

#include "engine/error.h"
#include "engine/formats/mapped_file.h"

namespace mlfaas {
namespace {

constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);

enum Slot { kEmbedding, kRmsAtt, kWq, kWk, kWv, kWo, kRmsFfn, kW1, kW2, kW3, kRmsFinal, kClassifier };

// a * b, or false when it does not fit in 64 bits.
bool mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace

std::unique_ptr<Llama2cCheckpoint> Llama2cCheckpoint::open(const std::string& path) {
  std::unique_ptr<Llama2cCheckpoint> ck(new Llama2cCheckpoint());
  ck->path_ = path;
  ck->mapping_ = std::make_unique<MappedFile>(path);
  const size_t size = ck->mapping_->size();
  auto bad = [&](const std::string& what) { return FormatError(path, what); };
  if (size < kHeaderBytes) {
    throw bad("truncated llama2.c checkpoint (" + std::to_string(size) + " bytes, the header alone is 28)");
  }
  int32_t h[7];
  std::memcpy(h, ck->mapping_->data(), sizeof h);
  static const char* const kNames[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    if (h[i] <= 0 && !(i == 5 && h[i] < 0 && h[i] != std::numeric_limits<int32_t>::min())) {
      throw bad(std::string("bad llama2.c header: ") + kNames[i] + " is " + std::to_string(h[i]));
    }
  }
  Llama2cConfig& c = ck->config_;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.shared_classifier = h[5] > 0;
  c.vocab_size = h[5] > 0 ? h[5] : -h[5];
  c.seq_len = h[6];
  const std::string shape = "dim " + std::to_string(c.dim) + ", n_heads " + std::to_string(c.n_heads) +
                            ", n_kv_heads " + std::to_string(c.n_kv_heads);
  if (c.dim % c.n_heads != 0) throw bad("bad llama2.c header: n_heads does not divide dim (" + shape + ")");
  if (c.n_heads % c.n_kv_heads != 0) throw bad("bad llama2.c header: n_kv_heads does not divide n_heads (" + shape + ")");
  const uint64_t head_size = static_cast<uint64_t>(c.dim / c.n_heads);
  if (head_size % 2 != 0) throw bad("bad llama2.c header: odd head size " + std::to_string(head_size) + " (" + shape + ")");

  // Tensor sizes in floats; the factors are below 2^31, so only products of three can overflow.
  const uint64_t dim = c.dim, hidden = c.hidden_dim, layers = c.n_layers, vocab = c.vocab_size;
  const uint64_t kv_dim = head_size * static_cast<uint64_t>(c.n_kv_heads);
  uint64_t sizes[12];
  bool ok = mul(vocab, dim, &sizes[kEmbedding]) && mul(layers, dim, &sizes[kRmsAtt]) &&
            mul(layers * dim, dim, &sizes[kWq]) && mul(layers * dim, kv_dim, &sizes[kWk]) &&
            mul(layers * dim, kv_dim, &sizes[kWv]) && mul(layers * dim, dim, &sizes[kWo]) &&
            mul(layers, dim, &sizes[kRmsFfn]) && mul(layers * dim, hidden, &sizes[kW1]) &&
            mul(layers * dim, hidden, &sizes[kW2]) && mul(layers * dim, hidden, &sizes[kW3]);
  sizes[kRmsFinal] = dim;
  sizes[kClassifier] = c.shared_classifier ? 0 : sizes[kEmbedding];
  const uint64_t freq_cis = 2 * static_cast<uint64_t>(c.seq_len) * (head_size / 2);
  uint64_t floats = 0;
  for (uint64_t s : sizes) ok = ok && !__builtin_add_overflow(floats, s, &floats);
  uint64_t bytes_without = 0, bytes_with = 0;
  ok = ok && mul(floats, 4, &bytes_without) && !__builtin_add_overflow(bytes_without, kHeaderBytes, &bytes_without) &&
       !__builtin_add_overflow(bytes_without, freq_cis * 4, &bytes_with);
  if (!ok) throw bad("bad llama2.c header: the sizes it gives overflow");
  const bool has_freq_cis = size == bytes_with;
  if (size != bytes_without && !has_freq_cis) {
    throw bad("llama2.c checkpoint is " + std::to_string(size) + " bytes but its header (dim " + std::to_string(c.dim) +
              ", hidden_dim " + std::to_string(c.hidden_dim) + ", n_layers " + std::to_string(c.n_layers) +
              ", n_heads " + std::to_string(c.n_heads) + ", n_kv_heads " + std::to_string(c.n_kv_heads) +
              ", vocab_size " + std::to_string(h[5]) + ", seq_len " + std::to_string(c.seq_len) + ") implies " +
              std::to_string(bytes_with) + " bytes (" + std::to_string(bytes_without) + " without the freq_cis tables)");
  }
  size_t offset = 0;
  for (int slot = 0; slot < 12; ++slot) {
    if (slot == kClassifier && has_freq_cis) offset += freq_cis;
    ck->offsets_[slot] = offset;
    offset += sizes[slot];
  }
  if (c.shared_classifier) ck->offsets_[kClassifier] = ck->offsets_[kEmbedding];
  ck->base_ = reinterpret_cast<const float*>(ck->mapping_->data() + kHeaderBytes);
  return ck;
}

Llama2cCheckpoint::~Llama2cCheckpoint() = default;

namespace {
size_t kv_dim_of(const Llama2cConfig& c) { return static_cast<size_t>(c.dim / c.n_heads) * c.n_kv_heads; }
}  // namespace

const float* Llama2cCheckpoint::token_embedding() const { return base_ + offsets_[kEmbedding]; }
const float* Llama2cCheckpoint::rms_att(int layer) const { return base_ + offsets_[kRmsAtt] + static_cast<size_t>(layer) * config_.dim; }
const float* Llama2cCheckpoint::wq(int layer) const {
  return base_ + offsets_[kWq] + static_cast<size_t>(layer) * config_.dim * config_.dim;
}
const float* Llama2cCheckpoint::wk(int layer) const {
  return base_ + offsets_[kWk] + static_cast<size_t>(layer) * kv_dim_of(config_) * config_.dim;
}
const float* Llama2cCheckpoint::wv(int layer) const {
  return base_ + offsets_[kWv] + static_cast<size_t>(layer) * kv_dim_of(config_) * config_.dim;
}
const float* Llama2cCheckpoint::wo(int layer) const {
  return base_ + offsets_[kWo] + static_cast<size_t>(layer) * config_.dim * config_.dim;
}
const float* Llama2cCheckpoint::rms_ffn(int layer) const { return base_ + offsets_[kRmsFfn] + static_cast<size_t>(layer) * config_.dim; }
const float* Llama2cCheckpoint::w1(int layer) const {
  return base_ + offsets_[kW1] + static_cast<size_t>(layer) * config_.hidden_dim * config_.dim;
}
const float* Llama2cCheckpoint::w2(int layer) const {
  return base_ + offsets_[kW2] + static_cast<size_t>(layer) * config_.hidden_dim * config_.dim;
}
const float* Llama2cCheckpoint::w3(int layer) const {
  return base_ + offsets_[kW3] + static_cast<size_t>(layer) * config_.hidden_dim * config_.dim;
}
const float* Llama2cCheckpoint::rms_final() const { return base_ + offsets_[kRmsFinal]; }
const float* Llama2cCheckpoint::classifier() const { return base_ + offsets_[kClassifier]; }

}  // namespace mlfaas
