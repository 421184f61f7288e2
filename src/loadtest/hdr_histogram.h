#pragma once
// A compact High Dynamic Range histogram (Gil Tene's HdrHistogram layout): values are bucketed so that every
// recorded value is known to within 1/1024 of itself (better than 3 significant digits) while the memory
// stays fixed (about 200 KiB for 1 µs .. 1 hour). Recording is O(1); percentiles walk the counts once.
// Debian packages no C/C++ HdrHistogram, hence this one.
#include <cstdint>
#include <vector>

namespace mlfaas::loadtest {

class HdrHistogram {
 public:
  // Tracks integer values in [0, highest_trackable]; larger values are counted at the top (max stays exact).
  explicit HdrHistogram(int64_t highest_trackable = 3'600'000'000LL);

  void record(int64_t value, int64_t count = 1);
  void merge(const HdrHistogram& other);  // both must share highest_trackable
  void reset();

  int64_t total_count() const { return total_count_; }
  int64_t min() const { return total_count_ ? min_ : 0; }
  int64_t max() const { return total_count_ ? max_ : 0; }
  double mean() const { return total_count_ ? static_cast<double>(sum_) / static_cast<double>(total_count_) : 0.0; }
  int64_t sum() const { return sum_; }

  // Nearest-rank percentile (p in [0, 100]): the value at rank ceil(p/100 * n) of the sorted samples, reported
  // as the highest value equivalent to it and clamped to [min, max], so it never understates a latency by more
  // than one bucket width (< 0.1% of the value).
  int64_t value_at_percentile(double percentile) const;

  // Bucket geometry, exposed for tests.
  int64_t lowest_equivalent_value(int64_t value) const;
  int64_t highest_equivalent_value(int64_t value) const;

 private:
  int bucket_index(int64_t value) const;
  int counts_index(int64_t value) const;
  int64_t value_at_index(int index) const;

  int64_t highest_trackable_;
  int sub_bucket_half_count_magnitude_;
  int sub_bucket_half_count_;
  int64_t sub_bucket_mask_;
  std::vector<int64_t> counts_;
  int64_t total_count_ = 0;
  int64_t sum_ = 0;
  int64_t min_ = INT64_MAX;
  int64_t max_ = 0;
};

}  // namespace mlfaas::loadtest
