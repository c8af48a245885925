#pragma once
// NATS service discovery (ADR-32, the "micro" protocol), written by hand: nats.c 3.4.1 has no micro API.
//
// A DiscoveryResponder makes one sidecar instance visible to `nats micro`, nats.js `nc.services`, etc.:
// it answers $SRV.PING / $SRV.INFO / $SRV.STATS, each on three subjects (all services, by service name,
// by service name and instance id), with the io.nats.micro.v1.{ping,info,stats}_response JSON. The
// subscriptions are plain (not queue groups): every instance answers, so a client sees all of them.
//
// The responder serves requests; it does not count them. Per-endpoint numbers come from a StatsProvider
// the host supplies (MetricsStatsProvider reads the listener's requests_total / request_duration_seconds).
//
// Threads: the handlers run on the connection's dispatcher thread; the StatsProvider is called there.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sidecar/nats/connection.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::adapters::discovery {

// Who answers. `name` is the ADR-32 service name (^[A-Za-z0-9_-]+$), `version` a semantic version.
struct ServiceIdentity {
  std::string name;
  std::string id;
  std::string version;
  std::string description;
  std::map<std::string, std::string> metadata;
};

// One ADR-32 endpoint: an action of the service (or, with no action table, the wildcard subject).
struct Endpoint {
  std::string name;         // endpoint name: the action, or "all" for the wildcard endpoint
  std::string subject;      // svc.<svc>.v1.<action> or svc.<svc>.v1.>
  std::string queue_group;  // svc-<svc>-workers
  // The action label the listener's metrics use for it; "" = every action of the listener.
  std::string action;
  std::map<std::string, std::string> metadata;
};

// ADR-32 per-endpoint statistics. Times in nanoseconds.
struct EndpointStats {
  int64_t num_requests = 0;
  int64_t num_errors = 0;
  int64_t processing_time_ns = 0;
  std::string last_error;
};

using StatsProvider = std::function<EndpointStats(const Endpoint& endpoint)>;

inline constexpr char kPingType[] = "io.nats.micro.v1.ping_response";
inline constexpr char kInfoType[] = "io.nats.micro.v1.info_response";
inline constexpr char kStatsType[] = "io.nats.micro.v1.stats_response";

// --- pure builders (unit-tested) -------------------------------------------------------------------

// The endpoints of a service: one per action (sorted as given), or one wildcard endpoint "all" when
// `actions` is empty. Subjects follow svc.<service>.v1.<action>, the queue group svc-<service>-workers,
// unless `subject` / `queue` (the listener's configured values) say otherwise for the wildcard.
std::vector<Endpoint> MakeEndpoints(const std::string& service, const std::vector<std::string>& actions,
                                    const std::string& queue = "", const std::string& wildcard_subject = "");

// $SRV.<VERB>, $SRV.<VERB>.<name>, $SRV.<VERB>.<name>.<id> for VERB in PING, INFO, STATS (9 subjects).
std::vector<std::string> DiscoverySubjects(const std::string& name, const std::string& id);

nlohmann::json PingResponse(const ServiceIdentity& service);
nlohmann::json InfoResponse(const ServiceIdentity& service, const std::vector<Endpoint>& endpoints);
// `stats` may be empty (all zeros).
nlohmann::json StatsResponse(const ServiceIdentity& service, const std::vector<Endpoint>& endpoints,
                             absl::Time started, const StatsProvider& stats);

// RFC 3339 in UTC with nanoseconds, e.g. 2026-03-01T12:00:00.123456789Z.
std::string FormatRfc3339(absl::Time t);
// A random 22-character base62 instance id (as long as a NUID).
std::string NewInstanceId();

// Stats for the endpoints of NATS listener `listener`, read from its metric families:
// num_requests = sum of requests_total{listener, action}; num_errors = those with outcome != "ok";
// processing_time = request_duration_seconds{listener, action} sum. Endpoint::action "" sums every action.
// last_error carries the outcome label (e.g. "failed_precondition") of the most frequent error outcome,
// since the metrics do not keep the order of errors.
StatsProvider MetricsStatsProvider(stats::Metrics& metrics, std::string listener);

// --- the responder ---------------------------------------------------------------------------------

class DiscoveryResponder {
 public:
  struct Options {
    ServiceIdentity service;  // id "" -> NewInstanceId()
    std::vector<Endpoint> endpoints;
    StatsProvider stats;  // may be empty: zeros
  };

  // Subscribes to the nine $SRV subjects. Call on the dispatcher thread.
  static absl::StatusOr<std::unique_ptr<DiscoveryResponder>> Start(nats::Connection& connection, Options options);
  // Unsubscribes; must run before the Connection is destroyed.
  ~DiscoveryResponder();

  const ServiceIdentity& service() const { return options_.service; }
  const std::vector<Endpoint>& endpoints() const { return options_.endpoints; }

 private:
  enum class Verb { kPing, kInfo, kStats };
  DiscoveryResponder(nats::Connection& connection, Options options);
  void OnRequest(Verb verb, const nats::Message& message);

  nats::Connection& connection_;
  Options options_;
  absl::Time started_;
  std::vector<nats::SubscriptionPtr> subscriptions_;
};

}  // namespace sidecar::adapters::discovery
