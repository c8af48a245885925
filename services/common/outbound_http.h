#pragma once
// Outbound HTTP for a port that talks to an external API (ai-integration's openai_compatible
// provider, SERVICES.md §2.17 r6), so its logic never touches sockets or the loop. The host
// implements it on its dispatcher (adapters/native/outbound_http_client.h); tests use a real
// local server or a fake.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace sidecar::services {

struct OutboundHttpRequest {
  std::string method = "POST";
  std::string url;  // http://host:port/path (https is not supported in v1: INVALID_ARGUMENT)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{20000};
};

struct OutboundHttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A response with any status is a value. Errors: DEADLINE_EXCEEDED (no complete response within
// the timeout), UNAVAILABLE (connect failure, reset, malformed response), INVALID_ARGUMENT (a URL
// the client cannot send to).
using OutboundHttpDone = absl::AnyInvocable<void(absl::StatusOr<OutboundHttpResponse>) &&>;

class OutboundHttpClient {
 public:
  virtual ~OutboundHttpClient() = default;
  // `done` runs exactly once, on the dispatcher thread, never inline from Send().
  virtual void Send(OutboundHttpRequest request, OutboundHttpDone done) = 0;
};

}  // namespace sidecar::services
