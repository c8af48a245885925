#pragma once
// The HTTP/1.1 edge listener: the sibling of the NATS listener for plain HTTP clients. Each request
// is parsed by the strict Http1Parser (see http1_parser.h for what is rejected and why), runs
// through the same filter chain, and its Response (or its error, rendered as the §0.4 JSON body)
// is written back with a Content-Length.
//
// Connections: one request at a time per connection. While a request is in the chain, reading
// stops (pipelined requests wait in the kernel and our input buffer: backpressure, and responses
// leave in request order). Keep-alive by default on 1.1, on 1.0 only when asked. Every wait is a
// dispatcher timer: header (first byte -> end of head; 408), body (end of head -> end of body;
// 408), idle (between requests; closed silently), and a bounded lingering close after the last
// response, so a client still sending (a rejected body, pipelined requests) reads our answer
// instead of a reset.
//
// Drain: the listening socket is closed (new connections are refused), idle connections close,
// requests being received or in the chain finish and are answered with `Connection: close`;
// `done` runs once the last connection is gone.
//
// Threading: created, started, drained and destroyed on the dispatcher's thread.

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/common/c_handle.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/filter.h"
#include "sidecar/http/http1_parser.h"
#include "sidecar/http/listener.h"
#include "sidecar/http/message.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::http {

// Renders a failed request (a Status from the chain) as a response. The server injects
// adapters::ErrorResponseFromStatus (sidecar/ must not depend on adapters/).
using ErrorRenderer = absl::AnyInvocable<Response(const absl::Status&) const>;

// The §0.4 body {"error":{"code","message","details":{}}} for a Status, without the details that
// adapters/ attaches as payloads. The fallback when no ErrorRenderer is injected.
Response DefaultErrorResponse(const absl::Status& status);

class HttpListener final : public Listener {
 public:
  struct Options {
    std::string name = "http";
    config::HostPort address{"127.0.0.1", 0};  // literal IP or localhost; port 0 = ephemeral
    size_t max_header_bytes = 16384;
    size_t max_headers = 100;
    size_t max_body_bytes = 1024 * 1024;
    // See Http1Limits: header names with '_' are refused (400) unless this is set.
    bool allow_underscores_in_header_names = false;
    // From accept (first request) or from the first byte (later requests) to the end of the head.
    // A deadline, not an inactivity timer: trickling a byte at a time does not extend it.
    std::chrono::milliseconds header_timeout{10000};
    std::chrono::milliseconds idle_timeout{60000};
    std::chrono::milliseconds body_timeout{30000};
    // Default request deadline; a smaller positive X-Deadline-Ms wins.
    std::chrono::milliseconds request_timeout{5000};
    // At the limit the listener stops accepting (the kernel backlog holds new clients).
    size_t max_connections = 10000;
    // Over the limit requests are answered 503 UNAVAILABLE reason=overloaded.
    size_t max_in_flight = 10000;
    ErrorRenderer error_response;  // null: DefaultErrorResponse
  };

  // Validates the options; binds nothing yet. `filters` run in order; the last must answer.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Create(Options options,
                                                              event::Dispatcher& dispatcher,
                                                              stats::Metrics& metrics,
                                                              std::vector<FilterFactory> filters);
  ~HttpListener() override;

  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Listener
  const std::string& name() const override { return options_.name; }
  // Binds and listens. Also raises the process's soft RLIMIT_NOFILE (up to the hard limit) so
  // that max_connections can be reached: the usual soft limit of 1024 would otherwise cap the
  // listener silently, with accept() failing on EMFILE.
  absl::Status Start() override;
  bool Ready(std::string* why) const override;
  void Drain(absl::AnyInvocable<void()> done) override;
  size_t active_requests() const override { return active_requests_; }

  // The bound port (useful with port 0); 0 before Start().
  uint16_t port() const { return port_; }
  size_t connections() const { return connections_.size(); }

 private:
  class Connection;
  struct RouteStats {
    std::string action_label;
    stats::Histogram* duration = nullptr;
    // By HTTP status: several statuses share an outcome label, and an int is the cheap key.
    std::map<int, prometheus::Counter*> by_status;
  };
  // Orders (service, action) keys and finds them by string_view pairs without building strings.
  struct RouteKeyLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::tie(a.first, a.second) < std::tie(b.first, b.second);
    }
  };
  using ListenerPtr = CHandle<evconnlistener, evconnlistener_free>;

  HttpListener(Options options, event::Dispatcher& dispatcher, stats::Metrics& metrics,
               std::vector<FilterFactory> filters);

  static void OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int len,
                       void* arg) noexcept;
  static void OnAcceptError(evconnlistener*, void* arg) noexcept;
  void Accept(evutil_socket_t fd, const sockaddr* addr);
  // Called by a connection that closed: forgets it (destroyed on a later loop turn).
  void Remove(Connection* connection);
  void DeferDelete(std::unique_ptr<FilterManager> chain);
  void Reap();
  void MaybeFinishDrain();

  Response RenderError(const absl::Status& status) const;
  void Reject(std::string_view reason);
  void Record(std::string_view service, std::string_view action, int status,
              Clock::time_point start);
  RouteStats& StatsFor(std::string_view service, std::string_view action);

  const Options options_;
  const Http1Limits limits_;
  event::Dispatcher& dispatcher_;
  stats::Metrics& metrics_;
  const std::vector<FilterFactory> filters_;

  ListenerPtr listener_;
  uint16_t port_ = 0;
  bool accept_paused_ = false;  // at max_connections, or after an accept error
  event::TimerPtr accept_retry_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  size_t active_requests_ = 0;
  bool draining_ = false;
  absl::AnyInvocable<void()> on_drained_;

  // Closed connections and finished chains: they may still be on the stack when they finish, so
  // they are destroyed from a zero-delay timer (deferred delete).
  std::vector<std::unique_ptr<Connection>> dead_connections_;
  std::vector<std::unique_ptr<FilterManager>> dead_chains_;
  std::vector<std::unique_ptr<FilterManager>> reaping_chains_;  // only inside Reap()
  event::SchedulableCallbackPtr reaper_;  // deferred deletion, later in the same loop pass

  // Cached metric children (Family::Add takes a lock); distinct action labels are capped.
  std::map<std::pair<std::string, std::string>, RouteStats, RouteKeyLess> route_stats_;
  std::map<std::string, prometheus::Counter*, std::less<>> rejected_;
  prometheus::Gauge* active_gauge_;
};

}  // namespace sidecar::http
