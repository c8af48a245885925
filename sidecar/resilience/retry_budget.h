#pragma once
// A retry budget per cluster, Finagle-style: over a sliding window, retries may be at most
// `ratio` of the requests sent plus `min_per_second` (the floor, so a quiet service can still
// retry). Retries are thus bounded by rate, not by concurrency, which is what keeps a failing
// upstream at about (1 + ratio) x the client rate however fast it fails: a concurrency bound
// (Envoy's budget_percent of active requests) admits unbounded retry rates when failures are
// instant. Not thread-safe: one per cluster, used on its dispatcher.

#include <chrono>
#include <cstdint>
#include <vector>

namespace sidecar::resilience {

struct RetryBudgetConfig {
  double ratio = 0.2;                     // retries per request
  double min_per_second = 10;             // the floor
  std::chrono::milliseconds window{10000};
};

class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RetryBudget(RetryBudgetConfig config) : config_(config) {}

  // A first attempt was sent: it earns `ratio` of a retry.
  void RecordRequest(Clock::time_point now);
  // True, and the retry is counted, when the budget allows one more retry now.
  bool TryWithdrawRetry(Clock::time_point now);

  const RetryBudgetConfig& config() const { return config_; }

 private:
  // Counts live in kSlots buckets of window/kSlots each (a ring): O(1) memory at any rate.
  static constexpr int kSlots = 100;
  struct Slot {
    int64_t epoch = -1;  // which window/kSlots interval the counts belong to
    int64_t requests = 0;
    int64_t retries = 0;
  };
  Slot& Current(Clock::time_point now);
  // Sums of the slots inside the window ending at `now`.
  void Totals(Clock::time_point now, int64_t* requests, int64_t* retries) const;

  RetryBudgetConfig config_;
  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
};

}  // namespace sidecar::resilience
