#pragma once
// weather-manager (SERVICES.md §2.13): the five actions over the shared StateStore in the §0.4
// check order. One config entry per region holds the region and its override, so put_region's
// "clears the override" and set/clear_override are single compare-and-sets:
//   weather-manager/regions/<region_id>   JSON Region (weather_rules.h, RegionToJson)
// Chain checkpoints are derived per replica (ChainCache), never stored.

#include <string>
#include <string_view>

#include "services/common/call_context.h"
#include "services/common/event_publisher.h"
#include "services/common/service.h"
#include "services/common/state_store.h"
#include "services/weather_manager/weather_rules.h"

namespace sidecar::services::weather_manager {

inline constexpr std::string_view kStorePrefix = "weather-manager/";

std::string RegionKey(std::string_view region_id);

class WeatherLogic {
 public:
  // Both must outlive the logic and every call in flight.
  WeatherLogic(StateStore& store, EventPublisher& events) : store_(store), events_(events) {}

  void PutRegion(const CallContext& ctx, pb::PutRegionRequest rq, Done<pb::PutRegionResponse> done);
  void GetWeather(const CallContext& ctx, pb::GetWeatherRequest rq,
                  Done<pb::GetWeatherResponse> done);
  void Forecast(const CallContext& ctx, pb::ForecastRequest rq, Done<pb::ForecastResponse> done);
  void SetOverride(const CallContext& ctx, pb::SetOverrideRequest rq,
                   Done<pb::SetOverrideResponse> done);
  void ClearOverride(const CallContext& ctx, pb::ClearOverrideRequest rq,
                     Done<pb::ClearOverrideResponse> done);

 private:
  // The region (nullopt when absent) for the read actions.
  void ReadRegion(const CallContext& ctx, const std::string& region_id,
                  absl::AnyInvocable<void(absl::StatusOr<std::optional<Region>>) &&> then);

  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event);

  StateStore& store_;
  EventPublisher& events_;
  ChainCache chain_;
};

}  // namespace sidecar::services::weather_manager
