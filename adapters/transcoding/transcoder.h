#pragma once
// Transcoding between the three wire forms of a service call (issue 4, SERVICES.md §0.1/§0.2/§0.4):
//   protobuf   <Action>Request / <Action>Response / common.v1.Error, as NATS callers send them;
//   JSON       the same messages in the spec's JSON (json_codec.h has the rules);
//   HTTP       the legacy route "METHOD /path/{field}?query" + JSON body (schema_routes.h).
//
// One Transcoder per service, built once from the descriptor pool, then read-only: every method is
// const and thread-safe, so one instance can be shared by all workers.
//
// How the NATS listener should use it (action-route messages only, i.e. no X-Http-Method; a
// passthrough message is an arbitrary HTTP request and is never transcoded):
//
//   absl::StatusOr<Encoding> enc = RequestEncoding(message.headers);     // "" -> protobuf
//   if (!enc.ok()) reply EncodeError(enc.status()) re-encoded with EncodeReplyAs(.., kProtobuf, ..)
//   absl::StatusOr<std::string> json = transcoder.RequestToLegacyJson(action, *enc, message.data);
//   // on error: reply = EncodeError(json.status()); transcoder.EncodeReplyAs(action, *enc, reply)
//   message.data = *json;   // then MessageToRequest as today (EncodeAction takes JSON)
//   ... filter chain, legacy cluster, reply = EncodeReply(response) ...
//   transcoder.EncodeReplyAs(action, *enc, reply);  // JSON callers: untouched
//
// A `nats` cluster forwarding to a native port (protobuf) does the mirror image: JsonToProto for
// the request, ProtoToJson (or ErrorProtoToJson when Nats-Service-Error is set) for the reply. The
// HTTP gateway uses DecodeHttpRequest / EncodeHttpRequest.
//
// Every error is an absl::Status made with adapters/common/errors.h (INVALID_ARGUMENT with details
// `field` and `reason`, NOT_FOUND field=action or field=path), so ErrorResponseFromStatus and
// EncodeError render it as the §0.4 body.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/nats_http/nats_http.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sidecar::adapters::transcoding {

enum class MessageKind { kRequest, kResponse };

// The two encodings a NATS caller may use (issue 4). The reply uses the request's encoding.
enum class Encoding { kProtobuf, kJson };

inline constexpr std::string_view kProtobufContentType = "application/protobuf";
inline constexpr std::string_view kJsonContentType = "application/json";

// Content-Type -> encoding. "" (no header) is protobuf, the NATS default. Media types compare
// case-insensitively and parameters (";charset=utf-8") are ignored; application/protobuf and
// application/x-protobuf are protobuf, application/json is JSON. Anything else -> INVALID_ARGUMENT
// field=Content-Type reason=unknown_value.
absl::StatusOr<Encoding> EncodingFromContentType(std::string_view content_type);
// The Content-Type header of a NATS message (name in any case) through EncodingFromContentType.
absl::StatusOr<Encoding> RequestEncoding(
    const std::vector<std::pair<std::string, std::string>>& headers);
std::string_view ContentTypeOf(Encoding encoding);

// common.v1.Error <-> the §0.4 JSON body {"error":{"code","message","details"}}.
// JSON -> protobuf is lenient with what legacy services send: a number or bool detail becomes its
// JSON text (detail values are strings, §0.4), other non-string details and unknown keys are
// dropped. A body that is not a JSON object with an "error" object -> INVALID_ARGUMENT field=body
// malformed. Protobuf -> JSON fails only on bytes that do not parse (field=body malformed).
absl::StatusOr<std::string> ErrorJsonToProto(std::string_view json);
absl::StatusOr<std::string> ErrorProtoToJson(std::string_view proto);
// A Status (any code, details from GetErrorDetails) as common.v1.Error bytes.
std::string ErrorProtoFromStatus(const absl::Status& status);

class Transcoder {
 public:
  // The transcoder of one spec service ("state-manager"), from services::ServiceDescriptorPool().
  // NOT_FOUND when no service proto has that name; INVALID_ARGUMENT when its routes are unusable
  // (see ServiceConfigFromSchema).
  static absl::StatusOr<std::unique_ptr<const Transcoder>> Create(std::string_view service_name);
  // The same for any service descriptor of the generated pool (compiled-in protos with the
  // sidecar.api.v1 options); INVALID_ARGUMENT for a descriptor without generated classes.
  static absl::StatusOr<std::unique_ptr<const Transcoder>> Create(
      const google::protobuf::ServiceDescriptor& service);

