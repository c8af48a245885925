#pragma once
// A tiny blocking HTTP/1.1 client for tests: one request per connection ("Connection: close"),
// every step bounded by a deadline through poll(). Understands Content-Length, chunked bodies and
// read-until-close. Not for production code: the sidecar has its own evhttp-based client.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sidecar::test_common {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  std::string reason;
  HttpHeaders headers;  // in arrival order, names lower-cased
  std::string body;
  HttpHeaders trailers;  // a chunked body's trailer fields, names lower-cased

  // The first value of header `name` (case-insensitive), or "" when absent.
  std::string Header(absl::string_view name) const;
  bool HasHeader(absl::string_view name) const;
};

// Sends one request to `address` ("127.0.0.1:8080" or "localhost:8080"). `path` includes any
// query string. A Host header, Content-Length (when there is a body or the method is not
// GET/HEAD/DELETE) and "Connection: close" are added unless given in `headers`.
// kUnavailable: the connection was refused or dropped before a full response;
// kDeadlineExceeded: the deadline passed; kInvalidArgument: bad address; kInternal: bad response.
absl::StatusOr<HttpResponse> HttpRequest(absl::string_view address, absl::string_view method,
                                         absl::string_view path, const HttpHeaders& headers,
                                         absl::string_view body, absl::Time deadline);

absl::StatusOr<HttpResponse> HttpGet(absl::string_view address, absl::string_view path,
                                     absl::Time deadline);

// POST with Content-Type: application/json.
absl::StatusOr<HttpResponse> HttpPostJson(absl::string_view address, absl::string_view path,
                                          absl::string_view json, absl::Time deadline);

}  // namespace sidecar::test_common
