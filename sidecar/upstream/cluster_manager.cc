#include "sidecar/upstream/cluster_manager.h"

namespace sidecar::upstream {

absl::Status ClusterManager::Add(ClusterPtr cluster) {
  const std::string name = cluster->name();
  if (!clusters_.emplace(name, std::move(cluster)).second) {
    return absl::AlreadyExistsError("duplicate cluster " + name);
  }
  return absl::OkStatus();
}

Cluster* ClusterManager::Get(const std::string& name) const {
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
