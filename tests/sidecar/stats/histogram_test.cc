// stats::Histogram against prometheus-cpp's own Histogram (the exposition must not change), its
// family's labelled children, its place in the scrape, and exact counts under concurrent writers.

#include "sidecar/stats/histogram.h"

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/histogram.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::stats {
namespace {

using ::testing::HasSubstr;

TEST(HistogramTest, CollectsWhatPrometheusCppsHistogramCollectsForTheSameObservations) {
  const Histogram::BucketBoundaries bounds = Metrics::LatencyBuckets();
  Histogram ours(bounds);
  prometheus::Histogram theirs(bounds);
  // On a bound, just over one, past the last.
  std::vector<double> values = {0, 0.0005, 0.00050001, 0.001, 29.9, 30, 30.5, 1e9};
  std::mt19937 rng(7);
  std::exponential_distribution<double> latency(200);
  for (int i = 0; i < 1000; ++i) values.push_back(latency(rng));
  for (double v : values) {
    ours.Observe(v);
    theirs.Observe(v);
  }
  const prometheus::ClientMetric a = ours.Collect(), b = theirs.Collect();
  EXPECT_EQ(a.histogram.sample_count, b.histogram.sample_count);
  EXPECT_DOUBLE_EQ(a.histogram.sample_sum, b.histogram.sample_sum);
  ASSERT_EQ(a.histogram.bucket.size(), b.histogram.bucket.size());
  for (size_t i = 0; i < a.histogram.bucket.size(); ++i) {
    EXPECT_EQ(a.histogram.bucket[i].upper_bound, b.histogram.bucket[i].upper_bound) << i;
    EXPECT_EQ(a.histogram.bucket[i].cumulative_count, b.histogram.bucket[i].cumulative_count) << i;
  }
}

TEST(HistogramTest, NotANumberCountsWhereItDoesInPrometheusCpp) {
  Histogram ours({1});
  prometheus::Histogram theirs({1});
  ours.Observe(std::nan(""));
  theirs.Observe(std::nan(""));
  const prometheus::ClientMetric a = ours.Collect(), b = theirs.Collect();
  EXPECT_EQ(a.histogram.bucket[0].cumulative_count, b.histogram.bucket[0].cumulative_count);
  EXPECT_EQ(a.histogram.bucket[1].cumulative_count, b.histogram.bucket[1].cumulative_count);
  EXPECT_EQ(a.histogram.sample_count, 1u);
}

TEST(HistogramTest, AFamilyHandsOutOneChildPerLabelSetAndCollectsThemLabelled) {
  HistogramFamily family("test_seconds", "help text");
  EXPECT_TRUE(family.Collect().empty());  // no series yet, as prometheus-cpp
  Histogram& a = family.Add({{"cluster", "a"}}, {0.1, 1});
  EXPECT_EQ(&family.Add({{"cluster", "a"}}, {5}), &a);
  family.Add({{"cluster", "b"}}, {0.1, 1}).Observe(0.5);
  a.Observe(0.05);
  a.Observe(2);
  const std::vector<prometheus::MetricFamily> collected = family.Collect();
  ASSERT_EQ(collected.size(), 1u);
  EXPECT_EQ(collected[0].name, "test_seconds");
  EXPECT_EQ(collected[0].help, "help text");
  EXPECT_EQ(collected[0].type, prometheus::MetricType::Histogram);
  ASSERT_EQ(collected[0].metric.size(), 2u);
  const prometheus::ClientMetric& first = collected[0].metric[0];
  ASSERT_EQ(first.label.size(), 1u);
  EXPECT_EQ(first.label[0].value, "a");
  EXPECT_EQ(first.histogram.sample_count, 2u);
  EXPECT_DOUBLE_EQ(first.histogram.sample_sum, 2.05);
  ASSERT_EQ(first.histogram.bucket.size(), 3u);  // 0.1, 1, +Inf
  EXPECT_EQ(first.histogram.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(first.histogram.bucket[1].cumulative_count, 1u);
  EXPECT_EQ(first.histogram.bucket[2].cumulative_count, 2u);
}

TEST(HistogramTest, ARegistryCollectsEveryFamilyThatJoinedItInOrderSkippingEmptyOnes) {
  HistogramRegistry registry;
  HistogramFamily first(registry, "first_seconds", "first");
  HistogramFamily empty(registry, "empty_seconds", "no child yet");
  HistogramFamily last(registry, "last_seconds", "last");
  EXPECT_TRUE(registry.Collect().empty());
  last.Add({}, {1}).Observe(0.5);
  first.Add({}, {1}).Observe(2);
  const std::vector<prometheus::MetricFamily> collected = registry.Collect();
  ASSERT_EQ(collected.size(), 2u);
  EXPECT_EQ(collected[0].name, "first_seconds");
  EXPECT_EQ(collected[1].name, "last_seconds");
}

TEST(HistogramTest, TheScrapeCarriesTheHistogramFamiliesInTheTextFormat) {
  Metrics metrics;
  metrics.request_duration_seconds
      .Add({{"listener", "edge"}, {"service", "s"}, {"action", "a"}}, Metrics::LatencyBuckets())
      .Observe(0.0007);
  metrics.requests_total.Add({{"listener", "edge"}, {"service", "s"}, {"action", "a"}, {"outcome", "ok"}}).Increment();
  const std::string text = metrics.SerializeText();
  EXPECT_THAT(text, HasSubstr("# TYPE sidecar_request_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr(R"(sidecar_request_duration_seconds_bucket{action="a",listener="edge",service="s",le="0.0005"} 0)"));
  EXPECT_THAT(text, HasSubstr(R"(sidecar_request_duration_seconds_bucket{action="a",listener="edge",service="s",le="0.001"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(sidecar_request_duration_seconds_count{action="a",listener="edge",service="s"} 1)"));
  EXPECT_THAT(text, HasSubstr("# TYPE sidecar_requests_total counter\n"));  // the registry's families too
}

TEST(HistogramTest, ConcurrentWritersLoseNoObservation) {
  Histogram h({1, 2});
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&h, t] {
      for (int i = 0; i < kEach; ++i) h.Observe(t % 3);  // 0, 1, 2, 0: every bucket but +Inf
    });
  }
  for (std::thread& w : writers) w.join();
  const prometheus::ClientMetric m = h.Collect();
  EXPECT_EQ(m.histogram.sample_count, uint64_t{kThreads} * kEach);
  EXPECT_DOUBLE_EQ(m.histogram.sample_sum, (0 + 1 + 2 + 0) * double{kEach});
  EXPECT_EQ(m.histogram.bucket[0].cumulative_count, uint64_t{3} * kEach);  // 0, 1, 0 are <= 1
  EXPECT_EQ(m.histogram.bucket[1].cumulative_count, uint64_t{kThreads} * kEach);
}

}  // namespace
}  // namespace sidecar::stats
