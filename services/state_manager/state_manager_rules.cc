#include "services/state_manager/state_manager_rules.h"

#include <algorithm>

#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"

namespace sidecar::services::state_manager {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr std::string_view kNamespaceChars = "a-z0-9_";
constexpr std::string_view kKeyChars = "A-Za-z0-9_.:-";

int ValueDepth(const Value& v, int limit);

int ListDepth(const ListValue& list, int limit) {
  int deepest = 0;
  for (const Value& item : list.values()) {
    deepest = std::max(deepest, ValueDepth(item, limit - 1));
    if (deepest + 1 >= limit) break;
  }
  return deepest + 1;
}

int ValueDepth(const Value& v, int limit) {
  if (limit <= 0) return 0;
  switch (v.kind_case()) {
    case Value::kStructValue: return Depth(v.struct_value(), limit);
    case Value::kListValue: return ListDepth(v.list_value(), limit);
    default: return 0;
  }
}

bool IsPlayerKeyOf(std::string_view key, std::string_view player_id) {
  // "<player_id>:" prefix: the owner is exactly the principal's id and a ':' follows.
  return key.size() > player_id.size() && key.compare(0, player_id.size(), player_id) == 0 &&
         key[player_id.size()] == ':';
}

}  // namespace

absl::Status CheckNamespace(std::string_view ns) {
  return CheckString("namespace", ns,
                     {.required = true, .min_len = 1, .max_len = kMaxNamespaceLength,
                      .char_class = kNamespaceChars});
}

absl::Status CheckKey(std::string_view key) {
  return CheckString("key", key,
                     {.required = true, .min_len = 1, .max_len = kMaxKeyLength,
                      .char_class = kKeyChars});
}

absl::Status CheckPrefix(std::string_view prefix) {
  return CheckString("prefix", prefix, {.max_len = kMaxKeyLength, .char_class = kKeyChars});
}

int Depth(const Struct& value, int limit) {
  if (limit <= 0) return 0;
  int deepest = 0;
  for (const auto& [unused, member] : value.fields()) {
    deepest = std::max(deepest, ValueDepth(member, limit - 1));
    if (deepest + 1 >= limit) break;
  }
  return deepest + 1;
}

absl::StatusOr<int32_t> CheckValue(std::string_view field, const Struct& value) {
  absl::StatusOr<size_t> size = JcsSize(value);
  if (!size.ok()) return InvalidArgument(field, reason::kType);  // NaN/Infinity: not JSON
  if (*size > kMaxValueBytes) return InvalidArgument(field, reason::kTooLong);
  if (Depth(value) > kMaxDepth) return InvalidArgument(field, reason::kOutOfRange);
  return static_cast<int32_t>(*size);
}

void MergePatch(Struct& target, const Struct& patch) {
  auto& fields = *target.mutable_fields();
  for (const auto& [name, value] : patch.fields()) {
    if (value.kind_case() == Value::kNullValue) {
      fields.erase(name);
      continue;
    }
    if (value.kind_case() == Value::kStructValue) {
      Value& slot = fields[name];
      // A non-object (or absent) member is patched as if it were {} (RFC 7396 §2).
      if (slot.kind_case() != Value::kStructValue) slot.mutable_struct_value()->Clear();
      MergePatch(*slot.mutable_struct_value(), value.struct_value());
      continue;
    }
    fields[name] = value;
  }
}

bool IsOwnedNamespace(std::string_view ns) { return ns == "save" || ns == "session"; }

std::string_view OwnerOf(std::string_view key) { return key.substr(0, key.find(':')); }

absl::Status AuthorizeKey(const CallContext& ctx, std::string_view ns, std::string_view key) {
  const auto& principal = ctx.principal();
  if (principal && principal->is_privileged()) return absl::OkStatus();
  if (principal && IsOwnedNamespace(ns) && IsPlayerKeyOf(key, principal->id)) {
    return absl::OkStatus();
  }
  return PermissionDenied("principal may not access this key");
}

absl::Status AuthorizeList(const CallContext& ctx, std::string_view ns, std::string_view prefix) {
  const auto& principal = ctx.principal();
  if (principal && principal->is_privileged()) return absl::OkStatus();
  // The prefix itself must start "<player_id>:", so every key it can match is the player's.
  if (principal && IsOwnedNamespace(ns) && IsPlayerKeyOf(prefix, principal->id)) {
    return absl::OkStatus();
  }
  return PermissionDenied("principal may not list these keys");
}

absl::Status VersionMismatch(int64_t current_version) {
  return FailedPrecondition("version_mismatch",
                            {{"current_version", std::to_string(current_version)}},
                            "expected_version does not match the current version");
}

}  // namespace sidecar::services::state_manager
