#include "sidecar/upstream/http_client_connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <sys/socket.h>

#include <string_view>

#include "absl/strings/str_cat.h"

namespace sidecar::upstream {
namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

http::Response ToResponse(evhttp_request* request) {
  http::Response response;
  response.status = evhttp_request_get_response_code(request);
  const evkeyvalq* headers = evhttp_request_get_input_headers(request);
  for (const evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    response.headers.Add(h->key, h->value);
  }
  evbuffer* body = evhttp_request_get_input_buffer(request);
  const size_t size = evbuffer_get_length(body);
  response.body.resize(size);
  if (size > 0) evbuffer_copyout(body, response.body.data(), size);
  return response;
}

// Whether evhttp may keep the connection for another request. evhttp itself only honours
// "Connection: close"; an HTTP/1.0 reply without keep-alive, or a body delimited by the server
// closing, leaves a socket that the next request would find dead.
bool ReusableAfter(const evhttp_request* request, evhttp_cmd_type method,
                   const http::Response& response) {
  if (request->major == 1 && request->minor == 0) {
    auto connection = response.headers.Get("Connection");
    if (!connection || !http::HeaderMap::NameEquals(*connection, "keep-alive")) return false;
  }
  const bool has_body = method != EVHTTP_REQ_HEAD && response.status >= 200 &&
                        response.status != 204 && response.status != 304;
  if (has_body && !response.headers.Has("Content-Length")) {
    auto encoding = response.headers.Get("Transfer-Encoding");
    if (!encoding || !http::HeaderMap::NameEquals(*encoding, "chunked")) return false;
  }
  return true;
}

}  // namespace

