#pragma once
// AWS's binary event-stream framing (application/vnd.amazon.eventstream), as InvokeWithResponseStream answers:
// each message is a prelude (total length, headers length: 4-byte big-endian each; CRC32 of those 8 bytes), the
// headers (1-byte name length, name, type 7 = string, 2-byte value length, value), the payload, and a CRC32 of
// everything before it. CRC32 is the IEEE one (zlib's crc32, what botocore's EventStreamBuffer checks).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mlfaas::platform {

uint32_t crc32(std::string_view bytes, uint32_t crc = 0);

// One message with string headers.
std::string event_stream_message(const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::string_view payload);

// An event of a response stream: headers :event-type, :content-type, :message-type "event".
std::string event_stream_event(const std::string& event_type, const std::string& content_type,
                               std::string_view payload);

}  // namespace mlfaas::platform
