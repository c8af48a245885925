#include "services/state_manager/state_manager_fixture.h"

#include <cmath>
#include <string>
#include <utility>

#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/validation.h"
#include "services/state_manager/state_manager_rules.h"
#include "services/state_manager/state_manager_store.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::state_manager {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// The member `name` of `s`, or nullptr when absent or null (null = absent, §0.2).
const Value* Member(const Struct& s, std::string_view name) {
  auto it = s.fields().find(std::string(name));
  if (it == s.fields().end() || it->second.kind_case() == Value::kNullValue) return nullptr;
  return &it->second;
}

// A field error of the fixture document: the check's reason on the document path.
absl::Status Relabel(const absl::Status& s, const std::string& path) {
  if (s.ok()) return s;
  return InvalidArgument(path, DetailsOf(s)["reason"]);
}

absl::StatusOr<int64_t> Version(const Struct& record, const std::string& path) {
  const Value* v = Member(record, "version");
  if (v == nullptr) return 1;  // a fixture document exists, so it has at least version 1
  const double d = v->number_value();
  if (v->kind_case() != Value::kNumberValue || std::floor(d) != d || d < 1 ||
      d > 9007199254740991.0) {
    return InvalidArgument(KeyField(path, "version"), reason::kType);
  }
  return static_cast<int64_t>(d);
}

absl::StatusOr<int64_t> UpdatedAt(const Struct& record, const std::string& path, int64_t now_ms) {
  const Value* v = Member(record, "updated_at");
  if (v == nullptr || (v->kind_case() == Value::kStringValue && v->string_value().empty())) {
    return now_ms;  // the fixture load's own *now*
  }
  if (v->kind_case() != Value::kStringValue) {
    return InvalidArgument(KeyField(path, "updated_at"), reason::kType);
  }
  absl::StatusOr<int64_t> ms = ParseRequestTime(v->string_value());
  if (!ms.ok()) return InvalidArgument(KeyField(path, "updated_at"), reason::kMalformed);
  return *ms;
}

absl::StatusOr<StoreEntry> DocEntry(const std::string& ns, const std::string& key,
                                    const Value& record_value, const std::string& path,
                                    int64_t now_ms) {
  RETURN_IF_ERROR(Relabel(CheckKey(key), path));
  if (record_value.kind_case() != Value::kStructValue) return InvalidArgument(path, reason::kType);
  const Struct& record = record_value.struct_value();
  Doc doc;
  if (const Value* value = Member(record, "value")) {
    if (value->kind_case() != Value::kStructValue) {
      return InvalidArgument(KeyField(path, "value"), reason::kType);
    }
    *doc.mutable_value() = value->struct_value();
  }
  ASSIGN_OR_RETURN(size_t size, JcsSize(doc.value()));
  ASSIGN_OR_RETURN(int64_t version, Version(record, path));
  ASSIGN_OR_RETURN(int64_t updated_at, UpdatedAt(record, path, now_ms));
  doc.set_size_bytes(static_cast<int32_t>(size));
  doc.set_version(version);
  doc.set_updated_at(updated_at);
  return StoreEntry{DocKey(ns, key), doc.SerializeAsString(), 0, 0};
}

}  // namespace

absl::StatusOr<std::vector<StoreEntry>> MapStateManagerFixture(const Struct& document,
                                                               const CallContext& ctx) {
  std::vector<StoreEntry> entries;
  const Value* namespaces = Member(document, "namespaces");
  if (namespaces == nullptr) return entries;  // {}: an empty store
  if (namespaces->kind_case() != Value::kStructValue) {
    return InvalidArgument("namespaces", reason::kType);
  }
  for (const auto& [ns, docs] : namespaces->struct_value().fields()) {
    const std::string ns_path = KeyField("namespaces", ns);
    RETURN_IF_ERROR(Relabel(CheckNamespace(ns), ns_path));
    if (docs.kind_case() != Value::kStructValue) return InvalidArgument(ns_path, reason::kType);
    for (const auto& [key, record] : docs.struct_value().fields()) {
      ASSIGN_OR_RETURN(StoreEntry entry,
                       DocEntry(ns, key, record, KeyField(ns_path, key), ctx.now_ms()));
      entries.push_back(std::move(entry));
    }
  }
  return entries;
}

}  // namespace sidecar::services::state_manager
