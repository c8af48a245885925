#include "sidecar/cutover/guard.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace sidecar::cutover {

const char* GuardRule::name() const {
  switch (kind) {
    case Kind::kErrorRate: return "error_rate";
    case Kind::kP99Latency: return "p99_latency";
    case Kind::kMismatchRate: return "mismatch_rate";
  }
  return "unknown";
}

std::string Breach::ToString() const {
  const char* unit = rule == "p99_latency" ? "ms" : "%";
  return absl::StrCat(rule, " ", observed, unit, " > ", threshold, unit, " over ", requests,
                      rule == "mismatch_rate" ? " comparisons" : " requests");
}

RouteGuard::RouteGuard(std::vector<GuardRule> rules, size_t max_samples)
    : rules_(std::move(rules)), max_samples_(max_samples) {
  for (const GuardRule& r : rules_) longest_ = std::max(longest_, r.window);
}

void RouteGuard::RecordRequest(Clock::time_point now, bool ok, std::chrono::microseconds latency) {
  requests_.push_back({now, ok, latency});
  if (requests_.size() > max_samples_) requests_.pop_front();
}

void RouteGuard::RecordShadow(Clock::time_point now, bool matched) {
  shadows_.push_back({now, matched});
  if (shadows_.size() > max_samples_) shadows_.pop_front();
}

void RouteGuard::Reset() {
  requests_.clear();
  shadows_.clear();
}

void RouteGuard::Trim(Clock::time_point now) {
  while (!requests_.empty() && now - requests_.front().at > longest_) requests_.pop_front();
  while (!shadows_.empty() && now - shadows_.front().at > longest_) shadows_.pop_front();
}

std::optional<Breach> RouteGuard::Evaluate(Clock::time_point now) {
  Trim(now);
  for (const GuardRule& rule : rules_) {
    const Clock::time_point since = now - rule.window;
    Breach b;
    b.rule = rule.name();
    b.threshold = rule.max;
    switch (rule.kind) {
      case GuardRule::Kind::kErrorRate: {
        int64_t failed = 0;
        for (auto it = requests_.rbegin(); it != requests_.rend() && it->at >= since; ++it) {
          ++b.requests;
          if (!it->ok) ++failed;
        }
        if (b.requests < rule.min_requests) continue;
        b.observed = 100.0 * static_cast<double>(failed) / static_cast<double>(b.requests);
        break;
      }
      case GuardRule::Kind::kP99Latency: {
        std::vector<int64_t> us;
        for (auto it = requests_.rbegin(); it != requests_.rend() && it->at >= since; ++it) {
          us.push_back(it->latency.count());
        }
        b.requests = static_cast<int64_t>(us.size());
        if (b.requests < rule.min_requests || us.empty()) continue;
        // Nearest rank: the smallest value with at least 99 % of the samples at or below it.
        const size_t rank = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(us.size()))) - 1;
        std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(rank), us.end());
        b.observed = static_cast<double>(us[rank]) / 1000.0;
        break;
      }
      case GuardRule::Kind::kMismatchRate: {
        int64_t mismatched = 0;
        for (auto it = shadows_.rbegin(); it != shadows_.rend() && it->at >= since; ++it) {
          ++b.requests;
          if (!it->matched) ++mismatched;
        }
        if (b.requests < rule.min_requests) continue;
        b.observed = 100.0 * static_cast<double>(mismatched) / static_cast<double>(b.requests);
        break;
      }
    }
    if (b.observed > rule.max) return b;
  }
  return std::nullopt;
}

}  // namespace sidecar::cutover
