#pragma once
// Llama-family causal language models (LlamaForCausalLM: TinyLlama-1.1B-Chat, TinyLLama-v0, llama2.c's
// stories260K, ...), split as llama.cpp and gemma.cpp split them:
//
//   auto model = mlfaas::LlamaModel::load("models/stories260K", {});      // read-only weights, shared
//   mlfaas::LlamaSession session(model, {.threads = 2});                // one sequence: KV cache, pos, scratch
//   std::span<const float> logits = session.forward(ids);               // runs ids at pos.., advances pos
//
// Files: a Hugging Face directory (config.json, generation_config.json, model.safetensors or sharded
// model-0000N-of-0000M.safetensors + index; F32/F16/BF16; tokenizer.model + tokenizer_config.json), a GGUF v2/v3
// file (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K tensors; tokenizer and chat template from its metadata), a llama2.c
// checkpoint (a directory holding one *.bin checkpoint and its tok*.bin tokenizer, or the checkpoint itself with
// tokenizer.bin beside it), or a compiled .mlf. Weights are used in place from a read-only mapping in the file's
// encoding (quantized weights are never expanded to fp32); LlamaOptions::precision may instead quantize float
// weights once at load.
//
// Rotary embeddings: HF weights use rotate_half (element i pairs with i + head_dim/2); GGUF and llama2.c weights
// have q/k rows permuted for the interleaved form (2i pairs with 2i+1). The loader records which, so one set of
// weights always meets its own rotary layout. theta comes from the file (default 10000).
//
// Threading and memory: a LlamaModel is immutable after load and may be shared by any number of sessions on any
// threads. A LlamaSession owns the KV cache (context x layers x kv_heads x head_dim floats, K and V), its thread
// pool (options.threads threads, the caller's included; idle workers sleep) and scratch sized at construction
// for prefill chunks of up to kPrefillChunk tokens, so forward() allocates nothing after the first call. One call
// at a time per session.
//
// Positions: the session owns `pos` (the number of tokens in its KV cache). forward(ids) runs ids at positions
// pos .. pos+n-1 and advances pos by n; reset() empties the cache; truncate(p) keeps the first p positions.
//
// Errors: load() throws FormatError naming the file (missing/corrupt/unsupported); forward() throws InputError for
// ids out of range, empty input, or a sequence that would pass the context ("prompt of N tokens does not fit the
// context of C"), leaving the session unchanged.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/kernels/isa.h"
#include "engine/kernels/quant_blocks.h"

namespace mlfaas {

class LlamaTokenizer;
class MlfFile;

enum class RotaryLayout { HalfSplit, Interleaved };

struct LlamaConfig {
  std::string path;    // the file or directory it was read from
  std::string format;  // "hf", "gguf", "llama2c", "mlf"
  int vocab_size = 32000;
  int hidden_size = 4096;
  int intermediate_size = 11008;
  int num_hidden_layers = 32;
  int num_attention_heads = 32;
  int num_key_value_heads = 32;
  int max_position_embeddings = 2048;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  bool tie_word_embeddings = false;
  RotaryLayout rotary = RotaryLayout::HalfSplit;
  int head_dim() const { return hidden_size / num_attention_heads; }
};

// generation_config.json (or the GGUF/llama2.c equivalents): the defaults a request does not override.
struct GenerationDefaults {
  int bos_token_id = 1;
  std::vector<int> eos_token_ids = {2};
  bool do_sample = false;
  float temperature = 1.0f;
  int top_k = 50;
  float top_p = 1.0f;
  int max_new_tokens = 256;
};

// How a compiled file stores its Q8_0 / Q4_0 linear weights (the seven of each layer and an untied output head):
// X16 = 16 rows interleaved (QuantType::Q8_0_X16 / Q4_0_X16, kernels/quant_blocks.h), which the decode GEMV
// streams 30-40% faster; Rows = ggml's row layout, as GGUF stores them. The same blocks either way (lossless, the
// same integer block sums; only the fp32 order of the block sums may differ). Other types and the token embedding
// (read one row at a time) always keep rows.
enum class LlamaWeightLayout { Rows, X16 };

// What LlamaModel::compile wrote.
struct LlamaCompileResult {
  size_t bytes = 0;    // the file's size
  size_t entries = 0;  // entries in its table
  QuantType weight_type = QuantType::F32;  // as LlamaModel::weight_type(): Q8_0 for Q8_0_X16 weights
  bool interleaved = false;                // whether some linears were written as Q8_0_X16 / Q4_0_X16
  std::string source_format;  // "hf", "gguf", "llama2c", "mlf"
};

struct LlamaOptions {
  // Kernel level: "" = MLFAAS_ISA if set, else the best this CPU supports (kernels/isa.h).
  std::string isa;
  // "" keeps each tensor's encoding from the file. "f32", "f16", "q8_0" or "q4_0" re-encode the linear layers' float
  // weights once at load (a quantized file cannot be re-encoded; asking is refused).
  std::string precision;
};

class LlamaModel {
 public:
  static std::shared_ptr<const LlamaModel> load(const std::string& path, const LlamaOptions& options = {});
  // A compiled model already opened (MlfFile::open, or open_bytes over 64-byte-aligned memory that outlives the
  // model): its weights are used in place. options.precision equal to the file's weight type is a no-op; another
  // one re-encodes float weights as load() does and is refused for quantized ones.
  static std::shared_ptr<const LlamaModel> load_compiled(std::shared_ptr<const MlfFile> file,
                                                         const LlamaOptions& options = {});
  // `mlfaas compile`: loads `source` as load() does (options.precision re-encodes its float weights; a quantized
  // source keeps its types) and writes everything generate needs - config, generation defaults, tokenizer, chat
  // template, every weight in its kernels' encoding, Q8_0 / Q4_0 linears in `layout` - as one .mlf at `out` (a
  // temporary renamed over it). docs/FORMATS.md lists the entries. Throws FormatError naming the source or `out`.
  static LlamaCompileResult compile(const std::string& source, const LlamaOptions& options, const std::string& out,
                                    LlamaWeightLayout layout = LlamaWeightLayout::X16);
  ~LlamaModel();

  const LlamaConfig& config() const;
  const GenerationDefaults& generation_defaults() const;
  std::shared_ptr<const LlamaTokenizer> tokenizer() const;  // never null: every supported format carries one
  const std::string& chat_template() const;                 // may be empty
  Isa isa() const;
  // The encoding of most linear weights, what a user calls the model's precision: Q8_0 / Q4_0 also when they are
  // stored interleaved (interleaved_weights()).
  QuantType weight_type() const;
  bool interleaved_weights() const;  // whether some linears are Q8_0_X16 / Q4_0_X16 (a compiled file's)
  size_t weight_bytes() const;    // bytes of weights referenced (mapped or owned)

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit LlamaModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct SessionOptions {
  int threads = 1;
  int context = 0;  // KV cache positions; 0 = the model's max_position_embeddings (capped at 4096)
};

class LlamaSession {
 public:
  static constexpr int kPrefillChunk = 256;  // prompts are run in chunks of at most this many tokens

  LlamaSession(std::shared_ptr<const LlamaModel> model, const SessionOptions& options = {});
  ~LlamaSession();
  LlamaSession(const LlamaSession&) = delete;
  LlamaSession& operator=(const LlamaSession&) = delete;

  // Runs `ids` at positions pos().. and returns the logits after the last of them [vocab_size]; valid until the
  // next call.
  std::span<const float> forward(std::span<const int32_t> ids);
  int pos() const;
  int context() const;
  void reset();
  void truncate(int pos);

  const LlamaModel& model() const;
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlfaas
