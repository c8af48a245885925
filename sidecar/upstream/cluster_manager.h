#pragma once
// Owns every cluster of a dispatcher, by name. Cluster kinds register a factory here, so the manager
// never needs to know them (later issues add nats and native without touching legacy_http).

#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster.h"
#include "sidecar/upstream/guarded_cluster.h"

namespace sidecar::upstream {

class ClusterManager {
 public:
  ClusterManager(event::Dispatcher& dispatcher, stats::Metrics& metrics)
      : dispatcher_(dispatcher), metrics_(metrics) {}
  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  // Takes the cluster behind a GuardedCluster with `config`'s circuit breaker and retry budget
  // (defaults when null).
  absl::Status Add(ClusterPtr cluster, const config::ClusterConfig* config = nullptr);
  // Destroys every cluster (the server does this before closing the NATS connection they use).
  void Clear() { clusters_.clear(); }
  // nullptr when absent.
  GuardedCluster* Get(const std::string& name) const;
  const std::map<std::string, std::unique_ptr<GuardedCluster>>& clusters() const { return clusters_; }
  // True when every cluster is healthy (clusters without a health check always are).
  bool AllHealthy(std::string* first_unhealthy = nullptr) const;

 private:
  event::Dispatcher& dispatcher_;
  stats::Metrics& metrics_;
  std::map<std::string, std::unique_ptr<GuardedCluster>> clusters_;
};

}  // namespace sidecar::upstream
