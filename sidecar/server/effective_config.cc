#include "sidecar/server/effective_config.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "adapters/transcoding/schema_routes.h"
#include "services/registry/registry.h"

namespace sidecar::server {
namespace {

bool HasService(const config::Config& config, const std::string& name) {
  return std::any_of(config.services.begin(), config.services.end(),
                     [&](const config::ServiceConfig& s) { return s.name == name; });
}

bool HasNatsListener(const config::Config& config, const std::string& service) {
  return std::any_of(config.listeners.begin(), config.listeners.end(), [&](const config::ListenerConfig& l) {
    return l.nats.has_value() && l.nats->service == service;
  });
}

bool HasRoute(const config::Config& config, const std::string& service, const std::string& prefix) {
  return std::any_of(config.routes.begin(), config.routes.end(), [&](const config::RouteConfig& r) {
    return prefix.empty() ? (r.prefix.empty() && r.service == service && r.action.empty()) : r.prefix == prefix;
  });
}

}  // namespace

absl::Status ExpandConfig(config::Config& config) {
  std::set<std::string> hosted;
  const bool has_http_listener = std::any_of(config.listeners.begin(), config.listeners.end(),
                                             [](const config::ListenerConfig& l) { return l.http.has_value(); });
  for (config::ClusterConfig& cluster : config.clusters) {
    if (!cluster.native.has_value()) continue;
    config::NativeClusterConfig& native = *cluster.native;
    if (std::find(native.services.begin(), native.services.end(), "all") != native.services.end()) {
      native.services = services::HostableServices();
      if (native.services.empty()) {
        return absl::FailedPreconditionError("native: services: all, but this build hosts no port");
      }
    }
    for (const std::string& service : native.services) {
      hosted.insert(service);
      if (!native.serve) continue;
      if (!HasNatsListener(config, service)) {
        config::ListenerConfig listener;
        listener.name = absl::StrCat("nats-", service);
        config::NatsListenerConfig& nats = listener.nats.emplace();
        nats.service = service;
        nats.subject = absl::StrCat("svc.", service, ".v1.>");
        nats.queue = absl::StrCat("svc-", service, "-workers");
        config.listeners.push_back(std::move(listener));
      }
      if (!HasRoute(config, service, "")) {
        config::RouteConfig route;
        route.name = absl::StrCat(service, "/*");
        route.service = service;
        route.cluster = cluster.name;
        route.split = {{cluster.name, 10000}};
        config.routes.push_back(std::move(route));
      }
      const std::string prefix = absl::StrCat("/api/", service, "/");
      if (has_http_listener && !HasRoute(config, service, prefix)) {
        config::RouteConfig route;
        route.name = prefix;
        route.prefix = prefix;
        route.service = service;
        route.cluster = cluster.name;
        route.split = {{cluster.name, 10000}};
        config.routes.push_back(std::move(route));
      }
    }
  }
  // Action tables from the schemas, for every service a NATS listener serves.
  for (const config::ListenerConfig& listener : config.listeners) {
    if (!listener.nats.has_value()) continue;
    const std::string& service = listener.nats->service;
    if (HasService(config, service)) continue;
    auto from_schema = adapters::transcoding::ServiceConfigFromSchema(service);
    if (!from_schema.ok()) continue;  // no schema: passthrough only, as before
    if (hosted.count(service) > 0) {
      from_schema->actions.push_back({"_fixture", "POST", absl::StrCat("/api/", service, "/_fixture")});
      std::sort(from_schema->actions.begin(), from_schema->actions.end(),
                [](const auto& a, const auto& b) { return a.action < b.action; });
    }
    config.services.push_back(*std::move(from_schema));
  }
  return absl::OkStatus();
}

}  // namespace sidecar::server
