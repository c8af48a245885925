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

namespace sidecar::upstream {

class ClusterManager {
 public:
  ClusterManager() = default;
  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  absl::Status Add(ClusterPtr cluster);
  // Destroys every cluster (the server does this before closing the NATS connection they use).
  void Clear() { clusters_.clear(); }
  // nullptr when absent.
  Cluster* Get(const std::string& name) const;
  const std::map<std::string, ClusterPtr>& clusters() const { return clusters_; }
  // True when every cluster is healthy (clusters without a health check always are).
  bool AllHealthy(std::string* first_unhealthy = nullptr) const;

 private:
  std::map<std::string, ClusterPtr> clusters_;
};

}  // namespace sidecar::upstream
