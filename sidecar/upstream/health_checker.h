#pragma once
// Active HTTP health check of one legacy upstream: GET <path> every interval, 2xx = pass. It uses a
// dedicated connection, so a saturated pool neither delays the check nor is relieved by it.
//
// State machine (Envoy's): starts unhealthy; the first pass ever marks it healthy at once (so a
// sidecar becomes ready as soon as its app answers); afterwards `unhealthy_threshold` consecutive
// failures mark it unhealthy and `healthy_threshold` consecutive passes mark it healthy again.
// Dispatcher thread only; all waiting is done with timers.

#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/health_state.h"
#include "sidecar/upstream/http_client_connection.h"

namespace sidecar::upstream {

class HealthChecker final : private HttpClientConnection::Callbacks {
 public:
  // `upstream` is the cluster's connection options (timeouts are replaced by the check's own);
  // `host_header` is sent as Host. The first check runs on the next loop iteration.
  static absl::StatusOr<std::unique_ptr<HealthChecker>> Create(const config::HealthCheckConfig& cfg,
                                                               const ConnectionOptions& upstream,
                                                               std::string host_header,
                                                               const std::string& cluster_name,
                                                               event::Dispatcher& dispatcher,
                                                               stats::Metrics& metrics);
  ~HealthChecker() override;

  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  bool healthy() const { return state_.healthy(); }
  // Why, in a few words: "ok", "status 500", "connect_failure", "timeout", "not checked yet".
  std::string detail() const;
  // Runs on every healthy <-> unhealthy transition, on the dispatcher thread. It must not destroy
  // the cluster that owns this checker.
  void SetOnChange(absl::AnyInvocable<void(bool healthy)> on_change) {
    on_change_ = std::move(on_change);
  }

 private:
  HealthChecker(const config::HealthCheckConfig& cfg, const ConnectionOptions& options,
                std::string host_header, std::string cluster_name, event::Dispatcher& dispatcher,
                prometheus::Gauge& healthy_gauge, prometheus::Counter& successes,
                prometheus::Counter& failures);

  void RunCheck();
  void OnCheckTimeout();
  void OnComplete(HttpClientConnection& connection, absl::StatusOr<http::Response> result) override;
  void OnIdleClose(HttpClientConnection& connection) override;
  // Schedules the next check, then records the result (which may run on_change_ last).
  void Conclude(bool passed, std::string why);
  void DropConnection();

  const config::HealthCheckConfig cfg_;
  const ConnectionOptions options_;
  const std::string host_header_;
  const std::string cluster_name_;
  event::Dispatcher& dispatcher_;
  prometheus::Gauge& healthy_gauge_;
  prometheus::Counter& successes_;
  prometheus::Counter& failures_;

  std::unique_ptr<HttpClientConnection> connection_;
  event::TimerPtr interval_timer_;
  event::TimerPtr timeout_timer_;
  bool in_flight_ = false;

  HealthState state_;
  std::string last_detail_ = "not checked yet";
  absl::AnyInvocable<void(bool)> on_change_;
};

}  // namespace sidecar::upstream
