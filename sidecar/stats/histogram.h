#pragma once
// A Prometheus histogram whose Observe takes no lock, and its labelled family.
//
// prometheus-cpp 1.0's Histogram::Observe locks a std::mutex, then bumps a Counter for the bucket
// and a Gauge for the sum, each a compare-and-swap loop on a double: about 180 instructions, and
// every request pays it at each listener and cluster it crosses (two on the pass-through, four on
// the gateway path). Here a bucket is an atomic integer bumped with one relaxed fetch_add and the
// sum one compare-and-swap; a scrape reads them without stopping writers, so a scrape may see a
// bucket count and a sum from slightly different moments, which Prometheus histograms tolerate
// (prometheus-cpp's own Collect reads bucket by bucket as well).
//
// The family mirrors prometheus::Family<Histogram>'s Add and Collect, so call sites read the same.
// prometheus-cpp 1.0's Registry cannot hold a foreign collectable, so families join a
// HistogramRegistry instead, and Metrics::SerializeText appends its families to the Registry's.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"

namespace sidecar::stats {

class Histogram {
 public:
  using BucketBoundaries = std::vector<double>;
  // `bounds` ascending; a value v counts in the first bucket with v <= bound (Prometheus's `le`),
  // or in +Inf.
  explicit Histogram(BucketBoundaries bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value) {
    size_t i = 0;
    const size_t n = bounds_.size();
    while (i < n && value > bounds_[i]) ++i;  // NaN lands in the first bucket, as in prometheus-cpp
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    double sum = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
      // `sum` now holds the value another writer left: add to that
    }
  }
  // Cumulative buckets (the last is +Inf), sample count and sum, as prometheus::Histogram gives.
  prometheus::ClientMetric Collect() const;

 private:
  const BucketBoundaries bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1, the last for +Inf
  std::atomic<double> sum_{0};
};

class HistogramRegistry;

class HistogramFamily {
 public:
  using Labels = std::map<std::string, std::string>;
  HistogramFamily(std::string name, std::string help) : name_(std::move(name)), help_(std::move(help)) {}
  // Joins `registry`, which keeps a pointer to this family: every Collect of `registry` must happen
  // while the family lives (Metrics destroys both together and collects neither while it does).
  HistogramFamily(HistogramRegistry& registry, std::string name, std::string help);
  HistogramFamily(const HistogramFamily&) = delete;
  HistogramFamily& operator=(const HistogramFamily&) = delete;

  // The child for `labels`, created with `bounds` on first use (later bounds are ignored, as in
  // prometheus-cpp). Takes the family's lock: hot paths keep the reference. Thread-safe.
  Histogram& Add(const Labels& labels, const Histogram::BucketBoundaries& bounds);
  // One family with a series per child; none when the family has no child yet (as prometheus-cpp).
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  const std::string name_, help_;
  mutable std::mutex mu_;
  std::map<Labels, std::unique_ptr<Histogram>> children_;  // guarded by mu_
};

// The families of one scrape, in the order they joined: what prometheus::Registry is for its own
// families. A family joins when it is constructed, so a new histogram cannot be left out of the
// scrape. Joining is not thread-safe: families join while their owner is being built.
class HistogramRegistry {
 public:
  HistogramRegistry() = default;
  HistogramRegistry(const HistogramRegistry&) = delete;
  HistogramRegistry& operator=(const HistogramRegistry&) = delete;

  // Every joined family that has a child. Thread-safe once the families have joined.
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  friend class HistogramFamily;
  std::vector<const HistogramFamily*> families_;
};

}  // namespace sidecar::stats
