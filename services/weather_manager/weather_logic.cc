#include "services/weather_manager/weather_logic.h"

#include <optional>
#include <utility>

#include "services/common/errors.h"
#include "services/common/read_modify_write.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::weather_manager {
namespace {

using Json = nlohmann::json;

// The stored region, or INTERNAL when the bytes are not ours (only this port writes the key).
absl::StatusOr<std::optional<Region>> ParseRegion(const std::optional<StoreEntry>& entry) {
  if (!entry.has_value()) return std::optional<Region>();
  Json json = Json::parse(entry->value, nullptr, /*allow_exceptions=*/false);
  absl::StatusOr<Region> region = RegionFromJson(json, "");
  if (!region.ok()) return Internal("stored region does not parse");
  return std::optional<Region>(std::move(*region));
}

Write<Region> PutRegionWrite(Region region) {
  Write<Region> write;
  write.op = Write<Region>::Op::kPut;
  write.value = RegionToJson(region).dump();
  write.result = std::move(region);
  return write;
}

template <typename Resp>
bool Fail(const absl::Status& s, Done<Resp>& done) {
  if (s.ok()) return false;
  std::move(done)(s);
  return true;
}

}  // namespace

std::string RegionKey(std::string_view region_id) {
  return std::string(kStorePrefix) + "regions/" + std::string(region_id);
}

void WeatherLogic::ReadRegion(
    const CallContext& ctx, const std::string& region_id,
    absl::AnyInvocable<void(absl::StatusOr<std::optional<Region>>) &&> then) {
  store_.Get(RegionKey(region_id), ctx.now_ms(),
             [then = std::move(then)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
               if (!got.ok()) {
                 std::move(then)(got.status());
                 return;
               }
               std::move(then)(ParseRegion(*got));
             });
}

// ---- put_region ----

