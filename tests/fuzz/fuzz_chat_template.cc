// The chat template interpreter on arbitrary bytes: parsing may only succeed or throw ChatTemplateError, and so
// may rendering over a fixed conversation (one that exercises system prompts, alternation, empty and non-ASCII
// content). The interpreter's own bounds (nesting, steps, sizes) must turn hostile templates into errors, never
// into a crash, a hang or an exhausted stack.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<mlfaas::ChatMessage> messages = {
      {"system", " You are helpful. "},
      {"user", "Hello!\nSecond line"},
      {"assistant", ""},
      {"user", "Gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\x98\x80 {{ not a tag }}"},
  };
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  try {
    const mlfaas::ChatTemplate tmpl(source);
    tmpl.render(messages, true, "<s>", "</s>");
    tmpl.render(std::vector<mlfaas::ChatMessage>{}, false, "", "");
  } catch (const mlfaas::ChatTemplateError&) {
  }
  return 0;
}
