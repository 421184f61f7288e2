// The SAM template reader on arbitrary bytes: it may only accept or throw TemplateError, never crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "platform/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mlfaas::platform::parse_template(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml", "/");
  } catch (const mlfaas::platform::TemplateError&) {
  }
  return 0;
}
