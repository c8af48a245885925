// NATS request -> request model: subject parsing, header mapping, passthrough and action routes.

#include <algorithm>
#include <array>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapters/common/errors.h"
#include "adapters/nats_http/nats_http.h"
#include "sidecar/http/header_chars.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::nats_http {
namespace {

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         http::HeaderMap::NameEquals(text.substr(0, prefix.size()), prefix);
}

// Single-valued headers that carry meaning for the sidecar and every hop (§0.3 plus W3C trace
// context), forwarded in both request forms under their canonical spelling.
constexpr std::array<std::string_view, 6> kForwarded = {
    http::headers::kPrincipal,  http::headers::kRequestTime, http::headers::kRequestId,
    http::headers::kDeadlineMs, http::headers::kTraceparent, "tracestate",
};

template <size_t N>
bool InList(const std::array<std::string_view, N>& list, std::string_view name) {
  return std::any_of(list.begin(), list.end(),
                     [&](std::string_view x) { return http::HeaderMap::NameEquals(x, name); });
}

bool NameIn(std::string_view name, const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return http::HeaderMap::NameEquals(n, name); });
}

bool IsNatsInternal(std::string_view name) {
  // nats.c exposes a message's status line as the pseudo-headers "Status" and "Description".
  return StartsWithIgnoreCase(name, "Nats-") || name == "Status" || name == "Description";
}

