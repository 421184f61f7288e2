#include "engine/model.h"

#include <mutex>
#include <stdexcept>
#include <sys/stat.h>

#include "engine/error.h"
#include "engine/formats/mapped_file.h"
#include "engine/formats/mlf.h"
#include "engine/formats/weights.h"
#include "engine/kernels/gemm.h"
#include "engine/models/network.h"
#include "engine/models/params.h"
#include "engine/tokenizer/wordpiece.h"

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
  std::shared_ptr<const MlfFile> compiled_;  // keeps a compiled model's mapping alive
  std::string dir_;                          // a directory model's path, for its tokenizer
  mutable std::once_flag tokenizer_once_;
  mutable std::shared_ptr<const WordPieceTokenizer> tokenizer_;
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

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::unique_ptr<models::Network> make_network(const ModelConfig& config, models::ParamSource& params,
                                              GemmRunner& runner) {
  return config.is_mobilebert() ? models::make_mobilebert(config, params, runner)
                                : models::make_bert(config, params, runner);
}

// Entry names of a compiled model outside the network's own (models/params.h).
constexpr const char* kConfigEntry = "meta/config.json";
constexpr const char* kPrecisionEntry = "meta/precision";
constexpr const char* kPanelIsaEntry = "meta/panel_isa";

std::unique_ptr<Model::Impl> open_compiled(std::shared_ptr<const MlfFile> file, const ModelOptions& options) {
  const std::string& path = file->path();
  if (file->architecture() == "llama") {
    throw FormatError(path, "is a compiled Llama model, not a BERT-family one; run it with `mlfaas generate`");
  }
  if (file->architecture() != "bert") throw FormatError(path, "compiled for an architecture this mlfaas does not know");
  ModelConfig config = parse_config(std::string(file->require(kConfigEntry, MlfType::Bytes).text()), path);
  const std::string compiled_precision(file->require(kPrecisionEntry, MlfType::Bytes).text());
  Precision precision;
  try {
    precision = parse_precision(compiled_precision);
  } catch (const std::invalid_argument&) {
    throw FormatError(path, "unknown compiled precision '" + compiled_precision + "'");
  }
  if (!options.precision.empty() && options.precision != compiled_precision) {
    throw FormatError(path, "compiled for " + compiled_precision + "; for " + options.precision +
                                " compile it again with --precision " + options.precision);
  }
  const Isa isa = resolve_isa(options.isa);
  auto impl = std::make_unique<Model::Impl>(std::move(config), isa, options.threads, precision);
  impl->compiled_ = file;
  models::ParamSource params(*file, impl->runner_.kernel());
  impl->net_ = make_network(impl->config_, params, impl->runner_);
  if (file->find("tok/text") != nullptr) {
    WordPieceTokenizer::Compiled t;
    const MlfEntry& slots = file->require("tok/slots", MlfType::U32);
    const MlfEntry& ids = file->require("tok/ids", MlfType::I32);
    const MlfEntry& offsets = file->require("tok/offsets", MlfType::U32);
    const MlfEntry& flags = file->require("tok/flags", MlfType::I32, {2});
    t.trie_slots = {slots.as<uint32_t>(), slots.size / 4};
    t.trie_ids = {ids.as<int32_t>(), ids.size / 4};
    t.token_text = file->require("tok/text", MlfType::Bytes).text();
    t.token_offsets = {offsets.as<uint32_t>(), offsets.size / 4};
    t.do_lower_case = flags.as<int32_t>()[0] != 0;
    t.strip_accents = flags.as<int32_t>()[1] != 0;
    impl->tokenizer_ = std::make_shared<const WordPieceTokenizer>(WordPieceTokenizer::from_compiled(t, file, path));
  }
  return impl;
}

