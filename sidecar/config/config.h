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
  int64_t max_reconnect_attempts = -1;  // -1: forever
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

struct ClusterConfig {
  std::string name;
  // Exactly one kind is set. Later issues add nats and native.
  std::optional<LegacyHttpClusterConfig> legacy_http;
};

struct NatsListenerConfig {
  std::string service;  // required
  std::string subject;  // default svc.<service>.v1.>
  std::string queue;    // default svc-<service>-workers
  int64_t max_payload_bytes = 1024 * 1024;
  int64_t max_in_flight = 4096;  // beyond this, replies are UNAVAILABLE (backpressure, not queueing)
};

struct ListenerConfig {
  std::string name;
  std::optional<NatsListenerConfig> nats;
};

struct RouteConfig {
  std::string service;  // required
  std::string action;   // "" matches every action of the service
  std::string cluster;  // required, names a cluster
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
