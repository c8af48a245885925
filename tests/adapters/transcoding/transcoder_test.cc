// Transcoder: path-template and query binding for every route of the 22 services (inputs generated
// from the spec tables and the request descriptors), path/body conflicts, content negotiation and
// the reply re-encoding a NATS protobuf caller gets.

#include "adapters/transcoding/transcoder.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "adapters/common/errors.h"
#include "adapters/transcoding/json_codec.h"
#include "common/v1/common.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "query_test.pb.h"
#include "services/proto/descriptors.h"
#include "sidecar/http/path_template.h"
#include "state_manager/v1/state_manager.pb.h"
#include "tests/services/proto/spec_tables.h"

namespace sidecar::adapters::transcoding {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::json;
using services::spec::kSpecActions;

const Transcoder& For(std::string_view service) {
  static auto* cache = new std::map<std::string, std::unique_ptr<const Transcoder>, std::less<>>();
  auto it = cache->find(service);
  if (it == cache->end()) {
    absl::StatusOr<std::unique_ptr<const Transcoder>> t = Transcoder::Create(service);
    EXPECT_TRUE(t.ok()) << t.status();
    it = cache->emplace(std::string(service), *std::move(t)).first;
  }
  return *it->second;
}

std::string Canonical(std::string_view json) {
  Json j = Json::parse(json, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << json;
  return j.dump();  // nlohmann::json keeps object keys sorted
}

std::string ErrorOf(const absl::Status& status) {
  if (status.ok()) return "ok";
  ErrorDetails d = GetErrorDetails(status);
  return std::string(absl::StatusCodeToString(status.code())) + " " + d["field"] + " " +
         d["reason"];
}

// ---- Generated inputs --------------------------------------------------------------------------


// A non-zero JSON sample for one value of `f` (an element when repeated).
Json SampleScalar(const FieldDescriptor& f, int depth);

Json SampleMessage(const Descriptor& d, int depth) {
  if (d.full_name() == "google.protobuf.Struct") return Json{{"k", 1}, {"n", {{"x", "y"}}}};
  if (d.full_name() == "google.protobuf.Value") return Json("v");
  if (d.full_name() == "google.protobuf.ListValue") return Json::array({1, "a"});
  Json out = Json::object();
  if (depth > 3) return out;
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& f = *d.field(i);
    if (f.is_map()) {
      out[f.name()] = Json{{"k1", SampleScalar(*f.message_type()->map_value(), depth + 1)}};
    } else if (f.is_repeated()) {
      out[f.name()] = Json::array({SampleScalar(f, depth + 1), SampleScalar(f, depth + 1)});
    } else {
      out[f.name()] = SampleScalar(f, depth + 1);
    }
  }
  return out;
}

Json SampleScalar(const FieldDescriptor& f, int depth) {
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return "s-" + f.name();
    case FieldDescriptor::CPPTYPE_INT64:
      if (IsTimestampField(f)) return "2025-11-20T12:00:00.000Z";
      return 9007199254740991;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return 7;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return 1.5;
    case FieldDescriptor::CPPTYPE_BOOL:
      return true;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return SampleMessage(*f.message_type(), depth);
    default:
      return nullptr;
  }
}

// How a JSON scalar travels as query text.
std::string QueryText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

struct RouteCase {
  std::string target;  // path + query, percent-encoded
  std::string body;    // JSON, "" for query methods
  Json expected;       // the request as JSON: what ProtoToJson must print (all values non-zero)
  std::vector<std::string> path_vars;
};

// Path values with characters that need percent-encoding, so binding decodes them.
std::string PathValue(const std::string& name) { return "p " + name + "/é:1"; }

