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
  // Bearer token for mutating endpoints (POST ...). Required by the loader when `address` is not a
  // loopback address: anything that can reach a non-loopback port could otherwise change route
  // weights. From `token: ${env:VAR}` or read from `token_file` at load time (never inline).
  std::string token;
  std::string token_file;  // shown in /config_dump; the token itself never is
};

// TLS to NATS (tls:// URLs, or any URL when this section is present). PEM material comes from a
// file (`*_file`) or from an environment variable holding the PEM text (`*_pem: ${env:VAR}`, how
// ECS hands SSM SecureString parameters to a container); at most one of the two per item.
struct NatsTlsConfig {
  std::string ca_file;
  std::string ca_pem;
  std::string cert_file;  // cert + key: mutual TLS (the server verifies us too)
  std::string cert_pem;
  std::string key_file;
  std::string key_pem;  // a secret: env only, redacted
  // Name expected in the server's certificate; default: the host all server URLs share (nats.c
  // checks one name, so URLs naming different hosts need this).
  std::string server_name;
  // Skips verification of the server's certificate (chain and name): anyone on the path can then
  // read and forge every request. Only for a lab; a warning is logged on every connect setup.
  bool insecure_skip_verify_dangerous = false;
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
  // Replies to this connection's requests (nats.c's own and every nats cluster's RequestMux, unless
  // the cluster sets its own) arrive under <inbox_prefix>.>. "_INBOX.<service>" lets the NATS
  // permissions allow a service exactly its own replies (config/nats/permissions.conf).
  std::string inbox_prefix;  // "" -> _INBOX
  std::optional<NatsTlsConfig> tls;
  // Authentication: at most one of user/password, token, nkey_seed_file, credentials_file.
  // Secret values come from ${env:...} or a *_file read at load time; the loader rejects them
  // inline (docs/SECURITY.md). Redacted in /config_dump.
  std::string user;
  std::string password;
  std::string password_file;
  std::string token;
  std::string token_file;
  std::string nkey_seed_file;    // an NKey user seed (SU...); the public key is derived from it
  std::string credentials_file;  // a .creds file: user JWT + NKey seed (nsc generate creds)
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
  std::string path;     // legacy_http: GET path, e.g. /health
  std::string subject;  // nats: request subject, e.g. $SRV.PING.settings (any reply passes)
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
  std::string inbox_prefix;  // "" -> nats.inbox_prefix (filled in by the loader) -> _INBOX
  // A periodic request to `subject`: no responders or no reply within timeout_ms fails it.
  std::optional<HealthCheckConfig> health_check;
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
  // Name of a `nats` cluster (action mode) through which the hosted ports call other services
  // (SERVICES.md §1: orchestration -> payment, ...). "" -> such calls answer UNAVAILABLE.
  std::string dependencies;
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
  // Streamed replies (Nats-Stream: 1): at most this many messages unacknowledged per stream.
  int64_t stream_window = 16;
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

// Shadow traffic (issue 7, sidecar/shadow): a share of a route's requests is mirrored to another
// cluster and the two answers are compared; the caller only ever gets the primary's answer.
struct ShadowConfig {
  std::string cluster;          // required: where mirrored requests go
  int64_t percent_bp = 10000;   // share mirrored, 0.01-100 % (basis points: 1 = 0.01 %)
  std::vector<std::string> methods = {"GET", "HEAD", "OPTIONS"};  // mirrored methods; "*" = all
  std::string header = "x-sidecar-shadow";  // set to "1" on every mirrored request
  // Credential headers (Authorization, Cookie, X-Api-Key, ...) are stripped from mirrored requests
  // unless listed here; strip_headers removes more.
  std::vector<std::string> allow_credentials;
  std::vector<std::string> strip_headers;
  int64_t timeout_ms = 1000;     // the shadow's own deadline
  int64_t max_concurrent = 64;   // shadow requests in flight for this route; beyond -> dropped
  std::vector<std::string> ignore_paths;     // "/a/*/b", "**/name" (sidecar/shadow/diff.h)
  std::map<std::string, double> tolerances;  // path pattern -> absolute numeric tolerance
  bool volatile_defaults = true;  // SERVICES.md §0.7 volatile fields and tolerances
  // Of mirrored safe requests, the share (basis points) also sent to the primary a second time;
  // paths differing between the two primary answers are learned as noise. 0: off.
  int64_t noise_percent_bp = 0;
  // Above this CPU pressure of the task (basis points of wall time in which some task waited for a
  // core, from PSI, over the last second), the route lets out a shrinking share of its mirrors
  // (halved each second above, a tenth more each second below; skipped ones counted as paused):
  // on contended cores a mirror's work (and its upstream's, when that shares the task) queues in
  // front of the primary's. 0: never pause.
  int64_t pause_above_cpu_pressure_bp = 0;
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
  std::optional<ShadowConfig> shadow;      // absent: no shadow traffic
};

// JetStream event path (issue 6): durable pull consumers that deliver events to a cluster, and the
// egress route that publishes to JetStream on the legacy service's behalf. See adapters/events/.
struct EventConsumerConfig {
  std::string name;            // unique; labels metrics, names the DLQ subject dlq.<name>.<subject>
  std::string stream;          // must exist when the sidecar starts (a clear error otherwise)
  std::string filter_subject;  // required; wildcards allowed
  std::string durable;         // default sidecar-<name>
  std::string cluster;         // a legacy_http or native cluster
  std::string path;            // POST path the event is delivered to
  int64_t max_deliver = 5;     // deliveries to the cluster before the event goes to the DLQ
  // Nak delay after failed delivery n (1-based) is backoff_ms[min(n, size) - 1].
  std::vector<int64_t> backoff_ms = {1000, 5000, 10000, 30000};
  int64_t timeout_ms = 10000;  // one delivery's deadline; must be < ack_wait_ms
  int64_t ack_wait_ms = 30000;  // redelivery after a crash mid-event
  int64_t max_ack_pending = 256;  // also the bound on deliveries in flight
  std::string dlq_stream = "DLQ";  // created (subjects dlq.>) when absent
};

struct EventPublishConfig {
  std::string listener;             // required: the HTTP listener (egress) that serves the route
  std::string prefix = "/events/";  // POST <prefix><subject>
  std::vector<std::string> allowed_subjects;  // required; wildcards allowed
  int64_t timeout_ms = 5000;        // wait for the JetStream PubAck, then 504
};

struct EventsConfig {
  std::vector<EventConsumerConfig> consumers;
  std::optional<EventPublishConfig> publish;
};

// Fleet-wide cut-over (issue 7; sidecar/cutover/): route weights, shadow percent and ramps live in
// a JetStream KV bucket that every sidecar watches; guards roll a route back through it.
struct GuardRuleConfig {
  // error_rate / mismatch_rate: percent (basis points here, 1 % = 100); p99_latency: milliseconds.
  int64_t max = 0;
  int64_t min_requests = 20;  // the rule is not judged on fewer samples in its window
  int64_t window_ms = 60000;  // sliding window
};

struct RampConfig {
  std::vector<int64_t> steps_bp = {100, 500, 2500, 5000, 10000};  // the new side's share per step
  int64_t hold_ms = 300000;  // each step holds this long (with guards holding) before the next
};

struct CutoverRouteConfig {
  std::string route;            // a routes[].name
  std::string side = "native";  // the new side: a cluster name, or a kind, of the route's split
  std::optional<GuardRuleConfig> error_rate;
  std::optional<GuardRuleConfig> p99_latency;
  std::optional<GuardRuleConfig> mismatch_rate;
  std::optional<RampConfig> ramp;
};

struct CutoverConfig {
  std::string kv_bucket = "sidecar-routes";
  // Created with this many replicas when absent (production creates it from
  // config/nats/jetstream/kv-sidecar-routes.json).
  int64_t kv_replicas = 1;
  int64_t evaluate_interval_ms = 250;  // how often the guards are judged
  std::vector<CutoverRouteConfig> routes;
};

struct Config {
  ServerConfig server;
  AdminConfig admin;
  NatsConfig nats;
  std::vector<ServiceConfig> services;
  std::vector<ClusterConfig> clusters;
  std::vector<ListenerConfig> listeners;
  std::vector<RouteConfig> routes;
  EventsConfig events;
  std::optional<CutoverConfig> cutover;  // absent: weights come from routes: and the admin port only
};

}  // namespace sidecar::config
