#include "bench/histogram.h"

#include <algorithm>
#include <cmath>

namespace sidecar::bench {
namespace {

constexpr size_t kLinear = size_t{1} << LatencyHistogram::kLinearBits;  // 256
constexpr size_t kSubBuckets = kLinear / 2;                             // 128 per octave
constexpr size_t kBuckets =
    kLinear + (LatencyHistogram::kMaxExponent - LatencyHistogram::kLinearBits + 1) * kSubBuckets;

int Msb(uint64_t v) { return 63 - __builtin_clzll(v); }

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

size_t LatencyHistogram::IndexOf(uint64_t value) {
  if (value < kLinear) return static_cast<size_t>(value);
  int msb = Msb(value);
  if (msb > kMaxExponent) return kBuckets - 1;
  const int shift = msb - (kLinearBits - 1);
  const size_t sub = static_cast<size_t>(value >> shift) - kSubBuckets;
  return kLinear + static_cast<size_t>(msb - kLinearBits) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::LowerBound(size_t index) {
  if (index < kLinear) return index;
  const size_t group = (index - kLinear) / kSubBuckets;
  const size_t sub = (index - kLinear) % kSubBuckets;
  const int shift = static_cast<int>(group) + 1;
  return static_cast<uint64_t>(kSubBuckets + sub) << shift;
}

uint64_t LatencyHistogram::Width(size_t index) {
  if (index < kLinear) return 1;
  return uint64_t{1} << ((index - kLinear) / kSubBuckets + 1);
}

void LatencyHistogram::Record(uint64_t value_ns) {
  ++counts_[IndexOf(value_ns)];
  ++count_;
  min_ = std::min(min_, value_ns);
  max_ = std::max(max_, value_ns);
  sum_ += value_ns;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void LatencyHistogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

uint64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  const double wanted =
      std::ceil(std::clamp(percentile, 0.0, 100.0) / 100.0 * static_cast<double>(count_));
  const uint64_t target = std::max<uint64_t>(1, static_cast<uint64_t>(wanted));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= target) return std::min(LowerBound(i) + Width(i) - 1, max_);
  }
  return max_;
}

void LatencyHistogram::WriteCsv(std::ostream& out) const {
  out << "low_ns,high_ns,count,cumulative\n";
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    seen += counts_[i];
    out << LowerBound(i) << ',' << LowerBound(i) + Width(i) << ',' << counts_[i] << ','
        << static_cast<double>(seen) / static_cast<double>(count_) << '\n';
  }
  out << "# count " << count_ << " min_ns " << min() << " mean_ns " << static_cast<uint64_t>(mean())
      << " max_ns " << max_ << '\n';
  for (double p : {50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0}) {
    out << "# p" << p << "_ns " << ValueAtPercentile(p) << '\n';
  }
}

}  // namespace sidecar::bench
