#pragma once
// Routes and the terminal RouterFilter.
//
// A route matches a NATS request by service (+ action) or an HTTP request by path prefix, then
// picks one cluster of its split:
//   override  an allowed principal's x-sidecar-route header names the side (cluster name or kind)
//   sticky    bucket = FNV-1a 64 of the key (a header or JSON field) mod 10000; the same key lands
//             in the same bucket in every task and every version, so a player stays on one side
//   random    otherwise
// Buckets are basis points: a 10 % split gives a cluster buckets [0, 1000).
//
// Weights change at run time (admin POST /routes/<name>/weights) by building a new immutable table
// and swapping it into the RouteTableHolder; a request keeps the table it started with.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "prometheus/counter.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/filter.h"
#include "sidecar/resilience/backoff.h"
#include "sidecar/router/route_observer.h"
#include "sidecar/shadow/shadow.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster_manager.h"

namespace sidecar::router {

inline constexpr uint32_t kBuckets = 10000;

// Stable across processes, machines and releases (never std::hash or absl::Hash).
uint64_t Fnv1a64(std::string_view data);
uint32_t StickyBucket(std::string_view key);

// Why a request went to the side it did: the `reason` label of sidecar_route_requests_total.
enum class PickReason { kSplit, kSticky, kOverride };
inline constexpr int kPickReasons = 3;
const char* PickReasonName(PickReason reason);

struct WeightedCluster {
  upstream::GuardedCluster* cluster = nullptr;
  int64_t weight_bp = 0;
  // sidecar_route_requests_total of this route and side, by PickReason, looked up when the table is
  // built (with metrics): Family::Add on every request built a label map and took the family's lock.
  // A null entry (a reason the route cannot give, or a table built without metrics) is looked up then.
  std::array<prometheus::Counter*, kPickReasons> requests{};
};

// A route's retry policy (config::RetryPolicyConfig, resolved).
struct RetryPolicy {
  std::vector<std::string> retry_on;  // outcome names (RetryReason)
  int max_attempts = 1;
  resilience::BackoffPolicy backoff;
  std::chrono::milliseconds per_try_timeout{0};
  bool retry_non_idempotent = false;

  bool RetriesOn(std::string_view reason) const;
};

// The retryable outcome an attempt ended with ("connect_failure", "reset", "timeout",
// "unavailable", "no_responders"), or "" when it is final: a success, a response other than 503,
// a local refusal (breaker, overflow), or any other error.
std::string_view RetryReason(const absl::StatusOr<http::Response>& result);
// GET/HEAD/OPTIONS/PUT/DELETE, or a request carrying an idempotency key (Idempotency-Key header or
// a top-level JSON `idempotency_key`): safe to send twice.
bool IsIdempotent(const http::Request& request);

struct Route {
  std::string name;
  std::string service;
  std::string action;
  std::string prefix;
  std::vector<WeightedCluster> split;  // weights add up to kBuckets
  std::optional<config::StickyConfig> sticky;
  std::optional<config::RouteOverrideConfig> override_header;
  upstream::GuardedCluster* fallback = nullptr;
  std::chrono::milliseconds timeout{0};
  std::optional<RetryPolicy> retry;
  // Shadow traffic (issue 7): the settings are built once and shared by every table copy; the share
  // is a plain field of this snapshot (basis points, 1 = 0.01 %) so a cut-over changes it with a new
  // table, like weights. 0 or no policy: nothing is mirrored.
  std::shared_ptr<const shadow::ShadowPolicy> shadow;
  int64_t shadow_percent_bp = 0;

  // The split entry owning `bucket` (0 <= bucket < kBuckets).
  const WeightedCluster& PickByBucket(uint32_t bucket) const;
  // The split entry whose cluster name, or else kind, is `side`; nullptr when none.
  const WeightedCluster* FindSide(std::string_view side) const;
};

class RouteTable {
 public:
  // With `metrics`, each side's request counters are created up front (see WeightedCluster).
  static absl::StatusOr<std::shared_ptr<const RouteTable>> Create(const std::vector<config::RouteConfig>& routes,
                                                                  const upstream::ClusterManager& clusters,
                                                                  stats::Metrics* metrics = nullptr);

  // NATS requests (service set): the action's own route, else the service-wide one. HTTP requests
  // (service empty): the longest prefix of the path. nullptr when nothing matches.
  const Route* Find(const http::Request& request) const;
  const Route* FindByName(std::string_view name) const;
  const std::vector<Route>& routes() const { return routes_; }

