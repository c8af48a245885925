#include "sidecar/upstream/wire_request.h"

#include <utility>

#include "sidecar/http/header_chars.h"
#include "sidecar/http/message.h"

namespace sidecar::upstream {

namespace {
constexpr std::string_view kVersion = " HTTP/1.1\r\n";
}  // namespace

WireRequest::WireRequest(evhttp_cmd_type method, std::string_view uri, size_t header_bytes_hint)
    : method_(method),
      head_(MethodName(method).size() + 1 + uri.size() + kVersion.size() + header_bytes_hint) {
  head_.Append(MethodName(method));
  head_.Append(" ");
  head_.Append(uri);
  head_.Append(kVersion);
}

absl::Status WireRequest::AddHeader(std::string_view name, std::string_view value) {
  if (!http::IsToken(name) || http::HasLineBreakOrNul(value)) {
    return absl::InvalidArgumentError("invalid request header: " + std::string(name));
  }
  if (!has_content_length_ && http::HeaderMap::NameEquals(name, "Content-Length")) {
    has_content_length_ = true;
  }
  head_.AppendHeaderLine(name, value);
  return absl::OkStatus();
}

std::optional<evhttp_cmd_type> ParseMethod(std::string_view method) {
  static constexpr std::pair<std::string_view, evhttp_cmd_type> kMethods[] = {
      {"GET", EVHTTP_REQ_GET},         {"POST", EVHTTP_REQ_POST},   {"PUT", EVHTTP_REQ_PUT},
      {"DELETE", EVHTTP_REQ_DELETE},   {"PATCH", EVHTTP_REQ_PATCH}, {"HEAD", EVHTTP_REQ_HEAD},
      {"OPTIONS", EVHTTP_REQ_OPTIONS}, {"TRACE", EVHTTP_REQ_TRACE}, {"CONNECT", EVHTTP_REQ_CONNECT},
  };
  for (const auto& [name, type] : kMethods) {
    if (http::HeaderMap::NameEquals(name, method)) return type;
  }
  return std::nullopt;
}

std::string_view MethodName(evhttp_cmd_type method) {
  switch (method) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
  }
  return "GET";
}

}  // namespace sidecar::upstream
