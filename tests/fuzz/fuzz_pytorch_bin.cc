// pytorch_model.bin (zip + pickle) on arbitrary bytes: loads with every view inside the input or in memory the
// WeightFile owns, or throws FormatError.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/error.h"
#include "engine/formats/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto w = mlfaas::open_pytorch_bin_bytes(std::as_bytes(std::span(data, size)), "fuzz.bin");
    volatile uint8_t sink = 0;
    for (const mlfaas::TensorView& t : w->tensors()) {
      // ASan flags any view that reaches outside the input or the owned copies.
      if (t.nbytes > 0) sink = sink ^ static_cast<uint8_t>(t.data[0]) ^ static_cast<uint8_t>(t.data[t.nbytes - 1]);
    }
  } catch (const mlfaas::FormatError&) {
  }
  return 0;
}