RouteCase MakeCase(const services::spec::SpecAction& row, const Descriptor& request) {
  RouteCase c;
  c.expected = Json::object();
  absl::StatusOr<http::PathTemplate> tmpl = http::PathTemplate::Parse(row.path);
  EXPECT_TRUE(tmpl.ok());
  std::map<std::string, std::string> vars;
  for (const std::string& v : tmpl->variables()) {
    vars[v] = PathValue(v);
    c.path_vars.push_back(v);
    c.expected[v] = vars[v];  // every path variable of the spec is a string field
  }
  c.target = *tmpl->Expand(vars);
  const bool query = row.method == "GET" || row.method == "DELETE";
  Json body = Json::object();
  std::string qs;
  for (int i = 0; i < request.field_count(); ++i) {
    const FieldDescriptor& f = *request.field(i);
    if (vars.count(f.name())) continue;
    if (!query) {
      body[f.name()] = f.is_map() ? Json{{"k1", SampleScalar(*f.message_type()->map_value(), 1)}}
                       : f.is_repeated() ? Json::array({SampleScalar(f, 1), SampleScalar(f, 1)})
                                         : SampleScalar(f, 1);
      c.expected[f.name()] = body[f.name()];
      continue;
    }
    if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) continue;  // no query form
    Json v = SampleScalar(f, 1);
    const int n = f.is_repeated() ? 2 : 1;
    for (int k = 0; k < n; ++k) {
      qs += (qs.empty() ? "?" : "&") + http::PercentEncode(f.name()) + "=" +
            http::PercentEncode(QueryText(v));
    }
    c.expected[f.name()] = f.is_repeated() ? Json::array({v, v}) : v;
  }
  c.target += qs;
  if (!query) c.body = body.dump();
  return c;
}

// ---- Every route
// ---------------------------------------------------------------------------------

TEST(TranscoderRoutesTest, EveryRouteBindsPathQueryAndBodyAndEncodesBack) {
  int query_fields = 0;
  int body_fields = 0;
  for (const auto& row : kSpecActions) {
    const std::string label = std::string(row.service) + "." + std::string(row.action);
    SCOPED_TRACE(label);
    const Transcoder& t = For(row.service);
    const Descriptor* request = t.MessageType(row.action, MessageKind::kRequest);
    ASSERT_NE(request, nullptr);
    RouteCase c = MakeCase(row, *request);
    (row.method == "GET" || row.method == "DELETE" ? query_fields : body_fields) +=
        static_cast<int>(c.expected.size() - c.path_vars.size());

    absl::StatusOr<Transcoder::ProtoRequest> decoded =
        t.DecodeHttpRequest(row.method, c.target, c.body);
    ASSERT_TRUE(decoded.ok()) << decoded.status() << "\n  " << row.method << " " << c.target << " "
                              << c.body;
    EXPECT_EQ(decoded->action, row.action);
    absl::StatusOr<std::string> json =
        t.ProtoToJson(row.action, MessageKind::kRequest, decoded->proto);
    ASSERT_TRUE(json.ok()) << json.status();
    EXPECT_EQ(Canonical(*json), c.expected.dump()) << c.target;

    // Back to the legacy form, and that form decodes to the same message.
    absl::StatusOr<nats_http::HttpForm> form = t.EncodeHttpRequest(row.action, decoded->proto);
    ASSERT_TRUE(form.ok()) << form.status();
    EXPECT_EQ(form->method, row.method);
    EXPECT_EQ(form->path.substr(0, form->path.find('?')), c.target.substr(0, c.target.find('?')));
    absl::StatusOr<Transcoder::ProtoRequest> again =
        t.DecodeHttpRequest(form->method, form->path, form->body);
    ASSERT_TRUE(again.ok()) << again.status() << " " << form->path << " " << form->body;
    EXPECT_EQ(again->action, row.action);
    EXPECT_EQ(again->proto, decoded->proto);

    // The JSON form of the request (a NATS JSON caller) gives the same message.
    absl::StatusOr<std::string> proto =
        t.JsonToProto(row.action, MessageKind::kRequest, c.expected.dump());
    ASSERT_TRUE(proto.ok()) << proto.status();
    EXPECT_EQ(*proto, decoded->proto);
  }
  // The generator really exercised query and body fields.
  EXPECT_GT(query_fields, 30);
  EXPECT_GT(body_fields, 200);
}

TEST(TranscoderRoutesTest, PathValueConflictingWithBodyOrQueryIsMalformed) {
  int checked = 0;
  for (const auto& row : kSpecActions) {
    const Transcoder& t = For(row.service);
    const Descriptor* request = t.MessageType(row.action, MessageKind::kRequest);
    RouteCase c = MakeCase(row, *request);
    if (c.path_vars.empty()) continue;
    SCOPED_TRACE(std::string(row.service) + "." + std::string(row.action));
    const std::string& var = c.path_vars.back();
    const bool query = row.method == "GET" || row.method == "DELETE";
    if (query) {
      const std::string sep = c.target.find('?') == std::string::npos ? "?" : "&";
      EXPECT_EQ(
          ErrorOf(t.DecodeHttpRequest(row.method, c.target + sep + var + "=other", "").status()),
          "INVALID_ARGUMENT " + var + " malformed");
      // The same value twice is no conflict.
      EXPECT_TRUE(
          t.DecodeHttpRequest(row.method,
                              c.target + sep + var + "=" + http::PercentEncode(PathValue(var)), "")
              .ok());
    } else {
      Json body = Json::parse(c.body);
      body[var] = "other";
      EXPECT_EQ(ErrorOf(t.DecodeHttpRequest(row.method, c.target, body.dump()).status()),
                "INVALID_ARGUMENT " + var + " malformed");
      body[var] = PathValue(var);
      EXPECT_TRUE(t.DecodeHttpRequest(row.method, c.target, body.dump()).ok());
    }
    ++checked;
  }
  EXPECT_GT(checked, 60);
}

