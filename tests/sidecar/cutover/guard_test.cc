// Guard rules over sliding windows: each rule breaches only above its threshold and only with at
// least its minimum number of samples in its window.

#include "sidecar/cutover/guard.h"

#include "gtest/gtest.h"

namespace sidecar::cutover {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

GuardRule Rule(GuardRule::Kind kind, double max, int64_t min, int64_t window_ms = 10000) {
  return GuardRule{kind, max, min, milliseconds(window_ms)};
}

TEST(RouteGuard, ErrorRateBreachesOnlyFromTheMinimumRequestCount) {
  RouteGuard guard({Rule(GuardRule::Kind::kErrorRate, 10, 20)});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 19; ++i) guard.RecordRequest(t0, /*ok=*/false, microseconds(100));
  EXPECT_FALSE(guard.Evaluate(t0).has_value()) << "19 failures < min_requests 20";
  guard.RecordRequest(t0, false, microseconds(100));
  auto breach = guard.Evaluate(t0);
  ASSERT_TRUE(breach.has_value());
  EXPECT_EQ(breach->rule, "error_rate");
  EXPECT_EQ(breach->observed, 100);
  EXPECT_EQ(breach->requests, 20);
}

TEST(RouteGuard, ErrorRateAtOrBelowTheThresholdHolds) {
  RouteGuard guard({Rule(GuardRule::Kind::kErrorRate, 10, 20)});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 100; ++i) guard.RecordRequest(t0, i % 10 != 0, microseconds(100));  // exactly 10 %
  EXPECT_FALSE(guard.Evaluate(t0).has_value());
  guard.RecordRequest(t0, false, microseconds(100));
  EXPECT_TRUE(guard.Evaluate(t0).has_value());
}

TEST(RouteGuard, OldSamplesLeaveTheWindow) {
  RouteGuard guard({Rule(GuardRule::Kind::kErrorRate, 10, 5, /*window_ms=*/1000)});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 10; ++i) guard.RecordRequest(t0, false, microseconds(100));
  EXPECT_TRUE(guard.Evaluate(t0).has_value());
  EXPECT_FALSE(guard.Evaluate(t0 + milliseconds(1500)).has_value());
  EXPECT_EQ(guard.request_samples(), 0u);
}

TEST(RouteGuard, P99Latency) {
  RouteGuard guard({Rule(GuardRule::Kind::kP99Latency, 50, 100)});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 99; ++i) guard.RecordRequest(t0, true, milliseconds(10));
  guard.RecordRequest(t0, true, milliseconds(900));  // the 100th: p99 is still 10 ms
  EXPECT_FALSE(guard.Evaluate(t0).has_value());
  guard.RecordRequest(t0, true, milliseconds(900));
  auto breach = guard.Evaluate(t0);
  ASSERT_TRUE(breach.has_value());
  EXPECT_EQ(breach->rule, "p99_latency");
  EXPECT_EQ(breach->observed, 900);
}

TEST(RouteGuard, MismatchRateCountsShadowComparisonsOnly) {
  RouteGuard guard({Rule(GuardRule::Kind::kMismatchRate, 5, 20)});
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 100; ++i) guard.RecordRequest(t0, false, microseconds(1));  // not the rule's input
  for (int i = 0; i < 19; ++i) guard.RecordShadow(t0, /*matched=*/false);
  EXPECT_FALSE(guard.Evaluate(t0).has_value()) << "19 comparisons < min_requests 20";
  guard.RecordShadow(t0, false);
  auto breach = guard.Evaluate(t0);
  ASSERT_TRUE(breach.has_value());
  EXPECT_EQ(breach->rule, "mismatch_rate");
  EXPECT_EQ(breach->ToString(), "mismatch_rate 100% > 5% over 20 comparisons");
}

TEST(RouteGuard, ResetForgetsEverything) {
  RouteGuard guard({Rule(GuardRule::Kind::kErrorRate, 10, 1)});
  const Clock::time_point t0 = Clock::now();
  guard.RecordRequest(t0, false, microseconds(1));
  guard.Reset();
  EXPECT_FALSE(guard.Evaluate(t0).has_value());
}

TEST(RouteGuard, SampleCapBoundsMemory) {
  RouteGuard guard({Rule(GuardRule::Kind::kErrorRate, 10, 1)}, /*max_samples=*/50);
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 1000; ++i) guard.RecordRequest(t0, true, microseconds(1));
  EXPECT_EQ(guard.request_samples(), 50u);
}

}  // namespace
}  // namespace sidecar::cutover
