#include "services/common/errors.h"

#include "absl/strings/str_cat.h"
#include "services/common/strings_internal.h"

namespace sidecar::services {
namespace {

std::string OrDefault(std::string_view message, std::string_view fallback) {
  return std::string(message.empty() ? fallback : message);
}

}  // namespace

absl::Status InvalidArgument(std::string_view field, std::string_view reason,
                             std::string_view message) {
  return adapters::ErrorStatus(absl::StatusCode::kInvalidArgument,
                               OrDefault(message, absl::StrCat(Av(field), ": ", Av(reason))),
                               {{"field", std::string(field)}, {"reason", std::string(reason)}});
}

absl::Status Unauthenticated(std::string_view message, const ErrorDetails& details) {
  return adapters::ErrorStatus(absl::StatusCode::kUnauthenticated, message, details);
}

absl::Status PermissionDenied(std::string_view message) {
  return adapters::ErrorStatus(absl::StatusCode::kPermissionDenied, message, {});
}

absl::Status NotFound(std::string_view field, std::string_view message) {
  return adapters::ErrorStatus(absl::StatusCode::kNotFound,
                               OrDefault(message, absl::StrCat(Av(field), " not found")),
                               {{"field", std::string(field)}});
}

absl::Status NotFoundReason(std::string_view reason, std::string_view message) {
  return adapters::ErrorStatus(absl::StatusCode::kNotFound, OrDefault(message, reason),
                               {{"reason", std::string(reason)}});
}

absl::Status AlreadyExists(std::string_view field, std::string_view message) {
  return adapters::ErrorStatus(absl::StatusCode::kAlreadyExists,
                               OrDefault(message, absl::StrCat(Av(field), " already exists")),
                               {{"field", std::string(field)}});
}

absl::Status FailedPrecondition(std::string_view reason, const ErrorDetails& extra,
                                std::string_view message) {
  ErrorDetails details = extra;
  details["reason"] = std::string(reason);
  return adapters::ErrorStatus(absl::StatusCode::kFailedPrecondition, OrDefault(message, reason),
                               details);
}

absl::Status ResourceExhausted(const ErrorDetails& details, std::string_view message) {
  return adapters::ErrorStatus(absl::StatusCode::kResourceExhausted,
                               OrDefault(message, "resource exhausted"), details);
}

absl::Status LimitExceeded(int64_t limit, std::string_view message) {
  return ResourceExhausted(
      {{"reason", std::string(reason::kLimitExceeded)}, {"limit", std::to_string(limit)}},
      OrDefault(message, absl::StrCat("limit of ", limit, " reached")));
}

absl::Status RetryAfter(int64_t retry_after_ms, std::string_view message) {
  return ResourceExhausted({{"retry_after_ms", std::to_string(retry_after_ms)}},
                           OrDefault(message, "try again later"));
}

absl::Status Unavailable(std::string_view reason, const ErrorDetails& extra,
                         std::string_view message) {
  ErrorDetails details = extra;
  if (!reason.empty()) details["reason"] = std::string(reason);
  return adapters::ErrorStatus(absl::StatusCode::kUnavailable,
                               OrDefault(message, reason.empty() ? "unavailable" : reason),
                               details);
}

absl::Status InProgress() {
  return Unavailable(reason::kInProgress, {}, "a request with this idempotency key is in flight");
}

absl::Status Internal(std::string_view message) {
  return adapters::ErrorStatus(absl::StatusCode::kInternal, message, {});
}

absl::Status DeadlineExceeded(std::string_view message) {
  return adapters::ErrorStatus(absl::StatusCode::kDeadlineExceeded, message, {});
}

::common::v1::Error ToErrorProto(const absl::Status& status) {
  ::common::v1::Error error;
  if (status.ok()) {
    error.set_code(std::string(adapters::codes::kInternal));
    error.set_message("handler returned OK as an error");
    return error;
  }
  error.set_code(std::string(adapters::CodeForStatusCode(status.code())));
  error.set_message(std::string(status.message()));
  for (const auto& [key, value] : adapters::GetErrorDetails(status)) {
    (*error.mutable_details())[key] = value;
  }
  return error;
}

absl::Status FromErrorProto(const ::common::v1::Error& error) {
  ErrorDetails details(error.details().begin(), error.details().end());
  return adapters::ErrorStatus(adapters::StatusCodeForCode(error.code()), error.message(),
                               details);
}

}  // namespace sidecar::services