std::optional<evhttp_cmd_type> ParseMethod(std::string_view method) {
  static constexpr std::pair<std::string_view, evhttp_cmd_type> kMethods[] = {
      {"GET", EVHTTP_REQ_GET},         {"POST", EVHTTP_REQ_POST},   {"PUT", EVHTTP_REQ_PUT},
      {"DELETE", EVHTTP_REQ_DELETE},   {"PATCH", EVHTTP_REQ_PATCH}, {"HEAD", EVHTTP_REQ_HEAD},
      {"OPTIONS", EVHTTP_REQ_OPTIONS}, {"TRACE", EVHTTP_REQ_TRACE}, {"CONNECT", EVHTTP_REQ_CONNECT},
  };
  for (const auto& [name, type] : kMethods) {
    if (http::HeaderMap::NameEquals(name, method)) return type;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<HttpClientConnection>> HttpClientConnection::Create(
    event::Dispatcher& dispatcher, const ConnectionOptions& options, Callbacks& callbacks,
    ConnectionStats stats) {
  std::unique_ptr<HttpClientConnection> c(
      new HttpClientConnection(dispatcher, options, callbacks, stats));
  c->evcon_.reset(evhttp_connection_base_new(dispatcher.base(), /*dnsbase=*/nullptr,
                                             options.address.c_str(), options.port));
  if (c->evcon_ == nullptr) return absl::InternalError("evhttp_connection_base_new failed");
  evhttp_connection_set_family(c->evcon_.get(), options.family);
  // No evhttp retries: a refused connection must fail at once, and retry policy belongs upstream.
  evhttp_connection_set_retries(c->evcon_.get(), 0);
  const timeval io = ToTimeval(options.io_timeout);
  evhttp_connection_set_timeout_tv(c->evcon_.get(), &io);
  evhttp_connection_set_max_headers_size(
      c->evcon_.get(), static_cast<ev_ssize_t>(options.max_response_headers_bytes));
  evhttp_connection_set_max_body_size(c->evcon_.get(),
                                      static_cast<ev_ssize_t>(options.max_response_body_bytes));
  evhttp_connection_set_closecb(c->evcon_.get(), &HttpClientConnection::OnClose, c.get());
  HttpClientConnection* raw = c.get();
  c->connect_timer_ = dispatcher.CreateTimer([raw] { raw->HandleConnectTimeout(); });
  return c;
}

HttpClientConnection::HttpClientConnection(event::Dispatcher& dispatcher,
                                           const ConnectionOptions& options, Callbacks& callbacks,
                                           ConnectionStats stats)
    : dispatcher_(dispatcher), options_(options), callbacks_(&callbacks), stats_(stats) {}

HttpClientConnection::~HttpClientConnection() {
  Detach();
  // evhttp_connection_free() runs the close callback of a connected evcon; this object is going.
  if (evcon_ != nullptr) evhttp_connection_set_closecb(evcon_.get(), nullptr, nullptr);
  // Frees any request still queued on it without calling its callbacks.
  evcon_.reset();
}

void HttpClientConnection::DeferredDestroy(event::Dispatcher& dispatcher,
                                           std::unique_ptr<HttpClientConnection> connection) {
  if (connection == nullptr) return;
  connection->Detach();
  dispatcher.Post([c = std::move(connection)]() mutable { c.reset(); });
}

void HttpClientConnection::Detach() {
  if (callbacks_ == nullptr) return;
  callbacks_ = nullptr;
  usable_ = false;
  if (connect_timer_ != nullptr) connect_timer_->Disable();
  MarkClosed();
}

void HttpClientConnection::MarkOpen() {
  if (open_) return;
  open_ = true;
  if (stats_.cx_total != nullptr) stats_.cx_total->Increment();
  if (stats_.cx_active != nullptr) stats_.cx_active->Increment();
}

void HttpClientConnection::MarkClosed() {
  if (!open_) return;
  open_ = false;
  if (stats_.cx_active != nullptr) stats_.cx_active->Decrement();
}

absl::Status HttpClientConnection::Start(const WireRequest& wire, bool stream_ok) {
  if (busy_ || !usable()) return absl::FailedPreconditionError("connection busy or unusable");
  evhttp_request* request = evhttp_request_new(&HttpClientConnection::OnRequestDone, this);
  if (request == nullptr) return absl::ResourceExhaustedError("evhttp_request_new failed");
  evhttp_request_set_error_cb(request, &HttpClientConnection::OnRequestError);
  stream_ok_ = stream_ok;
  streaming_ = false;
  if (stream_ok) evhttp_request_set_header_cb(request, &HttpClientConnection::OnHeader);
  // A previous streamed response may have lifted the cap on this connection.
  evhttp_connection_set_max_body_size(evcon_.get(),
                                      static_cast<ev_ssize_t>(options_.max_response_body_bytes));
  evkeyvalq* out = evhttp_request_get_output_headers(request);
  for (const auto& [name, value] : wire.headers.entries()) {
    // evhttp rejects CR/LF in names and values: refuse the request rather than drop a header.
    if (evhttp_add_header(out, name.c_str(), value.c_str()) != 0) {
      evhttp_request_free(request);
      return absl::InvalidArgumentError(absl::StrCat("invalid request header: ", name));
    }
  }
  if (!wire.body.empty()) {
    evbuffer_add(evhttp_request_get_output_buffer(request), wire.body.data(), wire.body.size());
  }

  // A kept-alive connection was up before this request; a new one must prove it (see OnClose).
  established_ = open_;
  if (!open_) {
    MarkOpen();
    connect_timer_->Enable(options_.connect_timeout);
  }
  busy_ = true;
  method_ = wire.method;
  error_.reset();
  sync_failure_.reset();
  in_start_ = true;
  // Takes ownership of `request`, also on failure.
  const int rc = evhttp_make_request(evcon_.get(), request, wire.method, wire.uri.c_str());
  in_start_ = false;
  if (sync_failure_.has_value()) {
    absl::Status failure = std::move(*sync_failure_);
    sync_failure_.reset();
    return failure;
  }
  if (rc != 0) {
    busy_ = false;
    usable_ = false;
    connect_timer_->Disable();
    MarkClosed();
    return UpstreamFailure(FailureKind::kConnectFailure, "evhttp_make_request failed");
  }
  return absl::OkStatus();
}

void HttpClientConnection::OnRequestDone(evhttp_request* request, void* arg) noexcept {
  static_cast<HttpClientConnection*>(arg)->HandleDone(request);
}

void HttpClientConnection::OnRequestError(evhttp_request_error error, void* arg) noexcept {
  // evhttp calls this just before OnRequestDone(nullptr): remember why.
  static_cast<HttpClientConnection*>(arg)->error_ = error;
}

int HttpClientConnection::OnHeader(evhttp_request* request, void* arg) noexcept {
  auto* self = static_cast<HttpClientConnection*>(arg);
  if (!self->busy_ || self->callbacks_ == nullptr || !self->stream_ok_) return 0;
  const int status = evhttp_request_get_response_code(request);
  if (status < 200 || status > 299 || status == 204 || self->method_ == EVHTTP_REQ_HEAD) return 0;
  const evkeyvalq* headers = evhttp_request_get_input_headers(request);
  const char* encoding = evhttp_find_header(headers, "Transfer-Encoding");
  const char* type = evhttp_find_header(headers, "Content-Type");
  const bool chunked = encoding != nullptr && std::string_view(encoding).find("chunked") != std::string_view::npos;
  const bool event_stream =
      type != nullptr && std::string_view(type).substr(0, 17) == "text/event-stream";
  if (!chunked && !event_stream) return 0;  // a whole body, as without streaming
  self->streaming_ = true;
  // The body is never held whole, so the whole-body cap does not apply to it.
  evhttp_connection_set_max_body_size(self->evcon_.get(), EV_SSIZE_MAX);
  evhttp_request_set_chunked_cb(request, &HttpClientConnection::OnChunk);
  http::Response head;
  head.status = status;
  for (const evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    head.headers.Add(h->key, h->value);
  }
  self->callbacks_->OnStreamHead(*self, std::move(head));
  return 0;
}

void HttpClientConnection::OnChunk(evhttp_request* request, void* arg) noexcept {
  auto* self = static_cast<HttpClientConnection*>(arg);
  evbuffer* body = evhttp_request_get_input_buffer(request);
  const size_t size = evbuffer_get_length(body);
  if (size == 0 || !self->busy_ || self->callbacks_ == nullptr) return;
  std::string chunk(size, '\0');
  evbuffer_remove(body, chunk.data(), size);  // evhttp drains it after us anyway
  self->callbacks_->OnBodyChunk(*self, std::move(chunk));
}

void HttpClientConnection::PauseReading() {
  bufferevent* bev = evhttp_connection_get_bufferevent(evcon_.get());
  if (bev != nullptr) bufferevent_disable(bev, EV_READ);
}

void HttpClientConnection::ResumeReading() {
  bufferevent* bev = evhttp_connection_get_bufferevent(evcon_.get());
  if (bev != nullptr && busy_) bufferevent_enable(bev, EV_READ);
}

void HttpClientConnection::OnClose(evhttp_connection*, void* arg) noexcept {
  auto* self = static_cast<HttpClientConnection*>(arg);
  // evhttp reports a close only for a connection that was connected: if this happens during a
  // request, the failure that follows is a reset, not a connect failure.
  self->established_ = true;
  self->MarkClosed();
  if (!self->busy_ && self->callbacks_ != nullptr) self->callbacks_->OnIdleClose(*self);
}

absl::Status HttpClientConnection::FailureFor(evhttp_request_error error) const {
  const std::string where = absl::StrCat(options_.address, ":", options_.port);
  switch (error) {
    case EVREQ_HTTP_TIMEOUT:
      return established_ ? UpstreamFailure(FailureKind::kTimeout, "upstream inactivity timeout")
                          : UpstreamFailure(FailureKind::kConnectFailure,
                                            absl::StrCat("connect to ", where, " timed out"));
    case EVREQ_HTTP_INVALID_HEADER:
      return UpstreamFailure(FailureKind::kProtocolError,
                             "malformed or oversized response status line or headers");
    case EVREQ_HTTP_DATA_TOO_LONG:
      return UpstreamFailure(FailureKind::kProtocolError,
                             "response body too large or malformed chunked encoding");
    case EVREQ_HTTP_EOF:
    case EVREQ_HTTP_BUFFER_ERROR:
    case EVREQ_HTTP_REQUEST_CANCEL:
    default:
      return established_ ? UpstreamFailure(FailureKind::kReset,
                                            "upstream closed the connection before a full response")
                          : UpstreamFailure(FailureKind::kConnectFailure,
                                            absl::StrCat("connect to ", where, " failed"));
  }
}

void HttpClientConnection::HandleDone(evhttp_request* request) {
  // Late callbacks after a timeout, a connect timeout or Detach() belong to an abandoned request.
  if (!busy_ || callbacks_ == nullptr) return;
  if (request == nullptr) {
    // evhttp_connection_fail_(): the error callback ran first.
    Finish(FailureFor(error_.value_or(EVREQ_HTTP_EOF)));
    return;
  }
  if (evhttp_request_get_response_code(request) == 0) {
    // evhttp's connect-failure path (refused, unreachable) hands back the request unanswered and
    // skips the error callback.
    Finish(UpstreamFailure(FailureKind::kConnectFailure,
                           absl::StrCat("connect to ", options_.address, ":", options_.port,
                                        " failed (refused or unreachable)")));
    return;
  }
  http::Response response = ToResponse(request);
  if (!ReusableAfter(request, method_, response)) usable_ = false;
  Finish(std::move(response));
}

void HttpClientConnection::HandleConnectTimeout() {
  if (!busy_ || callbacks_ == nullptr || SocketConnected()) return;
  Finish(
      UpstreamFailure(FailureKind::kConnectFailure,
                      absl::StrCat("connect to ", options_.address, ":", options_.port,
                                   " timed out after ", options_.connect_timeout.count(), " ms")));
}

// evhttp has no "connected" callback; the kernel knows.
bool HttpClientConnection::SocketConnected() const {
  bufferevent* bev = evhttp_connection_get_bufferevent(evcon_.get());
  const evutil_socket_t fd = bev != nullptr ? bufferevent_getfd(bev) : -1;
  if (fd < 0) return false;
  sockaddr_storage peer;
  socklen_t len = sizeof(peer);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
}

void HttpClientConnection::Finish(absl::StatusOr<http::Response> result) {
  busy_ = false;
  connect_timer_->Disable();
  if (!result.ok()) {
    usable_ = false;
    MarkClosed();
  }
  if (in_start_) {
    // Reported from inside evhttp_make_request(): Start() returns it instead, so no callback
    // runs inline from the caller's Send().
    sync_failure_ = result.status();
    return;
  }
  callbacks_->OnComplete(*this, std::move(result));
}

}  // namespace sidecar::upstream