TEST(TranscoderRoutesTest, UnknownRouteIsNotFound) {
  const Transcoder& t = For("state-manager");
  EXPECT_EQ(ErrorOf(t.DecodeHttpRequest("GET", "/api/state-manager/nowhere", "").status()),
            "NOT_FOUND path ");
  EXPECT_EQ(ErrorOf(t.JsonToProto("no_such_action", MessageKind::kRequest, "{}").status()),
            "NOT_FOUND action ");
  EXPECT_EQ(t.MessageType("no_such_action", MessageKind::kRequest), nullptr);
}

TEST(TranscoderRoutesTest, OneTranscoderServesManyThreads) {
  const Transcoder& t = For("settings");
  const std::string target = "/api/settings/players/pl_a8694c9d17e9b948/values";
  const std::string body =
      R"({"platform":"pc","expected_revision":3,"values":{"audio.master_volume":80}})";
  absl::StatusOr<Transcoder::ProtoRequest> first = t.DecodeHttpRequest("POST", target, body);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string want = first->proto;  // deterministic bytes: the same from every thread
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 500; ++n) {
        absl::StatusOr<Transcoder::ProtoRequest> r = t.DecodeHttpRequest("POST", target, body);
        if (!r.ok() || r->proto != want) ++mismatches;
        absl::StatusOr<std::string> json = t.ProtoToJson("set_values", MessageKind::kRequest, want);
        if (!json.ok()) ++mismatches;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---- Query typing -------------------------------------------------------------------------------

TEST(TranscoderQueryTest, QueryTextTakesTheFieldType) {
  const Transcoder& t = For("state-manager");
  absl::StatusOr<Transcoder::ProtoRequest> r = t.DecodeHttpRequest(
      "GET", "/api/state-manager/namespaces/save/keys?page_size=25&prefix=pl_&page_token=", "");
  ASSERT_TRUE(r.ok()) << r.status();
  ::state_manager::v1::ListKeysRequest list;
  ASSERT_TRUE(list.ParseFromString(r->proto));
  EXPECT_EQ(list.namespace_(), "save");
  EXPECT_EQ(list.page_size(), 25);
  EXPECT_EQ(list.prefix(), "pl_");
  EXPECT_EQ(list.page_token(), "");  // an empty query value is absent (§0.2)
}

TEST(TranscoderQueryTest, BadQueryValuesAreTypeOrRangeErrors) {
  const Transcoder& t = For("state-manager");
  const std::string base = "/api/state-manager/namespaces/save/keys?";
  EXPECT_EQ(ErrorOf(t.DecodeHttpRequest("GET", base + "page_size=abc", "").status()),
            "INVALID_ARGUMENT page_size type");
  EXPECT_EQ(ErrorOf(t.DecodeHttpRequest("GET", base + "page_size=5.0", "").status()),
            "INVALID_ARGUMENT page_size type");  // query integers are decimal digits only
  EXPECT_EQ(ErrorOf(t.DecodeHttpRequest("GET", base + "page_size=99999999999", "").status()),
            "INVALID_ARGUMENT page_size out_of_range");
  EXPECT_EQ(ErrorOf(t.DecodeHttpRequest("GET", base + "prefix=a&prefix=b", "").status()),
            "INVALID_ARGUMENT prefix type");  // a repeated key for a single field
  EXPECT_EQ(ErrorOf(t.DecodeHttpRequest("GET", base + "page_size=%zz", "").status()),
            "INVALID_ARGUMENT page_size malformed");
  EXPECT_TRUE(t.DecodeHttpRequest("GET", base + "unknown=1&pageSize=3", "").ok());
}

// None of the 22 services has a bool, list, double or ts field in a GET route; query_test.proto
// has them all.
class TranscoderQueryTypesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<const Transcoder>> t =
        Transcoder::Create(*::transcoding_test::v1::FindRequest::descriptor()->file()->service(0));
    ASSERT_TRUE(t.ok()) << t.status();
    t_ = *std::move(t);
  }

  absl::StatusOr<::transcoding_test::v1::FindRequest> Find(std::string_view query) {
    absl::StatusOr<Transcoder::ProtoRequest> r =
        t_->DecodeHttpRequest("GET", "/api/query-test/items/i%201" + std::string(query), "");
    if (!r.ok()) return r.status();
    ::transcoding_test::v1::FindRequest out;
    EXPECT_TRUE(out.ParseFromString(r->proto));
    return out;
  }

  std::unique_ptr<const Transcoder> t_;
};

