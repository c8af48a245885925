#pragma once
// State fixtures (issue 5): POST /api/<service>/_fixture and svc.<service>.v1._fixture take a JSON
// document in the service's state shape and replace the port's state with it, so shadow and golden
// tests start both implementations from the same "Given". Enabled only when config says
// `fixtures: true` (off by default); otherwise PERMISSION_DENIED {}. The action is public (no
// principal needed) because it is a test hook gated by config, not a spec action.
//
// A port supplies only the mapping document -> store entries; the framework clears the port's
// prefixes and writes the entries. The request and response are google.protobuf.Struct (the JSON
// object as is; the response is {}).

#include <functional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/service.h"
#include "services/common/state_store.h"

namespace sidecar::services {

inline constexpr std::string_view kFixtureAction = "_fixture";

// Document -> entries to write (key, value, expires_at_ms); INVALID_ARGUMENT for a bad document.
using FixtureMapper = std::function<absl::StatusOr<std::vector<StoreEntry>>(
    const google::protobuf::Struct& document, const CallContext& ctx)>;

// PERMISSION_DENIED {} unless fixtures are enabled.
absl::Status CheckFixturesEnabled(bool enabled);

// Deletes every entry under `prefixes`, then writes `entries` (unconditionally); `done` gets the
// first error, if any.
void ApplyFixture(StateStore& store, std::vector<std::string> prefixes,
                  std::vector<StoreEntry> entries, int64_t now_ms,
                  absl::AnyInvocable<void(absl::Status) &&> done);

// Registers `_fixture` on `registry`: disabled -> PERMISSION_DENIED; else map and apply.
// `store` must outlive the registry.
void RegisterFixtureAction(HandlerRegistry& registry, bool enabled, StateStore& store,
                           std::vector<std::string> prefixes, FixtureMapper mapper);

}  // namespace sidecar::services
