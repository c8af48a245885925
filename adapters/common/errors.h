#pragma once
// The error model of SERVICES.md §0.4, shared by every wire form:
//   JSON   {"error":{"code":"NOT_FOUND","message":"...","details":{"field":"quest_id"}}}
//   NATS   headers Nats-Service-Error: <CODE>, Nats-Service-Error-Code: <HTTP status>, same body
//   HTTP   the status of the table below
//   C++    absl::Status with the matching absl::StatusCode, details carried as a payload
//
// | code                | HTTP | absl::StatusCode     |
// |---------------------|------|----------------------|
// | INVALID_ARGUMENT    | 400  | kInvalidArgument     |
// | UNAUTHENTICATED     | 401  | kUnauthenticated     |
// | PERMISSION_DENIED   | 403  | kPermissionDenied    |
// | NOT_FOUND           | 404  | kNotFound            |
// | ALREADY_EXISTS      | 409  | kAlreadyExists       |
// | FAILED_PRECONDITION | 422  | kFailedPrecondition  |
// | RESOURCE_EXHAUSTED  | 429  | kResourceExhausted   |
// | INTERNAL            | 500  | kInternal            |
// | UNAVAILABLE         | 503  | kUnavailable         |
// | DEADLINE_EXCEEDED   | 504  | kDeadlineExceeded    |

#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "sidecar/http/message.h"

namespace sidecar::adapters {

using ErrorDetails = std::map<std::string, std::string>;

namespace codes {
inline constexpr std::string_view kInvalidArgument = "INVALID_ARGUMENT";
inline constexpr std::string_view kUnauthenticated = "UNAUTHENTICATED";
inline constexpr std::string_view kPermissionDenied = "PERMISSION_DENIED";
inline constexpr std::string_view kNotFound = "NOT_FOUND";
inline constexpr std::string_view kAlreadyExists = "ALREADY_EXISTS";
inline constexpr std::string_view kFailedPrecondition = "FAILED_PRECONDITION";
inline constexpr std::string_view kResourceExhausted = "RESOURCE_EXHAUSTED";
inline constexpr std::string_view kInternal = "INTERNAL";
inline constexpr std::string_view kUnavailable = "UNAVAILABLE";
inline constexpr std::string_view kDeadlineExceeded = "DEADLINE_EXCEEDED";
}  // namespace codes

// True for the ten codes of the table (exact, upper case).
bool IsKnownCode(std::string_view code);

// The table's HTTP status; 500 for an unknown code (an unknown code is a bug, reported as a server
// fault).
int HttpStatusForCode(std::string_view code);

// The code for any HTTP status a legacy service may return. "" for statuses below 400 (not errors).
//   the table's statuses map back to their codes;
//   408 Request Timeout -> DEADLINE_EXCEEDED; 410 Gone -> NOT_FOUND; 412 Precondition Failed ->
//   FAILED_PRECONDITION; every other 4xx (405, 406, 413, 415, ...) -> INVALID_ARGUMENT (the caller
//   sent something this API does not accept; not retryable); 502 Bad Gateway and 503 -> UNAVAILABLE
//   (retryable); 504 -> DEADLINE_EXCEEDED; every other 5xx and anything outside 100..599 ->
//   INTERNAL.
std::string_view CodeForHttpStatus(int status);

// absl::StatusCode -> code. The table's codes map one to one; kOutOfRange -> INVALID_ARGUMENT (§0.4
// has out_of_range as a reason, not a code); kAborted -> FAILED_PRECONDITION (a conflict with
// current state); kCancelled -> UNAVAILABLE (the work did not complete; retrying is safe); kOk,
// kUnknown, kUnimplemented, kDataLoss and anything else -> INTERNAL.
std::string_view CodeForStatusCode(absl::StatusCode code);
// Code -> absl::StatusCode; kInternal for an unknown code.
absl::StatusCode StatusCodeForCode(std::string_view code);

// Standard reason phrase ("Not Found"), or "" for an unusual status.
std::string_view ReasonPhrase(int status);

// A Status whose details travel with it (as a payload), so that code deep in an adapter can say
// field=body reason=malformed and the boundary can render it without knowing where it came from.
absl::Status ErrorStatus(absl::StatusCode code, std::string_view message,
                         const ErrorDetails& details);
// Shorthand for the most common one: INVALID_ARGUMENT with details {field, reason}.
absl::Status InvalidArgument(std::string_view field, std::string_view reason,
                             std::string_view message);
// The details attached by ErrorStatus, or {}.
ErrorDetails GetErrorDetails(const absl::Status& status);

// {"error":{"code":..,"message":..,"details":{..}}}, keys in that order.
std::string ErrorBody(std::string_view code, std::string_view message,
                      const ErrorDetails& details = {});

// The §0.4 JSON error response: status from the table (500 for an unknown code, whose text is
// kept), Content-Type: application/json.
http::Response ErrorResponse(std::string_view code, std::string_view message,
                             const ErrorDetails& details = {});

// Set on errors the sidecar produced itself (the upstream FailureKind name: circuit_open,
// max_requests, connect_failure, timeout, ...).
inline constexpr std::string_view kSidecarReasonHeader = "X-Sidecar-Reason";

// Renders a Status: code from its absl code, message as is, details from GetErrorDetails() plus
// `reason` = upstream::FailureKindName(kind) when the Status carries a FailureKind other than kNone
// (and no reason is set yet). Upstream connect failures thus become 503 UNAVAILABLE
// reason=connect_failure and timeouts 504 DEADLINE_EXCEEDED reason=timeout. An OK status (a caller
// bug) renders as 500 INTERNAL.
http::Response ErrorResponseFromStatus(const absl::Status& status);

}  // namespace sidecar::adapters
