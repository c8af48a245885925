#include "services/settings/settings_logic.h"

#include <memory>
#include <utility>

#include "services/common/errors.h"
#include "services/settings/settings_store.h"
#include "sidecar/common/logging.h"

namespace sidecar::services::settings {
namespace {

// A store failure as the caller sees it: a conflict that survived every retry is retryable
// contention (UNAVAILABLE, §0.4 "store down ... retry"); anything else passes through.
absl::Status StoreError(const absl::Status& status) {
  if (IsConflict(status)) return Unavailable("", {}, "too much contention on the settings store");
  return status;
}

template <typename Op>
bool ShouldRetry(const absl::Status& status, const Op& op) {
  return IsConflict(status) && op.attempts < kMaxAttempts;
}

}  // namespace

struct SettingsLogic::PutSchemaOp {
  CallContext ctx;
  pb::SettingSchema schema;  // validated, fields of other types zeroed
  Done<pb::PutSchemaResponse> done;
  int attempts = 0;
};

struct SettingsLogic::SetValuesOp {
  CallContext ctx;
  pb::SetValuesRequest rq;
  Done<pb::SetValuesResponse> done;
  int attempts = 0;
};

struct SettingsLogic::ResetOp {
  CallContext ctx;
  pb::ResetRequest rq;
  Done<pb::ResetResponse> done;
  int attempts = 0;
};

// ---- put_schema ----

void SettingsLogic::PutSchema(const CallContext& ctx, pb::PutSchemaRequest rq,
                              Done<pb::PutSchemaResponse> done) {
  // §0.4: fields (rule 6 order) -> PERMISSION_DENIED (a write) -> RESOURCE_EXHAUSTED.
  absl::StatusOr<pb::SettingSchema> schema = BuildSchema(rq);
  if (!schema.ok()) {
    std::move(done)(schema.status());
    return;
  }
  if (absl::Status s = ctx.AuthorizeWrite(); !s.ok()) {
    std::move(done)(s);
    return;
  }
  PutSchemaAttempt(std::make_unique<PutSchemaOp>(
      PutSchemaOp{ctx, std::move(*schema), std::move(done)}));
}

void SettingsLogic::PutSchemaAttempt(std::unique_ptr<PutSchemaOp> op) {
  ++op->attempts;
  const int64_t now = op->ctx.now_ms();
  LoadDoc<SchemaDoc>(
      store_, std::string(kSchemaKey), now,
      [this, now, op = std::move(op)](absl::StatusOr<Snapshot<SchemaDoc>> got) mutable {
        if (!got.ok()) {
          std::move(op->done)(got.status());
          return;
        }
        SchemaDoc& doc = got->doc;
        // §0.4 caps count existing entities: replacing at the cap succeeds (R20).
        if (FindSchema(doc, op->schema.key()) == nullptr &&
            static_cast<size_t>(doc.entries_size()) >= kMaxSettingKeys) {
          std::move(op->done)(LimitExceeded(kMaxSettingKeys, "at most 256 setting keys"));
          return;
        }
        UpsertSchema(doc, op->schema);
        // R29: every successful put_schema adds 1, even when nothing changed.
        doc.set_schema_revision(doc.schema_revision() + 1);
        const int64_t schema_revision = doc.schema_revision();
        store_.CompareAndSet(
            std::string(kSchemaKey), doc.SerializeAsString(), got->store_revision, now, {},
            [this, schema_revision, op = std::move(op)](absl::StatusOr<uint64_t> written) mutable {
              if (ShouldRetry(written.status(), *op)) {
                PutSchemaAttempt(std::move(op));
                return;
              }
              if (!written.ok()) {
                std::move(op->done)(StoreError(written.status()));
                return;
              }
              PublishSchemaChanged(op->ctx, op->schema.key(), schema_revision, *written);
              pb::PutSchemaResponse response;
              response.set_key(op->schema.key());
              response.set_schema_revision(schema_revision);
              std::move(op->done)(std::move(response));
            });
      });
}

// ---- get_schema ----

void SettingsLogic::GetSchema(const CallContext& ctx, pb::GetSchemaRequest,
                              Done<pb::GetSchemaResponse> done) {
  if (absl::Status s = ctx.AuthorizeRead(); !s.ok()) {
    std::move(done)(s);
    return;
  }
  LoadDoc<SchemaDoc>(store_, std::string(kSchemaKey), ctx.now_ms(),
                     [done = std::move(done)](absl::StatusOr<Snapshot<SchemaDoc>> got) mutable {
                       if (!got.ok()) {
                         std::move(done)(got.status());
                         return;
                       }
                       std::move(done)(std::move(got->doc));  // entries are kept by key
                     });
}

// ---- get_effective ----

void SettingsLogic::GetEffective(const CallContext& ctx, pb::GetEffectiveRequest rq,
                                 Done<pb::GetEffectiveResponse> done) {
  absl::Status s = CheckPlayerId(rq.player_id());
  if (s.ok()) s = CheckPlatform(rq.platform());
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/false);
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  const int64_t now = ctx.now_ms();
  LoadDoc<SchemaDoc>(
      store_, std::string(kSchemaKey), now,
      [this, now, rq = std::move(rq), done = std::move(done)](
          absl::StatusOr<Snapshot<SchemaDoc>> schema) mutable {
        if (!schema.ok()) {
          std::move(done)(schema.status());
          return;
        }
        std::string key = PlayerKey(rq.player_id());
        LoadDoc<PlayerDoc>(
            store_, std::move(key), now,
            [rq = std::move(rq), schema = std::move(schema->doc), done = std::move(done)](
                absl::StatusOr<Snapshot<PlayerDoc>> player) mutable {
              if (!player.ok()) {
                std::move(done)(player.status());
                return;
              }
              std::move(done)(Effective(schema, player->doc, rq.player_id(),
                                        ResolvePlatform(rq.platform())));
            });
      });
}