TEST_F(TranscoderQueryTypesTest, QueryTextTakesEveryFieldType) {
  absl::StatusOr<::transcoding_test::v1::FindRequest> r = Find(
      "?deleted=true&tags=a&tags=b%20c&sizes=1&sizes=-2&min_score=0.5&"
      "since=2025-11-20T12%3A00%3A00.000Z&limit=0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->item_id(), "i 1");
  EXPECT_TRUE(r->deleted());
  EXPECT_EQ(std::vector<std::string>(r->tags().begin(), r->tags().end()),
            (std::vector<std::string>{"a", "b c"}));
  EXPECT_EQ(std::vector<int>(r->sizes().begin(), r->sizes().end()), (std::vector<int>{1, -2}));
  EXPECT_EQ(r->min_score(), 0.5);
  EXPECT_EQ(r->since(), 1763640000000);
  EXPECT_TRUE(r->has_limit());
  EXPECT_EQ(r->limit(), 0);

  // One value for a list field is a one-element list.
  r = Find("?tags=only&sizes=3&deleted=false");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tags_size(), 1);
  EXPECT_EQ(r->sizes(0), 3);
  EXPECT_FALSE(r->deleted());
}

TEST_F(TranscoderQueryTypesTest, BadQueryTextIsTypeError) {
  EXPECT_EQ(ErrorOf(Find("?deleted=yes").status()), "INVALID_ARGUMENT deleted type");
  EXPECT_EQ(ErrorOf(Find("?deleted=1").status()), "INVALID_ARGUMENT deleted type");
  EXPECT_EQ(ErrorOf(Find("?sizes=1&sizes=x").status()), "INVALID_ARGUMENT sizes[1] type");
  EXPECT_EQ(ErrorOf(Find("?min_score=abc").status()), "INVALID_ARGUMENT min_score type");
  EXPECT_EQ(ErrorOf(Find("?min_score=1e999").status()), "INVALID_ARGUMENT min_score type");
  EXPECT_EQ(ErrorOf(Find("?since=yesterday").status()), "INVALID_ARGUMENT since pattern");
  EXPECT_EQ(ErrorOf(Find("?deleted=true&deleted=false").status()), "INVALID_ARGUMENT deleted type");
}

TEST_F(TranscoderQueryTypesTest, EncodesBackToTheSameQuery) {
  ::transcoding_test::v1::FindRequest find;
  find.set_item_id("i/1");
  find.set_deleted(true);
  find.add_tags("b");
  find.add_tags("a c");
  find.add_sizes(4);
  find.set_min_score(2.25);
  find.set_since(1763640000123);
  find.set_limit(0);
  absl::StatusOr<nats_http::HttpForm> form =
      t_->EncodeHttpRequest("find", find.SerializeAsString());
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->path,
            "/api/query-test/items/i%2F1?deleted=true&limit=0&min_score=2.25&"
            "since=2025-11-20T12%3A00%3A00.123Z&sizes=4&tags=b&tags=a%20c");
  absl::StatusOr<Transcoder::ProtoRequest> again = t_->DecodeHttpRequest("GET", form->path, "");
  ASSERT_TRUE(again.ok()) << again.status();
  ::transcoding_test::v1::FindRequest back;
  ASSERT_TRUE(back.ParseFromString(again->proto));
  EXPECT_EQ(back.SerializeAsString(), find.SerializeAsString());
}

// ---- Content negotiation --------------------------------------------------------------------

