#include "services/common/json_fields.h"

#include <cmath>

#include "services/common/call_context.h"
#include "services/common/errors.h"
#include "services/common/validation.h"

namespace sidecar::services {
namespace {

using Json = nlohmann::json;

// The member, or nullptr when absent or null.
const Json* Member(const Json& obj, std::string_view name) {
  auto it = obj.find(std::string(name));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status TypeError(std::string_view parent, std::string_view name) {
  return InvalidArgument(MemberPath(parent, name), reason::kType);
}

}  // namespace

std::string MemberPath(std::string_view parent, std::string_view name) {
  return parent.empty() ? std::string(name) : KeyField(parent, name);
}

absl::StatusOr<std::optional<std::string>> OptionalStringAt(const Json& obj,
                                                            std::string_view name,
                                                            std::string_view parent) {
  const Json* member = Member(obj, name);
  if (member == nullptr) return std::optional<std::string>();
  if (!member->is_string()) return TypeError(parent, name);
  return member->get<std::string>();
}

absl::StatusOr<std::string> StringAt(const Json& obj, std::string_view name,
                                     std::string_view parent) {
  absl::StatusOr<std::optional<std::string>> text = OptionalStringAt(obj, name, parent);
  if (!text.ok()) return text.status();
  return text->value_or(std::string());
}

absl::StatusOr<std::optional<int64_t>> OptionalIntAt(const Json& obj, std::string_view name,
                                                     std::string_view parent, double max_abs) {
  const Json* member = Member(obj, name);
  if (member == nullptr) return std::optional<int64_t>();
  if (member->is_number()) {
    const double d = member->get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= max_abs) {
      return static_cast<int64_t>(d);
    }
  }
  return TypeError(parent, name);
}

absl::StatusOr<int64_t> IntAt(const Json& obj, std::string_view name, std::string_view parent,
                              int64_t fallback) {
  absl::StatusOr<std::optional<int64_t>> value = OptionalIntAt(obj, name, parent);
  if (!value.ok()) return value.status();
  return value->value_or(fallback);
}

absl::StatusOr<bool> BoolAt(const Json& obj, std::string_view name, std::string_view parent) {
  const Json* member = Member(obj, name);
  if (member == nullptr) return false;
  if (!member->is_boolean()) return TypeError(parent, name);
  return member->get<bool>();
}

absl::StatusOr<Json> ArrayAt(const Json& obj, std::string_view name, std::string_view parent) {
  const Json* member = Member(obj, name);
  if (member == nullptr) return Json::array();
  if (!member->is_array()) return TypeError(parent, name);
  return *member;
}

absl::StatusOr<std::optional<int64_t>> TsAt(const Json& obj, std::string_view name,
                                            std::string_view parent) {
  absl::StatusOr<std::string> text = StringAt(obj, name, parent);
  if (!text.ok()) return text.status();
  if (text->empty()) return std::optional<int64_t>();
  absl::StatusOr<int64_t> ms = ParseRequestTime(*text);
  if (!ms.ok()) return InvalidArgument(MemberPath(parent, name), reason::kMalformed);
  return *ms;
}

}  // namespace sidecar::services
