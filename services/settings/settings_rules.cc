#include "services/settings/settings_rules.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "services/common/errors.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::settings {
namespace {

using google::protobuf::Value;

const std::vector<std::string_view> kPlatforms = {"pc", "console", "mobile"};
const std::vector<std::string_view> kTypes = {"int", "bool", "string", "enum"};

const Pattern& KeyPattern() {
  static const Pattern* pattern =
      new Pattern(R"([a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3})");
  return *pattern;
}

// `val` (§0.2) is a JSON scalar; null, objects and arrays are the wrong JSON type.
bool IsScalar(const Value& v) {
  return v.kind_case() == Value::kNumberValue || v.kind_case() == Value::kStringValue ||
         v.kind_case() == Value::kBoolValue;
}

bool IsIntegral(double d) { return std::isfinite(d) && std::floor(d) == d; }

absl::Status CheckIntValue(const pb::SettingSchema& schema, const Value& value,
                           std::string_view field) {
  if (value.kind_case() != Value::kNumberValue || !IsIntegral(value.number_value())) {
    return InvalidArgument(field, reason::kType);
  }
  // min/max are within ±(2^53-1) (the codec's i64 range), so comparing as doubles is exact and
  // cannot overflow the way a cast of 1e300 to int64 would.
  const double d = value.number_value();
  if (d < static_cast<double>(schema.min()) || d > static_cast<double>(schema.max())) {
    return InvalidArgument(field, reason::kOutOfRange);
  }
  return absl::OkStatus();
}

absl::Status CheckStringValue(const pb::SettingSchema& schema, const Value& value,
                              std::string_view field) {
  if (value.kind_case() != Value::kStringValue) return InvalidArgument(field, reason::kType);
  if (CodePoints(value.string_value()) > static_cast<size_t>(std::max(schema.max_len(), 0))) {
    return InvalidArgument(field, reason::kTooLong);
  }
  return absl::OkStatus();
}

absl::Status CheckEnumValue(const pb::SettingSchema& schema, const Value& value,
                            std::string_view field) {
  if (value.kind_case() != Value::kStringValue) return InvalidArgument(field, reason::kType);
  const auto& allowed = schema.allowed();
  if (std::find(allowed.begin(), allowed.end(), value.string_value()) == allowed.end()) {
    return InvalidArgument(field, reason::kUnknownValue);
  }
  return absl::OkStatus();
}

// Rule 6 step 1: each field's own syntax, in table order.
absl::Status CheckOwnSyntax(const pb::PutSchemaRequest& rq) {
  RETURN_IF_ERROR(CheckSettingKey("key", rq.key()));
  RETURN_IF_ERROR(CheckString("type", rq.type(), {.required = true, .allowed = kTypes}));
  // JSON null means absent (§0.2), whichever encoding carried it (R24: absent -> required).
  if (!rq.has_default_() || rq.default_().kind_case() == Value::kNullValue ||
      rq.default_().kind_case() == Value::KIND_NOT_SET) {
    return InvalidArgument("default", reason::kRequired);
  }
  if (!IsScalar(rq.default_())) return InvalidArgument("default", reason::kType);
  // min, max, max_len, allowed: only their JSON types, which the transcoder checked. Their
  // ranges are type constraints (step 2) and do not apply to other types (N5).
  std::vector<std::string> platforms;
  for (const auto& [platform, unused] : rq.platform_defaults()) platforms.push_back(platform);
  std::sort(platforms.begin(), platforms.end());
  for (const std::string& platform : platforms) {
    const std::string field = KeyField("platform_defaults", platform);
    // §0.4 reason order: the value's JSON type before the key's enumeration (R23).
    if (!IsScalar(rq.platform_defaults().at(platform))) {
      return InvalidArgument(field, reason::kType);
    }
    if (std::find(kPlatforms.begin(), kPlatforms.end(), platform) == kPlatforms.end()) {
      return InvalidArgument(field, reason::kUnknownValue);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAllowed(const google::protobuf::RepeatedPtrField<std::string>& allowed) {
  RETURN_IF_ERROR(CheckCount("allowed", allowed.size(), {.required = true, .max = kMaxAllowed}));
  std::set<std::string_view> seen;
  for (int i = 0; i < allowed.size(); ++i) {
    const std::string field = IndexField("allowed", i);
    if (allowed[i].empty()) return InvalidArgument(field, reason::kTooShort);  // §0.4
    // R4-style "later duplicate is malformed" (rule 6: duplicates -> malformed).
    if (!seen.insert(allowed[i]).second) return InvalidArgument(field, reason::kMalformed);
  }
  return absl::OkStatus();
}

// Rule 6 step 2: the type's constraints; returns the schema with the type's fields only.
absl::StatusOr<pb::SettingSchema> TypeConstraints(const pb::PutSchemaRequest& rq) {
  pb::SettingSchema schema;
  schema.set_key(rq.key());
  schema.set_type(rq.type());
  if (rq.type() == "int") {
    if (rq.min() > rq.max()) return InvalidArgument("max", reason::kOutOfRange);
    schema.set_min(rq.min());
    schema.set_max(rq.max());
  } else if (rq.type() == "string") {
    RETURN_IF_ERROR(CheckInt("max_len", rq.max_len(), kMinMaxLen, kMaxMaxLen));
    schema.set_max_len(rq.max_len());
  } else if (rq.type() == "enum") {
    RETURN_IF_ERROR(CheckAllowed(rq.allowed()));
    *schema.mutable_allowed() = rq.allowed();
  }
  return schema;
}

}  // namespace

absl::Status CheckSettingKey(std::string_view field, std::string_view key) {
  // The pattern is unbounded, so only the stated ≤64 gives a length bound (R4).
  return CheckString(field, key,
                     {.required = true, .max_len = kMaxKeyLength, .pattern = &KeyPattern()});
}

absl::Status CheckPlatform(std::string_view platform) {
  return CheckString("platform", platform, {.allowed = kPlatforms});
}

std::string ResolvePlatform(std::string_view platform) {
  return std::string(platform.empty() ? kDefaultPlatform : platform);
}

absl::Status CheckPlayerId(std::string_view player_id) {
  return CheckString("player_id", player_id, {.required = true});
}

absl::StatusOr<Value> CheckSettingValue(const pb::SettingSchema& schema, const Value& value,
                                        std::string_view field) {
  const std::string& type = schema.type();
  if (type == "int") {
    RETURN_IF_ERROR(CheckIntValue(schema, value, field));
  } else if (type == "bool") {
    if (value.kind_case() != Value::kBoolValue) return InvalidArgument(field, reason::kType);
  } else if (type == "string") {
    RETURN_IF_ERROR(CheckStringValue(schema, value, field));
  } else if (type == "enum") {
    RETURN_IF_ERROR(CheckEnumValue(schema, value, field));
  } else {
    // Only a fixture can store another type; nothing validates under it.
    return InvalidArgument(field, reason::kType);
  }
  return value;
}

bool IsValidSettingValue(const pb::SettingSchema& schema, const Value& value) {
  return CheckSettingValue(schema, value, "value").ok();
}

absl::StatusOr<pb::SettingSchema> BuildSchema(const pb::PutSchemaRequest& rq) {
  RETURN_IF_ERROR(CheckOwnSyntax(rq));
  ASSIGN_OR_RETURN(pb::SettingSchema schema, TypeConstraints(rq));
  ASSIGN_OR_RETURN(*schema.mutable_default_(), CheckSettingValue(schema, rq.default_(), "default"));
  std::vector<std::string> platforms;
  for (const auto& [platform, unused] : rq.platform_defaults()) platforms.push_back(platform);
  std::sort(platforms.begin(), platforms.end());
  for (const std::string& platform : platforms) {
    ASSIGN_OR_RETURN(Value stored,
                     CheckSettingValue(schema, rq.platform_defaults().at(platform),
                                       KeyField("platform_defaults", platform)));
    (*schema.mutable_platform_defaults())[platform] = std::move(stored);
  }
  return schema;
}

const pb::SettingSchema* FindSchema(const SchemaDoc& doc, std::string_view key) {
  for (const pb::SettingSchema& entry : doc.entries()) {
    if (entry.key() == key) return &entry;
  }
  return nullptr;
}

void UpsertSchema(SchemaDoc& doc, pb::SettingSchema schema) {
  for (pb::SettingSchema& entry : *doc.mutable_entries()) {
    if (entry.key() == schema.key()) {
      entry = std::move(schema);
      return;
    }
  }
  *doc.add_entries() = std::move(schema);
  std::sort(doc.mutable_entries()->begin(), doc.mutable_entries()->end(),
            [](const pb::SettingSchema& a, const pb::SettingSchema& b) { return a.key() < b.key(); });
}

const Value& LayeredDefault(const pb::SettingSchema& schema, std::string_view platform,
                            std::string_view* source) {
  auto it = schema.platform_defaults().find(std::string(platform));
  if (it != schema.platform_defaults().end()) {
    if (source != nullptr) *source = kSourcePlatform;
    return it->second;
  }
  if (source != nullptr) *source = kSourceDefault;
  return schema.default_();
}

bool SameValue(const Value& a, const Value& b) {
  if (a.kind_case() != b.kind_case()) return false;
  switch (a.kind_case()) {
    case Value::kNumberValue: return a.number_value() == b.number_value();
    case Value::kStringValue: return a.string_value() == b.string_value();
    case Value::kBoolValue: return a.bool_value() == b.bool_value();
    case Value::kNullValue: return true;
    default: return a.SerializeAsString() == b.SerializeAsString();
  }
}

pb::GetEffectiveResponse Effective(const SchemaDoc& schema, const PlayerDoc& player,
                                   std::string_view player_id, std::string_view platform) {
  pb::GetEffectiveResponse out;
  out.set_player_id(std::string(player_id));
  out.set_platform(std::string(platform));
  out.set_revision(player.revision());
  for (const pb::SettingSchema& entry : schema.entries()) {
    auto stored = player.stored().find(entry.key());
    // Rule 3: a stored value invalid under the current schema is ignored, not deleted.
    if (stored != player.stored().end() && IsValidSettingValue(entry, stored->second)) {
      (*out.mutable_values())[entry.key()] = stored->second;
      (*out.mutable_sources())[entry.key()] = std::string(kSourcePlayer);
      continue;
    }
    std::string_view source;
    (*out.mutable_values())[entry.key()] = LayeredDefault(entry, platform, &source);
    (*out.mutable_sources())[entry.key()] = std::string(source);
  }
  return out;
}

std::vector<std::string> SortedKeys(const google::protobuf::Map<std::string, Value>& map) {
  std::vector<std::string> keys;
  keys.reserve(map.size());
  for (const auto& [key, unused] : map) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

absl::Status CheckValues(const SchemaDoc& schema,
                         const google::protobuf::Map<std::string, Value>& values) {
  RETURN_IF_ERROR(
      CheckCount("values", values.size(), {.required = true, .max = kMaxValuesPerWrite}));
  // R28: the first failing key in key order.
  for (const std::string& key : SortedKeys(values)) {
    const std::string field = KeyField("values", key);
    const pb::SettingSchema* entry = FindSchema(schema, key);
    if (entry == nullptr) return InvalidArgument(field, reason::kUnknownValue);
    RETURN_IF_ERROR(CheckSettingValue(*entry, values.at(key), field).status());
  }
  return absl::OkStatus();
}

absl::Status CheckResetKeys(const google::protobuf::RepeatedPtrField<std::string>& keys) {
  for (int i = 0; i < keys.size(); ++i) {
    if (keys[i].empty()) return InvalidArgument(IndexField("keys", i), reason::kTooShort);
  }
  return absl::OkStatus();
}

absl::Status CheckRevision(int64_t expected, int64_t current) {
  if (expected == current) return absl::OkStatus();
  return FailedPrecondition("revision_mismatch", {{"current_revision", std::to_string(current)}},
                            "expected_revision does not match the current revision");
}

std::vector<std::string> ApplyValues(const SchemaDoc& schema,
                                     const google::protobuf::Map<std::string, Value>& values,
                                     std::string_view platform, PlayerDoc& player) {
  std::vector<std::string> keys = SortedKeys(values);
  auto& stored = *player.mutable_stored();
  for (const std::string& key : keys) {
    const pb::SettingSchema* entry = FindSchema(schema, key);
    const Value& value = values.at(key);
    if (entry != nullptr && SameValue(value, LayeredDefault(*entry, platform, nullptr))) {
      stored.erase(key);
    } else {
      stored[key] = value;
    }
  }
  player.set_revision(player.revision() + 1);
  return keys;
}

std::vector<std::string> ApplyReset(const google::protobuf::RepeatedPtrField<std::string>& keys,
                                    PlayerDoc& player) {
  auto& stored = *player.mutable_stored();
  std::vector<std::string> touched;
  if (keys.empty()) {
    touched = SortedKeys(stored);
    stored.clear();
  } else {
    std::set<std::string> unique(keys.begin(), keys.end());
    for (const std::string& key : unique) stored.erase(key);  // absent keys: ignored (R27)
    touched.assign(unique.begin(), unique.end());
  }
  player.set_revision(player.revision() + 1);
  return touched;
}

}  // namespace sidecar::services::settings
