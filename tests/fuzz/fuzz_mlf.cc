// Compiled-model reader on arbitrary bytes: every input must either load and run (every lookup the kernels and
// the tokenizer make inside the input) or throw FormatError. A model that loads is run on a few token ids and,
// when it has a tokenizer, on a text. Files naming the Llama architecture go to the Llama loader instead, and what
// loads runs one forward pass over a short context and tokenizes a text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "engine/error.h"
#include "engine/formats/mlf.h"
#include "engine/llm/llama.h"
#include "engine/model.h"
#include "engine/tokenizer/sentencepiece.h"
#include "engine/tokenizer/wordpiece.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A mapping starts on a page boundary; entries are aligned relative to it, so give the reader aligned bytes.
  void* copy = std::aligned_alloc(64, (size + 64) / 64 * 64);
  if (size) std::memcpy(copy, data, size);
  const std::span<const std::byte> bytes(static_cast<const std::byte*>(copy), size);
  try {
    auto file = mlfaas::MlfFile::open_bytes(bytes, "fuzz.mlf");
    for (const mlfaas::MlfEntry& e : file->entries()) {
      if (e.size > 0 && (e.data < bytes.data() || e.data + e.size > bytes.data() + bytes.size())) std::abort();
    }
    if (file->architecture() == "llama") {
      auto llama = mlfaas::LlamaModel::load_compiled(file);
      mlfaas::LlamaSession session(llama, {.threads = 1, .context = 8});
      const int vocab = llama->config().vocab_size;
      const int32_t ids[3] = {0, vocab / 2, vocab - 1};
      for (float x : session.forward(ids)) (void)x;
      const auto tok = llama->tokenizer();
      for (int32_t id : tok->encode("Hello, unaffable wörld! <s> \n 123")) {
        if (id < 0 || id >= tok->vocab_size()) std::abort();
      }
      std::free(copy);
      return 0;
    }
    auto model = mlfaas::Model::load_compiled(file);
    const int vocab = model->config().vocab_size;
    std::vector<int32_t> ids = {0, vocab / 2, vocab - 1};
    const mlfaas::TokenIds seq{ids, {}};
    switch (model->task()) {
      case mlfaas::ModelTask::Classification: model->classify(seq); break;
      case mlfaas::ModelTask::MaskedLM: {
        const int positions[1] = {1};
        model->masked_lm_logits(seq, positions);
        break;
      }
      case mlfaas::ModelTask::Base: {
        std::vector<float> hidden;
        model->hidden_states(seq, &hidden);
        break;
      }
    }
    std::shared_ptr<const mlfaas::WordPieceTokenizer> tok;
    try {
      tok = model->tokenizer();
    } catch (const mlfaas::FormatError&) {
    }
    if (tok) {
      mlfaas::Encoding enc;
      tok->encode("Hello, unaffable wörld! [MASK] ##s", 16, &enc);
      for (int32_t id : enc.input_ids) {
        if (id < 0 || static_cast<size_t>(id) >= tok->vocab_size()) std::abort();
        (void)tok->id_to_token(id);
      }
    }
  } catch (const mlfaas::FormatError&) {
  } catch (const mlfaas::InputError&) {  // a valid file whose vocabulary is empty, say
  }
  std::free(copy);
  return 0;
}
