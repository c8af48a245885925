#pragma once
// NATS request message <-> request model <-> legacy HTTP form, and HTTP response -> NATS reply.
// Pure functions over plain structs: no nats.c or libevent types, so the listener owns the I/O and
// these stay unit-testable.
//
// Two request forms (SERVICES.md §0.1, ARCHITECTURE.md "the request model is the hinge"):
//   passthrough    the message has X-Http-Method and X-Http-Path (path + query); payload = HTTP
//   body.
//                  Any HTTP API works, with no schema.
//   action route   svc.<service>.v1.<action> with a JSON object payload; the service's
//   ActionRouteTable
//                  maps the action to "METHOD /path/{field}", path fields come from the payload,
//                  the rest goes to the query (GET/HEAD/DELETE) or to a JSON body (POST/PUT/PATCH).
//
// Header names. NATS header names are case-sensitive, HTTP ones are not. The rules:
//   NATS -> HTTP  names keep the sender's spelling (HeaderMap lookups are case-insensitive). The
//   §0.3
//                 headers (X-Principal, X-Request-Time, X-Request-Id, X-Deadline-Ms, traceparent,
//                 tracestate) and X-Http-Method/X-Http-Path are found in any case and emitted in
//                 their canonical spelling once; spellings that differ only in case are the same
//                 header, and if they carry different values the request is rejected
//                 (INVALID_ARGUMENT malformed): an ambiguous X-Principal must not be resolved by
//                 whichever copy a hop happens to read.
//   HTTP -> NATS  names are canonicalised (Content-Type, X-Request-Id; a few registered spellings
//   such as
//                 traceparent and ETag are kept) so a NATS consumer can look up one exact spelling,
//                 whatever case the legacy server used.
//   Names that are not RFC 9110 tokens and values containing CR, LF, NUL or other control
//   characters (HTAB aside) are skipped; for the §0.3 headers and X-Http-* they reject the request
//   instead. Dropped on the way in: Nats-* (NATS-internal: Nats-Msg-Id, Nats-Expected-*, ...), the
//   nats.c status pseudo-headers Status/Description, hop-by-hop headers, Content-Length and Host
//   (the cluster sets its own framing and authority).

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "sidecar/config/config.h"
#include "sidecar/http/message.h"
#include "sidecar/http/path_template.h"

namespace sidecar::adapters::nats_http {

struct NatsMessageView {
  std::string_view subject;
  std::string_view reply;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view data;
};

struct NatsReply {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string data;
};

// svc.<service>.v1.<action>; service `[a-z][a-z0-9-]*`, action `_?[a-z][a-z0-9_]*` (a leading `_`
// marks framework actions such as `_fixture`).
struct Subject {
  std::string service;
  std::string action;
};
// Anything else -> INVALID_ARGUMENT (details field=subject, reason=malformed) naming what is wrong.
absl::StatusOr<Subject> ParseSubject(std::string_view subject);
std::string MakeSubject(std::string_view service, std::string_view action);

struct ActionRoute {
  std::string action;
  std::string method;  // GET, HEAD, POST, PUT, PATCH or DELETE
  http::PathTemplate path;
  // GET, HEAD and DELETE carry non-path fields in the query string; the others in a JSON body.
  bool FieldsInQuery() const;
};

// The legacy HTTP form of one action call.
struct HttpForm {
  std::string method;
  std::string path;          // expanded template plus "?query" when there is one
  std::string content_type;  // "application/json" when `body` is a JSON body, else ""
  std::string body;
};

// The reverse, for the HTTP gateway: a legacy-style HTTP request -> action + JSON object payload.
struct DecodedRequest {
  std::string action;
  std::map<std::string, std::string> path_params;  // percent-decoded, byte for byte
  // A JSON object: path params + query or body. Every string in it is UTF-8: percent-decoded bytes
  // that are not have each invalid sequence replaced by U+FFFD. A tree, not text, because the
  // transcoder goes on to build a protobuf message from it (text would be parsed again).
  nlohmann::json fields;
  // `fields` as compact JSON text.
  std::string Payload() const;
};

// Action -> method + path template for one service, built once from config and shared read-only.
class ActionRouteTable {
 public:
  // `index` is the service's position in Config::services; errors read
  // `services[<index>].actions.<action>: <what is wrong>`.
  static absl::StatusOr<ActionRouteTable> Create(const config::ServiceConfig& service,
                                                 size_t index);

