// safetensors reader on arbitrary bytes: every input must either load (and every view lie inside the input) or
// throw FormatError.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "engine/error.h"
#include "engine/formats/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    auto w = mlfaas::open_safetensors_bytes(bytes, "fuzz.safetensors");
    volatile uint8_t sink = 0;
    for (const mlfaas::TensorView& t : w->tensors()) {
      if (t.nbytes > 0 && (t.data < bytes.data() || t.data + t.nbytes > bytes.data() + bytes.size())) std::abort();
      if (t.nbytes > 0) sink = sink ^ static_cast<uint8_t>(t.data[t.nbytes - 1]);
      if (t.shape.size() == 1 && t.numel() <= 4096 && (t.dtype == mlfaas::DType::F32 || t.dtype == mlfaas::DType::F16 ||
                                t.dtype == mlfaas::DType::BF16)) {
        std::vector<float> out(static_cast<size_t>(t.numel()));
        w->f32_into(t.name, {t.numel()}, out.data());
      }
    }
  } catch (const mlfaas::FormatError&) {
  }
  return 0;
}
