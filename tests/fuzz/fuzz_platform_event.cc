// The runtime's event unwrapping (API Gateway v1/v2, SNS, direct JSON) on arbitrary payloads, through the
// `sentences` handler that applies the text handlers' input rules and the `echo` handler that serialises
// whatever it is given back (nesting bounded: corpus/platform_event/sns_nested_deep.json): always an answer,
// never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/events.h"
#include "runtime/handler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto sentences = (*mlfaas::runtime::HandlerRegistry::builtin().find("sentences"))({});
  static auto echo = (*mlfaas::runtime::HandlerRegistry::builtin().find("echo"))({});
  std::string payload(reinterpret_cast<const char*>(data), size);
  for (auto* handler : {sentences.get(), echo.get()}) {
    mlfaas::runtime::Context ctx;
    mlfaas::runtime::process_event(*handler, payload, ctx);
  }
  return 0;
}