  Transcoder(const Transcoder&) = delete;
  Transcoder& operator=(const Transcoder&) = delete;

  const std::string& service() const { return routes_.service(); }
  // The schema's action routes (the same table a YAML route list would build).
  const nats_http::ActionRouteTable& routes() const { return routes_; }
  // The <Action>Request / <Action>Response type, or nullptr for an action the service lacks.
  const google::protobuf::Descriptor* MessageType(std::string_view action, MessageKind kind) const;

  // JSON (spec conventions) -> binary protobuf. "" counts as {}. Unknown action -> NOT_FOUND
  // field=action; bad JSON -> INVALID_ARGUMENT (json_codec.h).
  absl::StatusOr<std::string> JsonToProto(std::string_view action, MessageKind kind,
                                          std::string_view json) const;
  // Binary protobuf -> compact JSON, fields in declaration order. Responses print every field
  // ("Responses emit every field", §0.2); requests leave out zero values (absent = zero, §0.2),
  // except path template variables. Bytes that do not parse -> INVALID_ARGUMENT field=body
  // malformed.
  absl::StatusOr<std::string> ProtoToJson(std::string_view action, MessageKind kind,
                                          std::string_view proto) const;

  // A legacy-style HTTP request -> the action and its binary <Action>Request. The route match,
  // path/query/body merge and path-vs-body conflicts (INVALID_ARGUMENT field=<name> malformed) are
  // ActionRouteTable::Decode's; then text from the path and the query takes the field's type:
  // a single query value for a list field is a one-element list, "true"/"false" is a bool for a
  // bool field, a number for a double field; integer text is read by the §0.2 decimal-string rule.
  // Text that fits no such reading stays a string and fails as `type`.
  struct ProtoRequest {
    std::string action;
    std::string proto;
  };
  absl::StatusOr<ProtoRequest> DecodeHttpRequest(std::string_view method,
                                                 std::string_view path_with_query,
                                                 std::string_view body) const;
  // The reverse: binary <Action>Request -> legacy HTTP form (EncodeAction over ProtoToJson).
  absl::StatusOr<nats_http::HttpForm> EncodeHttpRequest(std::string_view action,
                                                        std::string_view proto) const;

  // NATS request payload in `encoding` -> the JSON object payload a legacy forward takes
  // (MessageToRequest / EncodeAction). JSON passes through untouched, so the legacy service sees
  // the request as sent (shadow comparison depends on that); protobuf goes through ProtoToJson.
  absl::StatusOr<std::string> RequestToLegacyJson(std::string_view action, Encoding encoding,
                                                  std::string_view payload) const;

  // Re-encodes a reply built from a legacy answer (nats_http::EncodeReply / EncodeError: JSON body,
  // a §0.4 error body when Nats-Service-Error is set) into `encoding`, in place. JSON replies are
  // left alone. For protobuf: an error body becomes common.v1.Error, a success body the action's
  // <Action>Response, and Content-Type becomes application/protobuf. A success body that does not
  // fit the schema (not JSON, wrong types, unknown action) is the legacy service's fault: the reply
  // becomes INTERNAL (500) with the reason in the message. Never fails.
  void EncodeReplyAs(std::string_view action, Encoding encoding, nats_http::NatsReply& reply) const;

 private:
  struct Action {
    const google::protobuf::MethodDescriptor* method = nullptr;
    const google::protobuf::Message* request = nullptr;   // prototypes (generated default
    const google::protobuf::Message* response = nullptr;  // instances), shared read-only
    const nats_http::ActionRoute* route = nullptr;
  };

  explicit Transcoder(nats_http::ActionRouteTable routes) : routes_(std::move(routes)) {}
  absl::StatusOr<const Action*> FindAction(std::string_view action) const;
  absl::StatusOr<std::string> PrintJson(const Action& action, MessageKind kind,
                                        const google::protobuf::Message& message) const;

  nats_http::ActionRouteTable routes_;
  std::map<std::string, Action, std::less<>> actions_;
};

}  // namespace sidecar::adapters::transcoding
