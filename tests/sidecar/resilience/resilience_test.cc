// The pure resilience policies, driven with an explicit clock.
#include <chrono>

#include "gtest/gtest.h"
#include "sidecar/resilience/backoff.h"
#include "sidecar/resilience/circuit_breaker.h"
#include "sidecar/resilience/retry_budget.h"

namespace sidecar::resilience {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(BackoffTest, CapDoublesFromBaseUpToMax) {
  BackoffPolicy p{milliseconds(25), milliseconds(250)};
  EXPECT_EQ(BackoffCap(p, 1), milliseconds(25));
  EXPECT_EQ(BackoffCap(p, 2), milliseconds(50));
  EXPECT_EQ(BackoffCap(p, 3), milliseconds(100));
  EXPECT_EQ(BackoffCap(p, 4), milliseconds(200));
  EXPECT_EQ(BackoffCap(p, 5), milliseconds(250));
  EXPECT_EQ(BackoffCap(p, 1000), milliseconds(250));  // no overflow
}

TEST(BackoffTest, FullJitterSpansZeroToCap) {
  BackoffPolicy p{milliseconds(25), milliseconds(250)};
  EXPECT_EQ(FullJitterBackoff(p, 3, 0.0), milliseconds(0));
  EXPECT_EQ(FullJitterBackoff(p, 3, 0.5), milliseconds(50));
  EXPECT_EQ(FullJitterBackoff(p, 3, 0.999), milliseconds(99));
  for (int i = 0; i < 1000; ++i) {
    auto d = FullJitterBackoff(p, 2);
    EXPECT_GE(d.count(), 0);
    EXPECT_LE(d.count(), 50);
  }
}

TEST(RetryBudgetTest, RetriesAreAFractionOfRequestsPlusTheFloor) {
  RetryBudget budget({.ratio = 0.2, .min_per_second = 1, .window = milliseconds(10000)});
  const Clock::time_point t0 = Clock::now();
  // The floor alone: 1/s over 10 s = 10 retries with no requests at all.
  int floor_retries = 0;
  while (budget.TryWithdrawRetry(t0)) ++floor_retries;
  EXPECT_EQ(floor_retries, 10);
  // 1000 requests earn 200 more.
  for (int i = 0; i < 1000; ++i) budget.RecordRequest(t0);
  int earned = 0;
  while (budget.TryWithdrawRetry(t0)) ++earned;
  EXPECT_EQ(earned, 200);
}

TEST(RetryBudgetTest, OldRequestsAndRetriesLeaveTheWindow) {
  RetryBudget budget({.ratio = 0.2, .min_per_second = 0, .window = milliseconds(1000)});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 100; ++i) budget.RecordRequest(t0);
  int n = 0;
  while (budget.TryWithdrawRetry(t0)) ++n;
  EXPECT_EQ(n, 20);
  EXPECT_FALSE(budget.TryWithdrawRetry(t0 + milliseconds(500)));
  // A window later the old requests no longer pay for anything.
  EXPECT_FALSE(budget.TryWithdrawRetry(t0 + milliseconds(1100)));
  for (int i = 0; i < 10; ++i) budget.RecordRequest(t0 + milliseconds(1100));
  EXPECT_TRUE(budget.TryWithdrawRetry(t0 + milliseconds(1100)));
  EXPECT_TRUE(budget.TryWithdrawRetry(t0 + milliseconds(1100)));
  EXPECT_FALSE(budget.TryWithdrawRetry(t0 + milliseconds(1100)));
}

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreaker breaker_{{.max_requests = 3, .max_retries = 1, .consecutive_failures = 5,
                           .open_interval = milliseconds(1000)}};
  Clock::time_point t0_ = Clock::now();

  void Complete(bool failure, Clock::time_point at) {
    BreakerTicket t;
    ASSERT_EQ(breaker_.TryAdmit(at, false, &t), Admission::kAdmitted);
    breaker_.OnComplete(at, t, failure);
  }
};

TEST_F(CircuitBreakerTest, LimitsRefuseBeyondMaxRequestsAndMaxRetries) {
  BreakerTicket a, b, c, d;
  EXPECT_EQ(breaker_.TryAdmit(t0_, false, &a), Admission::kAdmitted);
  EXPECT_EQ(breaker_.TryAdmit(t0_, true, &b), Admission::kAdmitted);
  EXPECT_EQ(breaker_.TryAdmit(t0_, true, &c), Admission::kMaxRetries);
  EXPECT_EQ(breaker_.TryAdmit(t0_, false, &c), Admission::kAdmitted);
  EXPECT_EQ(breaker_.TryAdmit(t0_, false, &d), Admission::kMaxRequests);
  breaker_.OnComplete(t0_, b, false);
  EXPECT_EQ(breaker_.active_retries(), 0);
  EXPECT_EQ(breaker_.TryAdmit(t0_, true, &d), Admission::kAdmitted);
}