TEST(TranscoderNegotiationTest, ContentTypes) {
  EXPECT_EQ(*EncodingFromContentType(""), Encoding::kProtobuf);
  EXPECT_EQ(*EncodingFromContentType("application/protobuf"), Encoding::kProtobuf);
  EXPECT_EQ(*EncodingFromContentType("application/x-protobuf"), Encoding::kProtobuf);
  EXPECT_EQ(*EncodingFromContentType("Application/JSON; charset=utf-8"), Encoding::kJson);
  EXPECT_EQ(ErrorOf(EncodingFromContentType("text/plain").status()),
            "INVALID_ARGUMENT Content-Type unknown_value");
  EXPECT_EQ(*RequestEncoding({{"content-type", "application/json"}}), Encoding::kJson);
  EXPECT_EQ(*RequestEncoding({{"X-Principal", "admin:test"}}), Encoding::kProtobuf);
  EXPECT_EQ(ContentTypeOf(Encoding::kJson), "application/json");
  EXPECT_EQ(ContentTypeOf(Encoding::kProtobuf), "application/protobuf");
}

TEST(TranscoderNegotiationTest, ProtobufRequestBecomesLegacyJsonForTheActionRoute) {
  const Transcoder& t = For("state-manager");
  ::state_manager::v1::PutRequest put;
  put.set_namespace_("save");
  put.set_key("pl_a8694c9d17e9b948:slot1");
  (*put.mutable_value()->mutable_fields())["chapter"].set_number_value(2);
  absl::StatusOr<std::string> json =
      t.RequestToLegacyJson("put", Encoding::kProtobuf, put.SerializeAsString());
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            R"({"namespace":"save","key":"pl_a8694c9d17e9b948:slot1","value":{"chapter":2}})");

  nats_http::NatsMessageView message;
  message.subject = "svc.state-manager.v1.put";
  message.data = *json;
  absl::StatusOr<http::Request> request = nats_http::MessageToRequest(message, &t.routes());
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->method, "PUT");
  EXPECT_EQ(request->path, "/api/state-manager/namespaces/save/keys/pl_a8694c9d17e9b948%3Aslot1");
  EXPECT_EQ(request->body, R"({"value":{"chapter":2}})");

  // JSON passes through untouched; garbage protobuf is the envelope error.
  const std::string as_sent = R"({"namespace":"save","key":"k","expectedVersion":"1"})";
  EXPECT_EQ(*t.RequestToLegacyJson("put", Encoding::kJson, as_sent), as_sent);
  EXPECT_EQ(ErrorOf(t.RequestToLegacyJson("put", Encoding::kProtobuf, "\xff\xff\xff").status()),
            "INVALID_ARGUMENT body malformed");
  EXPECT_EQ(ErrorOf(t.RequestToLegacyJson("nope", Encoding::kJson, "{}").status()),
            "NOT_FOUND action ");
}

http::Response LegacyResponse(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.headers.Add("content-type", "application/json");
  response.headers.Add("X-Request-Id", "r-1");
  response.body = std::move(body);
  return response;
}

