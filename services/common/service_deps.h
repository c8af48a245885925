#pragma once
// What a host hands every native port. A port's factory takes these and nothing else:
//
//   std::unique_ptr<Service> MakeSettingsService(const ServiceDeps& deps);   // services/settings
//
// The host (the native cluster) owns the store, the publisher and the dependency client and
// outlives the port.

#include "services/common/dependency_client.h"
#include "services/common/event_publisher.h"
#include "services/common/outbound_http.h"
#include "services/common/state_store.h"
#include "services/common/timers.h"

namespace sidecar::services {

struct ServiceDeps {
  StateStore* store = nullptr;          // shared state (in-memory or JetStream KV); never null
  EventPublisher* events = nullptr;     // the EVENTS stream (or in-memory); never null
  bool fixtures_enabled = false;        // `fixtures: true` in config enables the _fixture action
  // Calls to other services (SERVICES.md §1), sent as X-Principal service:<this port>: the host
  // makes one per hosted port. Never null for a port that has dependencies (a host with no route
  // to them gives a client that answers UNAVAILABLE); leaves ignore it.
  DependencyClient* dependencies = nullptr;
  // Outbound HTTP to external APIs (ai-integration's openai_compatible provider); may be null in
  // tests that never configure such a provider.
  OutboundHttpClient* http = nullptr;
  // Delayed work on the dispatcher (retry backoff, sweepers); never null where a host provides
  // ports (the native cluster, the test harness).
  Timers* timers = nullptr;
};

}  // namespace sidecar::services
