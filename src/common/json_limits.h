#pragma once
// Bounds on JSON documents received from callers, checked before parsing. nlohmann's parser is iterative, but
// serialising, copying and walking a document recurse once per nesting level: a payload nested 100k deep would
// overflow the stack of whoever touches it. Lambda itself sets no depth limit; real events are a few levels
// deep, so a bound far above them refuses only attacks.
#include <cstddef>
#include <string_view>

namespace mlfaas::common {

inline constexpr size_t kMaxJsonDepth = 512;

// The deepest nesting of arrays and objects in `text` (strings skipped, escapes honoured). It does not check
// that `text` is JSON: run it before the parser, which still refuses malformed text.
size_t json_nesting_depth(std::string_view text);

}  // namespace mlfaas::common
