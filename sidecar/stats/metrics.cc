#include "sidecar/stats/metrics.h"

#include <sstream>

#include "prometheus/text_serializer.h"
#include "sidecar/common/build_info.h"

namespace sidecar::stats {
namespace {

template <typename Builder>
auto& Register(Builder builder, const char* name, const char* help, prometheus::Registry& r) {
  return builder.Name(name).Help(help).Register(r);
}

constexpr char kDlqDepthHelp[] = "Messages in the dead-letter stream";
constexpr char kRollbacksHelp[] =
    "Automatic cut-over rollbacks written fleet-wide, by route service, action and rule";
constexpr char kShadowRequestsHelp[] = "Mirrored (shadow) requests, by route service, action and comparison result";

// Watched by alert rules but without series until the first event (no route with a shadow block
// yet): see SerializeText.
struct AnnouncedFamily {
  const char* name;
  const char* help;
  const char* type;
};
constexpr AnnouncedFamily kAnnouncedWhenEmpty[] = {
    {"sidecar_shadow_requests_total", kShadowRequestsHelp, "counter"},
    {"sidecar_dlq_depth", kDlqDepthHelp, "gauge"},  // only with events.consumers
    {"sidecar_rollbacks_total", kRollbacksHelp, "counter"},  // only after a cut-over rollback
};

}  // namespace

Histogram::BucketBoundaries Metrics::LatencyBuckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_total(Register(prometheus::BuildCounter(), "sidecar_requests_total",
                              "Requests handled, by listener, service, action and outcome", *registry_)),
      request_duration_seconds(histograms_, "sidecar_request_duration_seconds",
                               "Request latency from receipt to reply, in seconds"),
      requests_active(Register(prometheus::BuildGauge(), "sidecar_requests_active",
                               "Requests received and not yet answered", *registry_)),
      fire_and_forget_total(Register(prometheus::BuildCounter(), "sidecar_fire_and_forget_total",
                                     "Messages without a reply subject, forwarded without a reply",
                                     *registry_)),
      requests_rejected_total(Register(prometheus::BuildCounter(), "sidecar_requests_rejected_total",
                                       "Requests rejected before routing, by reason", *registry_)),
      nats_connected(Register(prometheus::BuildGauge(), "sidecar_nats_connected",
                              "1 while the NATS connection is up", *registry_)),
      nats_disconnects_total(Register(prometheus::BuildCounter(), "sidecar_nats_disconnects_total",
                                      "NATS disconnections", *registry_)),
      nats_reconnects_total(Register(prometheus::BuildCounter(), "sidecar_nats_reconnects_total",
                                     "NATS reconnections", *registry_)),
      nats_errors_total(Register(prometheus::BuildCounter(), "sidecar_nats_errors_total",
                                 "Asynchronous NATS errors, by error", *registry_)),
      upstream_cx_active(Register(prometheus::BuildGauge(), "sidecar_upstream_cx_active",
                                  "Open upstream connections", *registry_)),
      upstream_cx_busy(Register(prometheus::BuildGauge(), "sidecar_upstream_cx_busy",
                                "Upstream connections carrying a request", *registry_)),
      upstream_cx_total(Register(prometheus::BuildCounter(), "sidecar_upstream_cx_total",
                                 "Upstream connections opened", *registry_)),
      upstream_rq_pending(Register(prometheus::BuildGauge(), "sidecar_upstream_rq_pending",
                                   "Upstream requests waiting for a connection", *registry_)),
      upstream_rq_total(Register(prometheus::BuildCounter(), "sidecar_upstream_rq_total",
                                 "Upstream requests, by outcome", *registry_)),
      upstream_rq_duration_seconds(histograms_, "sidecar_upstream_rq_duration_seconds",
                                   "Upstream request latency, in seconds"),
      upstream_healthy(Register(prometheus::BuildGauge(), "sidecar_upstream_healthy",
                                "1 while the upstream passes its health check", *registry_)),
      health_checks_total(Register(prometheus::BuildCounter(), "sidecar_health_checks_total",
                                   "Active upstream health checks, by result", *registry_)),
      breaker_open(Register(prometheus::BuildGauge(), "sidecar_breaker_open",
                            "1 while the cluster's circuit breaker refuses requests (open or half-open)",
                            *registry_)),
      breaker_rejections_total(Register(prometheus::BuildCounter(), "sidecar_breaker_rejections_total",
                                        "Requests refused by the circuit breaker, by reason", *registry_)),
      breaker_transitions_total(Register(prometheus::BuildCounter(), "sidecar_breaker_transitions_total",
                                         "Circuit breaker state changes, by the state entered", *registry_)),
      retries_total(Register(prometheus::BuildCounter(), "sidecar_retries_total",
                             "Retries sent (apart from first attempts), by the outcome retried", *registry_)),
      retries_skipped_total(Register(prometheus::BuildCounter(), "sidecar_retries_skipped_total",
                                     "Failed attempts not retried, by why", *registry_)),
      route_requests_total(Register(prometheus::BuildCounter(), "sidecar_route_requests_total",
                                    "Requests per route and chosen cluster, by how it was chosen", *registry_)),
      route_fallback_total(Register(prometheus::BuildCounter(), "sidecar_route_fallback_total",
                                    "Requests re-sent to the route's fallback cluster after no responders",
                                    *registry_)),
      event_deliveries_total(Register(prometheus::BuildCounter(), "sidecar_event_deliveries_total",
                                      "JetStream event deliveries, by consumer and outcome", *registry_)),
      event_deliveries_active(Register(prometheus::BuildGauge(), "sidecar_event_deliveries_active",
                                       "JetStream events being delivered and not yet settled", *registry_)),
      dlq_depth(Register(prometheus::BuildGauge(), "sidecar_dlq_depth", kDlqDepthHelp,
                         *registry_)),
      event_publishes_total(Register(prometheus::BuildCounter(), "sidecar_event_publishes_total",
                                     "Events published to JetStream through the egress route, by outcome",
                                     *registry_)),
      shadow_requests_total(Register(prometheus::BuildCounter(), "sidecar_shadow_requests_total",
                                     kShadowRequestsHelp,
                                     *registry_)),
      shadow_mismatch_paths_total(Register(prometheus::BuildCounter(), "sidecar_shadow_mismatch_paths_total",
                                           "Shadow mismatches per differing field path (bounded per route)",
                                           *registry_)),
      stream_chunks_total(Register(prometheus::BuildCounter(), "sidecar_stream_chunks_total",
                                   "Body chunks of streamed replies", *registry_)),
      stream_bytes_total(Register(prometheus::BuildCounter(), "sidecar_stream_bytes_total",
                                  "Body bytes of streamed replies", *registry_)),
      streams_total(Register(prometheus::BuildCounter(), "sidecar_streams_total",
                             "Streamed replies ended, by outcome (ok|cancelled|error)", *registry_)),
      stream_first_chunk_seconds(histograms_, "sidecar_stream_first_chunk_seconds",
                                 "Time from the request to the first body byte of a streamed reply"),
      stream_unacked_chunks(Register(prometheus::BuildGauge(), "sidecar_stream_unacked_chunks",
                                     "Streamed chunks published and not yet acknowledged", *registry_)),
      rollbacks_total(Register(prometheus::BuildCounter(), "sidecar_rollbacks_total", kRollbacksHelp, *registry_)),
      build_info(Register(prometheus::BuildGauge(), "sidecar_build_info",
                          "Build information; the value is always 1", *registry_)),
      server_state(Register(prometheus::BuildGauge(), "sidecar_server_state",
                            "1 for the current lifecycle state", *registry_)) {
  build_info.Add({{"version", SIDECAR_VERSION}, {"git_sha", std::string(BuildGitSha())}}).Set(1);
}

std::string Metrics::SerializeText() const {
  std::ostringstream out;
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : histograms_.Collect()) families.push_back(std::move(family));
  prometheus::TextSerializer().Serialize(out, families);
  std::string text = out.str();
  // prometheus-cpp leaves a family without series out of the scrape. Families that alert rules
  // watch are announced anyway (HELP and TYPE without samples is valid exposition format), so the
  // scrape says they are exported even before the first series exists.
  for (const AnnouncedFamily& f : kAnnouncedWhenEmpty) {
    if (text.find(std::string("# TYPE ") + f.name + " ") == std::string::npos) {
      text += std::string("# HELP ") + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
    }
  }
  return text;
}

}  // namespace sidecar::stats
