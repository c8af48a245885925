#include "sidecar/router/router.h"

namespace sidecar::router {

absl::StatusOr<std::shared_ptr<const RouteTable>> RouteTable::Create(
    const std::vector<config::RouteConfig>& routes, const upstream::ClusterManager& clusters) {
  auto table = std::make_shared<RouteTable>();
  for (size_t i = 0; i < routes.size(); ++i) {
    const auto& rc = routes[i];
    const std::string where = "routes[" + std::to_string(i) + "]";
    upstream::Cluster* cluster = clusters.Get(rc.cluster);
    if (cluster == nullptr) {
      return absl::InvalidArgumentError(where + ".cluster: unknown cluster '" + rc.cluster + "'");
    }
    if (!table->index_.emplace(std::make_pair(rc.service, rc.action), table->routes_.size()).second) {
      return absl::InvalidArgumentError(where + ": duplicate route for service '" + rc.service +
                                        "' action '" + rc.action + "'");
    }
    table->routes_.push_back(Route{rc.service, rc.action, cluster});
  }
  return std::shared_ptr<const RouteTable>(std::move(table));
}

const Route* RouteTable::Find(const std::string& service, const std::string& action) const {
  auto it = index_.find({service, action});
  if (it == index_.end()) it = index_.find({service, ""});
  return it == index_.end() ? nullptr : &routes_[it->second];
}

http::FilterStatus RouterFilter::OnRequest(http::Request& request) {
  const Route* route = table_->Find(request.service, request.action);
  if (route == nullptr) {
    callbacks_->SendError(absl::NotFoundError("no route for service '" + request.service + "' action '" +
                                              request.action + "'"));
    return http::FilterStatus::kStopIteration;
  }
  callbacks_->stream_info().route_cluster = route->cluster->name();
  if (http::Clock::now() >= request.deadline) {
    callbacks_->SendError(absl::DeadlineExceededError("deadline passed before the request was routed"));
    return http::FilterStatus::kStopIteration;
  }
  in_flight_ = route->cluster->Send(request, [this](absl::StatusOr<http::Response> result) {
    in_flight_ = nullptr;
    if (result.ok()) {
      callbacks_->SendResponse(*std::move(result));
    } else {
      callbacks_->SendError(result.status());
    }
  });
  return http::FilterStatus::kStopIteration;
}

void RouterFilter::OnDestroy() {
  if (in_flight_ != nullptr) {
    in_flight_->Cancel();
    in_flight_ = nullptr;
  }
}

http::FilterFactory RouterFilterFactory(std::shared_ptr<const RouteTable> table) {
  return [table = std::move(table)]() -> http::FilterPtr { return std::make_unique<RouterFilter>(table); };
}

}  // namespace sidecar::router
