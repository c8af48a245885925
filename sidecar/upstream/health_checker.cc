#include "sidecar/upstream/health_checker.h"

#include "absl/strings/str_cat.h"
#include "sidecar/common/logging.h"

namespace sidecar::upstream {

absl::StatusOr<std::unique_ptr<HealthChecker>> HealthChecker::Create(
    const config::HealthCheckConfig& cfg, const ConnectionOptions& upstream,
    std::string host_header, const std::string& cluster_name, event::Dispatcher& dispatcher,
    stats::Metrics& metrics) {
  if (cfg.path.empty() || cfg.path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster ", cluster_name, ": health_check.path must start with '/'"));
  }
  if (cfg.interval_ms <= 0 || cfg.timeout_ms <= 0 || cfg.healthy_threshold <= 0 ||
      cfg.unhealthy_threshold <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster ", cluster_name, ": health_check interval, timeout and thresholds must be > 0"));
  }
  ConnectionOptions options = upstream;
  options.connect_timeout = std::chrono::milliseconds(cfg.timeout_ms);
  // Backstop only: the check's own timer fires first.
  options.io_timeout = std::chrono::milliseconds(cfg.timeout_ms + cfg.interval_ms + 1000);
  auto& gauge = metrics.upstream_healthy.Add({{"cluster", cluster_name}});
  auto& successes =
      metrics.health_checks_total.Add({{"cluster", cluster_name}, {"result", "success"}});
  auto& failures =
      metrics.health_checks_total.Add({{"cluster", cluster_name}, {"result", "failure"}});
  std::unique_ptr<HealthChecker> checker(new HealthChecker(
      cfg, options, std::move(host_header), cluster_name, dispatcher, gauge, successes, failures));
  checker->interval_timer_->Enable(std::chrono::milliseconds(0));
  return checker;
}

HealthChecker::HealthChecker(const config::HealthCheckConfig& cfg, const ConnectionOptions& options,
                             std::string host_header, std::string cluster_name,
                             event::Dispatcher& dispatcher, prometheus::Gauge& healthy_gauge,
                             prometheus::Counter& successes, prometheus::Counter& failures)
    : cfg_(cfg),
      options_(options),
      host_header_(std::move(host_header)),
      cluster_name_(std::move(cluster_name)),
      dispatcher_(dispatcher),
      healthy_gauge_(healthy_gauge),
      successes_(successes),
      failures_(failures),
      state_(cfg.healthy_threshold, cfg.unhealthy_threshold) {
  healthy_gauge_.Set(0);
  interval_timer_ = dispatcher_.CreateTimer([this] { RunCheck(); });
  timeout_timer_ = dispatcher_.CreateTimer([this] { OnCheckTimeout(); });
}

HealthChecker::~HealthChecker() { DropConnection(); }

std::string HealthChecker::detail() const {
  if (state_.recovering()) {
    return absl::StrCat("recovering: ", state_.consecutive_passes(), "/", cfg_.healthy_threshold,
                        " checks passed");
  }
  return last_detail_;
}

void HealthChecker::DropConnection() {
  HttpClientConnection::DeferredDestroy(dispatcher_, std::move(connection_));
  in_flight_ = false;
}

void HealthChecker::RunCheck() {
  if (connection_ != nullptr && (!connection_->usable() || !connection_->open())) DropConnection();
  if (connection_ == nullptr) {
    auto created = HttpClientConnection::Create(dispatcher_, options_, *this);
    if (!created.ok()) {
      Conclude(false, "internal: " + std::string(created.status().message()));
      return;
    }
    connection_ = *std::move(created);
  }
  WireRequest request(EVHTTP_REQ_GET, cfg_.path);
  absl::Status started = request.AddHeader("Host", host_header_);
  if (started.ok()) started = request.AddHeader("User-Agent", "nats-sidecar-health-check");
  if (started.ok()) started = connection_->Start(request);
  if (!started.ok()) {
    DropConnection();
    Conclude(false, std::string(FailureKindName(GetFailureKind(started))));
    return;
  }
  in_flight_ = true;
  timeout_timer_->Enable(std::chrono::milliseconds(cfg_.timeout_ms));
}

void HealthChecker::OnCheckTimeout() {
  if (!in_flight_) return;
  // The answer may still come; the connection's state is unknown, so abandon it.
  DropConnection();
  Conclude(false, "timeout");
}

void HealthChecker::OnComplete(HttpClientConnection& connection,
                               absl::StatusOr<http::Response> result) {
  if (&connection != connection_.get() || !in_flight_) return;
  in_flight_ = false;
  timeout_timer_->Disable();
  if (!connection.usable() || !connection.open()) DropConnection();
  if (!result.ok()) {
    Conclude(false, std::string(FailureKindName(GetFailureKind(result.status()))));
  } else if (result->status < 200 || result->status > 299) {
    Conclude(false, absl::StrCat("status ", result->status));
  } else {
    Conclude(true, "ok");
  }
}

void HealthChecker::OnIdleClose(HttpClientConnection& connection) {
  if (&connection == connection_.get()) DropConnection();
}

void HealthChecker::Conclude(bool passed, std::string why) {
  interval_timer_->Enable(std::chrono::milliseconds(cfg_.interval_ms));
  last_detail_ = std::move(why);
  (passed ? successes_ : failures_).Increment();
  if (!state_.Record(passed)) return;
  healthy_gauge_.Set(state_.healthy() ? 1 : 0);
  const std::string now_detail = detail();
  log::Info(state_.healthy() ? "upstream healthy" : "upstream unhealthy",
            {{"cluster", cluster_name_}, {"path", cfg_.path}, {"detail", now_detail}});
  if (on_change_) on_change_(state_.healthy());
}

}  // namespace sidecar::upstream