// ---- set_values ----

void SettingsLogic::SetValues(const CallContext& ctx, pb::SetValuesRequest rq,
                              Done<pb::SetValuesResponse> done) {
  absl::Status s = CheckPlayerId(rq.player_id());
  if (s.ok()) s = CheckPlatform(rq.platform());
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  SetValuesAttempt(std::make_unique<SetValuesOp>(SetValuesOp{ctx, std::move(rq), std::move(done)}));
}

void SettingsLogic::SetValuesAttempt(std::unique_ptr<SetValuesOp> op) {
  ++op->attempts;
  const int64_t now = op->ctx.now_ms();
  LoadDoc<SchemaDoc>(
      store_, std::string(kSchemaKey), now,
      [this, op = std::move(op)](absl::StatusOr<Snapshot<SchemaDoc>> schema) mutable {
        // `values` is checked against the stored schema at its table position (§0.4 step 2),
        // before authorization; expected_revision's only field check is the transcoder's.
        absl::Status s = schema.status();
        if (s.ok()) s = CheckValues(schema->doc, op->rq.values());
        if (s.ok()) s = op->ctx.AuthorizePlayer(op->rq.player_id(), /*is_write=*/true);
        if (!s.ok()) {
          std::move(op->done)(s);
          return;
        }
        SetValuesWrite(std::move(op), std::move(schema->doc));
      });
}

void SettingsLogic::SetValuesWrite(std::unique_ptr<SetValuesOp> op, SchemaDoc schema) {
  const int64_t now = op->ctx.now_ms();
  std::string key = PlayerKey(op->rq.player_id());
  LoadDoc<PlayerDoc>(
      store_, key, now,
      [this, now, key, schema = std::move(schema),
       op = std::move(op)](absl::StatusOr<Snapshot<PlayerDoc>> player) mutable {
        absl::Status s = player.status();
        if (s.ok()) s = CheckRevision(op->rq.expected_revision(), player->doc.revision());
        if (!s.ok()) {
          std::move(op->done)(s);
          return;
        }
        PlayerDoc doc = std::move(player->doc);
        std::vector<std::string> keys =
            ApplyValues(schema, op->rq.values(), ResolvePlatform(op->rq.platform()), doc);
        std::string bytes = doc.SerializeAsString();
        store_.CompareAndSet(
            key, std::move(bytes), player->store_revision, now, {},
            [this, doc = std::move(doc), keys = std::move(keys),
             op = std::move(op)](absl::StatusOr<uint64_t> written) mutable {
              if (ShouldRetry(written.status(), *op)) {
                SetValuesAttempt(std::move(op));
                return;
              }
              if (!written.ok()) {
                std::move(op->done)(StoreError(written.status()));
                return;
              }
              PublishPlayerChanged(op->ctx, op->rq.player_id(), doc.revision(), keys, *written);
              std::move(op->done)(std::move(doc));  // {revision, stored}: the stored record
            });
      });
}

