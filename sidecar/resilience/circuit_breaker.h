#pragma once
// A cluster's circuit breaker: Envoy's resource limits plus consecutive-failure ejection.
//
//   limits    at most max_requests in flight and max_retries retries in flight; beyond them the
//             request is refused at once (never queued), reason "max_requests" / "max_retries".
//   ejection  `consecutive_failures` failures in a row (transport errors, 5xx) open the breaker:
//             every request is refused with reason "circuit_open" for `open_interval`. Then it is
//             half-open: exactly one probe is let through; a success closes the breaker, a failure
//             opens it for another interval.
//
// Pure state (the clock is passed in), so tests drive it exactly. Not thread-safe: one per
// cluster, used on the cluster's dispatcher.

#include <chrono>
#include <cstdint>
#include <string_view>

namespace sidecar::resilience {

struct CircuitBreakerConfig {
  int64_t max_requests = 1024;
  int64_t max_retries = 64;
  int64_t consecutive_failures = 5;  // 0: never eject
  std::chrono::milliseconds open_interval{60000};
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
std::string_view BreakerStateName(BreakerState state);

// Why a request was refused; kAdmitted when it may go.
enum class Admission { kAdmitted, kCircuitOpen, kMaxRequests, kMaxRetries };
std::string_view AdmissionName(Admission admission);

// What an admitted request holds until it completes.
struct BreakerTicket {
  bool retry = false;
  bool probe = false;  // the one half-open request whose outcome opens or closes the breaker
};

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  explicit CircuitBreaker(CircuitBreakerConfig config) : config_(config) {}

  // Asks to send one request (a retry when `is_retry`). On kAdmitted `ticket` is filled and the
  // caller must call OnComplete exactly once with it.
  Admission TryAdmit(Clock::time_point now, bool is_retry, BreakerTicket* ticket);
  // The outcome of an admitted request: `failure` for a transport error or a 5xx.
  void OnComplete(Clock::time_point now, const BreakerTicket& ticket, bool failure);
  // An admitted request abandoned before its outcome (the caller went away): frees its slots and
  // decides nothing (a cancelled probe lets the next request probe).
  void OnCancelled(const BreakerTicket& ticket);

  // The upstream is known to be back (its transport reconnected): an open breaker lets the next
  // request probe at once instead of waiting out open_interval. No-op unless open.
  void ProbeNow(Clock::time_point now);

  // The state as of `now` (an open breaker whose interval passed reads as half-open).
  BreakerState state(Clock::time_point now) const;
  int64_t active_requests() const { return active_requests_; }
  int64_t active_retries() const { return active_retries_; }
  int64_t consecutive_failures() const { return consecutive_failures_; }
  const CircuitBreakerConfig& config() const { return config_; }

 private:
  CircuitBreakerConfig config_;
  int64_t active_requests_ = 0;
  int64_t active_retries_ = 0;
  int64_t consecutive_failures_ = 0;
  bool open_ = false;
  Clock::time_point open_until_{};
  bool probe_in_flight_ = false;
};

}  // namespace sidecar::resilience
