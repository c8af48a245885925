#pragma once
// settings (SERVICES.md §2.2): the pure rules, no store and no loop. Everything here is a function
// of (stored documents, request) so it can be tested without a dispatcher.
//
// Stored documents (see settings_store.h for keys):
//   SchemaDoc = settings.v1.GetSchemaResponse {entries (by key), schema_revision}: the whole
//               config-class schema in one document, so put_schema's "+1 schema_revision" and the
//               entry change are one compare-and-set.
//   PlayerDoc = settings.v1.SetValuesResponse {revision, stored}: PlayerSettings{values, revision}
//               of one player (strong), keyed by player_id.
// Reusing the response messages keeps the stored form exactly the spec's record shape without a
// second proto; both are plain field-for-field copies of §2.2 "State".

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "settings/v1/settings.pb.h"

namespace sidecar::services::settings {

namespace pb = ::settings::v1;

using SchemaDoc = pb::GetSchemaResponse;
using PlayerDoc = pb::SetValuesResponse;

inline constexpr size_t kMaxSettingKeys = 256;     // rule 1, R20
inline constexpr size_t kMaxKeyLength = 64;        // rule 1
inline constexpr size_t kMaxValuesPerWrite = 64;   // rule 4
inline constexpr size_t kMaxAllowed = 32;          // rule 2
inline constexpr int32_t kMinMaxLen = 1;           // rule 2, R21
inline constexpr int32_t kMaxMaxLen = 1024;

inline constexpr std::string_view kDefaultPlatform = "pc";

// Sources of an effective value (rule 3).
inline constexpr std::string_view kSourcePlayer = "player";
inline constexpr std::string_view kSourcePlatform = "platform";
inline constexpr std::string_view kSourceDefault = "default";

// Rule 1: `key` syntax on `field` (required, <=64, pattern).
absl::Status CheckSettingKey(std::string_view field, std::string_view key);
// Rule 1: platform enumeration; "" is allowed (it resolves to pc).
absl::Status CheckPlatform(std::string_view platform);
// "" -> "pc" (R26: responses report the resolved platform).
std::string ResolvePlatform(std::string_view platform);
// The player_id of a player-scoped action: required (the spec gives settings no id syntax).
absl::Status CheckPlayerId(std::string_view player_id);

// Rule 2: `value` under `schema`, or INVALID_ARGUMENT on `field` with the value reasons
// (type, out_of_range, too_long, unknown_value). Returns the stored form (ints as integral
// numbers: 5.0 and 5 are the same double, so the form only matters for the check).
absl::StatusOr<google::protobuf::Value> CheckSettingValue(const pb::SettingSchema& schema,
                                                          const google::protobuf::Value& value,
                                                          std::string_view field);
bool IsValidSettingValue(const pb::SettingSchema& schema, const google::protobuf::Value& value);

// Rule 6: put_schema's field checks in their order, then the stored schema with the fields that
// do not apply to its type zeroed (§0.2 N5).
absl::StatusOr<pb::SettingSchema> BuildSchema(const pb::PutSchemaRequest& request);

// The schema entry for `key`, or nullptr.
const pb::SettingSchema* FindSchema(const SchemaDoc& doc, std::string_view key);
// Replaces or inserts `schema`, keeping entries sorted by key (get_schema order).
void UpsertSchema(SchemaDoc& doc, pb::SettingSchema schema);

// Rule 3's layered default for `platform` (already resolved): the platform default when there is
// one, else `default`. `source` gets "platform" or "default".
const google::protobuf::Value& LayeredDefault(const pb::SettingSchema& schema,
                                              std::string_view platform, std::string_view* source);

// JSON equality of two scalars (rule 4 "equal to the layered default"): same kind, same value.
bool SameValue(const google::protobuf::Value& a, const google::protobuf::Value& b);

// Rule 3: the effective values of every schema key for `player`.
pb::GetEffectiveResponse Effective(const SchemaDoc& schema, const PlayerDoc& player,
                                   std::string_view player_id, std::string_view platform);

// Rule 4, field part: `values` count (1-64), then each key in key order: unknown key ->
// unknown_value, else the rule 2 value checks; field values.<key>.
absl::Status CheckValues(const SchemaDoc& schema,
                         const google::protobuf::Map<std::string, google::protobuf::Value>& values);

// reset `keys`: an empty element is too_short (§0.4); other keys are free-form (unknown ones are
// ignored, rule 5).
absl::Status CheckResetKeys(const google::protobuf::RepeatedPtrField<std::string>& keys);

// Rule 5: FAILED_PRECONDITION revision_mismatch + current_revision unless expected == current.
absl::Status CheckRevision(int64_t expected, int64_t current);

// Rule 4: applies validated `values` to `player` (a value equal to the layered default for
// `platform` is removed instead of stored); revision + 1. Returns the changed keys (sorted).
std::vector<std::string> ApplyValues(
    const SchemaDoc& schema, const google::protobuf::Map<std::string, google::protobuf::Value>& values,
    std::string_view platform, PlayerDoc& player);
// Rule 5: removes `keys` (all when empty); revision + 1. Returns the event's keys: the requested
// keys sorted and de-duplicated, or the previously stored keys when clearing all.
std::vector<std::string> ApplyReset(const google::protobuf::RepeatedPtrField<std::string>& keys,
                                    PlayerDoc& player);

// Keys of a map in code-point order (maps are unordered, §0.6; checks go in key order).
std::vector<std::string> SortedKeys(
    const google::protobuf::Map<std::string, google::protobuf::Value>& map);

}  // namespace sidecar::services::settings
