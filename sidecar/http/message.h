#pragma once
// The request model: the one shape every listener produces and every cluster consumes. A request that
// arrived as a NATS message and one that arrived as HTTP look the same here; adapters/ owns the wire forms.

#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/http/body_stream.h"

namespace sidecar::http {

// Ordered header list with ASCII case-insensitive lookup. Keeps duplicates and the sender's spelling.
class HeaderMap {
 public:
  using Entry = std::pair<std::string, std::string>;

  void Add(std::string name, std::string value);
  // Replaces every entry named `name` with one entry.
  void Set(std::string name, std::string value);
  void Remove(std::string_view name);
  // Removes every entry whose name is any of `names`, in one pass over the entries.
  void Remove(std::initializer_list<std::string_view> names);
  // First value, or nullopt.
  std::optional<std::string_view> Get(std::string_view name) const;
  std::string GetOr(std::string_view name, std::string_view fallback) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  // ASCII case-insensitive. Inline: every hop compares names many times per message, mostly
  // against constants of another length, which the size test settles before any byte is read.
  static bool NameEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    // Names usually arrive in the spelling we compare with: the exact byte decides most of them.
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] != b[i] && LowerAscii(a[i]) != LowerAscii(b[i])) return false;
    }
    return true;
  }
  // The headers that describe one hop's connection or framing, which every hop writes for itself:
  // RFC 9110 §7.6.1's hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
  // Transfer-Encoding, Upgrade) and Content-Length.
  static bool IsHopByHopOrFraming(std::string_view name);

 private:
  static char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

  std::vector<Entry> entries_;
};

// The well-known headers of ../shared/design/SERVICES.md §0.3, forwarded on every hop.
namespace headers {
inline constexpr std::string_view kPrincipal = "X-Principal";
inline constexpr std::string_view kRequestTime = "X-Request-Time";
inline constexpr std::string_view kRequestId = "X-Request-Id";
inline constexpr std::string_view kDeadlineMs = "X-Deadline-Ms";
inline constexpr std::string_view kTraceparent = "traceparent";
// Passthrough mapping (no schema): the HTTP request line travels in NATS headers.
inline constexpr std::string_view kHttpMethod = "X-Http-Method";
inline constexpr std::string_view kHttpPath = "X-Http-Path";
inline constexpr std::string_view kHttpStatus = "X-Http-Status";
// ADR-32 style error headers on NATS replies.
inline constexpr std::string_view kServiceError = "Nats-Service-Error";
inline constexpr std::string_view kServiceErrorCode = "Nats-Service-Error-Code";
// A streamed body's closing summary (BodyStream::summary()) as an HTTP chunked trailer, and as a
// response header when the stream was collected into one whole body.
inline constexpr std::string_view kStreamSummary = "X-Stream-Summary";
}  // namespace headers

using Clock = std::chrono::steady_clock;

struct Request {
  // Logical identity: svc.<service>.v1.<action>. `action` is empty for pure passthrough.
  std::string service;
  std::string action;
  // HTTP form, when known (passthrough, or produced by an action route).
  std::string method;  // "GET", "POST", ...
  std::string path;    // path plus query string
  HeaderMap headers;
  std::string body;
  // Absolute deadline on the steady clock; every hop derives its timeout from it.
  Clock::time_point deadline = Clock::time_point::max();
  // The caller can consume a streamed body (Response::stream): a NATS requester that sent
  // `Nats-Stream: 1`, or the HTTP listener (chunked / SSE). Clusters that can stream only do so
  // when it is set; everyone else gets a whole body, as before.
  bool stream_ok = false;

  // Trace id for logs: X-Request-Id, else the trace-id part of traceparent, else "".
  std::string TraceId() const;
};
using RequestPtr = std::unique_ptr<Request>;

struct Response {
  int status = 200;
  HeaderMap headers;
  std::string body;
  // Set only for a caller with Request::stream_ok: the rest of the body arrives here (see
  // body_stream.h). Null for every whole-message response.
  BodyStreamPtr stream;
};

}  // namespace sidecar::http
