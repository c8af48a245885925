// Per-service transcoding: JSON <-> protobuf, HTTP binding, NATS content negotiation.

#include "adapters/transcoding/transcoder.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "adapters/common/errors.h"
#include "adapters/transcoding/json_codec.h"
#include "adapters/transcoding/schema_routes.h"
#include "common/v1/common.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "nlohmann/json.hpp"
#include "services/proto/descriptors.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/http/message.h"

namespace sidecar::adapters::transcoding {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using Json = nlohmann::json;

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Deterministic: map entries sorted by key, so the same JSON always gives the same bytes (caches,
// comparisons and tests can rely on it; protobuf's default order follows its hash maps).
std::string Serialize(const Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

absl::Status BodyMalformed(std::string_view what) {
  return InvalidArgument("body", "malformed", what);
}

// Query and path values are text; give them the type of the field they fill (§0.2: "query values
// always" use the decimal-string form for integers, which the codec already reads).
Json TextScalarFor(const FieldDescriptor& field, const Json& value) {
  if (!value.is_string()) return value;
  const std::string& text = value.get_ref<const std::string&>();
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      if (text == "true") return true;
      if (text == "false") return false;
      return value;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      // Only a complete JSON-style number; anything else stays text and fails as `type`.
      Json number = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      return number.is_number() ? number : value;
    }
    default:
      return value;
  }
}

Json TextFor(const FieldDescriptor& field, const Json& value) {
  if (field.is_map() ||
      (!field.is_repeated() && field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)) {
    return value;  // no text form: the codec reports `type`
  }
  if (!field.is_repeated()) return TextScalarFor(field, value);
  // A list from the query: repeated keys arrive as an array, a single key as one string.
  Json list = value.is_array() ? value : Json::array({value});
  if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return list;
  for (Json& element : list) element = TextScalarFor(field, element);
  return list;
}

bool IsProtobufMediaType(std::string_view media) {
  return media == "application/protobuf" || media == "application/x-protobuf";
}

std::optional<std::string> HeaderValue(
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (http::HeaderMap::NameEquals(key, name)) return value;
  }
  return std::nullopt;
}

void SetHeader(std::vector<std::pair<std::string, std::string>>& headers, std::string_view name,
               std::string value) {
  headers.erase(
      std::remove_if(headers.begin(), headers.end(),
                     [&](const auto& h) { return http::HeaderMap::NameEquals(h.first, name); }),
      headers.end());
  headers.emplace_back(std::string(name), std::move(value));
}

}  // namespace

// ---- Encodings ------------------------------------------------------------------------------

absl::StatusOr<Encoding> EncodingFromContentType(std::string_view content_type) {
  std::string media(content_type.substr(0, content_type.find(';')));
  absl::AsciiStrToLower(&media);
  media = std::string(absl::StripAsciiWhitespace(media));
  if (media.empty() || IsProtobufMediaType(media)) return Encoding::kProtobuf;
  if (media == kJsonContentType) return Encoding::kJson;
  return InvalidArgument("Content-Type", "unknown_value",
                         absl::StrCat("Content-Type \"", AbslView(content_type),
                                      "\" is neither application/protobuf nor application/json"));
}

absl::StatusOr<Encoding> RequestEncoding(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::optional<std::string> content_type = HeaderValue(headers, "Content-Type");
  return EncodingFromContentType(content_type ? *content_type : "");
}

std::string_view ContentTypeOf(Encoding encoding) {
  return encoding == Encoding::kJson ? kJsonContentType : kProtobufContentType;
}

// ---- Errors -----------------------------------------------------------------------------------

absl::StatusOr<std::string> ErrorJsonToProto(std::string_view json) {
  Json body = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return BodyMalformed("the error body is not valid JSON");
  auto error = body.is_object() ? body.find("error") : body.end();
  if (!body.is_object() || error == body.end() || !error->is_object()) {
    return BodyMalformed("the error body must be {\"error\":{...}}");
  }
  common::v1::Error out;
  if (auto code = error->find("code"); code != error->end() && code->is_string()) {
    out.set_code(code->get<std::string>());
  }
  if (auto message = error->find("message"); message != error->end() && message->is_string()) {
    out.set_message(message->get<std::string>());
  }
  if (auto details = error->find("details"); details != error->end() && details->is_object()) {
    for (const auto& [key, value] : details->items()) {
      if (value.is_string()) {
        (*out.mutable_details())[key] = value.get<std::string>();
      } else if (value.is_number() || value.is_boolean()) {
        (*out.mutable_details())[key] = Dump(value);
      }
    }
  }
  return Serialize(out);
}

