#pragma once
// The client direction of the NATS mapping: request model -> NATS request message, NATS reply ->
// Response. The mirror of MessageToRequest/EncodeReply (the server direction, nats_http.h). Pure
// functions over plain structs; NatsCluster does the I/O.
//
// Two request forms, the same as the listener accepts:
//   passthrough  X-Http-Method / X-Http-Path carry the request line, payload = body; the other
//                headers are forwarded (names canonicalised, see nats_http.h) minus hop-by-hop
//                ones (Connection and the headers it names, Keep-Alive, Transfer-Encoding, TE,
//                Trailer, Upgrade, Proxy-*), Content-Length and Host (NATS frames the payload and
//                has no authority), Nats-* and the Status/Description pseudo-headers (NATS
//                internal), X-Http-* and X-Deadline-Ms (ours to set).
//   action       svc.<service>.v1.<action> with a JSON object payload (the request body; "" ->
//                {}); only the §0.3 headers travel (X-Principal, X-Request-Time, X-Request-Id,
//                traceparent, tracestate), plus Content-Type: application/json (a responder's
//                default is protobuf): the action form has no other header semantics.
// Both set X-Deadline-Ms to the time the caller will still wait, so the responder can give up
// when nobody listens any more.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/nats_http/nats_http.h"
#include "sidecar/http/message.h"

namespace sidecar::adapters::nats_http {

enum class ClientMode { kPassthrough, kAction };

struct ClientOptions {
  ClientMode mode = ClientMode::kAction;
  // Fixed subject (e.g. "svc.settings.v1.http" for passthrough); "" -> svc.<service>.v1.<action>
  // from the request.
  std::string subject;
};

struct NatsRequest {
  std::string subject;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string data;
};

// `remaining` is the caller's time left (> 0; rounded up to whole ms by the caller).
// INVALID_ARGUMENT (with §0.4 details) when:
//   no fixed subject and service/action do not make a valid subject     field=subject malformed
//   passthrough without a method, or not an HTTP token                  field=X-Http-Method
//   passthrough path empty, not starting with '/', or not visible ASCII field=X-Http-Path
//   action body not a JSON object                                       field=body malformed
//   a §0.3 header value with control characters                         field=<header> malformed
absl::StatusOr<NatsRequest> EncodeRequest(const http::Request& request, const ClientOptions& options,
                                          std::chrono::milliseconds remaining);

// NATS reply -> Response. Status: X-Http-Status if present, else Nats-Service-Error-Code, else
// 200. Headers: all of the reply's, names as sent, minus X-Http-Status, Nats-*, the nats.c
// Status/Description pseudo-headers and framing ones (Content-Length, Transfer-Encoding,
// Connection: the payload length is NATS's). Body: the payload. An error status (>= 400) with an
// empty payload gets a §0.4 body built from Nats-Service-Error (code and message), so a bare
// ADR-32 error from a native NATS service reads like any other error.
// INVALID_ARGUMENT when the status header is not an integer in 100..599 (the cluster reports it as
// a protocol error).
absl::StatusOr<http::Response> DecodeReply(const NatsReply& reply);

}  // namespace sidecar::adapters::nats_http
