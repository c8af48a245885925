#pragma once
// A log-linear latency histogram in the manner of HdrHistogram: values (nanoseconds) below 256 get
// a bucket each; above, every power of two [2^k, 2^(k+1)) is cut into 128 equal buckets, so any
// recorded value is known to within 1/128 (< 0.8 %). Fixed size (~37 KB), no allocation while
// recording, mergeable across threads, and it keeps the whole distribution (WriteCsv) rather than a
// few percentiles.

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <vector>

namespace sidecar::bench {

class LatencyHistogram {
 public:
  static constexpr int kLinearBits = 8;    // 0..255 ns: exact
  static constexpr int kMaxExponent = 42;  // 2^43 ns ~ 2.4 h: larger values land in the last bucket

  LatencyHistogram();

  void Record(uint64_t value_ns);
  void Merge(const LatencyHistogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const {
    return count_ == 0 ? 0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }
  // The highest value equivalent to the recorded value at `percentile` (0..100], clamped to the
  // largest recorded value; 0 when empty.
  uint64_t ValueAtPercentile(double percentile) const;

  // One line per non-empty bucket: low_ns,high_ns (exclusive),count,cumulative fraction; then the
  // percentile spectrum as comment lines.
  void WriteCsv(std::ostream& out) const;

  static size_t IndexOf(uint64_t value);
  static uint64_t LowerBound(size_t index);
  static uint64_t Width(size_t index);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;
};

}  // namespace sidecar::bench
