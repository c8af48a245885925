#include "sidecar/server/mirror_clusters.h"

#include <set>
#include <string>
#include <utility>

#include "adapters/nats_http/nats_cluster.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/nats/connection.h"
#include "sidecar/upstream/legacy_http_cluster.h"

namespace sidecar::server {
namespace {

// Owned by the worker's thread: destroyed there, clusters before the connection they use.
class MirrorClusters final : public shadow::MirrorWorker::Clusters {
 public:
  ~MirrorClusters() override { Clear(); }
  std::unique_ptr<nats::Connection> connection;  // for nats clusters; made with the first one
};

// The names a mirror can be sent to: shadow clusters, and the primaries of routes that sample
// noise.
std::set<std::string> MirrorTargets(const config::Config& config) {
  std::set<std::string> names;
  for (const config::RouteConfig& route : config.routes) {
    if (!route.shadow.has_value()) continue;
    names.insert(route.shadow->cluster);
    if (route.shadow->noise_percent_bp > 0) {
      if (!route.cluster.empty()) names.insert(route.cluster);
      for (const config::WeightedClusterConfig& w : route.split) names.insert(w.cluster);
    }
  }
  return names;
}

}  // namespace

absl::StatusOr<std::unique_ptr<shadow::MirrorWorker>> StartMirrorWorker(
    const config::Config& config, stats::Metrics& metrics, shadow::BodyDecoder decoder) {
  const std::set<std::string> targets = MirrorTargets(config);
  std::vector<config::ClusterConfig> wanted;
  for (const config::ClusterConfig& cc : config.clusters) {
    if (targets.count(cc.name) > 0 && (cc.legacy_http.has_value() || cc.nats.has_value()))
      wanted.push_back(cc);
  }
  if (wanted.empty()) return nullptr;
  auto factory = [nats_config = config.nats, &metrics,
                  wanted = std::move(wanted)](event::Dispatcher& dispatcher)
      -> absl::StatusOr<std::unique_ptr<shadow::MirrorWorker::Clusters>> {
    auto out = std::make_unique<MirrorClusters>();
    for (config::ClusterConfig cc : wanted) {
      const std::string name = cc.name;
      cc.name += ".shadow";
      if (cc.legacy_http.has_value()) {
        cc.legacy_http->health_check.reset();
        ASSIGN_OR_RETURN(auto cluster, upstream::LegacyHttpCluster::Create(cc, dispatcher, metrics));
        out->Add(name, std::move(cluster));
        continue;
      }
      if (out->connection == nullptr) {
        config::NatsConfig nats = nats_config;
        nats.name += "-shadow";
        ASSIGN_OR_RETURN(out->connection, nats::Connection::Create(nats, dispatcher, metrics));
      }
      cc.nats->health_check.reset();
      ASSIGN_OR_RETURN(auto cluster,
                       adapters::nats_http::NatsCluster::Create(
                           adapters::nats_http::NatsClusterOptions::FromConfig(cc), *out->connection, metrics));
      out->Add(name, std::move(cluster));
    }
    return out;
  };
  return shadow::MirrorWorker::Start({}, std::move(factory), std::move(decoder));
}

}  // namespace sidecar::server