// ---- reset ----

void SettingsLogic::Reset(const CallContext& ctx, pb::ResetRequest rq,
                          Done<pb::ResetResponse> done) {
  absl::Status s = CheckPlayerId(rq.player_id());
  if (s.ok()) s = CheckResetKeys(rq.keys());
  if (s.ok()) s = ctx.AuthorizePlayer(rq.player_id(), /*is_write=*/true);
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  ResetAttempt(std::make_unique<ResetOp>(ResetOp{ctx, std::move(rq), std::move(done)}));
}

void SettingsLogic::ResetAttempt(std::unique_ptr<ResetOp> op) {
  ++op->attempts;
  const int64_t now = op->ctx.now_ms();
  std::string key = PlayerKey(op->rq.player_id());
  LoadDoc<PlayerDoc>(
      store_, key, now,
      [this, now, key, op = std::move(op)](absl::StatusOr<Snapshot<PlayerDoc>> player) mutable {
        absl::Status s = player.status();
        if (s.ok()) s = CheckRevision(op->rq.expected_revision(), player->doc.revision());
        if (!s.ok()) {
          std::move(op->done)(s);
          return;
        }
        PlayerDoc doc = std::move(player->doc);
        std::vector<std::string> keys = ApplyReset(op->rq.keys(), doc);
        std::string bytes = doc.SerializeAsString();
        store_.CompareAndSet(
            key, std::move(bytes), player->store_revision, now, {},
            [this, doc = std::move(doc), keys = std::move(keys),
             op = std::move(op)](absl::StatusOr<uint64_t> written) mutable {
              if (ShouldRetry(written.status(), *op)) {
                ResetAttempt(std::move(op));
                return;
              }
              if (!written.ok()) {
                std::move(op->done)(StoreError(written.status()));
                return;
              }
              PublishPlayerChanged(op->ctx, op->rq.player_id(), doc.revision(), keys, *written);
              pb::ResetResponse response;
              response.set_revision(doc.revision());
              *response.mutable_stored() = doc.stored();
              std::move(op->done)(std::move(response));
            });
      });
}

// ---- events ----

void SettingsLogic::PublishPlayerChanged(const CallContext& ctx, const std::string& player_id,
                                         int64_t revision, const std::vector<std::string>& keys,
                                         uint64_t store_revision) {
  pb::PlayerSettingsChangedEvent event;
  event.set_player_id(player_id);
  event.set_revision(revision);
  for (const std::string& key : keys) event.add_keys(key);
  // The store revision names this very write (a fixture may reset `revision`), so a retried
  // publish of it keeps its Nats-Msg-Id and nothing else shares it.
  Publish(ctx, "player_settings_changed",
          player_id + ":" + std::to_string(revision) + ":" + std::to_string(store_revision), event);
}

void SettingsLogic::PublishSchemaChanged(const CallContext& ctx, const std::string& key,
                                         int64_t schema_revision, uint64_t store_revision) {
  pb::SchemaChangedEvent event;
  event.set_key(key);
  event.set_schema_revision(schema_revision);
  Publish(ctx, "schema_changed",
          key + ":" + std::to_string(schema_revision) + ":" + std::to_string(store_revision), event);
}

void SettingsLogic::Publish(const CallContext& ctx, std::string_view event_name,
                            std::string material, google::protobuf::Message& event) {
  absl::StatusOr<Event> built = MakeEvent(kServiceName, event_name,
                                          MakeEventId(kServiceName, event_name, material),
                                          ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("settings: cannot build event", {{"event", event_name}});
    return;
  }
  events_.Publish(std::move(*built), [name = std::string(event_name)](absl::Status s) {
    if (!s.ok()) log::Warn("settings: event publish failed", {{"event", name}});
  });
}

}  // namespace sidecar::services::settings
