#pragma once
// Per-request outcomes of routes, for whoever judges a cut-over (sidecar/cutover's guards):
// the router reports every request, the shadow path every comparison. Dispatcher thread only;
// implementations must be cheap (called once per request).

#include <chrono>
#include <string>

namespace sidecar::router {

class RouteObserver {
 public:
  virtual ~RouteObserver() = default;
  // A request on `route` was answered by `cluster` (the side that served it, after any fallback or
  // retry): `ok` unless it ended in a 5xx or a transport failure; `latency` from routing to answer.
  virtual void OnRequest(const std::string& route, const std::string& cluster, bool ok,
                         std::chrono::microseconds latency) = 0;
  // A shadow comparison on `route` finished: the mirrored request went to `shadow_cluster`, and
  // the two responses matched (after normalisation) or not.
  virtual void OnShadowCompared(const std::string& route, const std::string& shadow_cluster, bool matched) = 0;
};

}  // namespace sidecar::router
