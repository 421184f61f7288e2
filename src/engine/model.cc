#include "engine/model.h"

#include <stdexcept>
#include <sys/stat.h>

#include "engine/error.h"
#include "engine/formats/weights.h"
#include "engine/kernels/gemm.h"
#include "engine/models/network.h"

namespace mlfaas {

class Model::Impl {
 public:
  Impl(ModelConfig config, Isa isa, int threads, Precision precision)
      : config_(std::move(config)),
        isa_(isa),
        precision_(precision_name(precision)),
        runner_(gemm_kernel(isa), threads, precision) {}

  ModelConfig config_;
  Isa isa_;
  std::string precision_;
  GemmRunner runner_;
  std::unique_ptr<models::Network> net_;
  std::vector<int32_t> zero_types_;
  std::vector<float> pooled_;
  std::vector<int32_t> batch_ids_, batch_types_;
  std::vector<int> batch_starts_;

  ModelTask task() const {
    switch (config_.architecture) {
      case Architecture::BertForMaskedLM: return ModelTask::MaskedLM;
      case Architecture::BertModel: return ModelTask::Base;
      default: return ModelTask::Classification;
    }
  }

  // Validates a sequence and returns its token types (all zero when none were given).
  const int32_t* check(const TokenIds& s) const {
    const size_t n = s.input_ids.size();
    if (n == 0) throw InputError("empty input: a sequence needs at least one token");
    if (n > static_cast<size_t>(config_.max_position_embeddings)) {
      throw InputError("sequence of " + std::to_string(n) + " tokens is longer than the model's maximum of " +
                       std::to_string(config_.max_position_embeddings));
    }
    for (size_t i = 0; i < n; ++i) {
      if (s.input_ids[i] < 0 || s.input_ids[i] >= config_.vocab_size) {
        throw InputError("input_ids[" + std::to_string(i) + "] = " + std::to_string(s.input_ids[i]) +
                         " is outside the vocabulary (0.." + std::to_string(config_.vocab_size - 1) + ")");
      }
    }
    if (s.token_type_ids.empty()) return zero_types_.data();
    if (s.token_type_ids.size() != n) {
      throw InputError("token_type_ids has " + std::to_string(s.token_type_ids.size()) + " entries, input_ids " +
                       std::to_string(n));
    }
    for (size_t i = 0; i < n; ++i) {
      if (s.token_type_ids[i] < 0 || s.token_type_ids[i] >= config_.type_vocab_size) {
        throw InputError("token_type_ids[" + std::to_string(i) + "] = " + std::to_string(s.token_type_ids[i]) +
                         " is outside 0.." + std::to_string(config_.type_vocab_size - 1));
      }
    }
    return s.token_type_ids.data();
  }
};

namespace {
std::string config_path(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) throw FormatError(dir, "model directory not found");
  if (!S_ISDIR(st.st_mode)) throw FormatError(dir, "not a directory (expected a model directory with config.json)");
  return dir + "/config.json";
}
}  // namespace

