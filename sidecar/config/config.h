#pragma once
// The static configuration, as typed values. Loaded and validated in full by loader.h before anything
// starts; every component takes the part it needs by const reference.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sidecar::config {

struct HostPort {
  std::string host;  // literal IPv4/IPv6 or a name
  uint16_t port = 0;
  std::string ToString() const;  // "host:port" ("[::1]:port" for IPv6)
};

struct ServerConfig {
  int64_t drain_timeout_ms = 15000;  // SIGTERM -> exit bound; ECS stopTimeout must exceed it
  std::string log_level = "info";    // debug|info|warn|error
};

struct AdminConfig {
  HostPort address{"127.0.0.1", 9901};
};

struct NatsConfig {
  std::vector<std::string> servers;  // nats://host:port, at least one
  std::string name = "nats-sidecar";
  int64_t connect_timeout_ms = 2000;
  int64_t reconnect_wait_ms = 250;
  int64_t reconnect_jitter_ms = 100;  // added at random to each reconnect wait
  int64_t max_reconnect_attempts = -1;  // -1: forever
  // A dead link is noticed after ping_interval_ms * (max_pings_out + 1) at most: 6 s by default,
  // within the 15 s the fleet promises.
  int64_t ping_interval_ms = 2000;
  int64_t max_pings_out = 2;
  std::string inbox_prefix;  // "" -> _INBOX
  // Credentials: never inline secrets in a shared file; use ${env:...}. Redacted in /config_dump.
  std::string user;
  std::string password;
  std::string token;
};

// One HTTP action route: action -> method + path template ("GET /api/settings/players/{player_id}").
struct ActionRouteConfig {
  std::string action;
  std::string method;
  std::string path_template;
};

// A service's legacy HTTP API. Actions without a route can still be called in passthrough form.
struct ServiceConfig {
  std::string name;
  std::vector<ActionRouteConfig> actions;  // sorted by action name
};

struct HealthCheckConfig {
  std::string path;  // GET path, e.g. /health
  int64_t interval_ms = 1000;
  int64_t timeout_ms = 500;
  int64_t healthy_threshold = 1;
  int64_t unhealthy_threshold = 2;
};

struct LegacyHttpClusterConfig {
  HostPort address;
  int64_t connect_timeout_ms = 1000;
  int64_t request_timeout_ms = 5000;  // upper bound; a smaller X-Deadline-Ms wins
  int64_t max_connections = 64;
  int64_t max_pending_requests = 1024;
  int64_t max_response_headers_bytes = 65536;
  int64_t max_response_body_bytes = 8 * 1024 * 1024;
  std::optional<HealthCheckConfig> health_check;
};

// Requests leave over NATS request/reply (the gateway and egress paths).
struct NatsClusterConfig {
  // action: subject svc.<service>.v1.<action>, payload = the action's JSON object.
  // passthrough: a fixed `subject`, the HTTP request line in X-Http-Method / X-Http-Path headers.
  std::string mode = "action";
  std::string subject;  // required for passthrough; "" in action mode
  int64_t timeout_ms = 5000;
  std::string inbox_prefix;  // "" -> _INBOX
};

// Native C++ ports in this process (services/registry names them).
struct NativeClusterConfig {
  std::vector<std::string> services;  // spec names; "all" = every hostable port
  std::string store = "memory";       // memory | jetstream (KV bucket shared by every task)
  std::string kv_bucket = "svc-state";
  int64_t kv_replicas = 1;
  std::string events = "memory";      // memory | jetstream (stream EVENTS, Nats-Msg-Id dedupe)
  bool fixtures = false;              // enables POST /api/<svc>/_fixture and svc.<svc>.v1._fixture
  // Serve the hosted ports: a NATS listener and route per service (svc.<svc>.v1.>), and a
  // /api/<svc>/ route on every HTTP listener. The server adds them to the effective config.
  bool serve = false;
};

// Limits and consecutive-failure ejection for one cluster (sidecar/resilience/circuit_breaker.h).
// Every cluster has one; these are the defaults.
struct CircuitBreakersConfig {
  int64_t max_requests = 1024;       // in flight; beyond -> 503 reason max_requests
  int64_t max_retries = 64;          // retries in flight; beyond -> the retry is not made
  int64_t consecutive_failures = 5;  // transport errors or 5xx in a row that open it; 0: never
  int64_t open_interval_ms = 60000;  // then one half-open probe decides
};

// Retries to a cluster are at most budget_percent of its requests (over a 10 s window) plus
// min_retries_per_second (sidecar/resilience/retry_budget.h).
struct RetryBudgetConfig {
  int64_t budget_percent = 20;
  int64_t min_retries_per_second = 10;
};

