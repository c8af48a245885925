#include "sidecar/upstream/wire_request.h"

#include <cassert>
#include <utility>

#include "sidecar/http/header_chars.h"
#include "sidecar/http/message.h"
#include "sidecar/http/method.h"

namespace sidecar::upstream {

namespace {
constexpr std::string_view kVersion = " HTTP/1.1\r\n";
}  // namespace

WireRequest::WireRequest(evhttp_cmd_type method, std::string_view uri, size_t header_bytes_hint)
    : method_(method),
      head_(http::MethodName(method).size() + 1 + uri.size() + kVersion.size() + header_bytes_hint) {
  head_.Append(http::MethodName(method));
  head_.Append(" ");
  head_.Append(uri);
  head_.Append(kVersion);
}

absl::Status WireRequest::AddHeader(std::string_view name, std::string_view value) {
  if (!http::IsToken(name) || http::HasLineBreakOrNul(value)) {
    return absl::InvalidArgumentError("invalid request header: " + std::string(name));
  }
  AddOwnHeader(name, value);
  return absl::OkStatus();
}

void WireRequest::AddOwnHeader(std::string_view name, std::string_view value) {
  assert(http::IsToken(name) && !http::HasLineBreakOrNul(value));
  if (!has_content_length_ && http::HeaderMap::NameEquals(name, "Content-Length")) {
    has_content_length_ = true;
  }
  head_.AppendHeaderLine(name, value);
}

}  // namespace sidecar::upstream
