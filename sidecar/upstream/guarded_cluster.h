#pragma once
// Every cluster sits behind a GuardedCluster (the cluster manager wraps them): a decorator that
// applies the cluster's circuit breaker (limits, consecutive-failure ejection, half-open probe) and
// keeps its retry budget, so each kind (legacy_http, nats, native) gets the same resilience
// without knowing about it.
//
// Refusals never touch the upstream and complete on the next loop iteration: an open breaker
// answers in microseconds, as UNAVAILABLE with reason circuit_open / max_requests.
// Dispatcher thread only.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/resilience/circuit_breaker.h"
#include "sidecar/resilience/retry_budget.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::upstream {

class GuardedCluster final : public Cluster {
 public:
  GuardedCluster(ClusterPtr inner, const config::CircuitBreakersConfig& breaker,
                 const config::RetryBudgetConfig& budget, event::Dispatcher& dispatcher, stats::Metrics& metrics);
  ~GuardedCluster() override;

  const std::string& name() const override { return inner_->name(); }
  std::string_view kind() const override { return inner_->kind(); }
  bool Healthy() const override { return inner_->Healthy(); }
  // The inner cluster's detail, plus the breaker when it is not closed.
  std::string HealthDetail() const override;

  // A first attempt: counts toward the retry budget; refused (posted) when the breaker is open or
  // at max_requests.
  Cancellable* Send(const http::Request& request, ResponseCallback done) override;

  // Whether the retry budget allows one more retry now (the retry is counted when true).
  bool TryReserveRetry();
  // A retry (after TryReserveRetry). When the breaker refuses it (open, max_requests or
  // max_retries) returns nullptr, sets `*refused` to the reason and never calls `done`: the caller
  // keeps the failure it was retrying.
  Cancellable* SendRetry(const http::Request& request, ResponseCallback done, std::string_view* refused);

  resilience::BreakerState breaker_state() const;
  Cluster& inner() { return *inner_; }

 private:
  class Attempt;
  class Refusal;

  // A first attempt through the breaker: the attempt, or a refusal that fails it (posted).
  Cancellable* Admit(const http::Request& request, ResponseCallback done,
                     std::chrono::steady_clock::time_point now);
  void OnAttemptDone(const resilience::BreakerTicket& ticket, bool failure);
  void OnAttemptCancelled(const resilience::BreakerTicket& ticket);
  void Refuse(resilience::Admission why);
  // Publishes the breaker state to metrics and logs when it changed. `now` is the caller's clock
  // reading: a request reads the clock once per step, not once per call.
  void SyncState(std::chrono::steady_clock::time_point now);

  ClusterPtr inner_;
  event::Dispatcher& dispatcher_;
  resilience::CircuitBreaker breaker_;
  resilience::RetryBudget budget_;
  resilience::BreakerState last_state_ = resilience::BreakerState::kClosed;
  stats::Metrics& metrics_;
  prometheus::Gauge& open_gauge_;
};

// True when an attempt's outcome counts as an upstream failure for ejection: a transport failure
// (not a local refusal) or a 5xx response.
bool IsUpstreamFailure(const absl::StatusOr<http::Response>& result);

}  // namespace sidecar::upstream
