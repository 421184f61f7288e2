#pragma once
// Small encodings both sides of the Lambda boundary need: API Gateway carries non-text bodies as base64, the
// Invoke API returns the log tail as base64, and every body a handler sees must be valid UTF-8 JSON.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlfaas::lambda {

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not valid (padded or unpadded) base64.
std::optional<std::string> base64_decode(std::string_view text);

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view bytes);

// Random RFC 4122 version-4 UUID, as Lambda uses for request ids.
std::string random_uuid();
// `n` random lowercase hex digits (instance ids, log stream names).
std::string random_hex(size_t n);

// ISO-8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z.
std::string iso8601_now();
long long epoch_ms_now();
// `unix_ms` as ISO-8601 UTC with milliseconds, the zone written as `zone`: "Z" (2024-05-01T12:00:00.123Z) or
// "+0000" (Lambda's and CloudWatch's 2024-05-01T12:00:00.123+0000).
std::string iso8601_ms(long long unix_ms, std::string_view zone = "Z");
// `unix_s` in UTC through strftime's `format` (HTTP, SMTP and log dates; SigV4's X-Amz-Date).
std::string utc_strftime(long long unix_s, const char* format);

// The name=value pairs of a query string or form body, split at '&' and at each pair's first '=' (a pair without
// one has an empty value; empty pairs are skipped), still percent-encoded: each caller decodes as its protocol says.
std::vector<std::pair<std::string_view, std::string_view>> query_pairs(std::string_view query);

}  // namespace mlfaas::lambda
