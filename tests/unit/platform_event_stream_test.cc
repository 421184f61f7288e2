// AWS event-stream framing (InvokeWithResponseStream): CRC32 check value and a message's byte layout.
#include <gtest/gtest.h>

#include <string>

#include "platform/event_stream.h"

namespace mlfaas::platform {
namespace {

uint32_t be32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint32_t(uint8_t(s[at + 3]));
}

TEST(EventStream, Crc32IsTheIeeeOne) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the standard check value (zlib.crc32)
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32("6789", crc32("12345")), crc32("123456789"));
}

TEST(EventStream, MessageLayout) {
  std::string m = event_stream_message({{":event-type", "PayloadChunk"}}, "hi");
  const std::string headers = std::string("\x0b:event-type\x07\x00\x0cPayloadChunk", 1 + 11 + 1 + 2 + 12);
  ASSERT_EQ(m.size(), 12 + headers.size() + 2 + 4);
  EXPECT_EQ(be32(m, 0), m.size());
  EXPECT_EQ(be32(m, 4), headers.size());
  EXPECT_EQ(be32(m, 8), crc32(m.substr(0, 8)));
  EXPECT_EQ(m.substr(12, headers.size()), headers);
  EXPECT_EQ(m.substr(12 + headers.size(), 2), "hi");
  EXPECT_EQ(be32(m, m.size() - 4), crc32(m.substr(0, m.size() - 4)));
}

TEST(EventStream, EventHeaders) {
  std::string m = event_stream_event("InvokeComplete", "application/json", "{}");
  EXPECT_NE(m.find(":event-type"), std::string::npos);
  EXPECT_NE(m.find("InvokeComplete"), std::string::npos);
  const std::string message_type("\x0d:message-type\x07\x00\x05" "event", 1 + 13 + 1 + 2 + 5);
  EXPECT_NE(m.find(message_type), std::string::npos);
  EXPECT_EQ(m.substr(m.size() - 6, 2), "{}");
}

}  // namespace
}  // namespace mlfaas::platform
