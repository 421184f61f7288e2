// GGUF reader on arbitrary bytes: every input must either load or throw FormatError; when it loads, every
// tensor's bytes lie inside the input and every metadata getter either returns or throws FormatError.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "engine/error.h"
#include "engine/formats/gguf.h"

namespace {

template <typename Get>
void touch(Get&& get) {
  try {
    get();
  } catch (const mlfaas::FormatError&) {  // the value has another type
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  std::unique_ptr<mlfaas::GgufFile> g;
  try {
    g = mlfaas::GgufFile::open_bytes(bytes, "fuzz.gguf");
  } catch (const mlfaas::FormatError&) {
    return 0;
  }
  volatile uint8_t sink = 0;
  for (const mlfaas::GgufTensor& t : g->tensors()) {
    if (t.data < bytes.data() || t.nbytes > size || t.data + t.nbytes > bytes.data() + size) std::abort();
    if (t.nbytes == 0 || t.numel() <= 0) std::abort();
    if (g->find(t.name) != &t) std::abort();
    sink = sink ^ static_cast<uint8_t>(t.data[0]) ^ static_cast<uint8_t>(t.data[t.nbytes - 1]);
  }
  for (const std::string& key : g->keys()) {
    if (!g->has(key) || !g->type(key)) std::abort();
    touch([&] { g->get_int(key); });
    touch([&] { g->get_float(key); });
    touch([&] { g->get_bool(key); });
    touch([&] { g->get_string(key); });
    touch([&] { g->get_string_array(key); });
    touch([&] { g->get_float_array(key); });
    touch([&] { g->get_int_array(key); });
  }
  touch([&] { g->require_int("llama.block_count"); });
  touch([&] { g->require_string("general.architecture"); });
  return 0;
}
