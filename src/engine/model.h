#pragma once
// The inference engine's public face: load a Hugging Face model directory once, then run token ids through it.
//
//   mlfaas::ModelOptions opt;  opt.threads = 1;
//   auto model = mlfaas::Model::load("models/emo-mobilebert", opt);   // config.json + model.safetensors / .bin
//   std::vector<float> logits = model->classify(ids, types);          // BertForSequenceClassification, MobileBERT
//
// A model directory is converted and packed at load. Model::compile() does that once and writes a compiled model
// (.mlf, formats/mlf.h) with the tokenizer inside; Model::load() maps such a file and runs it as it is (cold
// start in milliseconds; pages shared between processes through the page cache).
//
// Token ids come from the WordPiece tokenizer (engine/tokenizer). Sequences are run padding-free: each one is
// exactly its tokens, so no attention mask is needed or accepted. Lengths from 1 to config().max_position_embeddings.
//
// Threading and memory: a Model owns a pool of options.threads threads (the caller's thread is one of them; idle
// workers sleep) and scratch memory sized at load for max(512, max_position_embeddings) tokens, so a request
// allocates nothing but its result. Weights are packed at load for the chosen kernel level; the weight file is not
// kept open. A Model runs one request at a time: calls on one Model must not overlap (one Model per concurrent
// worker).
//
// Kernel levels: the best the CPU supports (AVX-512 VNNI, AVX-512, AVX-VNNI, AVX2+FMA, NEON, portable), or another via
// ModelOptions::isa / MLFAAS_ISA. Results agree across levels to float rounding (~1e-6 on the fixtures); int8 GEMMs
// are exact integer arithmetic at every level, so int8 results differ across levels only in their fp32 parts.
//
// Errors: load() throws FormatError (bad/missing file, tensor or shape; names the file) and std::runtime_error
// (ISA level unavailable); the run functions throw InputError for ids out of range, empty or too-long input, or a
// call the architecture does not support (e.g. classify on a BertModel).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <cstddef>
#include <vector>

#include "engine/formats/config.h"
#include "engine/kernels/isa.h"

namespace mlfaas {

struct ModelOptions {
  int threads = 1;  // total threads used per request, including the caller's; >= 1
  // Kernel level: "" = MLFAAS_ISA if set, else the best this CPU supports; or a level name (kernels/isa.h: "portable",
  // "avx2", "avxvnni", "avx512", "avx512vnni", "neon").
  std::string isa;
  // "fp32" (reference) or "int8": dynamic quantization of the encoder's linear layers (weights int8 per output
  // channel, activations u8 per row at run time, exact int32 accumulation). Embeddings, norms, softmax, attention
  // scores, pooler and classifier stay fp32. See docs/INT8.md. "" = the model's own: fp32 for a directory, the
  // compiled precision for a .mlf (which cannot change precision: a different one given is refused).
  std::string precision;
};

// What Model::compile() wrote.
struct CompileResult {
  size_t bytes = 0;         // the file's size
  size_t entries = 0;       // entries in it
  bool has_tokenizer = false;
  std::string precision;    // "fp32" | "int8"
  std::string panel_isa;    // the kernel level whose fp32 panel width it uses ("portable" = 16 wide, runs anywhere)
};

// One sequence. token_type_ids may be empty (all zero, a single segment) or the same length as input_ids.
struct TokenIds {
  std::span<const int32_t> input_ids;
  std::span<const int32_t> token_type_ids;
};

enum class ModelTask { Classification, MaskedLM, Base };

class WordPieceTokenizer;
class MlfFile;

class Model {
 public:
  // path: a model directory (config.json + model.safetensors or pytorch_model.bin) or a compiled model (.mlf).
  static std::unique_ptr<Model> load(const std::string& path, const ModelOptions& options = {});
  // Compiles the model directory `dir` into `out` (written atomically). options.precision ("" = fp32) is baked in;
  // options.isa picks the fp32 panel width: "" = 16-wide (every level runs it) for int8, where only the small
  // heads are fp32, and this CPU's best level for fp32; threads are unused. The tokenizer (dir/vocab.txt and
  // tokenizer_config.json) goes in when the directory has one. Throws FormatError as load() does.
  static CompileResult compile(const std::string& dir, const ModelOptions& options, const std::string& out);
  // A compiled model already opened (MlfFile::open, or open_bytes over memory that outlives the model).
  static std::unique_ptr<Model> load_compiled(std::shared_ptr<const MlfFile> file, const ModelOptions& options = {});
  virtual ~Model();

  // The model's tokenizer: compiled in (.mlf), or read from the directory on first use. Throws FormatError when
  // there is none (a directory without vocab.txt, a .mlf compiled from one).
  std::shared_ptr<const WordPieceTokenizer> tokenizer() const;

  const ModelConfig& config() const;
  ModelTask task() const;
  Isa isa() const;
  const std::string& precision() const;
  int threads() const;
  int max_tokens() const;  // max_position_embeddings

  // Throws InputError if the sequence is not valid input for this model (what every run function checks first).
  void validate(const TokenIds& sequence) const;

  // Classifiers: the logits [num_labels] (HF's `logits` for this sequence).
  std::vector<float> classify(const TokenIds& sequence);
  // Several sequences of different lengths: result[i] = classify(batch[i]). Padding-free: the sequences' tokens are
  // stacked into shared GEMMs (attention stays within each sequence), so each weight is read once per group of up
  // to max(512, max_tokens()) tokens. Validates every sequence before running any.
  std::vector<std::vector<float>> classify_batch(std::span<const TokenIds> batch);

  // Every architecture: the encoder's last hidden state [seq_len * hidden_size], row-major. `pooled` (optional)
  // receives the pooler output [hidden_size] where the model has one (BertModel and BERT classifiers:
  // tanh(dense(h[CLS])); MobileBERT: h[CLS], through tanh(dense) when classifier_activation); else it is cleared.
  void hidden_states(const TokenIds& sequence, std::vector<float>* last_hidden, std::vector<float>* pooled = nullptr);

  // Masked LM: the vocabulary logits [positions.size() * vocab_size] at the given token positions.
  std::vector<float> masked_lm_logits(const TokenIds& sequence, std::span<const int> positions);

  class Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlfaas
