#pragma once
// capability-registry (SERVICES.md §2.7): the five actions over the shared leases, in the §0.4
// check order (fields -> PERMISSION_DENIED -> NOT_FOUND -> RESOURCE_EXHAUSTED). Handlers never
// block: they read or edit one capability's leases and answer from the store's callback.

#include <string>
#include <string_view>

#include "google/protobuf/message.h"
#include "services/capability_registry/capability_registry_rules.h"
#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"

namespace sidecar::services::capability_registry {

inline constexpr std::string_view kServiceName = "capability-registry";

class CapabilityRegistryLogic {
 public:
  // Both must outlive the logic and every call in flight.
  CapabilityRegistryLogic(StateStore& store, EventPublisher& events)
      : store_(store), events_(events) {}

  void Register(const CallContext& ctx, pb::RegisterRequest rq, Done<pb::RegisterResponse> done);
  void Heartbeat(const CallContext& ctx, pb::HeartbeatRequest rq, Done<pb::HeartbeatResponse> done);
  void Deregister(const CallContext& ctx, pb::DeregisterRequest rq,
                  Done<pb::DeregisterResponse> done);
  void Resolve(const CallContext& ctx, pb::ResolveRequest rq, Done<pb::ResolveResponse> done);
  void ListCapabilities(const CallContext& ctx, pb::ListCapabilitiesRequest rq,
                        Done<pb::ListCapabilitiesResponse> done);

 private:
  // After a committed change (expiry is never evented). A publish failure does not fail the
  // request (the change stands, §0.1 "after commit"); it is logged.
  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event);

  StateStore& store_;
  EventPublisher& events_;
};

}  // namespace sidecar::services::capability_registry
