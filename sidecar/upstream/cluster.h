#pragma once
// A cluster answers requests from the request model. legacy_http (here), nats and native (later issues)
// all implement this one interface; adding a kind touches no other kind.

#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/http/message.h"

namespace sidecar::upstream {

// Why an upstream attempt failed, for retry policy and metrics. Carried as a payload on the Status.
enum class FailureKind {
  kNone,
  kConnectFailure,   // connection refused / unreachable -> UNAVAILABLE
  kReset,            // connection closed mid-exchange -> UNAVAILABLE
  kTimeout,          // deadline reached -> DEADLINE_EXCEEDED
  kNoResponders,     // NATS: nobody subscribed -> UNAVAILABLE
  kOverflow,         // local limits (pool/pending full) -> UNAVAILABLE
  kProtocolError,    // malformed or oversized response -> UNAVAILABLE
  kNoHealthyUpstream,
  kCircuitOpen,      // the cluster's breaker is open: refused without trying -> UNAVAILABLE
  kMaxRequests,      // the cluster's breaker limit on requests in flight -> UNAVAILABLE
};

std::string_view FailureKindName(FailureKind kind);
// Builds the Status for a failure: code from the kind, message `detail`, the kind as payload.
absl::Status UpstreamFailure(FailureKind kind, std::string_view detail);
FailureKind GetFailureKind(const absl::Status& status);

// Called exactly once, on the dispatcher thread, never inline from Send(). A response with any HTTP status
// (including 4xx/5xx) is a value; only transport failures are errors.
using ResponseCallback = absl::AnyInvocable<void(absl::StatusOr<http::Response>) &&>;

class Cancellable {
 public:
  virtual ~Cancellable() = default;
  // After Cancel() the callback never runs. Valid only until the callback ran.
  virtual void Cancel() = 0;
};

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual const std::string& name() const = 0;
  // The cluster's kind as a route override names it: "legacy", "nats" or "native".
  virtual std::string_view kind() const = 0;
  // Dispatcher thread only. The request is copied or consumed as the cluster needs; the returned handle
  // stays valid until `done` runs or Cancel() is called.
  virtual Cancellable* Send(const http::Request& request, ResponseCallback done) = 0;
  // False only while an active health check says the upstream is down.
  virtual bool Healthy() const = 0;
  // One line for /ready: why the cluster is (un)healthy, e.g. the last health-check failure.
  virtual std::string HealthDetail() const { return Healthy() ? "healthy" : "unhealthy"; }
  // `on_recovered` runs (dispatcher thread) whenever the cluster learns its upstream is reachable
  // again, e.g. the NATS connection under a nats cluster reconnected; the breaker in front then
  // probes at once. Kinds without such a signal ignore it.
  virtual void SetOnRecovered(absl::AnyInvocable<void()> on_recovered) { (void)on_recovered; }
};
using ClusterPtr = std::unique_ptr<Cluster>;

}  // namespace sidecar::upstream
