#pragma once
// One outgoing HTTP/1.1 connection on libevent's evhttp client, carrying at most one request at a
// time. Shared by the legacy HTTP pool and its health checker: it owns the evhttp details (error
// classification, connect timeout, close detection) so both see the same FailureKinds.
//
// Dispatcher thread only. Destroy it only through DeferredDestroy(): evhttp calls back into this
// object from deep inside its own state machine, and freeing the evhttp_connection there would
// leave libevent touching freed memory.

#include <event2/http.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "sidecar/common/c_handle.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/message.h"
#include "sidecar/upstream/cluster.h"

namespace sidecar::upstream {

using EvhttpConnectionPtr = CHandle<evhttp_connection, evhttp_connection_free>;

// Where and how to connect. `address` is numeric (resolved once, at cluster creation), so evhttp
// never calls the blocking resolver on the loop thread.
struct ConnectionOptions {
  std::string address;  // numeric IPv4/IPv6
  uint16_t port = 0;
  int family = 0;  // AF_INET / AF_INET6 / AF_UNSPEC
  std::chrono::milliseconds connect_timeout{1000};
  // evhttp's own read/write inactivity timeout. Owners keep their own (shorter) request timers, so
  // this is a backstop while busy and the idle timeout of a kept-alive connection.
  std::chrono::milliseconds io_timeout{10000};
  int64_t max_response_headers_bytes = 65536;
  int64_t max_response_body_bytes = 8 * 1024 * 1024;
};

// A request ready for the wire: hop-by-hop headers already dropped, Host and Content-Length set.
struct WireRequest {
  evhttp_cmd_type method = EVHTTP_REQ_GET;
  std::string uri;  // path plus query
  http::HeaderMap headers;
  std::string body;
};

// "GET" -> EVHTTP_REQ_GET, ...; nullopt for a method evhttp cannot send.
std::optional<evhttp_cmd_type> ParseMethod(std::string_view method);

// Optional pool metrics; null pointers are skipped (the health checker's connection is not part of
// the pool and counts nothing).
struct ConnectionStats {
  prometheus::Gauge* cx_active = nullptr;
  prometheus::Counter* cx_total = nullptr;
};

class HttpClientConnection {
 public:
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // The request started by Start() ended: a response with any status, or a transport failure
    // (a Status carrying a FailureKind). After a failure the connection is unusable().
    virtual void OnComplete(HttpClientConnection& connection,
                            absl::StatusOr<http::Response> result) = 0;
    // The peer (or the idle timeout) closed the connection while no request was on it.
    virtual void OnIdleClose(HttpClientConnection& connection) = 0;
    // Streaming (Start with stream_ok): a 2xx head whose body is chunked or text/event-stream
    // arrived. The body then comes through OnBodyChunk as it is read, and OnComplete (with an
    // empty body, or the failure that cut it short) ends it.
    virtual void OnStreamHead(HttpClientConnection& connection, http::Response head) {}
    virtual void OnBodyChunk(HttpClientConnection& connection, std::string chunk) {}
  };

  static absl::StatusOr<std::unique_ptr<HttpClientConnection>> Create(
      event::Dispatcher& dispatcher, const ConnectionOptions& options, Callbacks& callbacks,
      ConnectionStats stats = {});
  ~HttpClientConnection();

  HttpClientConnection(const HttpClientConnection&) = delete;
  HttpClientConnection& operator=(const HttpClientConnection&) = delete;

  // Sends `request`, connecting first when needed. Requires !busy() and usable(). On an error
  // returned here (invalid header, or a failure evhttp reported synchronously) no callback follows
  // and the connection is unusable.
  // With `stream_ok` a streamed response body is delivered as it arrives (Callbacks above),
  // without the max_response_body_bytes cap and without buffering the whole body.
  absl::Status Start(const WireRequest& request, bool stream_ok = false);

  // Flow control for a streamed body: stop / restart reading the upstream socket, so TCP pushes
  // back on the legacy process instead of our buffers growing. At most one socket read of chunks
  // is still delivered after PauseReading().
  void PauseReading();
  void ResumeReading();

  // Silences every callback and settles the metrics: the object is about to be deleted, or is
  // being abandoned with a request on it (timeout, cancel) whose fate is unknown.
  void Detach();

  // Detaches `connection` and frees it from a posted task, outside any evhttp callback.
  static void DeferredDestroy(event::Dispatcher& dispatcher,
                              std::unique_ptr<HttpClientConnection> connection);

  bool busy() const { return busy_; }
  // A TCP connection is open or being opened.
  bool open() const { return open_; }
  // False after any failure: evhttp's state for it is unknown, so it must not carry another
  // request.
  bool usable() const { return usable_ && callbacks_ != nullptr; }

 private:
  HttpClientConnection(event::Dispatcher& dispatcher, const ConnectionOptions& options,
                       Callbacks& callbacks, ConnectionStats stats);

  static void OnRequestDone(evhttp_request* request, void* arg) noexcept;
  static void OnRequestError(evhttp_request_error error, void* arg) noexcept;
  static void OnClose(evhttp_connection* connection, void* arg) noexcept;
  static int OnHeader(evhttp_request* request, void* arg) noexcept;
  static void OnChunk(evhttp_request* request, void* arg) noexcept;

  void HandleDone(evhttp_request* request);
  void HandleConnectTimeout();
  void Finish(absl::StatusOr<http::Response> result);
  void MarkOpen();
  void MarkClosed();
  bool SocketConnected() const;
  absl::Status FailureFor(evhttp_request_error error) const;

  event::Dispatcher& dispatcher_;
  const ConnectionOptions options_;
  Callbacks* callbacks_;  // null once detached
  const ConnectionStats stats_;
  EvhttpConnectionPtr evcon_;
  event::TimerPtr connect_timer_;

  bool busy_ = false;
  bool stream_ok_ = false;  // of the request in flight
  bool streaming_ = false;  // its body is being streamed
  evhttp_cmd_type method_ = EVHTTP_REQ_GET;  // of the request in flight
  bool open_ = false;
  bool usable_ = true;
  // The TCP connection was up at some point during the current request: decides between
  // kConnectFailure and kReset/kTimeout when evhttp reports an error.
  bool established_ = false;
  std::optional<evhttp_request_error> error_;  // from the error callback, consumed by HandleDone
  // Set while inside evhttp_make_request: a failure reported synchronously lands here.
  bool in_start_ = false;
  std::optional<absl::Status> sync_failure_;
};

}  // namespace sidecar::upstream
