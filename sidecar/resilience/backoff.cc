#include "sidecar/resilience/backoff.h"

#include <algorithm>
#include <random>

namespace sidecar::resilience {

std::chrono::milliseconds BackoffCap(const BackoffPolicy& policy, int retry) {
  int64_t cap = std::max<int64_t>(policy.base.count(), 0);
  for (int i = 1; i < retry && cap < policy.max.count(); ++i) cap *= 2;
  return std::chrono::milliseconds(std::min<int64_t>(cap, policy.max.count()));
}

std::chrono::milliseconds FullJitterBackoff(const BackoffPolicy& policy, int retry, double unit_random) {
  const double cap = static_cast<double>(BackoffCap(policy, retry).count());
  const double clamped = std::clamp(unit_random, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(cap * clamped));
}

std::chrono::milliseconds FullJitterBackoff(const BackoffPolicy& policy, int retry) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return FullJitterBackoff(policy, retry, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
}

}  // namespace sidecar::resilience
