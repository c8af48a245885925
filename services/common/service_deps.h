#pragma once
// What a host hands every native port. A port's factory takes these and nothing else:
//
//   std::unique_ptr<Service> MakeSettingsService(const ServiceDeps& deps);   // services/settings
//
// The host (the native cluster) owns the store and the publisher and outlives the port.

#include "services/common/event_publisher.h"
#include "services/common/state_store.h"

namespace sidecar::services {

struct ServiceDeps {
  StateStore* store = nullptr;          // shared state (in-memory or JetStream KV); never null
  EventPublisher* events = nullptr;     // the EVENTS stream (or in-memory); never null
  bool fixtures_enabled = false;        // `fixtures: true` in config enables the _fixture action
};

}  // namespace sidecar::services
