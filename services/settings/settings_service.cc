#include "services/settings/settings_service.h"

#include <string>
#include <utility>

#include "services/common/fixtures.h"
#include "services/settings/settings_fixture.h"
#include "services/settings/settings_logic.h"
#include "services/settings/settings_store.h"

namespace sidecar::services {
namespace {

namespace pb = ::settings::v1;
using settings::SettingsLogic;

// The thin binding: one typed handler per §2.2 action, all forwarding to SettingsLogic.
class SettingsService final : public Service {
 public:
  explicit SettingsService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return settings::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PutSchemaRequest, pb::PutSchemaResponse>(
        "put_schema", [this](const CallContext& ctx, pb::PutSchemaRequest rq,
                             Done<pb::PutSchemaResponse> done) {
          logic_.PutSchema(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetSchemaRequest, pb::GetSchemaResponse>(
        "get_schema", [this](const CallContext& ctx, pb::GetSchemaRequest rq,
                             Done<pb::GetSchemaResponse> done) {
          logic_.GetSchema(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetEffectiveRequest, pb::GetEffectiveResponse>(
        "get_effective", [this](const CallContext& ctx, pb::GetEffectiveRequest rq,
                                Done<pb::GetEffectiveResponse> done) {
          logic_.GetEffective(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::SetValuesRequest, pb::SetValuesResponse>(
        "set_values", [this](const CallContext& ctx, pb::SetValuesRequest rq,
                             Done<pb::SetValuesResponse> done) {
          logic_.SetValues(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ResetRequest, pb::ResetResponse>(
        "reset",
        [this](const CallContext& ctx, pb::ResetRequest rq, Done<pb::ResetResponse> done) {
          logic_.Reset(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(settings::kStorePrefix)}, settings::MapSettingsFixture);
  }

 private:
  ServiceDeps deps_;
  SettingsLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeSettingsService(const ServiceDeps& deps) {
  return std::make_unique<SettingsService>(deps);
}

}  // namespace sidecar::services
