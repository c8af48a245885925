// Fuzz target (b): header mapping between NATS and HTTP (adapters/nats_http): MessageToRequest
// (passthrough and action routes), CanonicalHeaderName, ConnectionTokens and EncodeReply.
//
// Input: byte 0 = reply status selector; line 1 = action (subject svc.fuzz.v1.<action>); then
// "name:value" header lines up to an empty line; the rest is the payload.
// Invariants: a request built from a message carries only valid header names and values that
// cannot split a header block, an origin-form path, and none of the dropped headers (hop-by-hop,
// Host, Content-Length, Nats-*); CanonicalHeaderName names the same header; EncodeReply emits only
// valid names and values and always X-Http-Status.

#include <string>
#include <vector>

#include "adapters/nats_http/nats_http.h"
#include "sidecar/config/config.h"
#include "sidecar/http/message.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using sidecar::adapters::nats_http::ActionRouteTable;
using sidecar::adapters::nats_http::CanonicalHeaderName;
using sidecar::adapters::nats_http::ConnectionTokens;
using sidecar::adapters::nats_http::EncodeReply;
using sidecar::adapters::nats_http::IsValidHeaderName;
using sidecar::adapters::nats_http::MessageToRequest;
using sidecar::adapters::nats_http::NatsMessageView;
using sidecar::fuzz::HasCtl;
using sidecar::http::HeaderMap;

const ActionRouteTable& Routes() {
  static const ActionRouteTable* table = [] {
    sidecar::config::ServiceConfig service;
    service.name = "fuzz";
    service.actions = {{"delete_item", "DELETE", "/items/{id}"},
                       {"get_item", "GET", "/items/{id}"},
                       {"list_items", "GET", "/items"},
                       {"put_item", "PUT", "/items/{id}/parts/{part}"},
                       {"search", "POST", "/search"}};
    auto created = ActionRouteTable::Create(service, 0);
    if (!created.ok()) sidecar::fuzz::Fail("route table", std::string(created.status().message()));
    return new ActionRouteTable(*std::move(created));
  }();
  return *table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sidecar::fuzz::Input in(data, size);
  const int status = 100 + in.Byte() * 2;  // 100..610: includes invalid ones
  const std::string subject = "svc.fuzz.v1." + std::string(in.Until('\n'));
  NatsMessageView message;
  const std::string_view payload = sidecar::fuzz::ReadHeaders(in, &message.headers);
  message.subject = subject;
  message.data = payload;

  for (const auto& [name, value] : message.headers) {
    const std::string canonical = CanonicalHeaderName(name);
    FUZZ_CHECK(canonical.size() == name.size() && HeaderMap::NameEquals(canonical, name), name);
  }
  const std::vector<std::string> tokens = ConnectionTokens(message.headers);
  for (const std::string& t : tokens) FUZZ_CHECK(t.find(',') == std::string::npos, t);

  auto request = MessageToRequest(message, &Routes());
  if (request.ok()) {
    FUZZ_CHECK(!request->path.empty() && request->path[0] == '/', request->path);
    for (char c : request->path) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(u > 0x20 && u < 0x7f && c != '#', request->path);
    }
    FUZZ_CHECK(IsValidHeaderName(request->method), request->method);
    for (const auto& [name, value] : request->headers.entries()) {
      FUZZ_CHECK(IsValidHeaderName(name), name);
      FUZZ_CHECK(!HasCtl(value), value);
      for (std::string_view dropped : {"Host", "Content-Length", "Transfer-Encoding", "Connection",
                                       "Upgrade", "Keep-Alive", "TE", "Trailer"}) {
        FUZZ_CHECK(!HeaderMap::NameEquals(name, dropped), name);
      }
      FUZZ_CHECK(!(name.size() >= 5 && HeaderMap::NameEquals(name.substr(0, 5), "Nats-")), name);
    }
  }

  // The reply direction, with the same headers as a legacy response's.
  sidecar::http::Response response;
  response.status = status;
  for (const auto& [name, value] : message.headers) response.headers.Add(name, value);
  response.body = std::string(payload);
  auto reply = EncodeReply(response);
  bool has_status = false;
  for (const auto& [name, value] : reply.headers) {
    FUZZ_CHECK(IsValidHeaderName(name), name);
    FUZZ_CHECK(!HasCtl(value), value);
    if (name == "X-Http-Status") has_status = true;
  }
  FUZZ_CHECK(has_status, "no X-Http-Status");
  return 0;
}
