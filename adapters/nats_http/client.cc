// Request model -> NATS request, NATS reply -> Response: the client direction (NatsCluster).

#include "adapters/nats_http/client.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include "absl/strings/str_cat.h"
#include "adapters/common/errors.h"
#include "nlohmann/json.hpp"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::nats_http {
namespace {

using Header = std::pair<std::string, std::string>;

// §0.3 plus W3C trace context, minus X-Deadline-Ms (always recomputed from our own deadline).
constexpr std::array<std::string_view, 5> kContextHeaders = {
    http::headers::kPrincipal, http::headers::kRequestTime, http::headers::kRequestId,
    http::headers::kTraceparent, "tracestate"};

// clang-format off
constexpr std::array<std::string_view, 3> kDroppedReplyHeaders = {
    "Content-Length", "Transfer-Encoding", "Connection"};
// clang-format on

template <size_t N>
bool InList(const std::array<std::string_view, N>& list, std::string_view name) {
  return std::any_of(list.begin(), list.end(),
                     [&](std::string_view x) { return http::HeaderMap::NameEquals(x, name); });
}

bool NameIn(std::string_view name, const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return http::HeaderMap::NameEquals(n, name); });
}

bool HasPrefixIgnoreCase(std::string_view name, std::string_view prefix) {
  return name.size() >= prefix.size() &&
         http::HeaderMap::NameEquals(name.substr(0, prefix.size()), prefix);
}

// NATS-internal: set by NATS or by us, never forwarded from the other side.
bool IsNatsInternal(std::string_view name) {
  return HasPrefixIgnoreCase(name, "Nats-") || name == "Status" || name == "Description";
}

bool IsHttpMethodToken(std::string_view method) { return IsValidHeaderName(method); }

// Origin-form request target, visible ASCII only: the listener on the other side checks the same.
bool IsValidRequestTarget(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  return std::all_of(path.begin(), path.end(), [](char c) {
    auto b = static_cast<unsigned char>(c);
    return b > 0x20 && b < 0x7f && c != '#';
  });
}

absl::StatusOr<std::string> SubjectFor(const http::Request& request, const ClientOptions& options) {
  if (!options.subject.empty()) return options.subject;
  std::string subject = MakeSubject(request.service, request.action);
  RETURN_IF_ERROR(ParseSubject(subject).status());  // names what is wrong with it
  return subject;
}

// The §0.3 headers of `request`, canonical names; a value no hop could carry rejects the request.
absl::Status AddContextHeaders(const http::Request& request, std::vector<Header>& out) {
  for (const auto& [name, value] : request.headers.entries()) {
    if (!InList(kContextHeaders, name)) continue;
    if (!IsValidHeaderValue(value)) {
      return InvalidArgument(CanonicalHeaderName(name), "malformed",
                             absl::StrCat("header ", name, " contains control characters"));
    }
    out.emplace_back(CanonicalHeaderName(name), value);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int>> StatusHeader(const NatsReply& reply, std::string_view name) {
  for (const auto& [key, value] : reply.headers) {
    if (!http::HeaderMap::NameEquals(key, name)) continue;
    int status = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), status);
    if (ec != std::errc() || ptr != value.data() + value.size() || status < 100 || status > 599) {
      return absl::InvalidArgumentError(
          absl::StrCat("reply header ", std::string(name), " is not an HTTP status: '", value, "'"));
    }
    return std::optional<int>(status);
  }
  return std::optional<int>();
}

std::string FirstValue(const NatsReply& reply, std::string_view name) {
  for (const auto& [key, value] : reply.headers) {
    if (http::HeaderMap::NameEquals(key, name)) return value;
  }
  return "";
}

}  // namespace

