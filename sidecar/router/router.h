#pragma once
// The route table (service + action -> cluster) and the terminal RouterFilter that sends a request to
// the cluster its route names. Later issues add weighted and sticky splits to Route.

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/config/config.h"
#include "sidecar/http/filter.h"
#include "sidecar/upstream/cluster_manager.h"

namespace sidecar::router {

struct Route {
  std::string service;
  std::string action;  // "" = every action of the service
  upstream::Cluster* cluster = nullptr;
};

class RouteTable {
 public:
  // Fails when a route names an unknown cluster or repeats (service, action).
  static absl::StatusOr<std::shared_ptr<const RouteTable>> Create(
      const std::vector<config::RouteConfig>& routes, const upstream::ClusterManager& clusters);

  // The action's own route wins over the service-wide one; nullptr when neither exists.
  const Route* Find(const std::string& service, const std::string& action) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  std::map<std::pair<std::string, std::string>, size_t> index_;
};

class RouterFilter final : public http::Filter {
 public:
  explicit RouterFilter(std::shared_ptr<const RouteTable> table) : table_(std::move(table)) {}

  void SetCallbacks(http::FilterCallbacks& callbacks) override { callbacks_ = &callbacks; }
  http::FilterStatus OnRequest(http::Request& request) override;
  void OnDestroy() override;

 private:
  std::shared_ptr<const RouteTable> table_;
  http::FilterCallbacks* callbacks_ = nullptr;
  upstream::Cancellable* in_flight_ = nullptr;
};

http::FilterFactory RouterFilterFactory(std::shared_ptr<const RouteTable> table);

}  // namespace sidecar::router
