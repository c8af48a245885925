#pragma once
// One outgoing HTTP/1.1 connection on a non-blocking socket of our own, carrying at most one
// request at a time. Shared by the legacy HTTP pool and its health checker: it owns the wire
// details (response framing, error classification, connect and inactivity timeouts, close
// detection) so both see the same FailureKinds.
//
// Why not evhttp's client: it toggles read and write interest on every request (three epoll_ctl
// calls per request on this path, plus an ioctl per read) and allocates a request object and a
// header queue per request. Here the request is written straight to the socket, the read event
// stays on for the connection's life, and a response is parsed from one buffer.
//
// Dispatcher thread only. Destroy it only through DeferredDestroy(): callbacks run from inside
// this object's socket handlers, which must not find it freed when they return.

#include <event2/event.h>
#include <event2/http.h>
#include <sys/socket.h>

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
#include "sidecar/common/append_buffer.h"
#include "sidecar/common/c_handle.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/message.h"
#include "sidecar/upstream/cluster.h"
#include "sidecar/upstream/wire_request.h"

namespace sidecar::upstream {

// Where and how to connect. `address` is numeric (resolved once, at cluster creation), so the
// loop thread never calls the blocking resolver.
struct ConnectionOptions {
  std::string address;  // numeric IPv4/IPv6
  uint16_t port = 0;
  int family = 0;  // AF_INET / AF_INET6 / AF_UNSPEC
  std::chrono::milliseconds connect_timeout{1000};
  // Read/write inactivity timeout. Owners keep their own (shorter) request timers, so this is a
  // backstop while busy and the idle timeout of a kept-alive connection.
  std::chrono::milliseconds io_timeout{10000};
  int64_t max_response_headers_bytes = 65536;
  int64_t max_response_body_bytes = 8 * 1024 * 1024;
};

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
  // returned here (a socket that could not be opened or written) no callback follows and the
  // connection is unusable.
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

  // Detaches `connection` and frees it from a posted task, outside any of its socket handlers.
  static void DeferredDestroy(event::Dispatcher& dispatcher,
                              std::unique_ptr<HttpClientConnection> connection);

  bool busy() const { return busy_; }
  // A TCP connection is open or being opened.
  bool open() const { return open_; }
  // False after any failure, or after a response that ends the connection: it must not carry
  // another request.
  bool usable() const { return usable_ && callbacks_ != nullptr; }

 private:
  // How the body of the response being read is framed, and where the parser is in it.
  enum class ReadState {
    kHead, kFixedBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kUntilClose
  };

  HttpClientConnection(event::Dispatcher& dispatcher, const ConnectionOptions& options,
                       Callbacks& callbacks, ConnectionStats stats);

  static void OnSocketEvent(evutil_socket_t fd, short what, void* arg) noexcept;
  absl::Status Connect();
  void OnConnected();
  // Sends what is left of the request; the write event takes over when the socket is full.
  void WriteOut();
  void OnReadable();
  // Consumes buffered input until it runs out or the request ends.
  void Parse();
  // The status line and headers; false when parsing must stop (failed, finished, detached).
  bool ParseHead(std::string_view head);
  void DeliverBody(std::string_view data);
  void FinishResponse();
  void Fail(FailureKind kind, std::string_view detail);
  void Finish(absl::StatusOr<http::Response> result);
  void HandleConnectTimeout();
  void HandleIoTimeout();
  void CloseSocket();
  void MarkOpen();
  void MarkClosed();
  std::string Where() const;

  event::Dispatcher& dispatcher_;
  const ConnectionOptions options_;
  Callbacks* callbacks_;  // null once detached
  const ConnectionStats stats_;
  sockaddr_storage peer_{};
  socklen_t peer_len_ = 0;

  int fd_ = -1;
  CHandle<::event, event_free> read_event_;
  CHandle<::event, event_free> write_event_;
  event::TimerPtr connect_timer_;
  // Inactivity: a backstop while busy (owners keep shorter request timers), the idle timeout of
  // a kept-alive connection otherwise. Off while a streamed body is paused.
  event::TimerPtr io_timer_;

  bool busy_ = false;
  bool stream_ok_ = false;  // of the request in flight
  bool streaming_ = false;  // its body is being streamed
  evhttp_cmd_type method_ = EVHTTP_REQ_GET;  // of the request in flight
  bool open_ = false;
  bool connecting_ = false;
  bool usable_ = true;
  bool reading_paused_ = false;
  // The TCP connection was up at some point during the current request: decides between
  // kConnectFailure and kReset/kTimeout when it fails.
  bool established_ = false;
  // Set while inside Start(): a failure found there is returned instead of called back.
  bool in_start_ = false;
  std::optional<absl::Status> sync_failure_;

  AppendBuffer out_;  // the request on the wire
  size_t out_sent_ = 0;
  bool write_armed_ = false;  // write_event_ is added (the socket took only part of out_)
  std::string in_;  // received, not yet parsed from in_pos_
  size_t in_pos_ = 0;
  ReadState state_ = ReadState::kHead;
  http::Response response_;
  uint64_t remaining_ = 0;  // of the fixed body or the current chunk
  uint64_t body_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  bool keep_alive_ = true;
};

}  // namespace sidecar::upstream