bool IsServiceName(std::string_view s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// `_fixture` and other framework actions start with one underscore (SERVICES.md actions never do).
bool IsActionName(std::string_view s) {
  if (!s.empty() && s[0] == '_') s.remove_prefix(1);
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// The single-valued headers MessageToRequest reads: kForwarded, then the request line's two. Each is
// looked up in any case; copies with different values, or a value no HTTP hop could carry, make the
// request malformed. Read in one pass over the message's headers (a pass per name was eight).
constexpr size_t kMethodSlot = kForwarded.size();
constexpr size_t kPathSlot = kForwarded.size() + 1;
constexpr size_t kSingleSlots = kForwarded.size() + 2;
using SingleValues = std::array<std::optional<std::string_view>, kSingleSlots>;

std::string_view SlotName(size_t slot) {
  if (slot < kForwarded.size()) return kForwarded[slot];
  return slot == kMethodSlot ? http::headers::kHttpMethod : http::headers::kHttpPath;
}

absl::StatusOr<SingleValues> SingleHeaders(const NatsMessageView& message) {
  SingleValues found;
  // Per slot, the first problem in header order; reported in slot order, as the lookups were.
  std::array<std::string_view, kSingleSlots> problem;
  for (const auto& [key, value] : message.headers) {
    for (size_t slot = 0; slot < kSingleSlots; ++slot) {
      if (!http::HeaderMap::NameEquals(key, SlotName(slot))) continue;
      if (!problem[slot].empty()) break;
      if (!IsValidHeaderValue(value)) {
        problem[slot] = "contains control characters";
      } else if (found[slot] && *found[slot] != value) {
        problem[slot] = "is repeated with different values";
      } else {
        found[slot] = value;
      }
      break;
    }
  }
  for (size_t slot = 0; slot < kSingleSlots; ++slot) {
    if (problem[slot].empty()) continue;
    return InvalidArgument(SlotName(slot), "malformed",
                           absl::StrCat("header ", AbslView(SlotName(slot)), " ", AbslView(problem[slot])));
  }
  return found;
}

// A request target the upstream can put on its request line as is: origin-form, visible ASCII only.
bool IsValidRequestTarget(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;
  return std::all_of(path.begin(), path.end(), [](char c) {
    auto b = static_cast<unsigned char>(c);
    return b > 0x20 && b < 0x7f && c != '#';
  });
}


}  // namespace

std::vector<std::string> ConnectionTokens(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::string> tokens;
  for (const auto& [name, value] : headers) {
    if (!http::HeaderMap::NameEquals(name, "Connection")) continue;
    for (absl::string_view token : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      absl::string_view stripped = absl::StripAsciiWhitespace(token);
      tokens.emplace_back(stripped.data(), stripped.size());
    }
  }
  return tokens;
}

bool IsHopOnlyHeader(std::string_view name) {
  return http::HeaderMap::IsHopByHopOrFraming(name) || http::HeaderMap::NameEquals(name, "Proxy-Authorization") ||
         http::HeaderMap::NameEquals(name, "Proxy-Authenticate");
}

bool IsValidHeaderName(std::string_view name) { return http::IsToken(name); }

bool IsValidHeaderValue(std::string_view value) { return http::IsFieldValue(value); }

std::string CanonicalHeaderName(std::string_view name) {
  static constexpr std::array<std::string_view, 4> kRegistered = {"traceparent", "tracestate",
                                                                  "ETag", "WWW-Authenticate"};
  for (std::string_view registered : kRegistered) {
    if (http::HeaderMap::NameEquals(registered, name)) return std::string(registered);
  }
  std::string out(name);
  bool word_start = true;
  for (char& c : out) {
    c = word_start ? Upper(c) : Lower(c);
    word_start = c == '-';
  }
  return out;
}

absl::StatusOr<Subject> ParseSubject(std::string_view subject) {
  auto malformed = [&](std::string_view why) {
    return InvalidArgument("subject", "malformed",
                           absl::StrCat("subject \"", AbslView(subject), "\": ", AbslView(why)));
  };
  // Four tokens are expected; counting stops at a fifth, which is already too many.
  std::array<std::string_view, 5> tokens;
  size_t count = 0;
  for (size_t start = 0; count < tokens.size();) {
    size_t dot = subject.find('.', start);
    tokens[count++] = subject.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (count != 4 || tokens[0] != "svc" || tokens[2] != "v1") {
    return malformed("expected svc.<service>.v1.<action>");
  }
  if (!IsServiceName(tokens[1])) return malformed("service name must match [a-z][a-z0-9-]*");
  if (!IsActionName(tokens[3])) return malformed("action name must match _?[a-z][a-z0-9_]*");
  return Subject{std::string(tokens[1]), std::string(tokens[3])};
}

std::string MakeSubject(std::string_view service, std::string_view action) {
  return absl::StrCat("svc.", AbslView(service), ".v1.", AbslView(action));
}

absl::StatusOr<http::Request> MessageToRequest(const NatsMessageView& message,
                                               const ActionRouteTable* routes) {
  ASSIGN_OR_RETURN(Subject subject, ParseSubject(message.subject));
  http::Request request;
  request.service = std::move(subject.service);
  request.action = std::move(subject.action);

  ASSIGN_OR_RETURN(const SingleValues single, SingleHeaders(message));
  for (size_t slot = 0; slot < kForwarded.size(); ++slot) {
    if (single[slot]) request.headers.Add(std::string(kForwarded[slot]), std::string(*single[slot]));
  }
  std::optional<std::string> method, path;
  if (single[kMethodSlot]) method.emplace(*single[kMethodSlot]);
  if (single[kPathSlot]) path.emplace(*single[kPathSlot]);

  if (method || path) {  // passthrough: the HTTP request line travels in headers
    if (!method || method->empty()) {
      return InvalidArgument(http::headers::kHttpMethod, "required",
                             "X-Http-Path is set but X-Http-Method is missing or empty");
    }
    if (!IsValidHeaderName(*method)) {  // a method is an RFC 9110 token, like a header name
      return InvalidArgument(http::headers::kHttpMethod, "malformed",
                             absl::StrCat("X-Http-Method \"", *method, "\" is not an HTTP method"));
    }
    if (!path || path->empty()) {
      return InvalidArgument(http::headers::kHttpPath, "required",
                             "X-Http-Method is set but X-Http-Path is missing or empty");
    }
    if (!IsValidRequestTarget(*path)) {
      return InvalidArgument(
          http::headers::kHttpPath, "malformed",
          "X-Http-Path must start with '/' and contain only visible ASCII, no '#'");
    }
    request.method = std::move(*method);
    request.path = std::move(*path);
    std::vector<std::string> connection_tokens = ConnectionTokens(message.headers);
    for (const auto& [name, value] : message.headers) {
      if (InList(kForwarded, name) || NameIn(name, connection_tokens) ||
          http::HeaderMap::NameEquals(name, http::headers::kHttpMethod) ||
          http::HeaderMap::NameEquals(name, http::headers::kHttpPath) || IsNatsInternal(name) ||
          IsHopOnlyHeader(name) || http::HeaderMap::NameEquals(name, "Host") ||
          !IsValidHeaderName(name) || !IsValidHeaderValue(value)) {
        continue;
      }
      request.headers.Add(name, value);
    }
    request.body = std::string(message.data);
    return request;
  }

  const ActionRoute* route = routes ? routes->Find(request.action) : nullptr;
  if (route == nullptr) {
    return ErrorStatus(absl::StatusCode::kNotFound,
                       absl::StrCat("service ", request.service, " has no route for action ",
                                    request.action, " and the message has no X-Http-Method"),
                       {{"field", "action"}});
  }
  ASSIGN_OR_RETURN(HttpForm form, EncodeAction(*route, message.data));
  request.method = std::move(form.method);
  request.path = std::move(form.path);
  if (!form.content_type.empty()) request.headers.Set("Content-Type", std::move(form.content_type));
  request.body = std::move(form.body);
  return request;
}

}  // namespace sidecar::adapters::nats_http
