#include "services/settings/settings_fixture.h"

#include <cmath>
#include <string>
#include <utility>

#include "services/common/errors.h"
#include "services/common/validation.h"
#include "services/settings/settings_rules.h"
#include "services/settings/settings_store.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::settings {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

std::string Path(std::string_view parent, std::string_view name) {
  return parent.empty() ? std::string(name) : KeyField(parent, name);
}

// The member `name` of `s`, or nullptr when absent or null (null = absent, §0.2).
const Value* Member(const Struct& s, std::string_view name) {
  auto it = s.fields().find(std::string(name));
  if (it == s.fields().end() || it->second.kind_case() == Value::kNullValue) return nullptr;
  return &it->second;
}

absl::StatusOr<int64_t> IntMember(const Struct& s, std::string_view name, std::string_view parent,
                                  int64_t fallback) {
  const Value* v = Member(s, name);
  if (v == nullptr) return fallback;
  const double d = v->number_value();
  if (v->kind_case() != Value::kNumberValue || !std::isfinite(d) || std::floor(d) != d ||
      std::fabs(d) > 9007199254740991.0) {
    return InvalidArgument(Path(parent, name), reason::kType);
  }
  return static_cast<int64_t>(d);
}

absl::StatusOr<std::string> StringMember(const Struct& s, std::string_view name,
                                         std::string_view parent) {
  const Value* v = Member(s, name);
  if (v == nullptr) return std::string();
  if (v->kind_case() != Value::kStringValue) return InvalidArgument(Path(parent, name), reason::kType);
  return v->string_value();
}

// An object member (absent -> empty object).
absl::StatusOr<Struct> StructMember(const Struct& s, std::string_view name, std::string_view parent) {
  const Value* v = Member(s, name);
  if (v == nullptr) return Struct();
  if (v->kind_case() != Value::kStructValue) return InvalidArgument(Path(parent, name), reason::kType);
  return v->struct_value();
}

absl::StatusOr<pb::SettingSchema> SchemaFromJson(const Value& v, std::string_view path) {
  if (v.kind_case() != Value::kStructValue) return InvalidArgument(path, reason::kType);
  const Struct& s = v.struct_value();
  pb::SettingSchema schema;
  ASSIGN_OR_RETURN(*schema.mutable_key(), StringMember(s, "key", path));
  if (schema.key().empty()) return InvalidArgument(Path(path, "key"), reason::kRequired);
  ASSIGN_OR_RETURN(*schema.mutable_type(), StringMember(s, "type", path));
  if (const Value* d = Member(s, "default")) *schema.mutable_default_() = *d;
  ASSIGN_OR_RETURN(int64_t min, IntMember(s, "min", path, 0));
  ASSIGN_OR_RETURN(int64_t max, IntMember(s, "max", path, 0));
  ASSIGN_OR_RETURN(int64_t max_len, IntMember(s, "max_len", path, 0));
  schema.set_min(min);
  schema.set_max(max);
  schema.set_max_len(static_cast<int32_t>(max_len));
  if (const Value* allowed = Member(s, "allowed")) {
    if (allowed->kind_case() != Value::kListValue) {
      return InvalidArgument(Path(path, "allowed"), reason::kType);
    }
    for (const Value& entry : allowed->list_value().values()) {
      if (entry.kind_case() != Value::kStringValue) {
        return InvalidArgument(Path(path, "allowed"), reason::kType);
      }
      schema.add_allowed(entry.string_value());
    }
  }
  ASSIGN_OR_RETURN(Struct platform_defaults, StructMember(s, "platform_defaults", path));
  for (const auto& [platform, value] : platform_defaults.fields()) {
    (*schema.mutable_platform_defaults())[platform] = value;
  }
  return schema;
}

absl::StatusOr<SchemaDoc> SchemaDocFromJson(const Struct& document) {
  SchemaDoc doc;
  if (const Value* schemas = Member(document, "schemas")) {
    if (schemas->kind_case() != Value::kListValue) return InvalidArgument("schemas", reason::kType);
    const auto& list = schemas->list_value().values();
    for (int i = 0; i < list.size(); ++i) {
      ASSIGN_OR_RETURN(pb::SettingSchema schema, SchemaFromJson(list[i], IndexField("schemas", i)));
      UpsertSchema(doc, std::move(schema));
    }
  }
  // Like the legacy stand-in: without an explicit revision, one put per schema happened.
  ASSIGN_OR_RETURN(int64_t revision,
                   IntMember(document, "schema_revision", "", doc.entries_size()));
  doc.set_schema_revision(revision);
  return doc;
}

absl::StatusOr<PlayerDoc> PlayerDocFromJson(const Value& v, std::string_view path) {
  if (v.kind_case() != Value::kStructValue) return InvalidArgument(path, reason::kType);
  PlayerDoc doc;
  ASSIGN_OR_RETURN(Struct values, StructMember(v.struct_value(), "values", path));
  for (const auto& [key, value] : values.fields()) (*doc.mutable_stored())[key] = value;
  ASSIGN_OR_RETURN(int64_t revision, IntMember(v.struct_value(), "revision", path, 0));
  doc.set_revision(revision);
  return doc;
}

}  // namespace

absl::StatusOr<std::vector<StoreEntry>> MapSettingsFixture(const Struct& document,
                                                           const CallContext&) {
  std::vector<StoreEntry> entries;
  ASSIGN_OR_RETURN(SchemaDoc schema, SchemaDocFromJson(document));
  entries.push_back({std::string(kSchemaKey), schema.SerializeAsString(), 0, 0});
  ASSIGN_OR_RETURN(Struct players, StructMember(document, "players", ""));
  for (const auto& [player_id, record] : players.fields()) {
    if (player_id.empty()) return InvalidArgument("players", reason::kMalformed);
    ASSIGN_OR_RETURN(PlayerDoc doc, PlayerDocFromJson(record, KeyField("players", player_id)));
    entries.push_back({PlayerKey(player_id), doc.SerializeAsString(), 0, 0});
  }
  return entries;
}

}  // namespace sidecar::services::settings
