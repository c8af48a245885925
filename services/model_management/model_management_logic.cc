#include "services/model_management/model_management_logic.h"

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "services/common/errors.h"
#include "services/common/pagination.h"
#include "services/common/read_modify_write.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::model_management {
namespace {

using Json = nlohmann::json;

// The stored catalog, or INTERNAL when the bytes are not ours (only this port writes the key).
absl::StatusOr<Catalog> ParseCatalog(const std::optional<StoreEntry>& entry) {
  if (!entry.has_value()) return Catalog{};
  Json json = Json::parse(entry->value, nullptr, /*allow_exceptions=*/false);
  absl::StatusOr<Catalog> catalog = CatalogFromJson(json);
  if (!catalog.ok()) return Internal("stored model catalog does not parse");
  return catalog;
}

template <typename Outcome>
Write<Outcome> PutCatalog(const Catalog& catalog, Outcome outcome) {
  Write<Outcome> write;
  write.op = Write<Outcome>::Op::kPut;
  write.value = CatalogToJson(catalog).dump();
  write.result = std::move(outcome);
  return write;
}

template <typename Outcome>
Write<Outcome> NoWrite(Outcome outcome) {
  Write<Outcome> write;
  write.result = std::move(outcome);
  return write;
}

}  // namespace

void ModelManagementLogic::ReadCatalog(
    const CallContext& ctx, absl::AnyInvocable<void(absl::StatusOr<Catalog>) &&> then) {
  store_.Get(std::string(kCatalogKey), ctx.now_ms(),
             [then = std::move(then)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
               if (!got.ok()) {
                 std::move(then)(got.status());
                 return;
               }
               std::move(then)(ParseCatalog(*got));
             });
}

// ---- put_model ----

