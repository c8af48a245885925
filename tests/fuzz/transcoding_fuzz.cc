// Fuzz target (d): JSON <-> protobuf transcoding (adapters/transcoding) over the real service
// schemas (all 22 services of services/proto).
//
// Input: byte 0 = service, byte 1 = action, byte 2 = operation; the rest is the payload (for the
// HTTP operations: "<path>\n<body>").
// Invariants: nothing crashes or trips a sanitizer, and JSON the codec prints reads back:
//   JsonToProto(json) ok  =>  ProtoToJson ok  =>  JsonToProto(printed) ok with the same bytes
// (the first pass normalises: unknown keys dropped, integral doubles printed as integers).

#include <memory>
#include <string>
#include <vector>

#include "adapters/transcoding/transcoder.h"
#include "services/proto/descriptors.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using sidecar::adapters::nats_http::NatsReply;
using sidecar::adapters::transcoding::Encoding;
using sidecar::adapters::transcoding::MessageKind;
using sidecar::adapters::transcoding::Transcoder;

const std::vector<std::unique_ptr<const Transcoder>>& Transcoders() {
  static const auto* all = [] {
    auto* out = new std::vector<std::unique_ptr<const Transcoder>>();
    for (const auto* service : sidecar::services::ServiceDescriptors()) {
      auto t = Transcoder::Create(*service);
      if (t.ok()) out->push_back(*std::move(t));
    }
    if (out->empty()) sidecar::fuzz::Fail("no transcoders");
    return out;
  }();
  return *all;
}

void RoundTrip(const Transcoder& t, const std::string& action, MessageKind kind,
               std::string_view json) {
  auto proto = t.JsonToProto(action, kind, json);
  if (!proto.ok()) return;
  auto printed = t.ProtoToJson(action, kind, *proto);
  if (!printed.ok()) return;  // values JSON cannot carry (out_of_range) are refused, not a finding
  auto again = t.JsonToProto(action, kind, *printed);
  FUZZ_CHECK(again.ok(), std::string(again.status().message()) + " for " + *printed);
  auto printed_again = t.ProtoToJson(action, kind, *again);
  FUZZ_CHECK(printed_again.ok() && *printed_again == *printed, *printed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sidecar::fuzz::Input in(data, size);
  const auto& transcoders = Transcoders();
  const Transcoder& t = *transcoders[in.Byte() % transcoders.size()];
  const auto& routes = t.routes().routes();
  const uint8_t action_byte = in.Byte();
  const uint8_t op = in.Byte();
  std::string action = routes.empty() ? "none" : routes[action_byte % routes.size()].action;
  if (action_byte == 0xff) action = "no_such_action";
  const MessageKind kind = (op & 0x80) ? MessageKind::kResponse : MessageKind::kRequest;

  switch (op % 8) {
    case 0:
      RoundTrip(t, action, kind, in.Rest());
      break;
    case 1: {
      auto json = t.ProtoToJson(action, kind, in.Rest());
      if (json.ok()) RoundTrip(t, action, kind, *json);
      break;
    }
    case 2:
      (void)t.RequestToLegacyJson(action, (op & 0x40) ? Encoding::kJson : Encoding::kProtobuf,
                                  in.Rest());
      break;
    case 3: {
      static constexpr const char* kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
      const std::string_view path = in.Until('\n');
      const std::string_view body = in.Rest();
      auto decoded = t.DecodeHttpRequest(kMethods[(op >> 3) % 6], path, body);
      if (decoded.ok()) {
        // What the gateway decoded must encode back to an HTTP form.
        auto form = t.EncodeHttpRequest(decoded->action, decoded->proto);
        FUZZ_CHECK(form.ok(), std::string(form.status().message()));
      }
      break;
    }
    case 4:
      (void)t.EncodeHttpRequest(action, in.Rest());
      break;
    case 5: {
      NatsReply reply;
      reply.data = std::string(sidecar::fuzz::ReadHeaders(in, &reply.headers));
      t.EncodeReplyAs(action, (op & 0x40) ? Encoding::kJson : Encoding::kProtobuf, reply);
      break;
    }
    case 6: {
      auto proto = sidecar::adapters::transcoding::ErrorJsonToProto(in.Rest());
      if (proto.ok()) {
        auto json = sidecar::adapters::transcoding::ErrorProtoToJson(*proto);
        FUZZ_CHECK(json.ok(), std::string(json.status().message()));
      }
      break;
    }
    default:
      (void)sidecar::adapters::transcoding::ErrorProtoToJson(in.Rest());
      break;
  }
  return 0;
}
