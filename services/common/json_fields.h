#pragma once
// Typed members of a JSON object (fixture documents, stored state), read without exceptions.
// Absent or null members are zero values (§0.2) or the caller's fallback; a member of the wrong
// JSON type is INVALID_ARGUMENT {field: <parent>.<name>, reason: type}. Integers arrive as JSON
// integers (stored text) or integral doubles (a Struct): either is accepted within ±max_abs
// (default ±(2^53−1)); anything else (a fraction, NaN, ±inf, a string) is `type`.
//
//   ASSIGN_OR_RETURN(*route.mutable_route_id(), StringAt(j, "route_id", path));
//   ASSIGN_OR_RETURN(int64_t revision, IntAt(j, "revision", path, /*fallback=*/1));

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sidecar::services {

inline constexpr double kMaxJsonSafeInteger = 9007199254740991.0;  // 2^53 − 1

// The error path of member `name` of the object at `parent` ("" at the top level: `name`).
std::string MemberPath(std::string_view parent, std::string_view name);

// A string member; absent or null -> nullopt.
absl::StatusOr<std::optional<std::string>> OptionalStringAt(const nlohmann::json& obj,
                                                            std::string_view name,
                                                            std::string_view parent);
// A string member; absent or null -> "".
absl::StatusOr<std::string> StringAt(const nlohmann::json& obj, std::string_view name,
                                     std::string_view parent);

// An integer member; absent or null -> nullopt.
absl::StatusOr<std::optional<int64_t>> OptionalIntAt(const nlohmann::json& obj,
                                                     std::string_view name,
                                                     std::string_view parent,
                                                     double max_abs = kMaxJsonSafeInteger);
// An integer member; absent or null -> `fallback`.
absl::StatusOr<int64_t> IntAt(const nlohmann::json& obj, std::string_view name,
                              std::string_view parent, int64_t fallback = 0);

// A boolean member; absent or null -> false.
absl::StatusOr<bool> BoolAt(const nlohmann::json& obj, std::string_view name,
                            std::string_view parent);

// An array member (a copy); absent or null -> [].
absl::StatusOr<nlohmann::json> ArrayAt(const nlohmann::json& obj, std::string_view name,
                                       std::string_view parent);

// A ts member (RFC 3339, §0.2) as epoch ms; absent, null or "" -> nullopt; unparsable ->
// INVALID_ARGUMENT {field, reason: malformed}.
absl::StatusOr<std::optional<int64_t>> TsAt(const nlohmann::json& obj, std::string_view name,
                                            std::string_view parent);

}  // namespace sidecar::services
