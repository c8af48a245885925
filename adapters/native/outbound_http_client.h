#pragma once
// services::OutboundHttpClient on an event::Dispatcher (ai-integration's openai_compatible
// provider, SERVICES.md §2.17 r6): each Send() is one HTTP/1.1 exchange on its own
// upstream::HttpClientConnection (libevent evhttp client), so the evhttp details (connect timeout,
// error classification, deferred destruction outside evhttp callbacks) are the legacy pool's.
//
//   - http:// only; https:// or a malformed URL -> INVALID_ARGUMENT (delivered posted, never inline);
//   - numeric hosts connect directly, other hosts resolve through libevent's asynchronous evdns
//     (never the blocking resolver on the loop thread);
//   - the request's `timeout` bounds the whole exchange (resolve, connect, send, response):
//     DEADLINE_EXCEEDED when it passes; connect failure, reset, malformed reply -> UNAVAILABLE;
//     a response with any status is a value;
//   - `done` runs exactly once, on the dispatcher thread, never inline from Send(). Exchanges
//     still in flight when the client is destroyed are dropped without calling `done` (the host
//     destroys its ports first, like services::Timers).
//
// Dispatcher thread only. No connection reuse: external API calls are few and slow, and a fresh
// connection per call keeps a half-dead keep-alive socket from failing a completion.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/common/outbound_http.h"
#include "sidecar/event/dispatcher.h"

struct evdns_base;

namespace sidecar::adapters::native {

// http://host[:port][/path][?query], as Send() understands it.
struct ParsedHttpUrl {
  std::string host;  // without IPv6 brackets
  uint16_t port = 80;
  std::string target;  // path plus query, "/" when empty
  std::string host_header;
};
absl::StatusOr<ParsedHttpUrl> ParseHttpUrl(const std::string& url);

class EvOutboundHttpClient final : public services::OutboundHttpClient {
 public:
  struct Options {
    int64_t max_response_body_bytes = 8 * 1024 * 1024;
    int64_t max_response_headers_bytes = 65536;
  };

  explicit EvOutboundHttpClient(event::Dispatcher& dispatcher) : EvOutboundHttpClient(dispatcher, Options{}) {}
  EvOutboundHttpClient(event::Dispatcher& dispatcher, Options options);
  ~EvOutboundHttpClient() override;

  EvOutboundHttpClient(const EvOutboundHttpClient&) = delete;
  EvOutboundHttpClient& operator=(const EvOutboundHttpClient&) = delete;

  void Send(services::OutboundHttpRequest request, services::OutboundHttpDone done) override;

  size_t in_flight() const { return exchanges_.size(); }

 private:
  class Exchange;
  friend class Exchange;

  // Ends `exchange`: its done is posted, its connection and the object itself freed later,
  // outside any evhttp or evdns callback.
  void Finish(Exchange* exchange, absl::StatusOr<services::OutboundHttpResponse> result);
  evdns_base* Dns();

  event::Dispatcher& dispatcher_;
  const Options options_;
  evdns_base* dns_ = nullptr;  // created on the first non-numeric host
  std::map<Exchange*, std::unique_ptr<Exchange>> exchanges_;
};

}  // namespace sidecar::adapters::native