absl::StatusOr<std::string> ErrorProtoToJson(std::string_view proto) {
  common::v1::Error error;
  if (!error.ParseFromArray(proto.data(), static_cast<int>(proto.size()))) {
    return BodyMalformed("the error body is not a common.v1.Error");
  }
  ErrorDetails details(error.details().begin(), error.details().end());
  return ErrorBody(error.code(), error.message(), details);
}

std::string ErrorProtoFromStatus(const absl::Status& status) {
  // The rendering ErrorResponseFromStatus gives every other wire form (codes, failure kinds).
  absl::StatusOr<std::string> proto = ErrorJsonToProto(ErrorResponseFromStatus(status).body);
  if (proto.ok()) return *std::move(proto);
  common::v1::Error error;
  error.set_code(std::string(codes::kInternal));
  error.set_message(std::string(status.message()));
  return error.SerializeAsString();
}

// ---- Transcoder -------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<const Transcoder>> Transcoder::Create(
    std::string_view service_name) {
  const google::protobuf::ServiceDescriptor* service =
      services::FindServiceDescriptor(service_name);
  if (service == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no service proto for service \"", AbslView(service_name), "\""));
  }
  return Create(*service);
}

absl::StatusOr<std::unique_ptr<const Transcoder>> Transcoder::Create(
    const google::protobuf::ServiceDescriptor& service_descriptor) {
  const google::protobuf::ServiceDescriptor* service = &service_descriptor;
  ASSIGN_OR_RETURN(config::ServiceConfig cfg, ServiceConfigFromSchema(*service));
  ASSIGN_OR_RETURN(nats_http::ActionRouteTable table, nats_http::ActionRouteTable::Create(cfg, 0));
  std::unique_ptr<Transcoder> transcoder(new Transcoder(std::move(table)));
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor* method = service->method(i);
    Action action;
    action.method = method;
    action.request = factory->GetPrototype(method->input_type());
    action.response = factory->GetPrototype(method->output_type());
    action.route = transcoder->routes_.Find(services::ActionName(*method));
    if (action.request == nullptr || action.response == nullptr || action.route == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("rpc ", method->full_name(), " has no generated message classes or route"));
    }
    transcoder->actions_.emplace(services::ActionName(*method), action);
  }
  return std::unique_ptr<const Transcoder>(std::move(transcoder));
}

absl::StatusOr<const Transcoder::Action*> Transcoder::FindAction(std::string_view action) const {
  auto it = actions_.find(action);
  if (it == actions_.end()) {
    return ErrorStatus(
        absl::StatusCode::kNotFound,
        absl::StrCat("service ", service(), " has no action \"", AbslView(action), "\""),
        {{"field", "action"}});
  }
  return &it->second;
}

const Descriptor* Transcoder::MessageType(std::string_view action, MessageKind kind) const {
  auto it = actions_.find(action);
  if (it == actions_.end()) return nullptr;
  return kind == MessageKind::kRequest ? it->second.method->input_type()
                                       : it->second.method->output_type();
}

absl::StatusOr<std::string> Transcoder::PrintJson(const Action& action, MessageKind kind,
                                                  const Message& message) const {
  PrintOptions options;
  if (kind == MessageKind::kRequest) {
    options.emit_zero_values = false;
    // EncodeAction needs every path variable, even a zero one, to build the path.
    options.always_emit = action.route->path.variables();
  }
  return MessageToJsonText(message, options);
}

absl::StatusOr<std::string> Transcoder::JsonToProto(std::string_view action, MessageKind kind,
                                                    std::string_view json) const {
  ASSIGN_OR_RETURN(const Action* a, FindAction(action));
  std::unique_ptr<Message> message(
      (kind == MessageKind::kRequest ? a->request : a->response)->New());
  RETURN_IF_ERROR(JsonTextToMessage(json, *message));
  return Serialize(*message);
}

