// The dates and query pairs of common/codec.h, which the platform's APIs, SigV4, the log parser and the reports
// all format and split through: the exact strings their protocols expect.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/codec.h"

namespace mlfaas::lambda {
namespace {

constexpr long long kMs = 1714564800123;  // 2024-05-01T12:00:00.123Z, a Wednesday

TEST(Codec, Iso8601WithMillisecondsAndZone) {
  EXPECT_EQ(iso8601_ms(kMs), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(iso8601_ms(kMs, "+0000"), "2024-05-01T12:00:00.123+0000");
  EXPECT_EQ(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_ms(kMs - 123 + 7), "2024-05-01T12:00:00.007Z");  // milliseconds keep their zeros
  EXPECT_EQ(iso8601_now().size(), std::string("2024-05-01T12:00:00.123Z").size());
}

TEST(Codec, UtcStrftimeFormats) {
  EXPECT_EQ(utc_strftime(kMs / 1000, "%a, %d %b %Y %H:%M:%S GMT"), "Wed, 01 May 2024 12:00:00 GMT");
  EXPECT_EQ(utc_strftime(kMs / 1000, "%Y%m%dT%H%M%SZ"), "20240501T120000Z");
  EXPECT_EQ(utc_strftime(kMs / 1000, "%d/%b/%Y:%H:%M:%S +0000"), "01/May/2024:12:00:00 +0000");
  EXPECT_EQ(utc_strftime(kMs / 1000, ""), "");
}

TEST(Codec, QueryPairsSplitWithoutDecoding) {
  using Pairs = std::vector<std::pair<std::string_view, std::string_view>>;
  EXPECT_EQ(query_pairs("a=1&b=x%20y&c"), (Pairs{{"a", "1"}, {"b", "x%20y"}, {"c", ""}}));
  EXPECT_EQ(query_pairs("&&k=v=w&"), (Pairs{{"k", "v=w"}}));  // empty pairs skipped, split at the first '='
  EXPECT_EQ(query_pairs("=v"), (Pairs{{"", "v"}}));
  EXPECT_TRUE(query_pairs("").empty());
}

}  // namespace
}  // namespace mlfaas::lambda
