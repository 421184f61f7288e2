#include "loadtest/hdr_histogram.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace mlfaas::loadtest {

namespace {
// 3 significant digits: values below 2 * 10^3 are stored exactly, so sub-buckets hold 2048 slots.
constexpr int kSubBucketCountMagnitude = 11;
}  // namespace

HdrHistogram::HdrHistogram(int64_t highest_trackable)
    : highest_trackable_(highest_trackable),
      sub_bucket_half_count_magnitude_(kSubBucketCountMagnitude - 1),
      sub_bucket_half_count_(1 << (kSubBucketCountMagnitude - 1)),
      sub_bucket_mask_((int64_t{1} << kSubBucketCountMagnitude) - 1) {
  if (highest_trackable < 2 * (int64_t{1} << kSubBucketCountMagnitude))
    throw std::invalid_argument("HdrHistogram: highest trackable value too small");
  int bucket_count = 1;
  int64_t smallest_untrackable = int64_t{1} << kSubBucketCountMagnitude;
  while (smallest_untrackable <= highest_trackable) {
    if (smallest_untrackable > INT64_MAX / 2) {
      ++bucket_count;
      break;
    }
    smallest_untrackable <<= 1;
    ++bucket_count;
  }
  counts_.assign(static_cast<size_t>(bucket_count + 1) * sub_bucket_half_count_, 0);
}

int HdrHistogram::bucket_index(int64_t value) const {
  const int pow2_ceiling = 64 - __builtin_clzll(static_cast<uint64_t>(value | sub_bucket_mask_));
  return pow2_ceiling - (sub_bucket_half_count_magnitude_ + 1);
}

int HdrHistogram::counts_index(int64_t value) const {
  const int bucket = bucket_index(value);
  const int sub_bucket = static_cast<int>(value >> bucket);
  return ((bucket + 1) << sub_bucket_half_count_magnitude_) + (sub_bucket - sub_bucket_half_count_);
}

int64_t HdrHistogram::value_at_index(int index) const {
  int bucket = (index >> sub_bucket_half_count_magnitude_) - 1;
  int sub_bucket = (index & (sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket < 0) {
    sub_bucket -= sub_bucket_half_count_;
    bucket = 0;
  }
  return static_cast<int64_t>(sub_bucket) << bucket;
}

int64_t HdrHistogram::lowest_equivalent_value(int64_t value) const {
  const int bucket = bucket_index(value);
  return (value >> bucket) << bucket;
}

int64_t HdrHistogram::highest_equivalent_value(int64_t value) const {
  const int bucket = bucket_index(value);
  return lowest_equivalent_value(value) + (int64_t{1} << bucket) - 1;
}

void HdrHistogram::record(int64_t value, int64_t count) {
  if (value < 0) value = 0;
  if (count <= 0) return;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += value * count;
  total_count_ += count;
  counts_[counts_index(std::min(value, highest_trackable_))] += count;
}

void HdrHistogram::merge(const HdrHistogram& other) {
  if (other.counts_.size() != counts_.size())
    throw std::invalid_argument("HdrHistogram: merging histograms of different ranges");
  if (other.total_count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_count_ += other.total_count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void HdrHistogram::reset() {
  if (total_count_ == 0) return;
  std::fill(counts_.begin(), counts_.end(), 0);
  total_count_ = 0;
  sum_ = 0;
  min_ = INT64_MAX;
  max_ = 0;
}

int64_t HdrHistogram::value_at_percentile(double percentile) const {
  if (total_count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The small epsilon keeps e.g. 0.95 * 100 == 95.00000000000001 from moving the rank up by one.
  int64_t rank = static_cast<int64_t>(std::ceil(percentile / 100.0 * static_cast<double>(total_count_) - 1e-9));
  rank = std::clamp<int64_t>(rank, 1, total_count_);
  if (rank == total_count_) return max_;  // the largest sample is known exactly
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const int64_t value = highest_equivalent_value(value_at_index(static_cast<int>(i)));
      return std::clamp(value, min_, max_);
    }
  }
  return max_;
}

}  // namespace mlfaas::loadtest
