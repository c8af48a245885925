#pragma once
// The legacy-http cluster: a keep-alive connection pool to one colocated HTTP/JSON service, on
// our own HTTP/1.1 client (HttpClientConnection). Each connection carries one request at a time (no pipelining); idle
// connections are reused; when all max_connections are busy, requests wait in a FIFO of at most
// max_pending_requests; beyond that they fail fast with kOverflow.
//
// Every request has one timer, min(request.deadline, now + request_timeout_ms), covering both the
// wait for a connection and the exchange. A request abandoned mid-exchange (timeout, Cancel) takes
// its connection with it: what is left on that socket is unknown.
//
// Dispatcher thread only. Callbacks run on it, never inline from Send(), exactly once, never after
// Cancel() and never after the cluster is destroyed.

#include <array>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "sidecar/stats/histogram.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster.h"
#include "sidecar/upstream/health_checker.h"
#include "sidecar/upstream/http_client_connection.h"

namespace sidecar::upstream {

class LegacyHttpCluster final : public Cluster, private HttpClientConnection::Callbacks {
 public:
  // `cfg.legacy_http` must be set. Resolves the address once, here (a failure is an error), and
  // starts the health checker when one is configured.
  static absl::StatusOr<std::unique_ptr<LegacyHttpCluster>> Create(const config::ClusterConfig& cfg,
                                                                   event::Dispatcher& dispatcher,
                                                                   stats::Metrics& metrics);
  ~LegacyHttpCluster() override;

  LegacyHttpCluster(const LegacyHttpCluster&) = delete;
  LegacyHttpCluster& operator=(const LegacyHttpCluster&) = delete;

  // Cluster
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "legacy"; }
  Cancellable* Send(const http::Request& request, ResponseCallback done) override;
  // True when no health check is configured.
  bool Healthy() const override;

  // Runs on every health transition (never when no health check is configured), so readiness can
  // follow at once. Must not destroy this cluster.
  void SetOnChange(absl::AnyInvocable<void(bool healthy)> on_change);
  // For /ready: "ok", "status 500", "connect_failure", "timeout", ...; "no health check" when none.
  std::string HealthDetail() const override;

  // Introspection for tests and /clusters.
  size_t idle_connections() const { return idle_.size(); }
  size_t busy_connections() const { return busy_.size(); }
  size_t pending_requests() const { return pending_.size(); }

 private:
  class Request;
  class Stream;
  struct RequestTimer;
  using RequestPtr = std::unique_ptr<Request>;
  using RequestTimerPtr = std::unique_ptr<RequestTimer>;
  using ConnectionPtr = std::unique_ptr<HttpClientConnection>;
  struct Busy {
    ConnectionPtr connection;
    RequestPtr request;       // until the response (or its streamed head) arrives
    Stream* stream = nullptr;  // a streamed body still being read; owned by the consumer
  };

  LegacyHttpCluster(const config::ClusterConfig& cfg, ConnectionOptions options,
                    std::string host_header, event::Dispatcher& dispatcher,
                    stats::Metrics& metrics);

  // Serialises `request` for the legacy service: hop-by-hop headers dropped, Host, Content-Length
  // and X-Deadline-Ms (`timeout`) set by us.
  absl::StatusOr<WireRequest> BuildWireRequest(const http::Request& request,
                                               std::chrono::milliseconds timeout) const;
  // An idle connection, or a new one while under max_connections; null when the pool is full.
  ConnectionPtr AcquireConnection();
  void Dispatch(RequestPtr request, ConnectionPtr connection);
  void ProcessPending();
  void Retire(ConnectionPtr connection);
  // Completes `request` from a posted task (never inline from Send()).
  void CompleteLater(RequestPtr request, absl::Status failure);
  void FlushImmediate();
  // Records metrics, destroys `request`, then runs its callback: the caller must not touch `this`
  // afterwards (the callback may destroy the cluster).
  void Complete(RequestPtr request, absl::StatusOr<http::Response> result);
  void OnRequestTimeout(Request& request);
  // A deadline timer for `request`: a spare one when there is one (see spare_timers_).
  RequestTimerPtr TakeTimer(Request& request);
  void ReturnTimer(RequestTimerPtr timer);
  void CancelRequest(Request& request);
  prometheus::Counter& OutcomeCounter(const absl::StatusOr<http::Response>& result);

  // HttpClientConnection::Callbacks
  void OnComplete(HttpClientConnection& connection, absl::StatusOr<http::Response> result) override;
  void OnIdleClose(HttpClientConnection& connection) override;
  void OnStreamHead(HttpClientConnection& connection, http::Response head) override;
  void OnBodyChunk(HttpClientConnection& connection, std::string chunk) override;
  // The consumer dropped a streamed body before its end: close the connection (the legacy process
  // sees the client go away) and free its slot.
  void AbandonStream(HttpClientConnection* connection);

  const std::string name_;
  const config::LegacyHttpClusterConfig cfg_;
  const ConnectionOptions options_;
  const std::string host_header_;  // "host:port" as configured
  event::Dispatcher& dispatcher_;
  stats::Metrics& metrics_;

  // Timers of finished requests, kept for the next ones. A timer disabled lazily keeps its libevent
  // registration, so the next request with the same timeout arms it with no event_add, and no
  // event_new/event_free either: together 4 % of the pass-through's instructions (callgrind).
  // Declared before the request containers: their requests return timers while being destroyed.
  std::vector<RequestTimerPtr> spare_timers_;

  std::vector<ConnectionPtr> idle_;  // most recently used last
  absl::flat_hash_map<HttpClientConnection*, Busy> busy_;
  std::list<RequestPtr> pending_;    // FIFO waiting for a connection
  std::list<RequestPtr> immediate_;  // completed locally, delivered by a posted task
  bool flush_posted_ = false;
  // Posted tasks outlive the cluster; they check this first. The one shared_ptr here: liveness
  // across the dispatcher's queue.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::unique_ptr<HealthChecker> health_checker_;

  // Metric children, resolved once (Family::Add takes a lock).
  prometheus::Gauge& cx_active_;
  prometheus::Gauge& cx_busy_;
  prometheus::Counter& cx_total_;
  prometheus::Gauge& rq_pending_;
  stats::Histogram& rq_duration_;
  std::array<prometheus::Counter*, 6> rq_by_class_{};    // [status / 100], 2..5 used
  std::array<prometheus::Counter*, 8> rq_by_failure_{};  // [FailureKind]
  prometheus::Counter& rq_cancelled_;
  prometheus::Counter& rq_invalid_;
};

}  // namespace sidecar::upstream
