#pragma once
// Exponential backoff with full jitter (the AWS architecture blog's "full jitter"): the wait before
// retry n (n >= 1) is uniform in [0, min(max, base * 2^(n-1))]. Full jitter spreads retries of many
// callers that failed together, so a recovering upstream is not hit by synchronised waves.

#include <chrono>
#include <cstdint>

namespace sidecar::resilience {

struct BackoffPolicy {
  std::chrono::milliseconds base{25};
  std::chrono::milliseconds max{250};
};

// The cap for retry `retry` (1-based): min(max, base * 2^(retry-1)), without overflow.
std::chrono::milliseconds BackoffCap(const BackoffPolicy& policy, int retry);
// A full-jitter wait for retry `retry`; `unit_random` in [0, 1) (injected, so tests are exact).
std::chrono::milliseconds FullJitterBackoff(const BackoffPolicy& policy, int retry, double unit_random);
// The same with a thread-local random source.
std::chrono::milliseconds FullJitterBackoff(const BackoffPolicy& policy, int retry);

}  // namespace sidecar::resilience
