#include "platform/event_stream.h"

#include <array>

namespace mlfaas::platform {

namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(char((v >> shift) & 0xFF));
}

}  // namespace

uint32_t crc32(std::string_view bytes, uint32_t crc) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  crc = ~crc;
  for (unsigned char b : bytes) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::string event_stream_message(const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::string_view payload) {
  std::string encoded_headers;
  for (const auto& [name, value] : headers) {
    encoded_headers.push_back(char(name.size()));
    encoded_headers += name;
    encoded_headers.push_back(char(7));  // string
    encoded_headers.push_back(char((value.size() >> 8) & 0xFF));
    encoded_headers.push_back(char(value.size() & 0xFF));
    encoded_headers += value;
  }
  std::string out;
  const size_t total = 12 + encoded_headers.size() + payload.size() + 4;
  out.reserve(total);
  put_be32(out, uint32_t(total));
  put_be32(out, uint32_t(encoded_headers.size()));
  put_be32(out, crc32(out));
  out += encoded_headers;
  out += payload;
  put_be32(out, crc32(out));
  return out;
}

std::string event_stream_event(const std::string& event_type, const std::string& content_type,
                               std::string_view payload) {
  return event_stream_message(
      {{":event-type", event_type}, {":content-type", content_type}, {":message-type", "event"}}, payload);
}

}  // namespace mlfaas::platform
