#include "services/weather_manager/weather_manager_service.h"

#include <string>
#include <utility>
#include <vector>

#include "services/common/errors.h"
#include "services/common/fixtures.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"
#include "services/weather_manager/weather_logic.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services {
namespace {

namespace wm = weather_manager;
namespace pb = ::weather_manager::v1;

// `_fixture`: {"regions": [Region...]} (README.md), one store entry per region.
absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext&) {
  const nlohmann::json json = StructToJson(document);
  std::vector<StoreEntry> entries;
  auto regions = json.find("regions");
  if (regions == json.end() || regions->is_null()) return entries;
  if (!regions->is_array()) return InvalidArgument("regions", reason::kType);
  for (size_t i = 0; i < regions->size(); ++i) {
    ASSIGN_OR_RETURN(wm::Region region, wm::RegionFromJson((*regions)[i], IndexField("regions", i)));
    entries.push_back({wm::RegionKey(region.region_id), wm::RegionToJson(region).dump(), 0, 0});
  }
  return entries;
}

// The thin binding: one typed handler per §2.13 action, all forwarding to WeatherLogic.
class WeatherManagerService final : public Service {
 public:
  explicit WeatherManagerService(const ServiceDeps& deps)
      : deps_(deps), logic_(*deps.store, *deps.events) {}

  std::string_view name() const override { return wm::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PutRegionRequest, pb::PutRegionResponse>(
        "put_region", [this](const CallContext& ctx, pb::PutRegionRequest rq,
                             Done<pb::PutRegionResponse> done) {
          logic_.PutRegion(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::GetWeatherRequest, pb::GetWeatherResponse>(
        "get_weather", [this](const CallContext& ctx, pb::GetWeatherRequest rq,
                              Done<pb::GetWeatherResponse> done) {
          logic_.GetWeather(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ForecastRequest, pb::ForecastResponse>(
        "forecast",
        [this](const CallContext& ctx, pb::ForecastRequest rq, Done<pb::ForecastResponse> done) {
          logic_.Forecast(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::SetOverrideRequest, pb::SetOverrideResponse>(
        "set_override", [this](const CallContext& ctx, pb::SetOverrideRequest rq,
                               Done<pb::SetOverrideResponse> done) {
          logic_.SetOverride(ctx, std::move(rq), std::move(done));
        });
    r.Add<pb::ClearOverrideRequest, pb::ClearOverrideResponse>(
        "clear_override", [this](const CallContext& ctx, pb::ClearOverrideRequest rq,
                                 Done<pb::ClearOverrideResponse> done) {
          logic_.ClearOverride(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store,
                          {std::string(wm::kStorePrefix)}, MapFixture);
  }

 private:
  ServiceDeps deps_;
  wm::WeatherLogic logic_;
};

}  // namespace

std::unique_ptr<Service> MakeWeatherManagerService(const ServiceDeps& deps) {
  return std::make_unique<WeatherManagerService>(deps);
}

}  // namespace sidecar::services
