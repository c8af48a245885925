#include "services/model_management/model_management_service.h"

#include <string>
#include <utility>
#include <vector>

#include "services/common/fixtures.h"
#include "services/common/jcs.h"
#include "services/model_management/model_management_logic.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services {
namespace {

namespace mm = model_management;
namespace pb = ::model_management::v1;

// `_fixture`: the document is the stored catalog itself (README.md); it is parsed (so a bad shape
// is INVALID_ARGUMENT now, not INTERNAL later) and written back in canonical form.
absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext&) {
  ASSIGN_OR_RETURN(mm::Catalog catalog, mm::CatalogFromJson(StructToJson(document)));
  return std::vector<StoreEntry>{
      {std::string(mm::kCatalogKey), mm::CatalogToJson(catalog).dump(), 0, 0}};
}

// The thin binding: one typed handler per §2.9 action, all forwarding to ModelManagementLogic.
class ModelManagementService final : public Service {
 public:
  explicit ModelManagementService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return mm::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PutModelRequest, pb::PutModelResponse>(
        "put_model", [this](const CallContext& ctx, pb::PutModelRequest rq,
                            Done<pb::PutModelResponse> done) {
          logic_.PutModel(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetModelRequest, pb::GetModelResponse>(
        "get_model", [this](const CallContext& ctx, pb::GetModelRequest rq,
                            Done<pb::GetModelResponse> done) {
          logic_.GetModel(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ListModelsRequest, pb::ListModelsResponse>(
        "list_models", [this](const CallContext& ctx, pb::ListModelsRequest rq,
                              Done<pb::ListModelsResponse> done) {
          logic_.ListModels(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::SetAliasRequest, pb::SetAliasResponse>(
        "set_alias", [this](const CallContext& ctx, pb::SetAliasRequest rq,
                            Done<pb::SetAliasResponse> done) {
          logic_.SetAlias(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::SetStatusRequest, pb::SetStatusResponse>(
        "set_status", [this](const CallContext& ctx, pb::SetStatusRequest rq,
                             Done<pb::SetStatusResponse> done) {
          logic_.SetStatus(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(mm::kStorePrefix)}, MapFixture);
  }

 private:
  ServiceDeps deps_;
  mm::ModelManagementLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeModelManagementService(const ServiceDeps& deps) {
  return std::make_unique<ModelManagementService>(deps);
}

}  // namespace sidecar::services