  // A copy with route `name`'s weights replaced. `weights` maps cluster name -> basis points; every
  // cluster of the split must be listed, and they must add up to 100 %.
  absl::StatusOr<std::shared_ptr<const RouteTable>> WithWeights(std::string_view name,
                                                                const std::map<std::string, int64_t>& weights) const;

  // A copy with route `name`'s shadow share set to `percent` (0-100, 0.01 steps; 0 stops mirroring).
  // NOT_FOUND for an unknown route, FAILED_PRECONDITION for a route without a shadow block.
  absl::StatusOr<std::shared_ptr<const RouteTable>> WithShadowPercent(std::string_view name, double percent) const;

  // For GET /routes.
  nlohmann::json ToJson() const;

 private:
  void BuildIndex();

  std::vector<Route> routes_;
  std::map<std::pair<std::string, std::string>, size_t> by_service_action_;
  std::vector<std::pair<std::string, size_t>> by_prefix_;  // longest prefix first
};

// The current table. Readers take a snapshot; writers swap in a new one.
class RouteTableHolder {
 public:
  explicit RouteTableHolder(std::shared_ptr<const RouteTable> table) : table_(std::move(table)) {}
  std::shared_ptr<const RouteTable> Get() const {
    absl::MutexLock lock(&mu_);
    return table_;
  }
  void Set(std::shared_ptr<const RouteTable> table) {
    absl::MutexLock lock(&mu_);
    table_ = std::move(table);
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const RouteTable> table_ ABSL_GUARDED_BY(mu_);
};

class RouterFilter final : public http::Filter {
 public:
  // `observer` (may be null) hears every request's outcome; `shadow` (may be null) mirrors requests
  // of routes with a shadow block.
  RouterFilter(std::shared_ptr<const RouteTableHolder> routes, stats::Metrics& metrics,
               RouteObserver* observer = nullptr, shadow::ShadowRuntime* shadow = nullptr)
      : routes_(std::move(routes)), metrics_(metrics), observer_(observer), shadow_(shadow) {}
  void SetCallbacks(http::FilterCallbacks& callbacks) override { callbacks_ = &callbacks; }
  http::FilterStatus OnRequest(http::Request& request) override;
  void OnDestroy() override;

 private:
  // Chooses the side; an error status when the override header is not allowed or names no side.
  absl::StatusOr<const WeightedCluster*> Choose(const Route& route, http::Request& request, PickReason* reason);
  // One attempt on `cluster` within the request's deadline (and the per-try timeout).
  void Send(upstream::GuardedCluster& cluster, bool retry);
  void OnResult(upstream::GuardedCluster& cluster, absl::StatusOr<http::Response> result);
  // Schedules a retry after a full-jitter backoff when the policy, the idempotency rule, the
  // cluster's retry budget and the deadline all allow it; false (counted by why) otherwise.
  bool MaybeRetry(upstream::GuardedCluster& cluster, std::string_view reason);
  void Finish(absl::StatusOr<http::Response> result);

  std::shared_ptr<const RouteTableHolder> routes_;
  stats::Metrics& metrics_;
  RouteObserver* observer_;
  shadow::ShadowRuntime* shadow_;
  shadow::MirrorHandle mirror_;  // set while this request is mirrored
  http::FilterCallbacks* callbacks_ = nullptr;
  http::Clock::time_point started_;
  const upstream::GuardedCluster* serving_cluster_ = nullptr;  // of the latest attempt
  std::shared_ptr<const RouteTable> table_;  // the snapshot this request uses
  const Route* route_ = nullptr;
  http::Request* request_ = nullptr;
  http::Clock::time_point deadline_;  // the request's own; attempts may get a shorter one
  bool fell_back_ = false;
  int attempts_ = 0;
  upstream::Cancellable* in_flight_ = nullptr;
  // While waiting to retry: the failure being retried (answered if the retry is refused).
  // Default-constructed: kUnknown with no message, which absl keeps inline (a message would cost
  // an allocation per request).
  absl::StatusOr<http::Response> retrying_;
  event::TimerPtr retry_timer_;
};

http::FilterFactory RouterFilterFactory(std::shared_ptr<const RouteTableHolder> routes, stats::Metrics& metrics,
                                       RouteObserver* observer = nullptr, shadow::ShadowRuntime* shadow = nullptr);

}  // namespace sidecar::router
