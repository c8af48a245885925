#include "sidecar/upstream/cluster_manager.h"

namespace sidecar::upstream {

absl::Status ClusterManager::Add(ClusterPtr cluster, const config::ClusterConfig* config) {
  const std::string name = cluster->name();
  if (clusters_.count(name) != 0) return absl::AlreadyExistsError("duplicate cluster " + name);
  const config::ClusterConfig defaults;
  const config::ClusterConfig& c = config != nullptr ? *config : defaults;
  clusters_.emplace(name, std::make_unique<GuardedCluster>(std::move(cluster), c.circuit_breakers,
                                                           c.retry_budget, dispatcher_, metrics_));
  return absl::OkStatus();
}

GuardedCluster* ClusterManager::Get(const std::string& name) const {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : it->second.get();
}

bool ClusterManager::AllHealthy(std::string* first_unhealthy) const {
  for (const auto& [name, cluster] : clusters_) {
    if (!cluster->Healthy()) {
      if (first_unhealthy != nullptr) *first_unhealthy = name;
      return false;
    }
  }
  return true;
}

}  // namespace sidecar::upstream