struct ClusterConfig {
  std::string name;
  CircuitBreakersConfig circuit_breakers;
  RetryBudgetConfig retry_budget;
  // Exactly one kind is set.
  std::optional<LegacyHttpClusterConfig> legacy_http;
  std::optional<NatsClusterConfig> nats;
  std::optional<NativeClusterConfig> native;
};

struct NatsListenerConfig {
  std::string service;  // required
  std::string subject;  // default svc.<service>.v1.>
  std::string queue;    // default svc-<service>-workers
  int64_t max_payload_bytes = 1024 * 1024;
  int64_t max_in_flight = 4096;  // beyond this, replies are UNAVAILABLE (backpressure, not queueing)
};

// A strict HTTP/1.1 listener: the gateway (edge) or egress (127.0.0.1 inside a task).
struct HttpListenerConfig {
  HostPort address;  // required
  int64_t max_header_bytes = 16384;  // request line + headers; beyond -> 431
  int64_t max_headers = 100;         // beyond -> 431
  int64_t max_body_bytes = 1024 * 1024;  // beyond -> 413 before the body is read
  int64_t header_timeout_ms = 10000;
  int64_t idle_timeout_ms = 60000;
  int64_t body_timeout_ms = 30000;
  int64_t request_timeout_ms = 5000;  // default deadline; a smaller X-Deadline-Ms wins
  int64_t max_connections = 10000;
  int64_t max_in_flight = 10000;
};

struct ListenerConfig {
  std::string name;
  // Exactly one kind is set.
  std::optional<NatsListenerConfig> nats;
  std::optional<HttpListenerConfig> http;
};

// One side of a weighted split.
struct WeightedClusterConfig {
  std::string cluster;
  // Share of requests in basis points (1% = 100), or -1 for "the rest of 100%".
  int64_t weight_bp = -1;
};

// Which request property keeps a caller on one side of a split, in every task.
struct StickyConfig {
  std::string header;      // e.g. X-Principal
  std::string json_field;  // a top-level field of the JSON body (or the query parameter of that name)
};

// The testing override: a header that forces a side, honoured only for listed principals.
struct RouteOverrideConfig {
  std::string header = "x-sidecar-route";
  std::vector<std::string> principals;  // X-Principal values allowed to use it; "*" = anyone
};

// When and how a route retries a failed attempt (the router, sidecar/router/router.cc).
struct RetryPolicyConfig {
  // Outcomes that are retried: connect_failure, reset, timeout, unavailable (503 / UNAVAILABLE),
  // no_responders.
  std::vector<std::string> retry_on = {"connect_failure", "reset", "timeout", "unavailable", "no_responders"};
  int64_t max_attempts = 3;  // including the first; all inside the request's deadline
  int64_t backoff_base_ms = 25;
  int64_t backoff_max_ms = 250;
  int64_t per_try_timeout_ms = 0;  // 0: each attempt may use the whole remaining deadline
  // By default only idempotent requests are retried: GET/HEAD/OPTIONS/PUT/DELETE, or any request
  // carrying an idempotency key (Idempotency-Key header or a JSON `idempotency_key` field).
  bool retry_non_idempotent = false;
};

struct RouteConfig {
  std::string name;     // unique; default "<service>/<action or *>" or the prefix
  std::string service;  // NATS requests match on service (+ action); HTTP ones get this service
  std::string action;   // "" matches every action of the service
  std::string prefix;   // HTTP listener requests match on this path prefix; "" = not an HTTP route
  // Either one cluster, or a weighted split (normalised by the loader: `cluster` alone becomes a
  // one-entry split of 100%).
  std::string cluster;
  std::vector<WeightedClusterConfig> split;
  std::optional<StickyConfig> sticky;  // absent: random split
  std::optional<RouteOverrideConfig> override_header;
  // When the chosen cluster answers "no responders" or its breaker is open, the request is sent
  // once to this cluster within the same deadline (counted apart from errors).
  std::string fallback;
  int64_t timeout_ms = 0;  // 0: the listener's / cluster's own bound
  std::optional<RetryPolicyConfig> retry;  // absent: no retries
};

struct Config {
  ServerConfig server;
  AdminConfig admin;
  NatsConfig nats;
  std::vector<ServiceConfig> services;
  std::vector<ClusterConfig> clusters;
  std::vector<ListenerConfig> listeners;
  std::vector<RouteConfig> routes;
};

}  // namespace sidecar::config
