#pragma once
// Every metric the sidecar exports, declared once (Envoy-style: one tree, one place). Components take the
// family they need and add labelled children. prometheus-cpp metrics are atomic, so children may be updated
// from any thread; creating children (Family::Add) takes the family's lock, so hot paths cache them.
// Histograms are our own (histogram.h): prometheus-cpp's lock a mutex on every observation.

#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "sidecar/stats/histogram.h"

namespace sidecar::stats {

class Metrics {
 private:
  // Declared first: the families below are registered in them during construction.
  std::shared_ptr<prometheus::Registry> registry_;
  HistogramRegistry histograms_;

 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Prometheus text exposition format 0.0.4.
  std::string SerializeText() const;

  // Default latency buckets, in seconds (0.5 ms .. 30 s).
  static Histogram::BucketBoundaries LatencyBuckets();

  // --- requests, by listener ---------------------------------------------------------------------
  // labels: listener, service, action, outcome (ok | client_error | server_error | unavailable | timeout | ...)
  prometheus::Family<prometheus::Counter>& requests_total;
  // labels: listener, service, action
  HistogramFamily request_duration_seconds;
  // labels: listener
  prometheus::Family<prometheus::Gauge>& requests_active;
  // Messages without a reply subject, handled as fire-and-forget. labels: listener, service
  prometheus::Family<prometheus::Counter>& fire_and_forget_total;
  // Rejected before routing (too large, over max in flight, malformed). labels: listener, reason
  prometheus::Family<prometheus::Counter>& requests_rejected_total;

  // --- NATS connection ---------------------------------------------------------------------------
  // 1 while connected. labels: connection
  prometheus::Family<prometheus::Gauge>& nats_connected;
  prometheus::Family<prometheus::Counter>& nats_disconnects_total;
  prometheus::Family<prometheus::Counter>& nats_reconnects_total;
  // Async errors reported by nats.c (slow consumer, permissions). labels: connection, error
  prometheus::Family<prometheus::Counter>& nats_errors_total;

  // --- upstream clusters (labels: cluster) ---------------------------------------------------------
  prometheus::Family<prometheus::Gauge>& upstream_cx_active;      // open connections
  prometheus::Family<prometheus::Gauge>& upstream_cx_busy;        // connections with a request on them
  prometheus::Family<prometheus::Counter>& upstream_cx_total;     // connections opened
  prometheus::Family<prometheus::Gauge>& upstream_rq_pending;     // waiting for a connection
  // labels: cluster, outcome (2xx|3xx|4xx|5xx|connect_failure|timeout|reset|overflow|...)
  prometheus::Family<prometheus::Counter>& upstream_rq_total;
  // labels: cluster
  HistogramFamily upstream_rq_duration_seconds;
  prometheus::Family<prometheus::Gauge>& upstream_healthy;        // 1 healthy, 0 not
  // labels: cluster, result (success|failure)
  prometheus::Family<prometheus::Counter>& health_checks_total;
  // 1 while the cluster's circuit breaker is open or half-open (refusing). labels: cluster
  prometheus::Family<prometheus::Gauge>& breaker_open;
  // Requests refused by the breaker. labels: cluster, reason (circuit_open|max_requests|max_retries)
  prometheus::Family<prometheus::Counter>& breaker_rejections_total;
  // Breaker transitions. labels: cluster, to (open|half_open|closed)
  prometheus::Family<prometheus::Counter>& breaker_transitions_total;
  // Retries sent, apart from first attempts. labels: route, cluster, reason (the retried outcome)
  prometheus::Family<prometheus::Counter>& retries_total;
  // Retries not made, by why. labels: route, cluster, reason (budget|max_retries|deadline|
  // non_idempotent|max_attempts)
  prometheus::Family<prometheus::Counter>& retries_skipped_total;

  // --- routing ------------------------------------------------------------------------------------
  // Which side of a route served a request. labels: route, cluster, reason (split|sticky|override)
  prometheus::Family<prometheus::Counter>& route_requests_total;
  // Requests re-sent to the route's fallback cluster after "no responders". labels: route, from, to
  prometheus::Family<prometheus::Counter>& route_fallback_total;

  // --- JetStream events (adapters/events) ---------------------------------------------------------
  // Event deliveries by result. labels: consumer, outcome (acked|nacked|termed|dead_lettered|dlq_failed)
  prometheus::Family<prometheus::Counter>& event_deliveries_total;
  // Deliveries sent to the cluster and not yet settled. labels: consumer
  prometheus::Family<prometheus::Gauge>& event_deliveries_active;
  // Messages in a dead-letter stream (exact name: alert rules use it). labels: stream
  prometheus::Family<prometheus::Gauge>& dlq_depth;
  // Egress publishes to JetStream. labels: outcome (ok|duplicate|rejected|unavailable|timeout)
  prometheus::Family<prometheus::Counter>& event_publishes_total;

  // --- shadow traffic (sidecar/shadow) ------------------------------------------------------------
  // Mirrored requests by outcome (exact name and labels: alert rules use them). labels: service,
  // action (the route's; "*" for a whole-service route), result (matched|mismatched|error|dropped|
  // paused: skipped above the route's CPU pressure line)
  prometheus::Family<prometheus::Counter>& shadow_requests_total;
  // Mismatches per differing field path, indices folded ("/items/*/qty"); at most 50 paths per route,
  // the rest counted as "other". labels: service, action, path
  prometheus::Family<prometheus::Counter>& shadow_mismatch_paths_total;

  // --- streamed replies (adapters/nats_http/stream.h) -------------------------------------------
  // labels: side (responder|requester), name (listener or cluster)
  prometheus::Family<prometheus::Counter>& stream_chunks_total;
  prometheus::Family<prometheus::Counter>& stream_bytes_total;
  // Streams ended, by outcome (ok|cancelled|error). labels: side, name, outcome
  prometheus::Family<prometheus::Counter>& streams_total;
  // From the request's arrival to the first body byte. labels: side, name
  HistogramFamily stream_first_chunk_seconds;
  // Chunks published and not yet acknowledged, summed over a responder's streams. labels: name
  prometheus::Family<prometheus::Gauge>& stream_unacked_chunks;

  // --- cut-over (sidecar/cutover) ----------------------------------------------------------------
  // Automatic rollbacks written to the KV by this sidecar's guard (the winning writer only, so a
  // fleet-wide sum counts each rollback once). labels: service, action, rule
  // (error_rate|p99_latency|mismatch_rate)
  prometheus::Family<prometheus::Counter>& rollbacks_total;

  // --- server ------------------------------------------------------------------------------------
  // Constant 1. labels: version, git_sha
  prometheus::Family<prometheus::Gauge>& build_info;
  // 1 for the current state, 0 for the others. labels: state (initializing|live|draining)
  prometheus::Family<prometheus::Gauge>& server_state;
};

}  // namespace sidecar::stats
