#include "services/capability_registry/capability_registry_logic.h"

#include <memory>
#include <utility>

#include "services/capability_registry/capability_registry_store.h"
#include "services/common/pagination.h"
#include "sidecar/common/logging.h"

namespace sidecar::services::capability_registry {
namespace {

// Field checks, then the write authorization (rule 1: writes are service/admin).
absl::Status CheckWrite(const CallContext& ctx, absl::Status fields) {
  if (!fields.ok()) return fields;
  return ctx.AuthorizeWrite();
}

// "<capability>/<provider_id>/<store revision>": names one committed write.
std::string EventMaterial(const std::string& capability, const std::string& provider_id,
                          uint64_t store_revision) {
  return capability + "/" + provider_id + "/" + std::to_string(store_revision);
}

}  // namespace

void CapabilityRegistryLogic::Register(const CallContext& ctx, pb::RegisterRequest rq,
                                       Done<pb::RegisterResponse> done) {
  if (absl::Status s = CheckWrite(ctx, CheckRegister(rq)); !s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  // The edit may re-run after a lost race; the last run's answer is the one committed.
  auto outcome = std::make_shared<Registered>();
  LeasesEdit edit = [rq, now, outcome](Leases& leases) -> absl::StatusOr<bool> {
    absl::StatusOr<Registered> registered = capability_registry::Register(leases, rq, now);
    if (!registered.ok()) return registered.status();
    *outcome = *registered;
    return true;
  };
  std::string capability = rq.capability();
  EditLeases(store_, std::move(capability), now, std::move(edit),
             [this, ctx, rq = std::move(rq), outcome,
              done = std::move(done)](absl::StatusOr<EditResult> edited) mutable {
               if (!edited.ok()) {
                 std::move(done)(edited.status());
                 return;
               }
               pb::ProviderRegisteredEvent event;
               event.set_capability(rq.capability());
               event.set_provider_id(rq.provider_id());
               event.set_version(rq.version());
               Publish(ctx, "provider_registered",
                       EventMaterial(rq.capability(), rq.provider_id(), edited->store_revision),
                       event);
               pb::RegisterResponse response;
               response.set_capability(rq.capability());
               response.set_provider_id(rq.provider_id());
               response.set_expires_at(outcome->expires_at);
               response.set_replaced(outcome->replaced);
               std::move(done)(std::move(response));
             });
}

void CapabilityRegistryLogic::Heartbeat(const CallContext& ctx, pb::HeartbeatRequest rq,
                                        Done<pb::HeartbeatResponse> done) {
  if (absl::Status s = CheckWrite(ctx, CheckHeartbeat(rq)); !s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  auto expires_at = std::make_shared<int64_t>(0);
  LeasesEdit edit = [rq, now, expires_at](Leases& leases) -> absl::StatusOr<bool> {
    absl::StatusOr<int64_t> extended = capability_registry::Heartbeat(leases, rq, now);
    if (!extended.ok()) return extended.status();
    *expires_at = *extended;
    return true;
  };
  EditLeases(store_, rq.capability(), now, std::move(edit),
             [expires_at, done = std::move(done)](absl::StatusOr<EditResult> edited) mutable {
               if (!edited.ok()) {
                 std::move(done)(edited.status());
                 return;
               }
               pb::HeartbeatResponse response;
               response.set_expires_at(*expires_at);
               std::move(done)(std::move(response));
             });
}

void CapabilityRegistryLogic::Deregister(const CallContext& ctx, pb::DeregisterRequest rq,
                                         Done<pb::DeregisterResponse> done) {
  absl::Status fields = CheckCapability(rq.capability());
  if (fields.ok()) fields = CheckProviderId(rq.provider_id());
  if (absl::Status s = CheckWrite(ctx, fields); !s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  LeasesEdit edit = [provider_id = rq.provider_id(), now](Leases& leases) -> absl::StatusOr<bool> {
    return capability_registry::Deregister(leases, provider_id, now);
  };
  std::string capability = rq.capability();  // before the callback takes `rq`
  EditLeases(store_, std::move(capability), now, std::move(edit),
             [this, ctx, rq = std::move(rq),
              done = std::move(done)](absl::StatusOr<EditResult> edited) mutable {
               if (!edited.ok()) {
                 std::move(done)(edited.status());
                 return;
               }
               if (edited->changed) {
                 pb::ProviderDeregisteredEvent event;
                 event.set_capability(rq.capability());
                 event.set_provider_id(rq.provider_id());
                 Publish(ctx, "provider_deregistered",
                         EventMaterial(rq.capability(), rq.provider_id(), edited->store_revision),
                         event);
               }
               pb::DeregisterResponse response;
               response.set_removed(edited->changed);
               std::move(done)(std::move(response));
             });
}

void CapabilityRegistryLogic::Resolve(const CallContext& ctx, pb::ResolveRequest rq,
                                      Done<pb::ResolveResponse> done) {
  if (absl::Status s = CheckResolve(rq); !s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  // Copied first: argument evaluation order is unspecified and the callback takes `rq`.
  const std::string capability = rq.capability();
  LoadLeases(store_, capability, now,
             [now, rq = std::move(rq), done = std::move(done)](absl::StatusOr<Leases> leases) mutable {
               if (!leases.ok()) {
                 std::move(done)(leases.status());
                 return;
               }
               absl::StatusOr<std::vector<pb::Provider>> providers =
                   LiveProviders(*leases, rq.min_version(), now);
               if (!providers.ok()) {
                 std::move(done)(providers.status());
                 return;
               }
               pb::ResolveResponse response;
               response.set_capability(rq.capability());
               for (pb::Provider& p : *providers) *response.add_providers() = std::move(p);
               std::move(done)(std::move(response));
             });
}

void CapabilityRegistryLogic::ListCapabilities(const CallContext& ctx,
                                               pb::ListCapabilitiesRequest rq,
                                               Done<pb::ListCapabilitiesResponse> done) {
  absl::StatusOr<int32_t> page_size = ResolvePageSize(rq.page_size());
  if (!page_size.ok()) {
    std::move(done)(page_size.status());
    return;
  }
  absl::StatusOr<std::optional<std::string>> after = DecodeStringPageToken(rq.page_token());
  if (!after.ok()) {
    std::move(done)(after.status());
    return;
  }
  const int64_t now = ctx.now_ms();
  LoadAllLeases(
      store_, now,
      [now, page_size = *page_size, after = *after,
       done = std::move(done)](absl::StatusOr<std::vector<CapabilityLeases>> all) mutable {
        if (!all.ok()) {
          std::move(done)(all.status());
          return;
        }
        // Rule 5: capabilities with ≥1 live provider, by name (the store lists by key).
        std::vector<pb::CapabilitySummary> live;
        for (const CapabilityLeases& c : *all) {
          const size_t count = CountLive(c.leases, now);
          if (count == 0) continue;
          pb::CapabilitySummary& summary = live.emplace_back();
          summary.set_capability(c.capability);
          summary.set_live_providers(static_cast<int32_t>(count));
        }
        std::function<bool(const pb::CapabilitySummary&)> after_token;
        if (after.has_value()) {
          after_token = [key = *after](const pb::CapabilitySummary& s) { return s.capability() > key; };
        }
        Page<pb::CapabilitySummary> page = Paginate<pb::CapabilitySummary>(
            std::move(live), page_size, after_token,
            [](const pb::CapabilitySummary& s) { return EncodePageToken(s.capability()); });
        pb::ListCapabilitiesResponse response;
        for (pb::CapabilitySummary& s : page.items) *response.add_capabilities() = std::move(s);
        response.set_next_page_token(page.next_page_token);
        std::move(done)(std::move(response));
      });
}

void CapabilityRegistryLogic::Publish(const CallContext& ctx, std::string_view event_name,
                                      const std::string& material,
                                      google::protobuf::Message& event) {
  absl::StatusOr<Event> built = MakeEvent(kServiceName, event_name,
                                          MakeEventId(kServiceName, event_name, material),
                                          ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("capability-registry: cannot build event", {{"event", event_name}});
    return;
  }
  events_.Publish(std::move(*built), [name = std::string(event_name)](absl::Status s) {
    if (!s.ok()) log::Warn("capability-registry: event publish failed", {{"event", name}});
  });
}

}  // namespace sidecar::services::capability_registry