  const std::string& service() const { return service_; }
  const std::vector<ActionRoute>& routes() const { return routes_; }
  const ActionRoute* Find(std::string_view action) const;

  // Legacy HTTP request -> action. Among routes with this method whose template matches the path,
  // the most specific wins (literal segments beat variables, leftmost first). Query-style methods
  // merge the query (repeated keys become an array of strings; empty values are absent, §0.2),
  // others the JSON body (empty = {}). Path params are added as strings; a path field repeated in
  // the query or body with another value -> INVALID_ARGUMENT field=<name> malformed (§0.4); a body
  // that is not a JSON object -> field=body malformed; no matching route -> NOT_FOUND field=path.
  // Without a schema a single query value stays a string even for a list field: the transcoding
  // layer (with descriptors) is what knows the field types.
  absl::StatusOr<DecodedRequest> Decode(std::string_view method, std::string_view path_with_query,
                                        std::string_view body) const;

 private:
  ActionRouteTable() = default;

  std::string service_;
  std::vector<ActionRoute> routes_;  // sorted by action
};

// Action call -> HTTP form. `payload` must be a JSON object ("" counts as {}), else
// INVALID_ARGUMENT field=body malformed. Each template variable takes the top-level field of the
// same name: a string as is, an integer (or an integral number within ±2^53) in decimal, a bool as
// true/false; absent, null or "" -> field=<name> required; arrays, objects, fractional numbers ->
// type. The other fields, nulls skipped:
//   query methods: sorted by name, scalars as key=value, arrays of scalars as repeated keys, values
//                  percent-encoded; objects or nested arrays -> type (field=<name> or <name>[i]);
//   body methods:  a JSON object of the remaining fields, content type application/json.
absl::StatusOr<HttpForm> EncodeAction(const ActionRoute& route, std::string_view payload);

// NATS request -> request model (service and action from the subject, method/path/headers/body
// filled). `routes` is the subject's service's table, or null when the service has none
// (passthrough only). A message without X-Http-Method whose action has no route -> NOT_FOUND
// field=action. `deadline` is left unset: the listener derives it from X-Deadline-Ms and its
// receive time.
absl::StatusOr<http::Request> MessageToRequest(const NatsMessageView& message,
                                               const ActionRouteTable* routes);

// Response -> NATS reply. Always `X-Http-Status: <status>`, then the response headers
// canonicalised, minus hop-by-hop ones (Connection and the headers it names, Keep-Alive,
// Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*), Content-Length (NATS frames the payload),
// X-Http-Status and Nats-* (ours to set). Date is end-to-end (RFC 9110) and kept. A status outside
// 100..599 is reported as 502. For status >= 400 it adds Nats-Service-Error: <CODE> and
// Nats-Service-Error-Code: <status> and makes the body a §0.4 error:
//   a body already shaped {"error":{"code":<known code>,...}} is kept as is, and CODE is that code;
//   anything else becomes {"error":{"code":CODE,"message":..,"details":{}}} with CODE from the
//   status, message = an `error.message` string if the body has one, else the body text cut to 512
//   bytes (on a UTF-8 boundary), else the reason phrase; string `error.details` entries are kept.
//   The content headers then describe the new body (Content-Type: application/json, no
//   Content-Encoding).
NatsReply EncodeReply(const http::Response& response);

// Transport failure -> NATS reply, through adapters::ErrorResponseFromStatus (503/504 ...).
NatsReply EncodeError(const absl::Status& status);

// Header helpers, exposed for the other adapters.
// Headers that belong to one hop and never cross NATS: the hop-by-hop and framing ones
// (http::HeaderMap::IsHopByHopOrFraming) and the proxy credentials (Proxy-Authorization,
// Proxy-Authenticate). Requests drop Host as well: the cluster on the far side sets its own.
bool IsHopOnlyHeader(std::string_view name);
bool IsValidHeaderName(std::string_view name);
bool IsValidHeaderValue(std::string_view value);
// The header names listed in Connection headers (hop-by-hop by declaration, RFC 9110 §7.6.1).
std::vector<std::string> ConnectionTokens(
    const std::vector<std::pair<std::string, std::string>>& headers);
// "content-type" -> "Content-Type"; registered odd spellings (traceparent, tracestate, ETag,
// WWW-Authenticate) are returned as registered.
std::string CanonicalHeaderName(std::string_view name);

}  // namespace sidecar::adapters::nats_http