TEST_F(CircuitBreakerTest, FiveConsecutiveFailuresOpenThenHalfOpenProbeCloses) {
  for (int i = 0; i < 4; ++i) Complete(true, t0_);
  Complete(false, t0_);  // a success resets the run
  for (int i = 0; i < 4; ++i) Complete(true, t0_);
  EXPECT_EQ(breaker_.state(t0_), BreakerState::kClosed);
  Complete(true, t0_);
  EXPECT_EQ(breaker_.state(t0_), BreakerState::kOpen);
  BreakerTicket t;
  EXPECT_EQ(breaker_.TryAdmit(t0_ + milliseconds(999), false, &t), Admission::kCircuitOpen);

  const auto later = t0_ + milliseconds(1000);
  EXPECT_EQ(breaker_.state(later), BreakerState::kHalfOpen);
  BreakerTicket probe, other;
  ASSERT_EQ(breaker_.TryAdmit(later, false, &probe), Admission::kAdmitted);
  EXPECT_TRUE(probe.probe);
  EXPECT_EQ(breaker_.TryAdmit(later, false, &other), Admission::kCircuitOpen);  // one probe only
  breaker_.OnComplete(later, probe, false);
  EXPECT_EQ(breaker_.state(later), BreakerState::kClosed);
  EXPECT_EQ(breaker_.consecutive_failures(), 0);
}

TEST_F(CircuitBreakerTest, AFailedProbeReopensForAnotherInterval) {
  for (int i = 0; i < 5; ++i) Complete(true, t0_);
  const auto later = t0_ + milliseconds(1000);
  BreakerTicket probe;
  ASSERT_EQ(breaker_.TryAdmit(later, false, &probe), Admission::kAdmitted);
  breaker_.OnComplete(later, probe, true);
  EXPECT_EQ(breaker_.state(later + milliseconds(999)), BreakerState::kOpen);
  EXPECT_EQ(breaker_.state(later + milliseconds(1000)), BreakerState::kHalfOpen);
}

TEST_F(CircuitBreakerTest, ProbeNowLetsTheNextRequestProbeBeforeTheIntervalEnds) {
  breaker_.ProbeNow(t0_);  // closed: nothing to do
  EXPECT_EQ(breaker_.state(t0_), BreakerState::kClosed);
  for (int i = 0; i < 5; ++i) Complete(true, t0_);
  const auto soon = t0_ + milliseconds(10);
  EXPECT_EQ(breaker_.state(soon), BreakerState::kOpen);
  breaker_.ProbeNow(soon);  // the transport came back
  EXPECT_EQ(breaker_.state(soon), BreakerState::kHalfOpen);
  BreakerTicket probe, other;
  ASSERT_EQ(breaker_.TryAdmit(soon, false, &probe), Admission::kAdmitted);
  EXPECT_TRUE(probe.probe);
  EXPECT_EQ(breaker_.TryAdmit(soon, false, &other), Admission::kCircuitOpen);  // still one probe only
  breaker_.OnComplete(soon, probe, false);
  EXPECT_EQ(breaker_.state(soon), BreakerState::kClosed);
}

TEST_F(CircuitBreakerTest, RequestsFromBeforeTheOpeningDecideNothing) {
  BreakerTicket early;
  ASSERT_EQ(breaker_.TryAdmit(t0_, false, &early), Admission::kAdmitted);
  for (int i = 0; i < 5; ++i) Complete(true, t0_);
  const auto later = t0_ + milliseconds(1000);
  BreakerTicket probe;
  ASSERT_EQ(breaker_.TryAdmit(later, false, &probe), Admission::kAdmitted);
  breaker_.OnComplete(later, early, false);  // not the probe: still half-open
  EXPECT_EQ(breaker_.state(later), BreakerState::kHalfOpen);
  breaker_.OnComplete(later, probe, false);
  EXPECT_EQ(breaker_.state(later), BreakerState::kClosed);
}

TEST(CircuitBreakerConfigTest, ZeroConsecutiveFailuresNeverEjects) {
  CircuitBreaker breaker({.consecutive_failures = 0});
  const auto now = Clock::now();
  for (int i = 0; i < 100; ++i) {
    BreakerTicket t;
    ASSERT_EQ(breaker.TryAdmit(now, false, &t), Admission::kAdmitted);
    breaker.OnComplete(now, t, true);
  }
  EXPECT_EQ(breaker.state(now), BreakerState::kClosed);
}

}  // namespace
}  // namespace sidecar::resilience
