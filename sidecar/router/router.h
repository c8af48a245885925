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
#include "sidecar/http/filter.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster_manager.h"

namespace sidecar::router {

inline constexpr uint32_t kBuckets = 10000;

// Stable across processes, machines and releases (never std::hash or absl::Hash).
uint64_t Fnv1a64(std::string_view data);
uint32_t StickyBucket(std::string_view key);

struct WeightedCluster {
  upstream::Cluster* cluster = nullptr;
  int64_t weight_bp = 0;
};

struct Route {
  std::string name;
  std::string service;
  std::string action;
  std::string prefix;
  std::vector<WeightedCluster> split;  // weights add up to kBuckets
  std::optional<config::StickyConfig> sticky;
  std::optional<config::RouteOverrideConfig> override_header;
  upstream::Cluster* fallback = nullptr;
  std::chrono::milliseconds timeout{0};

  // The split entry owning `bucket` (0 <= bucket < kBuckets).
  const WeightedCluster& PickByBucket(uint32_t bucket) const;
  // The split entry whose cluster name, or else kind, is `side`; nullptr when none.
  const WeightedCluster* FindSide(std::string_view side) const;
};

class RouteTable {
 public:
  static absl::StatusOr<std::shared_ptr<const RouteTable>> Create(const std::vector<config::RouteConfig>& routes,
                                                                  const upstream::ClusterManager& clusters);

  // NATS requests (service set): the action's own route, else the service-wide one. HTTP requests
  // (service empty): the longest prefix of the path. nullptr when nothing matches.
  const Route* Find(const http::Request& request) const;
  const Route* FindByName(std::string_view name) const;
  const std::vector<Route>& routes() const { return routes_; }

  // A copy with route `name`'s weights replaced. `weights` maps cluster name -> basis points; every
  // cluster of the split must be listed, and they must add up to 100 %.
  absl::StatusOr<std::shared_ptr<const RouteTable>> WithWeights(std::string_view name,
                                                                const std::map<std::string, int64_t>& weights) const;

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
  RouterFilter(std::shared_ptr<const RouteTableHolder> routes, stats::Metrics& metrics)
      : routes_(std::move(routes)), metrics_(metrics) {}
  void SetCallbacks(http::FilterCallbacks& callbacks) override { callbacks_ = &callbacks; }
  http::FilterStatus OnRequest(http::Request& request) override;
  void OnDestroy() override;

 private:
  // Chooses the side; an error status when the override header is not allowed or names no side.
  absl::StatusOr<const WeightedCluster*> Choose(const Route& route, http::Request& request, const char** reason);
  void Send(upstream::Cluster& cluster);
  void OnResult(upstream::Cluster& cluster, absl::StatusOr<http::Response> result);

  std::shared_ptr<const RouteTableHolder> routes_;
  stats::Metrics& metrics_;
  http::FilterCallbacks* callbacks_ = nullptr;
  std::shared_ptr<const RouteTable> table_;  // the snapshot this request uses
  const Route* route_ = nullptr;
  const http::Request* request_ = nullptr;
  bool fell_back_ = false;
  upstream::Cancellable* in_flight_ = nullptr;
};

http::FilterFactory RouterFilterFactory(std::shared_ptr<const RouteTableHolder> routes, stats::Metrics& metrics);

}  // namespace sidecar::router
