// The HDR histogram against sorted raw values: every percentile within 0.1% (3 significant digits).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "loadtest/hdr_histogram.h"

using mlfaas::loadtest::HdrHistogram;

namespace {

int64_t nearest_rank(const std::vector<int64_t>& sorted, double percentile) {
  int64_t rank = static_cast<int64_t>(std::ceil(percentile / 100.0 * static_cast<double>(sorted.size()) - 1e-9));
  rank = std::clamp<int64_t>(rank, 1, static_cast<int64_t>(sorted.size()));
  return sorted[static_cast<size_t>(rank - 1)];
}

void expect_percentiles_match(const std::vector<int64_t>& values) {
  HdrHistogram h;
  for (int64_t v : values) h.record(v);
  std::vector<int64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 66.0, 75.0, 90.0, 95.0, 98.0, 99.0, 99.9, 99.99, 100.0}) {
    const int64_t exact = nearest_rank(sorted, p);
    const int64_t got = h.value_at_percentile(p);
    EXPECT_GE(got, exact) << "p" << p;  // reported as the highest equivalent value: never understated
    EXPECT_LE(static_cast<double>(got - exact), 0.001 * static_cast<double>(exact)) << "p" << p << " exact " << exact;
  }
  EXPECT_EQ(h.min(), sorted.front());
  EXPECT_EQ(h.max(), sorted.back());
  EXPECT_EQ(h.total_count(), static_cast<int64_t>(values.size()));
  long double sum = 0;
  for (int64_t v : values) sum += v;
  EXPECT_NEAR(h.mean(), static_cast<double>(sum / values.size()), 1e-6 * h.mean() + 1e-9);
}

}  // namespace

TEST(LoadtestHistogram, SmallValuesAreExact) {
  HdrHistogram h;
  for (int64_t v = 0; v < 2048; ++v) {
    EXPECT_EQ(h.lowest_equivalent_value(v), v);
    EXPECT_EQ(h.highest_equivalent_value(v), v);
  }
  std::vector<int64_t> values;
  for (int i = 1; i <= 1000; ++i) values.push_back(i);
  for (int64_t v : values) h.record(v);
  EXPECT_EQ(h.value_at_percentile(50), 500);
  EXPECT_EQ(h.value_at_percentile(99), 990);
  EXPECT_EQ(h.value_at_percentile(100), 1000);
  EXPECT_EQ(h.value_at_percentile(0), 1);
}

TEST(LoadtestHistogram, BucketWidthIsBelowOneThousandthOfTheValue) {
  HdrHistogram h;
  for (int64_t v : {2048LL, 2049LL, 4095LL, 100'000LL, 123'456'789LL, 3'599'999'999LL}) {
    const int64_t lo = h.lowest_equivalent_value(v), hi = h.highest_equivalent_value(v);
    EXPECT_LE(lo, v);
    EXPECT_GE(hi, v);
    EXPECT_LT(static_cast<double>(hi - lo), 0.001 * static_cast<double>(v)) << v;
  }
}

TEST(LoadtestHistogram, LogNormalLatenciesMatchSortedValues) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency_us(std::log(120'000.0), 0.6);  // ~120 ms median, long tail
  std::vector<int64_t> values;
  for (int i = 0; i < 200'000; ++i) values.push_back(static_cast<int64_t>(latency_us(rng)));
  expect_percentiles_match(values);
}

TEST(LoadtestHistogram, WideRangeAndFewSamples) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(0, 9.5);
  for (int n : {1, 2, 3, 17, 1000}) {
    std::vector<int64_t> values;
    for (int i = 0; i < n; ++i) values.push_back(static_cast<int64_t>(std::pow(10.0, exponent(rng))));
    expect_percentiles_match(values);
  }
}

TEST(LoadtestHistogram, MergeEqualsRecordingEverythingInOne) {
  HdrHistogram a, b, all;
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> dist(1, 5'000'000);
  for (int i = 0; i < 10'000; ++i) {
    const int64_t v = dist(rng);
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.total_count(), all.total_count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p));
  a.reset();
  EXPECT_EQ(a.total_count(), 0);
  EXPECT_EQ(a.value_at_percentile(50), 0);
  EXPECT_EQ(a.max(), 0);
}

TEST(LoadtestHistogram, ValuesAboveTheRangeCountAtTheTopAndKeepAnExactMax) {
  HdrHistogram h(10'000'000);
  h.record(5);
  h.record(50'000'000);
  EXPECT_EQ(h.total_count(), 2);
  EXPECT_EQ(h.max(), 50'000'000);
  EXPECT_EQ(h.value_at_percentile(100), 50'000'000);
  h.record(-3);  // a clock step backwards is recorded as 0, not as garbage
  EXPECT_EQ(h.min(), 0);
}
