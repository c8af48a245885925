#pragma once
// §0.4 errors for native ports, as absl::Status in the adapters/common/errors.h convention (the
// absl code of its table, details as the Status payload read by adapters::GetErrorDetails), so
// every wire form renders a port's error exactly as it renders any other.
//
// Details hold exactly the keys the spec lists (N2): the builders below take only those keys.
// Numbers in details are decimal strings ("retry_after_ms": "720000").

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "adapters/common/errors.h"
#include "common/v1/common.pb.h"

namespace sidecar::services {

using ErrorDetails = adapters::ErrorDetails;

namespace reason {
// INVALID_ARGUMENT reasons (§0.4), in check order.
inline constexpr std::string_view kRequired = "required";
inline constexpr std::string_view kType = "type";
inline constexpr std::string_view kTooShort = "too_short";
inline constexpr std::string_view kTooLong = "too_long";
inline constexpr std::string_view kPattern = "pattern";
inline constexpr std::string_view kUnknownValue = "unknown_value";
inline constexpr std::string_view kOutOfRange = "out_of_range";
inline constexpr std::string_view kMalformed = "malformed";
// Shared non-field reasons.
inline constexpr std::string_view kInProgress = "in_progress";
inline constexpr std::string_view kLimitExceeded = "limit_exceeded";
}  // namespace reason

// INVALID_ARGUMENT {field, reason}.
absl::Status InvalidArgument(std::string_view field, std::string_view reason,
                             std::string_view message = "");
// UNAUTHENTICATED; details {} for a missing principal, or what the rule lists
// (auth: {reason: invalid}, {attempts_remaining: "2"}).
absl::Status Unauthenticated(std::string_view message = "missing or invalid principal",
                             const ErrorDetails& details = {});
// PERMISSION_DENIED {} (§0.4: always empty details).
absl::Status PermissionDenied(std::string_view message = "principal not allowed");
// NOT_FOUND {field}.
absl::Status NotFound(std::string_view field, std::string_view message = "");
// NOT_FOUND {reason} for rules that name a reason instead of a field (router no_route).
absl::Status NotFoundReason(std::string_view reason, std::string_view message = "");
// ALREADY_EXISTS {field} (the colliding id, or idempotency_key).
absl::Status AlreadyExists(std::string_view field, std::string_view message = "");
// FAILED_PRECONDITION {reason, ...extra}.
absl::Status FailedPrecondition(std::string_view reason, const ErrorDetails& extra = {},
                                std::string_view message = "");
// RESOURCE_EXHAUSTED with exactly `details` (a rule's reason/limit/retry_after_ms/...).
absl::Status ResourceExhausted(const ErrorDetails& details, std::string_view message = "");
// RESOURCE_EXHAUSTED {reason: limit_exceeded, limit} for stored-entity caps (§0.4, N3).
absl::Status LimitExceeded(int64_t limit, std::string_view message = "");
// RESOURCE_EXHAUSTED {retry_after_ms} (lockouts, "when known").
absl::Status RetryAfter(int64_t retry_after_ms, std::string_view message = "");
// UNAVAILABLE {reason, ...extra}; reason "" gives {} (a dependency or the store is down).
absl::Status Unavailable(std::string_view reason, const ErrorDetails& extra = {},
                         std::string_view message = "");
// UNAVAILABLE {reason: in_progress}: an in-flight duplicate (§0.5).
absl::Status InProgress();
// INTERNAL {} (invariant breach, bug).
absl::Status Internal(std::string_view message);
// DEADLINE_EXCEEDED {}.
absl::Status DeadlineExceeded(std::string_view message = "deadline exceeded");

// Status -> common.v1.Error: code by adapters::CodeForStatusCode, message as is, details from the
// payload. An OK status (a caller bug) becomes INTERNAL.
::common::v1::Error ToErrorProto(const absl::Status& status);
// common.v1.Error -> Status (a dependency's error reply passing through, §0.4).
absl::Status FromErrorProto(const ::common::v1::Error& error);

// The §0.4 details of a Status (its payload), or {}.
inline ErrorDetails DetailsOf(const absl::Status& status) {
  return adapters::GetErrorDetails(status);
}

}  // namespace sidecar::services
