#include "engine/error.h"
#include "engine/formats/weights.h"

namespace mlfaas {
// Placeholder until the restricted unpickler lands (same session).
std::unique_ptr<WeightFile> open_pytorch_bin(const std::string& path) {
  throw FormatError(path, "pytorch_model.bin reading is not available in this build yet");
}
}  // namespace mlfaas
