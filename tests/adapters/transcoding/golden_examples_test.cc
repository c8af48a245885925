// Every golden example of SERVICES.md §2 through the transcoder: responses (and error bodies)
// round-trip JSON -> protobuf -> JSON byte-identical in canonical form, RFC 3339 timestamps
// included; requests bind from their HTTP form and round-trip equal up to §0.2's "an absent
// non-? field equals its zero value" (protobuf cannot tell a sent 0 from an absent field).

#include "tests/services/proto/golden_examples.h"

#include <map>
#include <memory>
#include <set>
#include <string>

#include "adapters/transcoding/json_codec.h"
#include "adapters/transcoding/transcoder.h"
#include "common/v1/common.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/http/path_template.h"

namespace sidecar::adapters::transcoding {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::json;
using services::spec::kGoldenExamples;

std::string Label(const services::spec::GoldenExample& e) {
  return std::string(e.service) + " " + std::string(e.example) + " " + std::string(e.method) + " " +
         std::string(e.target);
}

// Canonical = parsed and re-dumped with sorted keys (nlohmann::json's object order).
std::string Canonical(std::string_view json) {
  Json j = Json::parse(json, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << json;
  return j.dump();
}

bool IsZero(const Json& v) {
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_number() && v == 0) ||
         (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         ((v.is_array() || v.is_object()) && v.empty());
}

// Removes the fields §0.2 treats as absent (zero values of non-optional scalars, empty lists and
// maps), walking records by their descriptor; Struct/Value content is data and stays as is.
void DropZeros(const Descriptor& d, Json& j) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end();) {
    const FieldDescriptor* f = d.FindFieldByName(it.key());
    const bool record = f != nullptr && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                        f->message_type()->full_name().rfind("google.protobuf.", 0) != 0;
    if (f != nullptr && f->is_map()) {
      const FieldDescriptor* value = f->message_type()->map_value();
      if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          value->message_type()->full_name().rfind("google.protobuf.", 0) != 0) {
        for (auto& [k, v] : it->items()) DropZeros(*value->message_type(), v);
      }
    } else if (record && f->is_repeated()) {
      for (Json& element : *it) DropZeros(*f->message_type(), element);
    } else if (record) {
      DropZeros(*f->message_type(), *it);
    }
    const bool keep = f == nullptr || f->has_presence() ? !it->is_null() : !IsZero(*it);
    it = keep ? std::next(it) : j.erase(it);
  }
}

class GoldenExamplesTest : public ::testing::Test {
 protected:
  const Transcoder& For(std::string_view service) {
    auto it = transcoders_.find(std::string(service));
    if (it == transcoders_.end()) {
      absl::StatusOr<std::unique_ptr<const Transcoder>> t = Transcoder::Create(service);
      EXPECT_TRUE(t.ok()) << t.status();
      it = transcoders_.emplace(std::string(service), *std::move(t)).first;
    }
    return *it->second;
  }

  std::map<std::string, std::unique_ptr<const Transcoder>> transcoders_;
};

TEST_F(GoldenExamplesTest, ResponsesRoundTripByteIdentical) {
  int responses = 0;
  int errors = 0;
  for (const auto& e : kGoldenExamples) {
    SCOPED_TRACE(Label(e));
    const Transcoder& t = For(e.service);
    absl::StatusOr<Transcoder::ProtoRequest> request =
        t.DecodeHttpRequest(e.method, e.target, e.request_body ? e.request_body : "");
    ASSERT_TRUE(request.ok()) << request.status();
    if (e.status == 200) {
      absl::StatusOr<std::string> proto =
          t.JsonToProto(request->action, MessageKind::kResponse, e.response_body);
      ASSERT_TRUE(proto.ok()) << proto.status();
      absl::StatusOr<std::string> json =
          t.ProtoToJson(request->action, MessageKind::kResponse, *proto);
      ASSERT_TRUE(json.ok()) << json.status();
      EXPECT_EQ(Canonical(*json), Canonical(e.response_body));
      ++responses;
    } else {
      // NATS form: the bare common.v1.Error ...
      absl::StatusOr<std::string> proto = ErrorJsonToProto(e.response_body);
      ASSERT_TRUE(proto.ok()) << proto.status();
      absl::StatusOr<std::string> json = ErrorProtoToJson(*proto);
      ASSERT_TRUE(json.ok()) << json.status();
      EXPECT_EQ(Canonical(*json), Canonical(e.response_body));
      // ... and the codec on the ErrorResponse message agrees.
      common::v1::ErrorResponse message;
      ASSERT_TRUE(JsonTextToMessage(e.response_body, message).ok());
      EXPECT_EQ(Canonical(*MessageToJsonText(message)), Canonical(e.response_body));
      ++errors;
    }
  }
  EXPECT_EQ(responses + errors, 45);
  EXPECT_GT(errors, 0);
}