absl::StatusOr<std::string> Transcoder::ProtoToJson(std::string_view action, MessageKind kind,
                                                    std::string_view proto) const {
  ASSIGN_OR_RETURN(const Action* a, FindAction(action));
  std::unique_ptr<Message> message(
      (kind == MessageKind::kRequest ? a->request : a->response)->New());
  if (!message->ParseFromArray(proto.data(), static_cast<int>(proto.size()))) {
    return BodyMalformed(
        absl::StrCat("the payload is not a ", message->GetDescriptor()->full_name()));
  }
  return PrintJson(*a, kind, *message);
}

absl::StatusOr<Transcoder::ProtoRequest> Transcoder::DecodeHttpRequest(
    std::string_view method, std::string_view path_with_query, std::string_view body) const {
  ASSIGN_OR_RETURN(nats_http::DecodedRequest decoded,
                   routes_.Decode(method, path_with_query, body));
  ASSIGN_OR_RETURN(const Action* a, FindAction(decoded.action));
  Json payload = std::move(decoded.fields);
  if (!payload.is_object()) return absl::InternalError("Decode produced a non-object payload");

  const Descriptor& type = *a->method->input_type();
  const bool from_query = a->route->FieldsInQuery();
  for (auto& [name, value] : payload.items()) {
    const FieldDescriptor* field = type.FindFieldByName(name);
    if (field == nullptr) continue;  // unknown: ignored by the codec
    // Query methods: every value is text. Body methods: only path values are (a body value equal
    // to its path value keeps the sender's JSON type, and is then typed already).
    const bool is_text = from_query || decoded.path_params.count(name) > 0;
    if (is_text) value = TextFor(*field, value);
  }

  std::unique_ptr<Message> message(a->request->New());
  RETURN_IF_ERROR(JsonToMessage(payload, *message));
  return ProtoRequest{decoded.action, Serialize(*message)};
}

absl::StatusOr<nats_http::HttpForm> Transcoder::EncodeHttpRequest(std::string_view action,
                                                                  std::string_view proto) const {
  ASSIGN_OR_RETURN(const Action* a, FindAction(action));
  ASSIGN_OR_RETURN(std::string json, ProtoToJson(action, MessageKind::kRequest, proto));
  return nats_http::EncodeAction(*a->route, json);
}

absl::StatusOr<std::string> Transcoder::RequestToLegacyJson(std::string_view action,
                                                            Encoding encoding,
                                                            std::string_view payload) const {
  if (encoding == Encoding::kJson) {
    RETURN_IF_ERROR(FindAction(action).status());
    return std::string(payload);
  }
  return ProtoToJson(action, MessageKind::kRequest, payload);
}

void Transcoder::EncodeReplyAs(std::string_view action, Encoding encoding,
                               nats_http::NatsReply& reply) const {
  if (encoding == Encoding::kJson) return;
  const bool is_error = HeaderValue(reply.headers, http::headers::kServiceError).has_value();
  absl::StatusOr<std::string> body;
  if (is_error) {
    body = ErrorJsonToProto(reply.data);
    if (!body.ok()) {
      // EncodeReply always leaves a §0.4 body; keep the code if the body was somehow not one.
      common::v1::Error error;
      error.set_code(HeaderValue(reply.headers, http::headers::kServiceError).value_or(""));
      error.set_message(reply.data.substr(0, 512));
      body = error.SerializeAsString();
    }
  } else {
    body = JsonToProto(action, MessageKind::kResponse, reply.data);
    if (!body.ok()) {
      const absl::Status failure =
          ErrorStatus(absl::StatusCode::kInternal,
                      absl::StrCat("the legacy reply to ", service(), ".", AbslView(action),
                                   " does not fit the schema: ", body.status().message()),
                      {});
      const nats_http::NatsReply error_reply = nats_http::EncodeError(failure);
      for (const auto& [name, value] : error_reply.headers) SetHeader(reply.headers, name, value);
      body = ErrorProtoFromStatus(failure);
    }
  }
  reply.data = *std::move(body);
  SetHeader(reply.headers, "Content-Type", std::string(kProtobufContentType));
  // Content-Encoding described the JSON body, which is gone.
  reply.headers.erase(
      std::remove_if(
          reply.headers.begin(), reply.headers.end(),
          [](const auto& h) { return http::HeaderMap::NameEquals(h.first, "Content-Encoding"); }),
      reply.headers.end());
}

}  // namespace sidecar::adapters::transcoding
