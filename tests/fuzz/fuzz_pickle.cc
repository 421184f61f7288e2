// The restricted unpickler on arbitrary bytes: it must return a state dict description or throw FormatError,
// within bounded time and memory.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/error.h"
#include "engine/formats/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mlfaas::PickledStateDict d = mlfaas::unpickle_state_dict(std::as_bytes(std::span(data, size)), "fuzz.bin", "data.pkl");
    for (const mlfaas::PickledTensor& t : d.tensors) {
      if (t.storage >= d.storages.size() || t.sizes.size() != t.strides.size()) __builtin_trap();
    }
  } catch (const mlfaas::FormatError&) {
  }
  return 0;
}