void finish(Model::Impl& impl) {
  impl.zero_types_.assign(impl.config_.max_position_embeddings, 0);
  impl.pooled_.resize(impl.config_.hidden_size);
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, const ModelOptions& options) {
  if (options.threads < 1) throw std::invalid_argument("threads must be at least 1");
  if (!is_directory(path) && is_mlf_file(path)) return load_compiled(MlfFile::open(path), options);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    MlfFile::open(path);  // throws: not a compiled model, with the reason
  }
  ModelConfig config = load_config(config_path(path));
  const Isa isa = resolve_isa(options.isa);
  const Precision precision = parse_precision(options.precision.empty() ? "fp32" : options.precision);
  auto impl = std::make_unique<Impl>(std::move(config), isa, options.threads, precision);
  impl->dir_ = path;
  {
    // The packed copies are all the model needs: the file's mapping is released when `weights` goes.
    std::unique_ptr<WeightFile> weights = open_model_weights(path);
    models::ParamSource params(*weights, models::detect_prefix(*weights, impl->config_.model_type),
                               impl->runner_.arena());
    impl->net_ = make_network(impl->config_, params, impl->runner_);
  }
  finish(*impl);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

std::unique_ptr<Model> Model::load_compiled(std::shared_ptr<const MlfFile> file, const ModelOptions& options) {
  if (options.threads < 1) throw std::invalid_argument("threads must be at least 1");
  std::unique_ptr<Impl> impl = open_compiled(std::move(file), options);
  finish(*impl);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

CompileResult Model::compile(const std::string& dir, const ModelOptions& options, const std::string& out) {
  const std::string config_json_path = config_path(dir);
  const std::string config_json = read_text_file(config_json_path);  // stored as read, parsed once here
  ModelConfig config = parse_config(config_json, config_json_path);
  const Precision precision = parse_precision(options.precision.empty() ? "fp32" : options.precision);
  // int8 files default to 16-wide fp32 panels: only the heads are fp32, and every level runs 16-wide panels.
  const Isa isa = options.isa.empty() && precision == Precision::Int8 ? Isa::Portable : resolve_isa(options.isa);
  MlfWriter writer;
  writer.add_text(kConfigEntry, config_json);
  writer.add_text(kPrecisionEntry, precision_name(precision));
  writer.add_text(kPanelIsaEntry, isa_name(isa));
  {
    Impl impl(config, isa, 1, precision);
    std::unique_ptr<WeightFile> weights = open_model_weights(dir);
    models::ParamSource params(*weights, models::detect_prefix(*weights, config.model_type), impl.runner_.arena(),
                               &writer);
    make_network(config, params, impl.runner_);
  }
  CompileResult result;
  struct stat st {};
  if (::stat((dir + "/vocab.txt").c_str(), &st) == 0) {
    const WordPieceTokenizer tok = WordPieceTokenizer::from_model_dir(dir);
    const WordPieceTokenizer::Compiled t = tok.compiled();
    writer.add("tok/slots", MlfType::U32, {static_cast<int64_t>(t.trie_slots.size() / 2), 2}, t.trie_slots.data(),
               t.trie_slots.size_bytes());
    writer.add_i32("tok/ids", t.trie_ids);
    writer.add_text("tok/text", t.token_text);
    writer.add("tok/offsets", MlfType::U32, {}, t.token_offsets.data(), t.token_offsets.size_bytes());
    const int32_t flags[2] = {t.do_lower_case ? 1 : 0, t.strip_accents ? 1 : 0};
    writer.add_i32("tok/flags", flags);
    result.has_tokenizer = true;
  }
  result.entries = writer.entry_count();
  result.bytes = writer.write(out);
  result.precision = precision_name(precision);
  result.panel_isa = isa_name(isa);
  return result;
}

std::shared_ptr<const WordPieceTokenizer> Model::tokenizer() const {
  std::call_once(impl_->tokenizer_once_, [&] {
    if (!impl_->tokenizer_ && !impl_->dir_.empty()) {
      impl_->tokenizer_ = std::make_shared<const WordPieceTokenizer>(WordPieceTokenizer::from_model_dir(impl_->dir_));
    }
  });
  if (!impl_->tokenizer_) throw FormatError(impl_->compiled_ ? impl_->compiled_->path() : impl_->dir_,
                                            "has no tokenizer (compiled from a directory without vocab.txt)");
  return impl_->tokenizer_;
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
