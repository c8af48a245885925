#pragma once
// A strict, incremental HTTP/1.1 request parser (RFC 9112) for the edge listener. Pure: bytes in,
// http::Request out, no I/O, no clock. It exists because evhttp is lenient where an edge must not be
// (request smuggling lives in that leniency): it accepts Content-Length together with
// Transfer-Encoding, has no limits by default and cannot reject a body before reading it.
//
// What it rejects, and with which status (the connection must close after every rejection, since
// the framing of what follows can no longer be trusted):
//   400  request-line garbage, a method outside RFC 9110/5789's (GET HEAD POST PUT DELETE OPTIONS
//        PATCH TRACE CONNECT; case-sensitive), a target with a fragment, a backslash or broken
//        %-encoding in its path, bare LF or CR, obs-fold, invalid header names (including '_'
//        unless allowed) or values, missing, repeated or malformed Host (HTTP/1.1),
//        Content-Length that is invalid or repeated (even if equal), Content-Length together with
//        Transfer-Encoding, any Transfer-Encoding other than exactly one `chunked` (and any on
//        HTTP/1.0), malformed chunk framing (sizes are bare hex digits; extensions must follow
//        the RFC 9112 grammar and stay under 16 KiB per request);
//   413  a Content-Length above the body limit (decided from the head, before any body byte), or a
//        chunked body whose running size passes the limit;
//   417  an Expect other than 100-continue;
//   431  a head (request line + headers) above max_header_bytes or with more than max_headers
//        fields; trailers count against the same budget;
//   505  an HTTP version other than 1.0 and 1.1.
// Only origin-form targets ("/path?query") and "*" (OPTIONS only) are accepted: this is an origin
// server, not a forward proxy.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/http/message.h"

namespace sidecar::http {

struct Http1Limits {
  size_t max_header_bytes = 16384;  // request line + header lines (+ trailers), CRLFs included
  size_t max_headers = 100;
  size_t max_body_bytes = 1024 * 1024;
  // RFC 9110 allows '_' in field names; by default we refuse them (400), the way Envoy's edge
  // configuration (headers_with_underscores_action: REJECT_REQUEST) and nginx
  // (underscores_in_headers off) do, because CGI-style backends read X_Forwarded_For and
  // X-Forwarded-For as the same header.
  bool allow_underscores_in_header_names = false;
};

// Why a request was rejected: the status to answer with and a metrics reason
// (malformed | header_too_large | body_too_large | expectation_failed | version_not_supported).
struct Http1Error {
  int status = 0;
  std::string_view reason;   // static storage
  std::string_view message;  // static storage, safe to show the client
};

class Http1Parser {
 public:
  enum class Event {
    kNeedMore,      // every byte consumed; feed more
    kHeadComplete,  // the head is parsed and accepted; the body (if any) follows. Feed again.
    kComplete,      // a whole request is ready: TakeRequest(). Bytes after it were not consumed.
    kError,         // error() says why; the parser stays in this state.
  };

  explicit Http1Parser(Http1Limits limits = {});

  // Consumes a prefix of `data` and sets *consumed to its length. Bytes of a partial line are copied
  // and consumed, so the caller may drop everything consumed. Stops right after an event other than
  // kNeedMore: after kHeadComplete the caller may answer `Expect: 100-continue` before the body
  // arrives, and after kComplete the rest of `data` (a pipelined request) stays with the caller.
  Event Feed(std::string_view data, size_t* consumed);

  // After kComplete: the request (method, target as `path`, headers, body). The parser is ready for
  // the next request on the same connection.
  Request TakeRequest();

  // After kHeadComplete (valid until the next request starts):
  int http_minor() const { return minor_; }        // 0 or 1
  bool keep_alive() const { return keep_alive_; }  // HTTP/1.1 unless "close"; 1.0 only if asked
  bool expects_continue() const { return expects_continue_; }
  bool has_body() const { return chunked_ || content_length_ > 0; }
  bool is_head_request() const { return request_.method == "HEAD"; }

  // True once any byte of the current request was consumed (leading blank lines do not count):
  // tells the listener whether a timeout interrupts a request (408) or an idle connection.
  bool in_request() const { return state_ != State::kStart || !partial_.empty(); }
  // True while the body is being read.
  bool in_body() const;

  const Http1Error& error() const { return error_; }

 private:
  enum class State {
    kStart,         // before the request line (blank lines skipped)
    kHeaders,       // header lines
    kBodyLength,    // Content-Length body
    kChunkSize,     // chunk-size line
    kChunkData,     // chunk bytes
    kChunkDataEnd,  // CRLF after chunk bytes
    kTrailers,      // trailer lines after the last chunk
    kComplete,
    kError,
  };

  // Line-based states: extracts the next CRLF-terminated line (joining a partial one kept from the
  // last Feed). Returns false when more bytes are needed, or on an error (state_ == kError).
  bool NextLine(std::string_view data, size_t* pos, size_t budget, std::string_view* line);
  Event Fail(int status, std::string_view reason, std::string_view message);
  Event OnRequestLine(std::string_view line);
  Event OnHeaderLine(std::string_view line);
  Event OnHeadEnd();
  Event OnChunkSizeLine(std::string_view line);
  Event OnTrailerLine(std::string_view line);
  void Reset();

  const Http1Limits limits_;
  State state_ = State::kStart;
  Http1Error error_;
  Request request_;
  std::string partial_;     // an incomplete line carried over between Feed calls
  size_t head_bytes_ = 0;   // bytes of the head (or trailers) consumed so far
  int minor_ = 1;
  bool keep_alive_ = true;
  bool expects_continue_ = false;
  bool chunked_ = false;
  bool saw_content_length_ = false;
  bool saw_transfer_encoding_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  int host_count_ = 0;
  uint64_t content_length_ = 0;
  uint64_t remaining_ = 0;  // of the Content-Length body or of the current chunk
  size_t chunk_extension_bytes_ = 0;  // of this request's chunk-size lines, after the digits
};

}  // namespace sidecar::http
