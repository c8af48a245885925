#pragma once
// The `nats` cluster: sends a request over NATS request/reply (svc.<service>.v1.<action>, or a
// fixed subject) and turns the reply into a Response. The HTTP gateway and egress listeners route
// to it; the router falls back to legacy HTTP when it fails with kNoResponders.
//
//   reply                      Response (see DecodeReply: X-Http-Status / Nats-Service-Error-Code)
//   nobody subscribed          UNAVAILABLE, FailureKind::kNoResponders  (fast: nats-server's 503)
//   no reply by the deadline   DEADLINE_EXCEEDED, kTimeout
//   NATS not connected         UNAVAILABLE, kConnectFailure, at once (not after the deadline)
//   reply status header bad    UNAVAILABLE, kProtocolError
//   request not encodable      INVALID_ARGUMENT with §0.4 details (no FailureKind)
// The deadline is min(request.deadline, now + timeout); X-Deadline-Ms carries what is left of it.
//
// Each cluster owns a RequestMux (one wildcard inbox subscription under its inbox prefix) on a
// shared Connection. Dispatcher thread only. Callbacks run on the dispatcher, exactly once, never
// inline from Send(), never after Cancel() and never after the cluster is destroyed. Destroy the
// cluster before the Connection.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "adapters/nats_http/client.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "sidecar/stats/histogram.h"
#include "sidecar/nats/connection.h"
#include "sidecar/nats/request_mux.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/config/config.h"
#include "sidecar/upstream/cluster.h"
#include "sidecar/upstream/health_state.h"

namespace sidecar::adapters::nats_http {

struct NatsClusterOptions {
  std::string name;  // cluster name: metrics label `cluster`, logs
  ClientMode mode = ClientMode::kAction;
  // Fixed subject ("svc.settings.v1.http"); "" -> svc.<service>.v1.<action> of each request.
  std::string subject;
  // Upper bound per request when the request's own deadline is later (or unset).
  std::chrono::milliseconds timeout{5000};
  // Replies arrive under <inbox_prefix>.<token>.*; "_INBOX.<service>" scopes NATS permissions.
  std::string inbox_prefix = "_INBOX";
  // Active check: a request to health_check->subject every interval (e.g. $SRV.PING.<service>,
  // which every sidecar listener answers); no responders or no reply in time fails it.
  std::optional<config::HealthCheckConfig> health_check;

  // The options a `nats:` cluster entry of the config describes (cc.nats must be set).
  static NatsClusterOptions FromConfig(const config::ClusterConfig& cc);
};

class NatsCluster final : public upstream::Cluster {
 public:
  // INVALID_ARGUMENT for an empty name, a timeout <= 0, a fixed subject that is not a plain NATS
  // subject (wildcards, spaces, empty tokens) or a bad inbox prefix.
  static absl::StatusOr<std::unique_ptr<NatsCluster>> Create(NatsClusterOptions options,
                                                             nats::Connection& connection,
                                                             stats::Metrics& metrics);
  ~NatsCluster() override;

  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  // Cluster
  const std::string& name() const override { return options_.name; }
  std::string_view kind() const override { return "nats"; }
  upstream::Cancellable* Send(const http::Request& request,
                              upstream::ResponseCallback done) override;
  // NATS connected and, with a health check, the check passing. Without one, whether anyone
  // answers a given subject shows per request (kNoResponders).
  bool Healthy() const override;
  std::string HealthDetail() const override;
  // Runs on every health-check transition (dispatcher thread).
  void SetOnChange(absl::AnyInvocable<void(bool healthy)> on_change) { on_change_ = std::move(on_change); }
  // Runs when the NATS connection (re)connects.
  void SetOnRecovered(absl::AnyInvocable<void()> on_recovered) override { on_recovered_ = std::move(on_recovered); }

  // Introspection for tests and /clusters.
  size_t in_flight() const { return requests_.size(); }
  const nats::RequestMux& mux() const { return *mux_; }

 private:
  class Request;

  NatsCluster(NatsClusterOptions options, nats::Connection& connection, stats::Metrics& metrics,
              nats::RequestMuxPtr mux);

  // Completes `id` from a posted task (never inline from Send()); Cancel() before it runs wins.
  void CompleteLater(uint64_t id, absl::Status failure);
  void OnMuxResult(uint64_t id, absl::StatusOr<nats::Message> result);
  // The first message of a streamed reply: the Response carries the rest as its stream.
  void OnStreamHead(uint64_t id, nats::Message first);
  // Records metrics, removes the request, then runs its callback: the caller must not touch
  // `this` afterwards (the callback may destroy the cluster).
  void Complete(uint64_t id, absl::StatusOr<http::Response> result);
  void CancelRequest(uint64_t id);
  prometheus::Counter& OutcomeCounter(const absl::StatusOr<http::Response>& result);
  void RunHealthCheck();
  void OnHealthCheck(absl::StatusOr<nats::Message> result);

  const NatsClusterOptions options_;
  const ClientOptions client_options_;
  nats::Connection& connection_;
  event::Dispatcher& dispatcher_;
  stats::Metrics& metrics_;
  nats::RequestMuxPtr mux_;

  absl::flat_hash_map<uint64_t, std::unique_ptr<Request>> requests_;
  uint64_t next_id_ = 0;
  // Posted completions outlive the cluster; they check this first.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  absl::AnyInvocable<void()> on_recovered_;
  int state_observer_ = 0;

  std::optional<upstream::HealthState> health_;  // with a health check only
  std::string health_detail_ = "not checked yet";
  event::TimerPtr health_timer_;
  absl::AnyInvocable<void(bool)> on_change_;
  prometheus::Gauge& healthy_gauge_;

  // Metric children, resolved once (Family::Add takes a lock).
  prometheus::Gauge& rq_in_flight_;  // upstream_rq_pending: sent and not answered yet
  stats::Histogram& rq_duration_;
  std::array<prometheus::Counter*, 6> rq_by_class_{};  // [status / 100], 1..5
  prometheus::Counter& rq_timeout_;
  prometheus::Counter& rq_no_responders_;
  prometheus::Counter& rq_unavailable_;
  prometheus::Counter& rq_protocol_error_;
  prometheus::Counter& rq_invalid_;
  prometheus::Counter& rq_cancelled_;
};

}  // namespace sidecar::adapters::nats_http
