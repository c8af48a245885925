#include "sidecar/stats/histogram.h"

#include <limits>
#include <utility>

namespace sidecar::stats {

Histogram::Histogram(BucketBoundaries bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

prometheus::ClientMetric Histogram::Collect() const {
  prometheus::ClientMetric metric;
  uint64_t cumulative = 0;
  metric.histogram.bucket.reserve(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    prometheus::ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound = i < bounds_.size() ? bounds_[i] : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back(bucket);
  }
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = sum_.load(std::memory_order_relaxed);
  return metric;
}

HistogramFamily::HistogramFamily(HistogramRegistry& registry, std::string name, std::string help)
    : HistogramFamily(std::move(name), std::move(help)) {
  registry.families_.push_back(this);
}

Histogram& HistogramFamily::Add(const Labels& labels, const Histogram::BucketBoundaries& bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Histogram>& child = children_[labels];
  if (child == nullptr) child = std::make_unique<Histogram>(bounds);
  return *child;
}

std::vector<prometheus::MetricFamily> HistogramFamily::Collect() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (children_.empty()) return {};
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = prometheus::MetricType::Histogram;
  for (const auto& [labels, child] : children_) {
    prometheus::ClientMetric metric = child->Collect();
    for (const auto& [name, value] : labels) metric.label.push_back({name, value});
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

std::vector<prometheus::MetricFamily> HistogramRegistry::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  for (const HistogramFamily* family : families_) {
    for (prometheus::MetricFamily& collected : family->Collect()) out.push_back(std::move(collected));
  }
  return out;
}

}  // namespace sidecar::stats
