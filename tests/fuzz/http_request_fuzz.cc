// Fuzz target (a): the HTTP request path up to the NATS envelope. Bytes -> strict Http1Parser (fed
// in pieces, as the listener does) -> request model -> adapters/nats_http EncodeRequest in both
// client modes -> MessageToRequest on the receiving sidecar.
//
// Input: byte 0 picks the piece size and options; the rest is the raw connection stream.
// Invariants beyond "no crash, no sanitizer report":
//   * an accepted request has a known method, an origin-form target and header names/values that
//     cannot break an HTTP or NATS header block (no CR, LF, NUL);
//   * the parser never consumes more than it was given, and an error consumes nothing;
//   * a passthrough envelope's headers are safe for the NATS header block, and the receiving side
//     decodes it back to the same method and path.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "adapters/nats_http/client.h"
#include "adapters/nats_http/nats_http.h"
#include "sidecar/http/http1_parser.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using sidecar::adapters::nats_http::ClientMode;
using sidecar::adapters::nats_http::ClientOptions;
using sidecar::adapters::nats_http::EncodeRequest;
using sidecar::adapters::nats_http::IsValidHeaderName;
using sidecar::adapters::nats_http::MessageToRequest;
using sidecar::adapters::nats_http::NatsMessageView;
using sidecar::fuzz::HasCtl;
using sidecar::http::Http1Limits;
using sidecar::http::Http1Parser;
using sidecar::http::Request;

void CheckRequest(const Request& r, const Http1Limits& limits) {
  FUZZ_CHECK(!r.method.empty() && IsValidHeaderName(r.method), r.method);
  FUZZ_CHECK(!r.path.empty() && (r.path[0] == '/' || r.path == "*"), r.path);
  for (char c : r.path) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u > 0x20 && u < 0x7f && c != '#', r.path);
  }
  for (const auto& [name, value] : r.headers.entries()) {
    FUZZ_CHECK(IsValidHeaderName(name), name);
    FUZZ_CHECK(!HasCtl(value), value);
  }
  FUZZ_CHECK(r.body.size() <= limits.max_body_bytes, r.method);
}

// Two copies of a §0.3 header with different values: the receiving side refuses the envelope
// (an ambiguous X-Principal must not be resolved by whichever copy a hop reads). Not a finding.
bool HasConflictingContextHeaders(const Request& r) {
  for (std::string_view name :
       {"X-Principal", "X-Request-Time", "X-Request-Id", "traceparent", "tracestate"}) {
    std::optional<std::string> first;
    for (const auto& [key, value] : r.headers.entries()) {
      if (!sidecar::http::HeaderMap::NameEquals(key, name)) continue;
      if (first && *first != value) return true;
      first = value;
    }
  }
  return false;
}

void ToNats(Request request) {
  request.service = "fuzz";
  request.action = "call";
  const auto remaining = std::chrono::milliseconds(1000);

  auto passthrough = EncodeRequest(request, ClientOptions{ClientMode::kPassthrough, "svc.fuzz.v1.http"},
                                   remaining);
  if (passthrough.ok()) {
    NatsMessageView view;
    view.subject = passthrough->subject;
    for (const auto& [name, value] : passthrough->headers) {
      FUZZ_CHECK(IsValidHeaderName(name), name);
      FUZZ_CHECK(!HasCtl(value), value);
      view.headers.emplace_back(name, value);
    }
    view.data = passthrough->data;
    auto back = MessageToRequest(view, nullptr);
    // "*" is not a path the NATS side accepts; refusing it is fine.
    if (request.path != "*" && !HasConflictingContextHeaders(request)) {
      FUZZ_CHECK(back.ok(), std::string(back.status().message()));
      FUZZ_CHECK(back->method == request.method, back->method);
      FUZZ_CHECK(back->path == request.path, back->path);
      FUZZ_CHECK(back->body == request.body, "body");
    }
  }
  auto action = EncodeRequest(request, ClientOptions{ClientMode::kAction, ""}, remaining);
  if (action.ok()) {
    for (const auto& [name, value] : action->headers) FUZZ_CHECK(!HasCtl(value), value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sidecar::fuzz::Input in(data, size);
  const uint8_t options = in.Byte();
  const size_t step = 1 + (options & 0x1f);  // 1..32 bytes per Feed
  Http1Limits limits;
  // Small limits so the fuzzer reaches 413/431 paths with short inputs.
  limits.max_header_bytes = 512;
  limits.max_headers = 16;
  limits.max_body_bytes = 256;
  limits.allow_underscores_in_header_names = (options & 0x20) != 0;
  const std::string_view stream = in.Rest();

  Http1Parser parser(limits);
  std::string pending;
  size_t offset = 0;
  int requests = 0;
  while (offset < stream.size() && requests < 16) {
    const size_t n = std::min(step, stream.size() - offset);
    pending.append(stream.substr(offset, n));
    offset += n;
    for (;;) {
      size_t consumed = 0;
      const Http1Parser::Event event = parser.Feed(pending, &consumed);
      FUZZ_CHECK(consumed <= pending.size(), "consumed");
      if (event == Http1Parser::Event::kError) {
        FUZZ_CHECK(consumed == 0, "an error consumed bytes");
        const int status = parser.error().status;
        FUZZ_CHECK(status == 400 || status == 413 || status == 417 || status == 431 || status == 505,
                   parser.error().message);
        return 0;
      }
      pending.erase(0, consumed);
      if (event == Http1Parser::Event::kHeadComplete) continue;
      if (event == Http1Parser::Event::kComplete) {
        Request request = parser.TakeRequest();
        CheckRequest(request, limits);
        ToNats(std::move(request));
        ++requests;
        if (pending.empty()) break;
        continue;
      }
      FUZZ_CHECK(pending.empty(), "kNeedMore left bytes unconsumed");
      break;
    }
  }
  return 0;
}
