#include "adapters/common/errors.h"

#include <array>
#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "nlohmann/json.hpp"
#include "sidecar/upstream/cluster.h"

namespace sidecar::adapters {
namespace {

using OrderedJson = nlohmann::ordered_json;

constexpr absl::string_view kDetailsUrl = "type.sidecar/adapters.ErrorDetails";

struct CodeRow {
  std::string_view code;
  int http_status;
  absl::StatusCode status_code;
};

constexpr std::array<CodeRow, 10> kCodeTable = {{
    {codes::kInvalidArgument, 400, absl::StatusCode::kInvalidArgument},
    {codes::kUnauthenticated, 401, absl::StatusCode::kUnauthenticated},
    {codes::kPermissionDenied, 403, absl::StatusCode::kPermissionDenied},
    {codes::kNotFound, 404, absl::StatusCode::kNotFound},
    {codes::kAlreadyExists, 409, absl::StatusCode::kAlreadyExists},
    {codes::kFailedPrecondition, 422, absl::StatusCode::kFailedPrecondition},
    {codes::kResourceExhausted, 429, absl::StatusCode::kResourceExhausted},
    {codes::kInternal, 500, absl::StatusCode::kInternal},
    {codes::kUnavailable, 503, absl::StatusCode::kUnavailable},
    {codes::kDeadlineExceeded, 504, absl::StatusCode::kDeadlineExceeded},
}};

const CodeRow* FindCode(std::string_view code) {
  for (const CodeRow& row : kCodeTable) {
    if (row.code == code) return &row;
  }
  return nullptr;
}

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Never throws: invalid UTF-8 (a legacy body, a message built from input) is replaced, not fatal.
std::string Dump(const OrderedJson& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

bool IsKnownCode(std::string_view code) { return FindCode(code) != nullptr; }

int HttpStatusForCode(std::string_view code) {
  const CodeRow* row = FindCode(code);
  return row ? row->http_status : 500;
}

std::string_view CodeForHttpStatus(int status) {
  if (status >= 100 && status < 400) return "";
  for (const CodeRow& row : kCodeTable) {
    if (row.http_status == status) return row.code;
  }
  switch (status) {
    case 408: return codes::kDeadlineExceeded;
    case 410: return codes::kNotFound;
    case 412: return codes::kFailedPrecondition;
    case 502: return codes::kUnavailable;
    default: break;
  }
  if (status >= 400 && status < 500) return codes::kInvalidArgument;
  return codes::kInternal;
}

std::string_view CodeForStatusCode(absl::StatusCode code) {
  for (const CodeRow& row : kCodeTable) {
    if (row.status_code == code) return row.code;
  }
  switch (code) {
    case absl::StatusCode::kOutOfRange: return codes::kInvalidArgument;
    case absl::StatusCode::kAborted: return codes::kFailedPrecondition;
    case absl::StatusCode::kCancelled: return codes::kUnavailable;
    default: return codes::kInternal;
  }
}

absl::StatusCode StatusCodeForCode(std::string_view code) {
  const CodeRow* row = FindCode(code);
  return row ? row->status_code : absl::StatusCode::kInternal;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}

absl::Status ErrorStatus(absl::StatusCode code, std::string_view message,
                         const ErrorDetails& details) {
  absl::Status status(code, AbslView(message));
  if (!details.empty() && !status.ok()) {
    OrderedJson j = OrderedJson::object();
    for (const auto& [key, value] : details) j[key] = value;
    status.SetPayload(kDetailsUrl, absl::Cord(Dump(j)));
  }
  return status;
}

absl::Status InvalidArgument(std::string_view field, std::string_view reason,
                             std::string_view message) {
  return ErrorStatus(absl::StatusCode::kInvalidArgument, message,
                     {{"field", std::string(field)}, {"reason", std::string(reason)}});
}

ErrorDetails GetErrorDetails(const absl::Status& status) {
  ErrorDetails details;
  auto payload = status.GetPayload(kDetailsUrl);  // absl::optional, not std:: in this build
  if (!payload) return details;
  nlohmann::json j =
      nlohmann::json::parse(std::string(*payload), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return details;
  for (const auto& [key, value] : j.items()) {
    if (value.is_string()) details.emplace(key, value.get<std::string>());
  }
  return details;
}

std::string ErrorBody(std::string_view code, std::string_view message,
                      const ErrorDetails& details) {
  OrderedJson d = OrderedJson::object();
  for (const auto& [key, value] : details) d[key] = value;
  OrderedJson error = OrderedJson::object();
  error["code"] = std::string(code);
  error["message"] = std::string(message);
  error["details"] = std::move(d);
  OrderedJson body = OrderedJson::object();
  body["error"] = std::move(error);
  return Dump(body);
}

http::Response ErrorResponse(std::string_view code, std::string_view message,
                             const ErrorDetails& details) {
  http::Response response;
  response.status = HttpStatusForCode(code);
  response.headers.Set("Content-Type", "application/json");
  response.body = ErrorBody(code, message, details);
  return response;
}

http::Response ErrorResponseFromStatus(const absl::Status& status) {
  if (status.ok()) return ErrorResponse(codes::kInternal, "error reported with an OK status");
  ErrorDetails details = GetErrorDetails(status);
  upstream::FailureKind kind = upstream::GetFailureKind(status);
  if (kind != upstream::FailureKind::kNone) {
    details.emplace("reason",
                    std::string(upstream::FailureKindName(kind)));  // keeps an explicit reason
  }
  std::string_view message(status.message().data(), status.message().size());
  http::Response response = ErrorResponse(CodeForStatusCode(status.code()), message, details);
  // Failures the sidecar itself decided (breaker open, limits, timeouts, connect failures) say so
  // in a header too, so a caller or a load balancer can tell them from the upstream's own errors
  // without parsing the body.
  if (kind != upstream::FailureKind::kNone) {
    response.headers.Set(std::string(kSidecarReasonHeader), std::string(upstream::FailureKindName(kind)));
  }
  return response;
}

}  // namespace sidecar::adapters