void WeatherLogic::PutRegion(const CallContext& ctx, pb::PutRegionRequest rq,
                             Done<pb::PutRegionResponse> done) {
  absl::StatusOr<Region> region = BuildRegion(rq);
  if (Fail(region.status(), done) || Fail(ctx.AuthorizeWrite(), done)) return;
  UpdateKey<Region>(
      store_, RegionKey(rq.region_id()), ctx.now_ms(),
      [region = std::move(*region)](
          const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<Region>> {
        ASSIGN_OR_RETURN(std::optional<Region> old, ParseRegion(entry));
        Region next = region;  // replaces the config and clears the override (rule 1)
        next.revision = old.has_value() ? old->revision + 1 : 1;
        return PutRegionWrite(std::move(next));
      },
      [this, ctx, done = std::move(done)](absl::StatusOr<Committed<Region>> committed) mutable {
        if (Fail(committed.status(), done)) return;
        const Region& r = committed->result;
        pb::RegionConfiguredEvent event;
        event.set_region_id(r.region_id);
        event.set_revision(r.revision);
        Publish(ctx, "region_configured",
                r.region_id + ":" + std::to_string(r.revision) + ":" +
                    std::to_string(committed->store_revision),
                event);
        pb::PutRegionResponse response;
        response.set_region_id(r.region_id);
        response.set_revision(r.revision);
        std::move(done)(std::move(response));
      });
}

// ---- get_weather ----

void WeatherLogic::GetWeather(const CallContext& ctx, pb::GetWeatherRequest rq,
                              Done<pb::GetWeatherResponse> done) {
  if (Fail(CheckRegionId(rq.region_id()), done)) return;
  // `tick` is checked against the stored anchor (§0.4 step 2), so the region is read first.
  const std::string region_id = rq.region_id();  // `rq` is moved into the continuation
  ReadRegion(ctx, region_id,
             [this, rq = std::move(rq), done = std::move(done)](
                 absl::StatusOr<std::optional<Region>> region) mutable {
               if (Fail(region.status(), done)) return;
               const Region* stored = region->has_value() ? &**region : nullptr;
               if (Fail(CheckTick("tick", rq.tick(), stored), done)) return;
               if (stored == nullptr) {
                 std::move(done)(NotFound("region_id", "no such region"));
                 return;
               }
               std::move(done)(WeatherAt(*stored, rq.tick(), chain_));
             });
}

// ---- forecast ----

void WeatherLogic::Forecast(const CallContext& ctx, pb::ForecastRequest rq,
                            Done<pb::ForecastResponse> done) {
  if (Fail(CheckRegionId(rq.region_id()), done)) return;
  const std::string region_id = rq.region_id();  // `rq` is moved into the continuation
  ReadRegion(ctx, region_id,
             [this, rq = std::move(rq), done = std::move(done)](
                 absl::StatusOr<std::optional<Region>> region) mutable {
               if (Fail(region.status(), done)) return;
               const Region* stored = region->has_value() ? &**region : nullptr;
               if (Fail(CheckTick("from_tick", rq.from_tick(), stored), done) ||
                   Fail(CheckForecastHours(rq.hours()), done)) {
                 return;
               }
               if (stored == nullptr) {
                 std::move(done)(NotFound("region_id", "no such region"));
                 return;
               }
               std::move(done)(
                   weather_manager::Forecast(*stored, rq.from_tick(), rq.hours(), chain_));
             });
}

// ---- set_override ----

void WeatherLogic::SetOverride(const CallContext& ctx, pb::SetOverrideRequest rq,
                               Done<pb::SetOverrideResponse> done) {
  if (Fail(CheckRegionId(rq.region_id()), done)) return;
  absl::StatusOr<Override> override_ = BuildOverride(rq);
  if (Fail(override_.status(), done) || Fail(ctx.AuthorizeWrite(), done)) return;
  UpdateKey<Region>(
      store_, RegionKey(rq.region_id()), ctx.now_ms(),
      [override_ = std::move(*override_)](
          const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<Region>> {
        ASSIGN_OR_RETURN(std::optional<Region> region, ParseRegion(entry));
        if (!region.has_value()) return NotFound("region_id", "no such region");
        region->override_ = override_;  // one per region: replaces any previous one
        return PutRegionWrite(std::move(*region));
      },
      [this, ctx, done = std::move(done)](absl::StatusOr<Committed<Region>> committed) mutable {
        if (Fail(committed.status(), done)) return;
        const Region& r = committed->result;
        const Override& o = *r.override_;
        pb::SetOverrideResponse response;
        response.set_region_id(r.region_id);
        response.set_state(std::string(kStates[o.state]));
        response.set_from_tick(o.from_tick);
        response.set_until_tick(o.until_tick);
        pb::OverrideSetEvent event;
        event.set_region_id(r.region_id);
        event.set_state(response.state());
        event.set_from_tick(o.from_tick);
        event.set_until_tick(o.until_tick);
        Publish(ctx, "override_set", r.region_id + ":" + std::to_string(committed->store_revision),
                event);
        std::move(done)(std::move(response));
      });
}

// ---- clear_override ----

void WeatherLogic::ClearOverride(const CallContext& ctx, pb::ClearOverrideRequest rq,
                                 Done<pb::ClearOverrideResponse> done) {
  // R51: a write (service/admin).
  if (Fail(CheckRegionId(rq.region_id()), done) || Fail(ctx.AuthorizeWrite(), done)) return;
  UpdateKey<bool>(
      store_, RegionKey(rq.region_id()), ctx.now_ms(),
      [](const std::optional<StoreEntry>& entry) -> absl::StatusOr<Write<bool>> {
        ASSIGN_OR_RETURN(std::optional<Region> region, ParseRegion(entry));
        if (!region.has_value()) return NotFound("region_id", "no such region");
        Write<bool> write;
        write.result = region->override_.has_value();
        if (!write.result) return write;  // nothing to clear: no write, no event
        region->override_.reset();
        write.op = Write<bool>::Op::kPut;
        write.value = RegionToJson(*region).dump();
        return write;
      },
      [this, ctx, region_id = rq.region_id(),
       done = std::move(done)](absl::StatusOr<Committed<bool>> committed) mutable {
        if (Fail(committed.status(), done)) return;
        if (committed->wrote) {
          pb::OverrideClearedEvent event;
          event.set_region_id(region_id);
          Publish(ctx, "override_cleared",
                  region_id + ":" + std::to_string(committed->store_revision), event);
        }
        pb::ClearOverrideResponse response;
        response.set_cleared(committed->result);
        std::move(done)(std::move(response));
      });
}

// ---- events ----

void WeatherLogic::Publish(const CallContext& ctx, std::string_view event_name,
                           const std::string& material, google::protobuf::Message& event) {
  absl::StatusOr<Event> built = MakeEvent(kServiceName, event_name,
                                          MakeEventId(kServiceName, event_name, material),
                                          ctx.now_ms(), event);
  if (!built.ok()) {
    log::Error("weather-manager: cannot build event", {{"event", event_name}});
    return;
  }
  // After the commit: a publish failure does not fail the request (§0.1), it is logged.
  events_.Publish(std::move(*built), [name = std::string(event_name)](absl::Status s) {
    if (!s.ok()) log::Warn("weather-manager: event publish failed", {{"event", name}});
  });
}

}  // namespace sidecar::services::weather_manager
