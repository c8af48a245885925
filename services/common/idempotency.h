#pragma once
// §0.5 idempotency, shared by all replicas through the StateStore.
//
// A key is scoped by (service, action, principal, key) — or (service, action, key) for ids that
// are global to the service (world-state delta_id, npc interaction_id: scope_by_principal=false).
// Begin() is called at §0.4 step 5, after validation, authorization and NOT_FOUND, before any
// dependency call:
//   no record                 -> a Ticket: run the request, then Commit (success) or Abort (error:
//                                "only successful responses are stored", the key can be retried)
//   done, same fingerprint    -> the stored response (the caller sets replayed=true where present)
//   done, other fingerprint   -> ALREADY_EXISTS {field: <conflict_field>}
//   in flight                 -> UNAVAILABLE {reason: in_progress}, whatever the fingerprint: the
//                                in-flight request may still fail and free the key, so a
//                                different request is told to retry rather than that it conflicts
//
// Records live under "_idem/<service>/<action>/<principal>/<key>". A done record expires
// `retention_ms` after its commit on the request clock (24 h by default; payment: never;
// world-state/npc-behavior: 30 days). An in-flight record carries a lease on the wall clock
// (operational, not spec state: a replica that died mid-request must not block the key forever);
// after the lease another request takes the key over.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "services/common/call_context.h"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/service.h"
#include "services/common/state_store.h"

namespace sidecar::services {

inline constexpr int64_t kDefaultIdempotencyRetentionMs = 24LL * 3600 * 1000;

class Idempotency {
 public:
  struct Options {
    std::string service;                                   // spec name, part of the scope
    std::optional<int64_t> retention_ms = kDefaultIdempotencyRetentionMs;  // nullopt: never expire
    std::string conflict_field = "idempotency_key";        // ALREADY_EXISTS field
    bool scope_by_principal = true;
    int64_t in_flight_lease_ms = 30000;                    // > any request deadline
    // Wall clock for leases (unix ms); tests inject one.
    absl::AnyInvocable<int64_t() const> wall_clock_ms = nullptr;
  };

  // The first call owns the key until Commit/Abort.
  struct Ticket {
    std::string store_key;
    uint64_t revision = 0;
    std::string fingerprint;
  };
  // A replay: the response stored by the first successful call.
  struct Replay {
    std::string response;
  };
  using BeginResult = std::variant<Ticket, Replay>;

  Idempotency(StateStore& store, Options options);

  // Looks the key up (step 5). Errors: ALREADY_EXISTS, UNAVAILABLE in_progress, store errors.
  void Begin(const CallContext& ctx, std::string_view action, std::string_view key,
             std::string fingerprint, absl::AnyInvocable<void(absl::StatusOr<BeginResult>) &&> done);
  // Stores the successful response (serialized) for replays. Fails (kAborted) only if the lease
  // ran out and someone else took the key over meanwhile.
  void Commit(const CallContext& ctx, const Ticket& ticket, std::string response,
              absl::AnyInvocable<void(absl::Status) &&> done);
  // Frees the key after a failed request.
  void Abort(const Ticket& ticket, absl::AnyInvocable<void(absl::Status) &&> done);

  // The store key of a scope (exposed for tests and fixtures).
  std::string StoreKey(const CallContext& ctx, std::string_view action, std::string_view key) const;

  // Runs `body` at most once per key with the fingerprint of `request` (§0.5): replays parse the
  // stored Resp and pass it through `on_replay` (set replayed=true) before `done`; a failed body
  // frees the key; a successful one is stored, then answered (a failed store write after success
  // is reported to `done` only if it is not a lease takeover race: the state change stands).
  template <typename Resp>
  void Run(const CallContext& ctx, std::string_view action, std::string_view key,
           const google::protobuf::Message& request,
           absl::AnyInvocable<void(Done<Resp>) &&> body,
           absl::AnyInvocable<void(Resp&) &&> on_replay, Done<Resp> done);

 private:
  void BeginAttempt(CallContext ctx, std::string store_key, std::string fingerprint, int attempts_left,
                    absl::AnyInvocable<void(absl::StatusOr<BeginResult>) &&> done);
  int64_t WallNowMs() const;

  StateStore& store_;
  Options options_;
};

template <typename Resp>
void Idempotency::Run(const CallContext& ctx, std::string_view action, std::string_view key,
                      const google::protobuf::Message& request,
                      absl::AnyInvocable<void(Done<Resp>) &&> body,
                      absl::AnyInvocable<void(Resp&) &&> on_replay, Done<Resp> done) {
  absl::StatusOr<std::string> fingerprint = RequestFingerprint(request);
  if (!fingerprint.ok()) {
    std::move(done)(Internal(std::string(fingerprint.status().message())));
    return;
  }
  Begin(ctx, action, key, std::move(*fingerprint),
        [this, ctx, body = std::move(body), on_replay = std::move(on_replay),
         done = std::move(done)](absl::StatusOr<BeginResult> begun) mutable {
          if (!begun.ok()) {
            std::move(done)(begun.status());
            return;
          }
          if (auto* replay = std::get_if<Replay>(&*begun)) {
            Resp response;
            if (!response.ParseFromString(replay->response)) {
              std::move(done)(Internal("stored idempotent response does not parse"));
              return;
            }
            if (on_replay) std::move(on_replay)(response);
            std::move(done)(std::move(response));
            return;
          }
          Ticket ticket = std::get<Ticket>(std::move(*begun));
          std::move(body)([this, ctx, ticket = std::move(ticket),
                           done = std::move(done)](absl::StatusOr<Resp> result) mutable {
            if (!result.ok()) {
              absl::Status error = result.status();
              Abort(ticket, [done = std::move(done), error](absl::Status) mutable {
                std::move(done)(error);
              });
              return;
            }
            std::string bytes = result->SerializeAsString();
            Commit(ctx, ticket, std::move(bytes),
                   [done = std::move(done), result = std::move(result)](absl::Status) mutable {
                     std::move(done)(std::move(result));
                   });
          });
        });
}

}  // namespace sidecar::services
