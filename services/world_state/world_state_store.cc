#include "services/world_state/world_state_store.h"

#include <cmath>
#include <utility>

#include "absl/strings/escaping.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::world_state {
namespace {

using Json = nlohmann::json;

Json OptionalString(const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); }
std::optional<std::string> ReadOptionalString(const Json& j) {
  if (j.is_string()) return j.get<std::string>();
  return std::nullopt;
}

// Typed member reads that never throw: a wrong type reads as the zero value (documents are
// written by EncodeWorld or by the validated fixture mapping only).
std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t Int(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
bool Bool(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
const Json& Member(const Json& j, const char* key) {
  static const Json* null = new Json();
  auto it = j.find(key);
  return it == j.end() ? *null : *it;
}

Json RegionJson(const RegionState& r) {
  return Json{{"name", r.name},
              {"controlling_faction", r.controller},
              {"danger", r.danger},
              {"flags", r.flags}};
}
RegionState RegionFromJson(const Json& j) {
  RegionState r;
  r.name = Str(j, "name");
  r.controller = Str(j, "controlling_faction");
  r.danger = Int(j, "danger");
  const Json& flags = Member(j, "flags");
  if (flags.is_object()) {
    for (auto it = flags.begin(); it != flags.end(); ++it) {
      if (it->is_string()) r.flags[it.key()] = it->get<std::string>();
    }
  }
  return r;
}

Json DeltaJson(const DeltaRecord& d) {
  Json standings = Json::array();
  for (const StandingTouch& s : d.standings) {
    standings.push_back({{"player_id", s.player_id}, {"faction_id", s.faction_id}, {"net", s.net}});
  }
  Json regions = Json::array();
  for (const RegionTouch& r : d.regions) {
    Json flags = Json::object();
    for (const auto& [key, image] : r.flags) {
      flags[key] = {{"pre", OptionalString(image.pre)}, {"written", OptionalString(image.written)}};
    }
    regions.push_back({{"region_id", r.region_id},
                       {"danger_net", r.danger_net},
                       {"controller_pre", r.controller_pre},
                       {"controller_set", r.controller_set},
                       {"controller_written", r.controller_written},
                       {"flags", flags}});
  }
  return Json{{"fingerprint", d.fingerprint}, {"applied_at", d.applied_at},
              {"reverted", d.reverted},       {"standings", standings},
              {"regions", regions},           {"response", absl::Base64Escape(d.response)}};
}

DeltaRecord DeltaFromJson(const Json& j) {
  DeltaRecord d;
  d.fingerprint = Str(j, "fingerprint");
  d.applied_at = Int(j, "applied_at");
  d.reverted = Bool(j, "reverted");
  for (const Json& s : Member(j, "standings")) {
    d.standings.push_back({Str(s, "player_id"), Str(s, "faction_id"), Int(s, "net")});
  }
  for (const Json& r : Member(j, "regions")) {
    RegionTouch t;
    t.region_id = Str(r, "region_id");
    t.danger_net = Int(r, "danger_net");
    t.controller_pre = Str(r, "controller_pre");
    t.controller_set = Bool(r, "controller_set");
    t.controller_written = Str(r, "controller_written");
    const Json& flags = Member(r, "flags");
    if (flags.is_object()) {
      for (auto it = flags.begin(); it != flags.end(); ++it) {
        t.flags[it.key()] = {ReadOptionalString(Member(*it, "pre")),
                             ReadOptionalString(Member(*it, "written"))};
      }
    }
    d.regions.push_back(std::move(t));
  }
  absl::Base64Unescape(Str(j, "response"), &d.response);
  return d;
}

// ---- fixture helpers ----

using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status Relabel(const absl::Status& s, const std::string& path) {
  if (s.ok()) return s;
  std::string reason = DetailsOf(s)["reason"];
  return InvalidArgument(path, reason.empty() ? std::string(reason::kMalformed) : reason);
}

absl::StatusOr<int64_t> FixtureInt(const Json& record, const char* key, const std::string& path) {
  auto it = record.find(key);
  if (it == record.end() || it->is_null()) return 0;
  if (!it->is_number() || std::floor(it->get<double>()) != it->get<double>()) {
    return InvalidArgument(KeyField(path, key), reason::kType);
  }
  return static_cast<int64_t>(it->get<double>());
}

absl::Status FixtureRegion(const Json& r, const std::string& path, World& world) {
  if (!r.is_object()) return InvalidArgument(path, reason::kType);
  pb::PutRegionRequest rq;  // validated exactly as put_region would
  rq.set_region_id(Str(r, "region_id"));
  rq.set_name(Str(r, "name"));
  rq.set_controlling_faction(Str(r, "controlling_faction"));
  ASSIGN_OR_RETURN(int64_t danger, FixtureInt(r, "danger", path));
  rq.set_danger(static_cast<int32_t>(danger));
  const Json& flags = Member(r, "flags");
  if (!flags.is_null() && !flags.is_object())
    return InvalidArgument(KeyField(path, "flags"), reason::kType);
  if (flags.is_object()) {
    for (auto it = flags.begin(); it != flags.end(); ++it) {
      if (!it->is_string()) return InvalidArgument(KeyField(path, "flags"), reason::kType);
      (*rq.mutable_flags())[it.key()] = it->get<std::string>();
    }
  }
  absl::Status checked = CheckPutRegion(rq);
  if (!checked.ok()) {
    return InvalidArgument(KeyField(path, DetailsOf(checked)["field"]),
                           DetailsOf(checked)["reason"]);
  }
  RegionState& region = world.regions[rq.region_id()];
  region.name = rq.name();
  region.controller = rq.controlling_faction();
  region.danger = rq.danger();
  region.flags = std::map<std::string, std::string>(rq.flags().begin(), rq.flags().end());
  return absl::OkStatus();
}

absl::Status FixtureStanding(const Json& s, const std::string& path, World& world) {
  if (!s.is_object()) return InvalidArgument(path, reason::kType);
  const std::string player = Str(s, "player_id");
  const std::string faction = Str(s, "faction_id");
  RETURN_IF_ERROR(Relabel(CheckPlayerId("player_id", player), KeyField(path, "player_id")));
  RETURN_IF_ERROR(
      Relabel(CheckFactionId("faction_id", faction, true), KeyField(path, "faction_id")));
  ASSIGN_OR_RETURN(int64_t standing, FixtureInt(s, "standing", path));
  if (standing < -kStandingLimit || standing > kStandingLimit) {
    return InvalidArgument(KeyField(path, "standing"), reason::kOutOfRange);
  }
  world.standings[player][faction] = standing;
  return absl::OkStatus();
}

}  // namespace

std::string EncodeWorld(const World& world) {
  Json regions = Json::object();
  for (const auto& [id, region] : world.regions) regions[id] = RegionJson(region);
  Json standings = Json::object();
  for (const auto& [player, factions] : world.standings) standings[player] = factions;
  Json deltas = Json::object();
  for (const auto& [id, delta] : world.deltas) deltas[id] = DeltaJson(delta);
  return Json{{"regions", regions}, {"standings", standings}, {"deltas", deltas}}.dump();
}

absl::StatusOr<World> DecodeWorld(const std::optional<std::string>& value) {
  World world;
  if (!value.has_value() || value->empty()) return world;
  Json doc = Json::parse(*value, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Internal("corrupt world-state document");
  const Json& regions = Member(doc, "regions");
  for (auto it = regions.begin(); regions.is_object() && it != regions.end(); ++it) {
    world.regions[it.key()] = RegionFromJson(*it);
  }
  const Json& standings = Member(doc, "standings");
  for (auto p = standings.begin(); standings.is_object() && p != standings.end(); ++p) {
    for (auto f = p->begin(); p->is_object() && f != p->end(); ++f) {
      if (f->is_number_integer()) world.standings[p.key()][f.key()] = f->get<int64_t>();
    }
  }
  const Json& deltas = Member(doc, "deltas");
  for (auto it = deltas.begin(); deltas.is_object() && it != deltas.end(); ++it) {
    world.deltas[it.key()] = DeltaFromJson(*it);
  }
  return world;
}

const DeltaRecord* LiveDelta(const World& world, const std::string& delta_id, int64_t now_ms) {
  auto it = world.deltas.find(delta_id);
  if (it == world.deltas.end()) return nullptr;
  if (IsExpired(it->second.applied_at + kDeltaRetentionMs, now_ms)) return nullptr;
  return &it->second;
}

void PruneDeltas(World& world, int64_t now_ms) {
  for (auto it = world.deltas.begin(); it != world.deltas.end();) {
    if (IsExpired(it->second.applied_at + kDeltaRetentionMs, now_ms)) {
      it = world.deltas.erase(it);
    } else {
      ++it;
    }
  }
}

absl::StatusOr<std::vector<StoreEntry>> MapWorldStateFixture(const Struct& document,
                                                             const CallContext&) {
  Json doc = StructToJson(document);
  World world;
  const Json& regions = Member(doc, "regions");
  if (!regions.is_null() && !regions.is_array()) return InvalidArgument("regions", reason::kType);
  for (size_t i = 0; regions.is_array() && i < regions.size(); ++i) {
    RETURN_IF_ERROR(FixtureRegion(regions[i], IndexField("regions", i), world));
  }
  const Json& standings = Member(doc, "standings");
  if (!standings.is_null() && !standings.is_array()) {
    return InvalidArgument("standings", reason::kType);
  }
  for (size_t i = 0; standings.is_array() && i < standings.size(); ++i) {
    RETURN_IF_ERROR(FixtureStanding(standings[i], IndexField("standings", i), world));
  }
  std::vector<StoreEntry> entries;
  entries.push_back(StoreEntry{std::string(kWorldKey), EncodeWorld(world), 0, 0});
  return entries;
}

}  // namespace sidecar::services::world_state
