#pragma once
// Bounds and error reporting shared by the chat template lexer, parser and renderer (see chat_template.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/tokenizer/chat_template.h"

namespace mlfaas::jinja {

// Bounds that keep hostile templates from exhausting the stack, the CPU or memory. Real templates nest blocks
// 3-5 deep and expressions a dozen levels; a render takes 25-50 steps per message, so the step budget covers
// conversations of 2*10^4 messages while a runaway template stops within 0.1 s (1.5 s under the sanitizers).
inline constexpr int kMaxBlockNesting = 64;
inline constexpr int kMaxExpressionDepth = 128;
inline constexpr uint64_t kMaxSteps = 1'000'000;
inline constexpr size_t kMaxStringBytes = size_t(64) << 20;
inline constexpr size_t kMaxListItems = size_t(1) << 20;
inline constexpr int64_t kMaxRange = 100000;  // Jinja2's sandbox MAX_RANGE
// Lists and dicts nest at most this deep, so printing, comparing and freeing them cannot exhaust the stack.
inline constexpr int kMaxValueDepth = 64;

inline constexpr char kUseFileHint[] = "; pass --chat-template FILE with a template in the supported Jinja2 subset";

[[noreturn]] inline void unsupported(const std::string& what, int line) {
  throw ChatTemplateError("unsupported construct '" + what + "' at line " + std::to_string(line) + kUseFileHint);
}

[[noreturn]] inline void syntax_error(const std::string& what, int line) {
  throw ChatTemplateError("chat template syntax error at line " + std::to_string(line) + ": " + what);
}

[[noreturn]] inline void render_error(const std::string& what, int line) {
  throw ChatTemplateError("chat template error at line " + std::to_string(line) + ": " + what);
}

}  // namespace mlfaas::jinja
