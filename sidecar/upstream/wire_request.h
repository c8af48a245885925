#pragma once
// An upstream HTTP/1.1 request serialised once, when it is built: the request line and the header
// block in one buffer, plus the body. The connection that sends it copies bytes into its socket
// buffer; nothing re-walks or re-copies a header map per request, which on the pass-through path
// cost a string allocation per header and a second validation pass.

#include <event2/http.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "sidecar/common/append_buffer.h"

namespace sidecar::upstream {

class WireRequest {
 public:
  // Empty: a placeholder that is not a request (HttpClientConnection::Start refuses it). Allocates
  // nothing, so a holder that has handed its request over can reset it cheaply.
  WireRequest() = default;
  // `uri` is the request target, written verbatim (the caller validated it). `header_bytes_hint`
  // sizes the buffer so a typical request is one allocation.
  WireRequest(evhttp_cmd_type method, std::string_view uri, size_t header_bytes_hint = 0);

  // Appends "name: value". Refuses a name that is not an RFC 9110 token or a value holding CR, LF
  // or NUL: a line break would split the header into two, so the request is refused rather than
  // the header dropped. On error nothing was appended. The caller drops hop-by-hop headers.
  absl::Status AddHeader(std::string_view name, std::string_view value);
  // Appends a header whose bytes the caller vouches for: a constant name, and a value built from
  // digits or checked once when the caller was configured (a cluster's Host). AddHeader's
  // per-byte checks are for the headers that came with the request.
  void AddOwnHeader(std::string_view name, std::string_view value);

  void set_body(std::string body) { body_ = std::move(body); }

  evhttp_cmd_type method() const { return method_; }
  // Request line and headers, each ending in CRLF, without the blank line that ends the head;
  // empty for a default-constructed placeholder.
  std::string_view head() const { return head_.view(); }
  const std::string& body() const { return body_; }
  // Whether a Content-Length header was added; without one, a non-empty body gets one on send.
  bool has_content_length() const { return has_content_length_; }

 private:
  evhttp_cmd_type method_ = EVHTTP_REQ_GET;
  AppendBuffer head_;
  std::string body_;
  bool has_content_length_ = false;
};

}  // namespace sidecar::upstream
