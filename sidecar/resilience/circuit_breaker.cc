#include "sidecar/resilience/circuit_breaker.h"

namespace sidecar::resilience {

std::string_view BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "unknown";
}

std::string_view AdmissionName(Admission admission) {
  switch (admission) {
    case Admission::kAdmitted: return "admitted";
    case Admission::kCircuitOpen: return "circuit_open";
    case Admission::kMaxRequests: return "max_requests";
    case Admission::kMaxRetries: return "max_retries";
  }
  return "unknown";
}

void CircuitBreaker::ProbeNow(Clock::time_point now) {
  if (open_ && now < open_until_) open_until_ = now;
}

BreakerState CircuitBreaker::state(Clock::time_point now) const {
  if (!open_) return BreakerState::kClosed;
  return now < open_until_ ? BreakerState::kOpen : BreakerState::kHalfOpen;
}

Admission CircuitBreaker::TryAdmit(Clock::time_point now, bool is_retry, BreakerTicket* ticket) {
  switch (state(now)) {
    case BreakerState::kOpen:
      return Admission::kCircuitOpen;
    case BreakerState::kHalfOpen:
      // One probe at a time decides; everyone else keeps failing fast meanwhile.
      if (probe_in_flight_) return Admission::kCircuitOpen;
      break;
    case BreakerState::kClosed:
      break;
  }
  if (active_requests_ >= config_.max_requests) return Admission::kMaxRequests;
  if (is_retry && active_retries_ >= config_.max_retries) return Admission::kMaxRetries;
  ticket->retry = is_retry;
  ticket->probe = open_;
  if (ticket->probe) probe_in_flight_ = true;
  ++active_requests_;
  if (is_retry) ++active_retries_;
  return Admission::kAdmitted;
}

void CircuitBreaker::OnCancelled(const BreakerTicket& ticket) {
  --active_requests_;
  if (ticket.retry) --active_retries_;
  if (ticket.probe) probe_in_flight_ = false;
}

void CircuitBreaker::OnComplete(Clock::time_point now, const BreakerTicket& ticket, bool failure) {
  --active_requests_;
  if (ticket.retry) --active_retries_;
  if (ticket.probe) {
    probe_in_flight_ = false;
    if (failure) {
      open_until_ = now + config_.open_interval;
    } else {
      open_ = false;
      consecutive_failures_ = 0;
    }
    return;
  }
  // Requests admitted before the breaker opened may complete while it is open: they decide nothing.
  if (open_) return;
  if (!failure) {
    consecutive_failures_ = 0;
    return;
  }
  ++consecutive_failures_;
  if (config_.consecutive_failures > 0 && consecutive_failures_ >= config_.consecutive_failures) {
    open_ = true;
    open_until_ = now + config_.open_interval;
  }
}

}  // namespace sidecar::resilience