TEST_F(GoldenExamplesTest, RequestsBindFromHttpAndRoundTrip) {
  for (const auto& e : kGoldenExamples) {
    SCOPED_TRACE(Label(e));
    const Transcoder& t = For(e.service);
    const std::string body = e.request_body ? e.request_body : "";
    absl::StatusOr<Transcoder::ProtoRequest> request =
        t.DecodeHttpRequest(e.method, e.target, body);
    ASSERT_TRUE(request.ok()) << request.status();
    const Descriptor& type = *t.MessageType(request->action, MessageKind::kRequest);

    // The NATS JSON form of the request: body + path + query, query text typed by the schema.
    absl::StatusOr<nats_http::DecodedRequest> decoded = t.routes().Decode(e.method, e.target, body);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    Json want = decoded->fields;
    if (e.request_body == nullptr) {
      for (auto& [key, value] : want.items()) {
        const FieldDescriptor* f = type.FindFieldByName(key);
        if (f == nullptr || !value.is_string() || decoded->path_params.count(key)) continue;
        if (f->cpp_type() != FieldDescriptor::CPPTYPE_STRING)
          value = Json::parse(value.get<std::string>());
      }
    }
    const std::string nats_json = want.dump();
    DropZeros(type, want);

    // HTTP form -> protobuf -> JSON.
    absl::StatusOr<std::string> printed =
        t.ProtoToJson(request->action, MessageKind::kRequest, request->proto);
    ASSERT_TRUE(printed.ok()) << printed.status();
    EXPECT_EQ(Canonical(*printed), want.dump());

    // JSON form -> protobuf: the same bytes as from the HTTP form; and back to the same JSON.
    absl::StatusOr<std::string> proto =
        t.JsonToProto(request->action, MessageKind::kRequest, nats_json);
    ASSERT_TRUE(proto.ok()) << proto.status();
    EXPECT_EQ(*proto, request->proto);
    EXPECT_EQ(Canonical(*t.ProtoToJson(request->action, MessageKind::kRequest, *proto)),
              want.dump());

    // And back to the legacy HTTP form the example was written in.
    absl::StatusOr<nats_http::HttpForm> form = t.EncodeHttpRequest(request->action, *proto);
    ASSERT_TRUE(form.ok()) << form.status();
    EXPECT_EQ(form->method, e.method);
    const std::string target(e.target);
    // Same path once decoded (EncodeAction escapes ':' and other non-unreserved characters).
    EXPECT_EQ(http::PercentDecode(form->path.substr(0, form->path.find('?'))),
              http::PercentDecode(target.substr(0, target.find('?'))));
    if (e.request_body != nullptr) {
      Json sent = Json::parse(e.request_body);
      DropZeros(type, sent);
      EXPECT_EQ(Canonical(form->body), sent.dump());
    }
  }
}

TEST_F(GoldenExamplesTest, ResponseTimestampsAreRestoredExactly) {
  int with_ts = 0;
  for (const auto& e : kGoldenExamples) {
    if (e.status != 200 || e.response_body.find(".000Z\"") == std::string_view::npos) continue;
    SCOPED_TRACE(Label(e));
    const Transcoder& t = For(e.service);
    absl::StatusOr<Transcoder::ProtoRequest> request =
        t.DecodeHttpRequest(e.method, e.target, e.request_body ? e.request_body : "");
    ASSERT_TRUE(request.ok());
    absl::StatusOr<std::string> json =
        t.ProtoToJson(request->action, MessageKind::kResponse,
                      *t.JsonToProto(request->action, MessageKind::kResponse, e.response_body));
    ASSERT_TRUE(json.ok());
    // Not only canonical-equal: the timestamp text itself is byte-identical.
    for (size_t pos = e.response_body.find("Z\""); pos != std::string_view::npos;
         pos = e.response_body.find("Z\"", pos + 1)) {
      const std::string_view stamp = e.response_body.substr(pos - 23, 24);
      EXPECT_NE(json->find(std::string(stamp)), std::string::npos) << stamp;
    }
    ++with_ts;
  }
  EXPECT_GT(with_ts, 3);
}

}  // namespace
}  // namespace sidecar::adapters::transcoding
