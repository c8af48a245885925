#pragma once
// model-management (SERVICES.md §2.9): the five actions over the shared StateStore in the §0.4
// check order: field checks (model_management_rules.h) -> authorization -> the catalog read and
// the rule's decision -> one compare-and-set of the catalog -> events after the commit.

#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/model_management/model_management_rules.h"

namespace sidecar::services::model_management {

// The one config document (see model_management_rules.h, Catalog).
inline constexpr std::string_view kStorePrefix = "model-management/";
inline constexpr std::string_view kCatalogKey = "model-management/catalog";

class ModelManagementLogic {
 public:
  // Both must outlive the logic and every call in flight.
  ModelManagementLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void PutModel(const CallContext& ctx, pb::PutModelRequest rq, Done<pb::PutModelResponse> done);
  void GetModel(const CallContext& ctx, pb::GetModelRequest rq, Done<pb::GetModelResponse> done);
  void ListModels(const CallContext& ctx, pb::ListModelsRequest rq,
                  Done<pb::ListModelsResponse> done);
  void SetAlias(const CallContext& ctx, pb::SetAliasRequest rq, Done<pb::SetAliasResponse> done);
  void SetStatus(const CallContext& ctx, pb::SetStatusRequest rq,
                 Done<pb::SetStatusResponse> done);

 private:
  // Reads the catalog (absent = empty) and hands it to `then`.
  void ReadCatalog(const CallContext& ctx,
                   absl::AnyInvocable<void(absl::StatusOr<Catalog>) &&> then);

  void PublishModelChanged(const CallContext& ctx, const std::string& model_id, int64_t revision,
                           const std::string& status, uint64_t store_revision);
  void PublishAliasChanged(const CallContext& ctx, const std::string& alias,
                           const std::string& model_id, uint64_t store_revision);
  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event);

  StateStore& store_;
  EventPublisher& events_;
};

}  // namespace sidecar::services::model_management
