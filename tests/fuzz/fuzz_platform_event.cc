// The runtime's event unwrapping (API Gateway v1/v2, SNS, direct JSON) on arbitrary payloads, through the
// `sentences` handler that applies the text handlers' input rules: always an answer, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/events.h"
#include "runtime/handler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto handler = (*mlfaas::runtime::HandlerRegistry::builtin().find("sentences"))({});
  mlfaas::runtime::Context ctx;
  mlfaas::runtime::process_event(*handler, std::string(reinterpret_cast<const char*>(data), size), ctx);
  return 0;
}