void ModelManagementLogic::PutModel(const CallContext& ctx, pb::PutModelRequest rq,
                                    Done<pb::PutModelResponse> done) {
  absl::StatusOr<pb::Model> model = BuildModel(rq);
  absl::Status s = model.status();
  if (s.ok()) s = ctx.AuthorizeWrite();
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  UpdateKey<PutModelOutcome>(
      store_, std::string(kCatalogKey), ctx.now_ms(),
      [model = std::move(*model)](
          const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<PutModelOutcome>> {
        ASSIGN_OR_RETURN(Catalog catalog, ParseCatalog(entry));
        ASSIGN_OR_RETURN(PutModelOutcome outcome, ApplyPutModel(catalog, model));
        return PutCatalog(catalog, std::move(outcome));
      },
      [this, ctx, done = std::move(done)](
          absl::StatusOr<Committed<PutModelOutcome>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        const pb::PutModelResponse& r = committed->result.response;
        PublishModelChanged(ctx, r.model_id(), r.revision(), r.status(),
                            committed->store_revision);
        std::move(done)(r);
      });
}

// ---- get_model ----

void ModelManagementLogic::GetModel(const CallContext& ctx, pb::GetModelRequest rq,
                                    Done<pb::GetModelResponse> done) {
  // MM10: `name` uses the id pattern; a read, so any principal.
  if (absl::Status s = CheckName("name", rq.name()); !s.ok()) {
    std::move(done)(s);
    return;
  }
  ReadCatalog(ctx, [name = rq.name(), done = std::move(done)](
                       absl::StatusOr<Catalog> catalog) mutable {
    if (!catalog.ok()) {
      std::move(done)(catalog.status());
      return;
    }
    std::move(done)(ResolveModel(*catalog, name));
  });
}

// ---- list_models ----

void ModelManagementLogic::ListModels(const CallContext& ctx, pb::ListModelsRequest rq,
                                      Done<pb::ListModelsResponse> done) {
  absl::Status s = CheckStatus(rq.status(), /*required=*/false);
  absl::StatusOr<int32_t> page_size = ResolvePageSize(rq.page_size());
  if (s.ok()) s = page_size.status();
  absl::StatusOr<std::optional<std::string>> after = DecodeStringPageToken(rq.page_token());
  if (s.ok()) s = after.status();
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  ReadCatalog(ctx, [rq = std::move(rq), size = *page_size, after = std::move(*after),
                    done = std::move(done)](absl::StatusOr<Catalog> catalog) mutable {
    if (!catalog.ok()) {
      std::move(done)(catalog.status());
      return;
    }
    std::function<bool(const pb::Model&)> after_token;
    if (after.has_value()) {
      after_token = [key = *after](const pb::Model& m) { return m.model_id() > key; };
    }
    Page<pb::Model> page = Paginate<pb::Model>(
        FilterModels(*catalog, rq.status()), size, after_token,
        [](const pb::Model& m) { return EncodePageToken(m.model_id()); });
    pb::ListModelsResponse response;
    for (pb::Model& m : page.items) *response.add_models() = std::move(m);
    response.set_next_page_token(page.next_page_token);
    std::move(done)(std::move(response));
  });
}

// ---- set_alias ----

void ModelManagementLogic::SetAlias(const CallContext& ctx, pb::SetAliasRequest rq,
                                    Done<pb::SetAliasResponse> done) {
  absl::Status s = CheckName("alias", rq.alias());
  if (s.ok()) s = CheckName("model_id", rq.model_id());
  if (s.ok()) s = ctx.AuthorizeWrite();
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  UpdateKey<SetAliasOutcome>(
      store_, std::string(kCatalogKey), ctx.now_ms(),
      [rq](const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<SetAliasOutcome>> {
        ASSIGN_OR_RETURN(Catalog catalog, ParseCatalog(entry));
        ASSIGN_OR_RETURN(SetAliasOutcome outcome,
                         ApplySetAlias(catalog, rq.alias(), rq.model_id()));
        if (!outcome.changed) return NoWrite(std::move(outcome));
        return PutCatalog(catalog, std::move(outcome));
      },
      [this, ctx, done = std::move(done)](
          absl::StatusOr<Committed<SetAliasOutcome>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        const pb::SetAliasResponse& r = committed->result.response;
        if (committed->wrote) {
          PublishAliasChanged(ctx, r.alias(), r.model_id(), committed->store_revision);
        }
        std::move(done)(r);
      });
}

// ---- set_status ----

void ModelManagementLogic::SetStatus(const CallContext& ctx, pb::SetStatusRequest rq,
                                     Done<pb::SetStatusResponse> done) {
  absl::Status s = CheckName("model_id", rq.model_id());
  if (s.ok()) s = CheckStatus(rq.status(), /*required=*/true);
  if (s.ok()) s = ctx.AuthorizeWrite();
  if (!s.ok()) {
    std::move(done)(s);
    return;
  }
  UpdateKey<SetStatusOutcome>(
      store_, std::string(kCatalogKey), ctx.now_ms(),
      [rq](const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<SetStatusOutcome>> {
        ASSIGN_OR_RETURN(Catalog catalog, ParseCatalog(entry));
        ASSIGN_OR_RETURN(SetStatusOutcome outcome,
                         ApplySetStatus(catalog, rq.model_id(), rq.status()));
        if (!outcome.changed) return NoWrite(std::move(outcome));
        return PutCatalog(catalog, std::move(outcome));
      },
      [this, ctx, done = std::move(done)](
          absl::StatusOr<Committed<SetStatusOutcome>> committed) mutable {
        if (!committed.ok()) {
          std::move(done)(committed.status());
          return;
        }
        const SetStatusOutcome& o = committed->result;
        if (committed->wrote) {
          PublishModelChanged(ctx, o.response.model_id(), o.revision, o.response.status(),
                              committed->store_revision);
        }
        std::move(done)(o.response);
      });
}

// ---- events ----

void ModelManagementLogic::PublishModelChanged(const CallContext& ctx, const std::string& model_id,
                                               int64_t revision, const std::string& status,
                                               uint64_t store_revision) {
  pb::ModelChangedEvent event;
  event.set_model_id(model_id);
  event.set_revision(revision);
  event.set_status(status);
  // The store revision names this very write (a fixture may reset `revision`).
  Publish(ctx, "model_changed",
          model_id + ":" + std::to_string(revision) + ":" + std::to_string(store_revision), event);
}

void ModelManagementLogic::PublishAliasChanged(const CallContext& ctx, const std::string& alias,
                                               const std::string& model_id,
                                               uint64_t store_revision) {
  pb::AliasChangedEvent event;
  event.set_alias(alias);
  event.set_model_id(model_id);
  Publish(ctx, "alias_changed", alias + ":" + model_id + ":" + std::to_string(store_revision),
          event);
}

void ModelManagementLogic::Publish(const CallContext& ctx, std::string_view event_name,
                                   const std::string& material, google::protobuf::Message& event) {
  absl::StatusOr<Event> built = MakeEvent(kServiceName, event_name,
                                          MakeEventId(kServiceName, event_name, material),
                                          ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("model-management: cannot build event", {{"event", event_name}});
    return;
  }
  // After the commit: a publish failure does not fail the request (§0.1), it is logged.
  events_.Publish(std::move(*built), [name = std::string(event_name)](absl::Status s) {
    if (!s.ok()) log::Warn("model-management: event publish failed", {{"event", name}});
  });
}

}  // namespace sidecar::services::model_management
