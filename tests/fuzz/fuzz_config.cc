// config.json parsing on arbitrary bytes: a validated ModelConfig or a FormatError, nothing else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "engine/formats/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mlfaas::ModelConfig c = mlfaas::parse_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
    if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_labels() > (1 << 16)) __builtin_trap();
  } catch (const mlfaas::FormatError&) {
  }
  return 0;
}