std::unique_ptr<Model> Model::load(const std::string& dir, const ModelOptions& options) {
  if (options.threads < 1) throw std::invalid_argument("threads must be at least 1");
  ModelConfig config = load_config(config_path(dir));
  const Isa isa = resolve_isa(options.isa);
  const Precision precision = parse_precision(options.precision);
  auto impl = std::make_unique<Impl>(std::move(config), isa, options.threads, precision);
  {
    // The packed copies are all the model needs: the file's mapping is released when `weights` goes.
    std::unique_ptr<WeightFile> weights = open_model_weights(dir);
    impl->net_ = impl->config_.is_mobilebert() ? models::make_mobilebert(impl->config_, *weights, impl->runner_)
                                               : models::make_bert(impl->config_, *weights, impl->runner_);
  }
  impl->zero_types_.assign(impl->config_.max_position_embeddings, 0);
  impl->pooled_.resize(impl->config_.hidden_size);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const { return impl_->config_; }
ModelTask Model::task() const { return impl_->task(); }
Isa Model::isa() const { return impl_->isa_; }
const std::string& Model::precision() const { return impl_->precision_; }
int Model::threads() const { return impl_->runner_.threads(); }
int Model::max_tokens() const { return impl_->config_.max_position_embeddings; }

void Model::validate(const TokenIds& sequence) const { impl_->check(sequence); }

std::vector<float> Model::classify(const TokenIds& sequence) {
  auto& net = *impl_->net_;
  if (!net.has_classifier()) {
    throw InputError(std::string(architecture_name(impl_->config_.architecture)) + " has no classification head");
  }
  const int32_t* types = impl_->check(sequence);
  const int starts[2] = {0, static_cast<int>(sequence.input_ids.size())};
  const float* hidden = net.encode(sequence.input_ids.data(), types, starts, 1);
  net.pool(hidden, impl_->pooled_.data());
  std::vector<float> logits(impl_->config_.num_labels());
  net.classify(impl_->pooled_.data(), logits.data());
  return logits;
}

std::vector<std::vector<float>> Model::classify_batch(std::span<const TokenIds> batch) {
  auto& net = *impl_->net_;
  if (!net.has_classifier()) {
    throw InputError(std::string(architecture_name(impl_->config_.architecture)) + " has no classification head");
  }
  for (const TokenIds& s : batch) impl_->check(s);  // all or nothing: no partial results for a bad batch
  std::vector<std::vector<float>> out(batch.size());
  // Stack as many sequences as the scratch rows hold into one encoder pass (their linears share every weight
  // read), then run the heads per sequence.
  auto& ids = impl_->batch_ids_;
  auto& types = impl_->batch_types_;
  auto& starts = impl_->batch_starts_;
  const int H = net.hidden_size();
  size_t next = 0;
  while (next < batch.size()) {
    ids.clear();
    types.clear();
    starts.assign(1, 0);
    const size_t first = next;
    while (next < batch.size() && ids.size() + batch[next].input_ids.size() <= static_cast<size_t>(net.max_rows())) {
      const TokenIds& s = batch[next++];
      ids.insert(ids.end(), s.input_ids.begin(), s.input_ids.end());
      if (s.token_type_ids.empty()) {
        types.insert(types.end(), s.input_ids.size(), 0);
      } else {
        types.insert(types.end(), s.token_type_ids.begin(), s.token_type_ids.end());
      }
      starts.push_back(static_cast<int>(ids.size()));
    }
    const int count = static_cast<int>(next - first);
    const float* hidden = net.encode(ids.data(), types.data(), starts.data(), count);
    for (int i = 0; i < count; ++i) {
      net.pool(hidden + static_cast<int64_t>(starts[i]) * H, impl_->pooled_.data());
      out[first + i].resize(impl_->config_.num_labels());
      net.classify(impl_->pooled_.data(), out[first + i].data());
    }
  }
  return out;
}

void Model::hidden_states(const TokenIds& sequence, std::vector<float>* last_hidden, std::vector<float>* pooled) {
  auto& net = *impl_->net_;
  const int32_t* types = impl_->check(sequence);
  const int seq = static_cast<int>(sequence.input_ids.size());
  const int starts[2] = {0, seq};
  const float* hidden = net.encode(sequence.input_ids.data(), types, starts, 1);
  if (last_hidden) last_hidden->assign(hidden, hidden + static_cast<int64_t>(seq) * net.hidden_size());
  if (pooled) {
    if (net.has_pooler()) {
      pooled->resize(net.hidden_size());
      net.pool(hidden, pooled->data());
    } else {
      pooled->clear();
    }
  }
}

std::vector<float> Model::masked_lm_logits(const TokenIds& sequence, std::span<const int> positions) {
  auto& net = *impl_->net_;
  if (!net.has_mlm_head()) {
    throw InputError(std::string(architecture_name(impl_->config_.architecture)) + " has no masked-LM head");
  }
  const int32_t* types = impl_->check(sequence);
  const int seq = static_cast<int>(sequence.input_ids.size());
  for (int p : positions) {
    if (p < 0 || p >= seq) throw InputError("position " + std::to_string(p) + " is outside the sequence");
  }
  const int starts[2] = {0, seq};
  const float* hidden = net.encode(sequence.input_ids.data(), types, starts, 1);
  const int V = impl_->config_.vocab_size;
  std::vector<float> logits(positions.size() * static_cast<size_t>(V));
  net.mlm_logits(hidden, positions.data(), static_cast<int>(positions.size()), logits.data());
  return logits;
}

}  // namespace mlfaas
