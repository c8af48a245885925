// Fuzz target (e): the NATS reply decoder (adapters/nats_http DecodeReply), the step where another
// service's bytes become our HTTP response.
//
// Input: "name:value" header lines up to an empty line, then the payload.
// Invariants: a decoded status is 100..599; no X-Http-Status, Nats-* or framing header survives;
// the response re-encoded for NATS (EncodeReply, the server direction) decodes again to the same
// status, so a reply relayed through two sidecars keeps its meaning.

#include <string>

#include "adapters/nats_http/client.h"
#include "adapters/nats_http/nats_http.h"
#include "sidecar/http/message.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using sidecar::adapters::nats_http::DecodeReply;
using sidecar::adapters::nats_http::EncodeReply;
using sidecar::adapters::nats_http::IsValidHeaderName;
using sidecar::adapters::nats_http::NatsReply;
using sidecar::http::HeaderMap;

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && HeaderMap::NameEquals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sidecar::fuzz::Input in(data, size);
  NatsReply reply;
  reply.data = std::string(sidecar::fuzz::ReadHeaders(in, &reply.headers));

  auto response = DecodeReply(reply);
  if (!response.ok()) return 0;
  FUZZ_CHECK(response->status >= 100 && response->status <= 599, std::to_string(response->status));
  for (const auto& [name, value] : response->headers.entries()) {
    FUZZ_CHECK(!HeaderMap::NameEquals(name, "X-Http-Status"), name);
    FUZZ_CHECK(!StartsWithIgnoreCase(name, "Nats-"), name);
    FUZZ_CHECK(!HeaderMap::NameEquals(name, "Content-Length"), name);
    FUZZ_CHECK(!HeaderMap::NameEquals(name, "Transfer-Encoding"), name);
  }

  // Relay: our response goes back out as a NATS reply and is decoded by the next sidecar.
  NatsReply relayed = EncodeReply(*response);
  for (const auto& [name, value] : relayed.headers) {
    FUZZ_CHECK(IsValidHeaderName(name), name);
    FUZZ_CHECK(!sidecar::fuzz::HasCtl(value), value);
  }
  auto again = DecodeReply(relayed);
  FUZZ_CHECK(again.ok(), std::string(again.status().message()));
  const int expected = response->status;
  FUZZ_CHECK(again->status == expected,
             std::to_string(again->status) + " != " + std::to_string(expected));
  return 0;
}
