#pragma once
// The `native` cluster: native C++ ports in this process, behind the same Cluster interface as the
// legacy HTTP service, so a route can send any action to a port exactly as it sends it to legacy.
//
// One request, in SERVICES.md §0.4 order:
//   the HTTP form (method + path + JSON body; the NATS listener produced it from the action route)
//   -> action + JSON payload (the service's schema routes; POST /api/<svc>/_fixture -> `_fixture`)
//   -> CallContext from the headers (X-Request-Time as now, X-Principal, deadline)
//   -> Method::Preflight (UNAUTHENTICATED, X-Request-Time) -> JSON -> <Action>Request
//   -> the port's handler (asynchronous; never blocks the loop)
//   -> <Action>Response as JSON, 200; a port error as its §0.4 status and body.
// Port errors are responses (4xx/5xx), not transport failures, as with the legacy cluster.

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/native/nats_dependency_client.h"
#include "adapters/transcoding/transcoder.h"
#include "prometheus/counter.h"
#include "sidecar/stats/histogram.h"
#include "services/common/service.h"
#include "services/common/service_deps.h"
#include "services/common/timers.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters::native {

// Makes a port by spec name (services/registry's MakeService in the server; fakes in tests).
using ServiceFactory =
    absl::AnyInvocable<absl::StatusOr<services::ServicePtr>(std::string_view name, const services::ServiceDeps&)>;

struct NativeClusterOptions {
  std::string name;
  std::vector<std::string> services;  // spec names to host
  // Store, publisher and outbound HTTP outlive the cluster. `deps.dependencies` and `deps.timers`
  // are filled by the cluster: a NatsDependencyClient per hosted port (its own X-Principal) over
  // `dependencies_cluster`, and one DispatcherTimers.
  services::ServiceDeps deps;
  // The `nats` cluster the ports call other services through (outlives this cluster); null ->
  // dependency calls answer UNAVAILABLE.
  upstream::Cluster* dependencies_cluster = nullptr;
};

class NativeCluster final : public upstream::Cluster {
 public:
  static absl::StatusOr<std::unique_ptr<NativeCluster>> Create(NativeClusterOptions options,
                                                               event::Dispatcher& dispatcher,
                                                               stats::Metrics& metrics, ServiceFactory factory);
  ~NativeCluster() override;

  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "native"; }
  upstream::Cancellable* Send(const http::Request& request, upstream::ResponseCallback done) override;
  bool Healthy() const override { return true; }
  std::string HealthDetail() const override;

  const std::vector<std::string>& services() const { return service_names_; }

 private:
  struct Hosted {
    // Declared first: destroyed after the port that calls through it.
    std::unique_ptr<NatsDependencyClient> dependencies;
    services::ServicePtr service;
    services::HandlerRegistry registry;
    std::unique_ptr<const transcoding::Transcoder> transcoder;
  };
  class Call;

  NativeCluster(std::string name, event::Dispatcher& dispatcher, stats::Metrics& metrics);
  void Complete(uint64_t id, absl::StatusOr<http::Response> result);

  std::string name_;
  event::Dispatcher& dispatcher_;
  // Declared before hosted_: destroyed right after the ports, in the same destructor, so no timer
  // fires into a destroyed port.
  std::unique_ptr<services::DispatcherTimers> timers_;
  std::map<std::string, std::unique_ptr<Hosted>, std::less<>> hosted_;
  std::vector<std::string> service_names_;
  std::map<uint64_t, std::unique_ptr<Call>> calls_;
  uint64_t next_id_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  prometheus::Family<prometheus::Counter>& rq_total_;
  // sidecar_upstream_rq_total{outcome="<n>xx"} by status / 100, resolved on a class's first
  // request: Family::Add builds a label map and locks the family, once per request before.
  std::array<prometheus::Counter*, 10> rq_by_class_{};
  stats::Histogram* rq_duration_;
};

}  // namespace sidecar::adapters::native
