#include "sidecar/resilience/retry_budget.h"

#include <algorithm>

namespace sidecar::resilience {
namespace {

int64_t EpochOf(RetryBudget::Clock::time_point now, std::chrono::nanoseconds slot_width) {
  return now.time_since_epoch() / slot_width;
}

}  // namespace

RetryBudget::Slot& RetryBudget::Current(Clock::time_point now) {
  const auto width = std::max<std::chrono::nanoseconds>(config_.window / kSlots, std::chrono::nanoseconds(1));
  const int64_t epoch = EpochOf(now, width);
  Slot& slot = slots_[static_cast<size_t>(epoch % kSlots)];
  if (slot.epoch != epoch) slot = Slot{epoch, 0, 0};
  return slot;
}

void RetryBudget::Totals(Clock::time_point now, int64_t* requests, int64_t* retries) const {
  const auto width = std::max<std::chrono::nanoseconds>(config_.window / kSlots, std::chrono::nanoseconds(1));
  const int64_t epoch = EpochOf(now, width);
  *requests = 0;
  *retries = 0;
  for (const Slot& slot : slots_) {
    if (slot.epoch > epoch - kSlots && slot.epoch <= epoch) {
      *requests += slot.requests;
      *retries += slot.retries;
    }
  }
}

void RetryBudget::RecordRequest(Clock::time_point now) { ++Current(now).requests; }

bool RetryBudget::TryWithdrawRetry(Clock::time_point now) {
  int64_t requests = 0;
  int64_t retries = 0;
  Totals(now, &requests, &retries);
  const double window_seconds = std::chrono::duration<double>(config_.window).count();
  const double allowed = config_.ratio * static_cast<double>(requests) + config_.min_per_second * window_seconds;
  if (static_cast<double>(retries + 1) > allowed) return false;
  ++Current(now).retries;
  return true;
}

}  // namespace sidecar::resilience