absl::StatusOr<NatsRequest> EncodeRequest(const http::Request& request, const ClientOptions& options,
                                          std::chrono::milliseconds remaining) {
  NatsRequest out;
  ASSIGN_OR_RETURN(out.subject, SubjectFor(request, options));

  if (options.mode == ClientMode::kAction) {
    if (request.body.empty()) {
      out.data = "{}";
    } else {
      auto json = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
      if (!json.is_object()) {
        return InvalidArgument("body", "malformed", "an action payload must be a JSON object");
      }
      out.data = request.body;
    }
    RETURN_IF_ERROR(AddContextHeaders(request, out.headers));
    // The payload is JSON; say so, because a NATS responder's default encoding is protobuf
    // (a sidecar serving native ports transcodes by Content-Type).
    out.headers.emplace_back("Content-Type", "application/json");
  } else {
    if (request.method.empty() || !IsHttpMethodToken(request.method)) {
      return InvalidArgument(http::headers::kHttpMethod, request.method.empty() ? "required" : "malformed",
                             absl::StrCat("passthrough needs an HTTP method, got '", request.method, "'"));
    }
    if (!IsValidRequestTarget(request.path)) {
      return InvalidArgument(
          http::headers::kHttpPath, request.path.empty() ? "required" : "malformed",
          "passthrough path must start with '/' and contain only visible ASCII, no '#'");
    }
    out.headers.emplace_back(std::string(http::headers::kHttpMethod), request.method);
    out.headers.emplace_back(std::string(http::headers::kHttpPath), request.path);
    RETURN_IF_ERROR(AddContextHeaders(request, out.headers));
    const std::vector<std::string> connection_tokens = ConnectionTokens(request.headers.entries());
    for (const auto& [name, value] : request.headers.entries()) {
      if (InList(kContextHeaders, name) || IsHopOnlyHeader(name) ||
          http::HeaderMap::NameEquals(name, "Host") || NameIn(name, connection_tokens) || IsNatsInternal(name) ||
          HasPrefixIgnoreCase(name, "X-Http-") ||
          http::HeaderMap::NameEquals(name, http::headers::kDeadlineMs) ||
          !IsValidHeaderName(name) || !IsValidHeaderValue(value)) {
        continue;
      }
      out.headers.emplace_back(CanonicalHeaderName(name), value);
    }
    out.data = request.body;
  }
  const int64_t ms = std::max<int64_t>(1, remaining.count());
  out.headers.emplace_back(std::string(http::headers::kDeadlineMs), std::to_string(ms));
  return out;
}

absl::StatusOr<http::Response> DecodeReply(const NatsReply& reply) {
  http::Response response;
  ASSIGN_OR_RETURN(std::optional<int> http_status, StatusHeader(reply, http::headers::kHttpStatus));
  std::optional<int> error_code;
  if (!http_status) {
    ASSIGN_OR_RETURN(error_code, StatusHeader(reply, http::headers::kServiceErrorCode));
  }
  response.status = http_status ? *http_status : error_code ? *error_code : 200;

  for (const auto& [name, value] : reply.headers) {
    if (http::HeaderMap::NameEquals(name, http::headers::kHttpStatus) || IsNatsInternal(name) ||
        InList(kDroppedReplyHeaders, name)) {
      continue;
    }
    response.headers.Add(name, value);
  }
  response.body = reply.data;

  if (response.status >= 400 && response.body.empty()) {
    // A bare ADR-32 error: Nats-Service-Error is our §0.4 code, or (from other NATS services)
    // free text, which then becomes the message.
    const std::string service_error = FirstValue(reply, http::headers::kServiceError);
    std::string code(CodeForHttpStatus(response.status));
    std::string message = service_error;
    if (IsKnownCode(service_error)) {
      code = service_error;
      message.clear();
    }
    if (message.empty()) message = std::string(ReasonPhrase(response.status));
    if (message.empty()) message = absl::StrCat("HTTP ", response.status);
    response.body = ErrorBody(code, message);
    response.headers.Set("Content-Type", "application/json");  // describes the body we built
  }
  return response;
}

}  // namespace sidecar::adapters::nats_http
