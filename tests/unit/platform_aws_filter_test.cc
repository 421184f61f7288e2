// CloudWatch Logs filter patterns of terms, as aws/logs_api.h matches them against serve's log lines.
#include <gtest/gtest.h>

#include <stdexcept>

#include "platform/aws/logs_api.h"

using mlfaas::platform::aws::matches_filter;

namespace {

const char* kReport = "REPORT RequestId: 1\tDuration: 3.27 ms\tBilled Duration: 4 ms\tMemory Size: 512 MB";

TEST(AwsLogsFilter, EmptyMatchesEverything) {
  EXPECT_TRUE(matches_filter("", kReport));
  EXPECT_TRUE(matches_filter("   ", "anything"));
}

TEST(AwsLogsFilter, PlainTermsMustAllOccur) {
  EXPECT_TRUE(matches_filter("REPORT", kReport));
  EXPECT_TRUE(matches_filter("REPORT Duration", kReport));
  EXPECT_FALSE(matches_filter("REPORT Timeout", kReport));
  EXPECT_FALSE(matches_filter("report", kReport));  // case-sensitive, as CloudWatch
}

TEST(AwsLogsFilter, QuotedPhrasesKeepTheirSpaces) {
  EXPECT_TRUE(matches_filter("\"Memory Size: 512 MB\"", kReport));
  EXPECT_FALSE(matches_filter("\"Memory Size: 128 MB\"", kReport));
}

TEST(AwsLogsFilter, OptionalAndExcludedTerms) {
  EXPECT_TRUE(matches_filter("?START ?REPORT", kReport));
  EXPECT_FALSE(matches_filter("?START ?END", kReport));
  EXPECT_FALSE(matches_filter("REPORT -Billed", kReport));
  EXPECT_TRUE(matches_filter("REPORT -Timeout", kReport));
}

TEST(AwsLogsFilter, JsonAndSpaceDelimitedPatternsAreRefused) {
  EXPECT_THROW(matches_filter("{ $.level = \"error\" }", kReport), std::invalid_argument);
  EXPECT_THROW(matches_filter("[ip, user]", kReport), std::invalid_argument);
}

}  // namespace