std::optional<std::string> Header(const nats_http::NatsReply& reply, std::string_view name) {
  for (const auto& [k, v] : reply.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

TEST(TranscoderNegotiationTest, SuccessReplyBecomesTheResponseMessage) {
  const Transcoder& t = For("state-manager");
  const std::string legacy =
      R"({"value":{"chapter":3},"version":2,"size_bytes":58,"updated_at":"2025-11-20T12:00:00.000Z"})";
  nats_http::NatsReply reply = nats_http::EncodeReply(LegacyResponse(200, legacy));
  nats_http::NatsReply json_reply = reply;
  t.EncodeReplyAs("get", Encoding::kJson, json_reply);
  EXPECT_EQ(json_reply.data, legacy);

  t.EncodeReplyAs("get", Encoding::kProtobuf, reply);
  EXPECT_EQ(Header(reply, "Content-Type"), "application/protobuf");
  EXPECT_EQ(Header(reply, "X-Request-Id"), "r-1");
  EXPECT_EQ(Header(reply, "Nats-Service-Error"), std::nullopt);
  ::state_manager::v1::GetResponse get;
  ASSERT_TRUE(get.ParseFromString(reply.data));
  EXPECT_EQ(get.version(), 2);
  EXPECT_EQ(get.size_bytes(), 58);
  EXPECT_EQ(get.updated_at(), 1763640000000);
  EXPECT_EQ(get.value().fields().at("chapter").number_value(), 3);
  // And back: the protobuf reply prints as the legacy JSON.
  EXPECT_EQ(*t.ProtoToJson("get", MessageKind::kResponse, reply.data), legacy);
}

TEST(TranscoderNegotiationTest, ErrorReplyBecomesCommonError) {
  const Transcoder& t = For("state-manager");
  nats_http::NatsReply reply = nats_http::EncodeReply(LegacyResponse(
      404, R"({"error":{"code":"NOT_FOUND","message":"no such key","details":{"field":"key"}}})"));
  t.EncodeReplyAs("get", Encoding::kProtobuf, reply);
  EXPECT_EQ(Header(reply, "Nats-Service-Error"), "NOT_FOUND");
  EXPECT_EQ(Header(reply, "Nats-Service-Error-Code"), "404");
  EXPECT_EQ(Header(reply, "Content-Type"), "application/protobuf");
  common::v1::Error error;
  ASSERT_TRUE(error.ParseFromString(reply.data));
  EXPECT_EQ(error.code(), "NOT_FOUND");
  EXPECT_EQ(error.message(), "no such key");
  EXPECT_EQ(error.details().at("field"), "key");

  // A transport failure (EncodeError) re-encodes the same way.
  nats_http::NatsReply timeout = nats_http::EncodeError(absl::DeadlineExceededError("late"));
  t.EncodeReplyAs("get", Encoding::kProtobuf, timeout);
  ASSERT_TRUE(error.ParseFromString(timeout.data));
  EXPECT_EQ(error.code(), "DEADLINE_EXCEEDED");
}

TEST(TranscoderNegotiationTest, LegacySuccessOutsideTheSchemaBecomesInternal) {
  const Transcoder& t = For("state-manager");
  for (std::string body : {std::string("not json"), std::string(R"({"version":"two"})")}) {
    SCOPED_TRACE(body);
    nats_http::NatsReply reply = nats_http::EncodeReply(LegacyResponse(200, body));
    t.EncodeReplyAs("get", Encoding::kProtobuf, reply);
    EXPECT_EQ(Header(reply, "Nats-Service-Error"), "INTERNAL");
    EXPECT_EQ(Header(reply, "Nats-Service-Error-Code"), "500");
    EXPECT_EQ(Header(reply, "X-Http-Status"), "500");
    common::v1::Error error;
    ASSERT_TRUE(error.ParseFromString(reply.data));
    EXPECT_EQ(error.code(), "INTERNAL");
    EXPECT_NE(error.message().find("does not fit the schema"), std::string::npos)
        << error.message();
  }
}

// ---- Errors -------------------------------------------------------------------------------------

TEST(TranscoderErrorsTest, ErrorJsonAndProtoRoundTrip) {
  const std::string json =
      R"({"error":{"code":"FAILED_PRECONDITION","message":"insufficient funds","details":{"balance_minor":"3800","reason":"insufficient_funds"}}})";
  absl::StatusOr<std::string> proto = ErrorJsonToProto(json);
  ASSERT_TRUE(proto.ok()) << proto.status();
  common::v1::Error error;
  ASSERT_TRUE(error.ParseFromString(*proto));
  EXPECT_EQ(error.details().at("reason"), "insufficient_funds");
  EXPECT_EQ(*ErrorProtoToJson(*proto), json);
}

TEST(TranscoderErrorsTest, LenientWithLegacyDetailsStrictWithShape) {
  absl::StatusOr<std::string> proto = ErrorJsonToProto(
      R"({"error":{"code":"RESOURCE_EXHAUSTED","message":"m","details":{"retry_after_ms":720000,"x":[1],"ok":true}},"extra":1})");
  ASSERT_TRUE(proto.ok());
  common::v1::Error error;
  ASSERT_TRUE(error.ParseFromString(*proto));
  EXPECT_EQ(error.details().at("retry_after_ms"), "720000");
  EXPECT_EQ(error.details().at("ok"), "true");
  EXPECT_EQ(error.details().count("x"), 0u);
  EXPECT_EQ(ErrorOf(ErrorJsonToProto("{").status()), "INVALID_ARGUMENT body malformed");
  EXPECT_EQ(ErrorOf(ErrorJsonToProto(R"({"code":"X"})").status()),
            "INVALID_ARGUMENT body malformed");
  EXPECT_EQ(ErrorOf(ErrorProtoToJson("\xff").status()), "INVALID_ARGUMENT body malformed");
}

TEST(TranscoderErrorsTest, StatusBecomesCommonError) {
  common::v1::Error error;
  ASSERT_TRUE(error.ParseFromString(
      ErrorProtoFromStatus(InvalidArgument("tags[2]", "type", "field tags[2] must be a string"))));
  EXPECT_EQ(error.code(), "INVALID_ARGUMENT");
  EXPECT_EQ(error.details().at("field"), "tags[2]");
  EXPECT_EQ(error.details().at("reason"), "type");
}

}  // namespace
}  // namespace sidecar::adapters::transcoding
