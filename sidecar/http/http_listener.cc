#include "sidecar/http/http_listener.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "sidecar/common/append_buffer.h"
#include "sidecar/common/logging.h"
#include "sidecar/http/header_chars.h"

namespace sidecar::http {
namespace {

using BufferEventPtr = CHandle<bufferevent, bufferevent_free>;

constexpr int kListenBacklog = 1024;
constexpr size_t kMaxActionLabels = 256;
constexpr char kOtherAction[] = "_other";
// After the last response a client may still be sending (a body we refused, pipelined requests).
// Closing with unread input makes the kernel send a reset that can destroy our response in the
// client's receive buffer, so we half-close and discard input for a short while (like nginx's
// lingering_close).
constexpr std::chrono::milliseconds kLingerTimeout{2000};
// Bodies up to this size are copied next to the head (one evbuffer_add); larger ones are handed
// to the evbuffer by reference, without a copy.
constexpr size_t kInlineBodyBytes = 16 * 1024;
// After an accept error (EMFILE, ENFILE, ENOMEM) accepting would fail in a tight loop.
constexpr std::chrono::milliseconds kAcceptRetry{200};

// Streaming: the output bound above which the producer is paused.
constexpr size_t kStreamOutputBytes = 64 * 1024;
// The input a client may send while its request is in flight or its response is written (a
// pipelined request) before we stop reading. Reading stays on otherwise: turning it off and on
// for every request cost two epoll_ctl calls per request.
constexpr size_t kPipelinedInputBytes = 64 * 1024;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

// The §0.4 code for an HTTP status (the same mapping as adapters/common/errors.h
// CodeForHttpStatus, which sidecar/ cannot include). Upper case; "OK" below 400.
std::string_view CodeForStatus(int status) {
  switch (status) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: case 410: return "NOT_FOUND";
    case 408: case 504: return "DEADLINE_EXCEEDED";
    case 409: return "ALREADY_EXISTS";
    case 412: case 422: return "FAILED_PRECONDITION";
    case 429: return "RESOURCE_EXHAUSTED";
    case 499: return "CANCELLED";  // recorded only: the client closed while its body streamed
    case 502: case 503: return "UNAVAILABLE";
    default: break;
  }
  if (status < 400) return "OK";
  if (status < 500) return "INVALID_ARGUMENT";
  return "INTERNAL";
}

// Outcome label of requests_total: "ok" or the lower-case §0.4 code, as the NATS listener does.
std::string OutcomeFor(int status) {
  if (status < 400) return "ok";
  std::string out(CodeForStatus(status));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", u);
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

Response JsonError(int status, std::string_view code, std::string_view message,
                   std::string_view reason) {
  Response response;
  response.status = status;
  std::string& body = response.body;
  body = "{\"error\":{\"code\":";
  AppendJsonString(&body, code);
  body += ",\"message\":";
  AppendJsonString(&body, message);
  body += ",\"details\":{";
  if (!reason.empty()) {
    body += "\"reason\":";
    AppendJsonString(&body, reason);
  }
  body += "}}}";
  response.headers.Set("Content-Type", "application/json");
  return response;
}

// A header a filter or upstream produced with CR/LF or other controls would split the response,
// and a name that is not an RFC 9110 token is not a header field at all.
bool IsSafeHeader(std::string_view name, std::string_view value) {
  return IsToken(name) && IsFieldValue(value);
}

// "HTTP/1.1 NNN Reason\r\n" for a status in [100, 999] (formatted by hand: snprintf's format
// parsing was 2 % of the pass-through's instructions).
void AppendStatusLine(int status, AppendBuffer* out) {
  const char line[] = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ',
                       static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                       static_cast<char>('0' + status % 10), ' '};
  out->Append(std::string_view(line, sizeof(line)));
  out->Append(ReasonPhrase(status));
  out->Append("\r\n");
}

std::chrono::milliseconds EffectiveTimeout(const HeaderMap& headers,
                                           std::chrono::milliseconds fallback) {
  std::optional<std::string_view> v = headers.Get(headers::kDeadlineMs);
  if (!v) return fallback;
  int64_t ms = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), ms);
  if (ec != std::errc() || ptr != v->data() + v->size() || ms <= 0) return fallback;
  return std::min(fallback, std::chrono::milliseconds(ms));
}

std::string PeerIp(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof(buf));
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

absl::Status ListenError(const config::HostPort& address, absl::string_view step, int err) {
  return absl::UnavailableError(
      absl::StrCat("http listener: cannot listen on ", address.ToString(), ": ", step, ": ",
                   std::strerror(err)));
}

// Our own socket (as the admin server does): precise bind errors, no name resolution. Literal IPs
// and "localhost" only.
absl::StatusOr<int> ListenOn(const config::HostPort& address) {
  std::string host = address.host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    len = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("http listener address ", address.ToString(),
                                                   ": host must be a literal IP or localhost"));
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ListenError(address, "socket", errno);
  // Restarts must not fail on TIME_WAIT leftovers; Linux still refuses a port in active use.
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, kListenBacklog) != 0) {
    int err = errno;
    ::close(fd);
    return ListenError(address, "bind/listen", err);
  }
  return fd;
}

// Raises the soft RLIMIT_NOFILE towards what `connections` clients need (plus headroom for
// upstreams, NATS, admin and files), never above the hard limit. Process-wide, and only ever
// upwards, so several listeners (or a test that already raised it) do not fight.
void EnsureFileLimit(const std::string& name, size_t connections) {
  constexpr rlim_t kHeadroom = 1024;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(connections) + kHeadroom;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    const rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
    if (rl.rlim_cur > before && ::setrlimit(RLIMIT_NOFILE, &rl) == 0) {
      log::Info("raised the open file limit",
                {{"listener", name}, {"from", std::to_string(before)},
                 {"to", std::to_string(rl.rlim_cur)}});
    } else {
      rl.rlim_cur = before;
    }
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    log::Warn("open file limit below max_connections; accepts will pause at the limit",
              {{"listener", name}, {"limit", std::to_string(rl.rlim_cur)},
               {"max_connections", std::to_string(connections)}});
  }
}

uint16_t BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

Response DefaultErrorResponse(const absl::Status& status) {
  int http_status = 500;
  std::string_view code = "INTERNAL";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: http_status = 400; code = "INVALID_ARGUMENT"; break;
    case absl::StatusCode::kUnauthenticated: http_status = 401; code = "UNAUTHENTICATED"; break;
    case absl::StatusCode::kPermissionDenied: http_status = 403; code = "PERMISSION_DENIED"; break;
    case absl::StatusCode::kNotFound: http_status = 404; code = "NOT_FOUND"; break;
    case absl::StatusCode::kAlreadyExists: http_status = 409; code = "ALREADY_EXISTS"; break;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted: http_status = 422; code = "FAILED_PRECONDITION"; break;
    case absl::StatusCode::kResourceExhausted: http_status = 429; code = "RESOURCE_EXHAUSTED"; break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled: http_status = 503; code = "UNAVAILABLE"; break;
    case absl::StatusCode::kDeadlineExceeded: http_status = 504; code = "DEADLINE_EXCEEDED"; break;
    default: break;
  }
  const absl::string_view message = status.message();
  return JsonError(http_status, code, std::string_view(message.data(), message.size()), "");
}

// ---------------------------------------------------------------------------------------------
// One client connection. States, and the timer armed in each:
//   kIdle      waiting for the first byte of a request   idle_timeout (header_timeout when fresh)
//   kHead      receiving the request head                header_timeout -> 408
//   kBody      receiving the body                        body_timeout -> 408
//   kInFlight  request in the filter chain                none (the request deadline rules)
//   kWriting   response being flushed, keep-alive        idle_timeout (client not reading)
//   kClosing   last response being flushed               idle_timeout
//   kLingering half-closed, discarding input until EOF   kLingerTimeout
// Input that arrives while a request is in flight waits in the buffer (up to
// kPipelinedInputBytes). Responses are written straight to the socket; the write event is used
// only when the kernel does not take everything at once, so a small response costs one writev.
class HttpListener::Connection final : private BodyStream::Sink {
 public:
  // kStreaming: a streamed response body is being written (chunked, or SSE events).
  enum class Phase { kIdle, kHead, kBody, kInFlight, kStreaming, kWriting, kClosing, kLingering };

  Connection(HttpListener& listener, BufferEventPtr bev, std::string peer_ip)
      : listener_(listener),
        bev_(std::move(bev)),
        peer_ip_(std::move(peer_ip)),
        parser_(listener.limits_),
        timer_(listener.dispatcher_.CreateTimer([this] { OnTimeout(); })),
        resume_(event_new(listener.dispatcher_.base(), -1, 0, &Connection::OnResumeCb, this)) {}

  ~Connection() {
    // The listener is going away with requests in the chain: the filters cancel their work.
    if (chain_ != nullptr) chain_.reset();
  }

  void Start() {
    // The bufferevent only writes: EV_WRITE (on by default in a new bufferevent) while output is
    // left over (Send) or a body streams. Reading is ours (OnReadable): a bufferevent asks the
    // kernel for FIONREAD before every read, one ioctl per request.
    bufferevent_setcb(bev_.get(), nullptr, &Connection::OnWriteCb, &Connection::OnEventCb, this);
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    read_event_.reset(event_new(listener_.dispatcher_.base(), bufferevent_getfd(bev_.get()),
                                EV_READ | EV_PERSIST, &Connection::OnReadableCb, this));
    StartReading();
    SetPhase(Phase::kIdle, listener_.options_.header_timeout);
  }

  Phase phase() const { return phase_; }
  bool in_flight() const { return chain_ != nullptr; }

  // Drain: an idle connection has nothing to finish.
  void CloseIfIdle() {
    if (phase_ == Phase::kIdle) Close();
  }

  void Close() {
    if (bev_ == nullptr) return;
    timer_->Disable();
    read_event_.reset();  // before the socket closes
    reading_ = false;
    bev_.reset();  // closes the socket; no more callbacks
    if (stream_ != nullptr) {
      // The client went away mid-stream: dropping the stream cancels the producer upstream.
      stream_.reset();
      listener_.Record(stream_service_, stream_action_, 499, start_);
      EndRequest();
    }
    if (chain_ != nullptr) {
      // Only possible while the listener is torn down; the chain still owns its request.
      listener_.DeferDelete(std::move(chain_));
      EndRequest();
    }
    listener_.Remove(this);  // may destroy nothing now: deletion is deferred
  }

 private:
  static void OnReadableCb(evutil_socket_t, short, void* arg) noexcept {
    static_cast<Connection*>(arg)->OnReadable();
  }

  void StartReading() {
    if (reading_ || read_event_ == nullptr) return;
    event_add(read_event_.get(), nullptr);
    reading_ = true;
  }
  void StopReading() {
    if (!reading_) return;
    event_del(read_event_.get());
    reading_ = false;
  }
  size_t Buffered() const { return input_.size() - input_pos_; }
  void DiscardInput() {
    input_.clear();
    input_pos_ = 0;
  }

  void OnReadable() {
    char buffer[16 * 1024];
    const ssize_t n = ::recv(bufferevent_getfd(bev_.get()), buffer, sizeof(buffer), 0);
    if (n > 0) {
      input_.append(buffer, static_cast<size_t>(n));
      OnRead();
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    // End of input or a failed read: the socket would report it on every loop turn.
    StopReading();
    OnEvent(static_cast<short>(BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR)));
  }
  static void OnWriteCb(bufferevent*, void* arg) noexcept { static_cast<Connection*>(arg)->OnWritten(); }
  static void OnEventCb(bufferevent*, short what, void* arg) noexcept {
    static_cast<Connection*>(arg)->OnEvent(what);
  }
  static void OnResumeCb(evutil_socket_t, short, void* arg) noexcept {
    static_cast<Connection*>(arg)->OnResume();
  }

  void SetPhase(Phase phase, std::chrono::milliseconds timeout) {
    phase_ = phase;
    if (timeout.count() > 0) {
      timer_->Enable(timeout);
    } else {
      timer_->Disable();
    }
  }

  void OnRead() {
    if (phase_ == Phase::kLingering) {
      DiscardInput();
      return;
    }
    if (phase_ != Phase::kIdle && phase_ != Phase::kHead && phase_ != Phase::kBody) {
      // A request is in flight or its response is being written (streaming: reading on also
      // shows a client that leaves, which cancels the producer at once). A pipelined request
      // waits in the buffer; past a bound, stop reading until this response is done.
      if (Buffered() > kPipelinedInputBytes) StopReading();
      return;
    }
    ProcessInput();
  }

  // Feeds buffered input to the parser (which copies partial lines itself, so consumed input can
  // go at once) until a request is complete, rejected, or the input is exhausted.
  void ProcessInput() {
    while (phase_ == Phase::kIdle || phase_ == Phase::kHead || phase_ == Phase::kBody) {
      if (Buffered() == 0) {
        DiscardInput();
        return;
      }
      size_t consumed = 0;
      const Http1Parser::Event event =
          parser_.Feed(std::string_view(input_.data() + input_pos_, Buffered()), &consumed);
      input_pos_ += consumed;
      if (input_pos_ == input_.size()) {
        DiscardInput();
      } else if (input_pos_ > kPipelinedInputBytes) {
        input_.erase(0, input_pos_);
        input_pos_ = 0;
      }
      switch (event) {
        case Http1Parser::Event::kNeedMore:
          if (phase_ == Phase::kIdle && parser_.in_request()) {
            if (requests_ == 0) {
              // A fresh connection's header timeout has run since accept: re-arming it at the
              // first byte would give a slowloris client twice the budget.
              phase_ = Phase::kHead;
            } else {
              SetPhase(Phase::kHead, listener_.options_.header_timeout);
            }
          }
          break;
        case Http1Parser::Event::kHeadComplete:
          SetPhase(Phase::kBody, listener_.options_.body_timeout);
          // RFC 9110 §10.1.1: the client waits for 100 before sending the body, unless some of
          // the body is already here.
          if (parser_.expects_continue() && Buffered() == 0) {
            Send(kContinue, {}, nullptr);
          }
          break;
        case Http1Parser::Event::kComplete:
          Dispatch();
          return;
        case Http1Parser::Event::kError: {
          const Http1Error& error = parser_.error();
          listener_.Reject(error.reason);
          const int status = error.status;
          Response response = JsonError(status, CodeForStatus(status), error.message, error.reason);
          listener_.Record("", kOtherAction, status, Clock::now());
          WriteResponse(std::move(response), /*keep_alive=*/false, /*head=*/false, /*minor=*/1);
          return;
        }
      }
    }
  }

  void Dispatch() {
    const auto received = Clock::now();
    ++requests_;
    keep_alive_ = parser_.keep_alive();
    head_ = parser_.is_head_request();
    minor_ = parser_.http_minor();
    // One request at a time: pipelined bytes wait in the input buffer (OnRead bounds them).
    SetPhase(Phase::kInFlight, std::chrono::milliseconds(0));

    Request request = parser_.TakeRequest();
    if (listener_.active_requests_ >= listener_.options_.max_in_flight) {
      listener_.Reject("overloaded");
      listener_.Record("", kOtherAction, 503, received);
      WriteResponse(JsonError(503, "UNAVAILABLE", "too many requests in flight", "overloaded"),
                    keep_alive_ && !listener_.draining_, head_, minor_);
      return;
    }

    // The client's forwarding headers are not trusted: this is the edge, the peer is the client.
    HeaderMap& headers = request.headers;
    // Framing this hop consumed: the body is already de-chunked and any 100 Continue was sent.
    // Passing them on would let a later hop re-frame the body differently.
    headers.Remove({"Transfer-Encoding", "Expect", "X-Forwarded-For", "X-Forwarded-Proto",
                    "X-Forwarded-Host"});
    headers.Add("X-Forwarded-For", peer_ip_);
    headers.Add("X-Forwarded-Proto", "http");
    if (std::optional<std::string_view> host = headers.Get("Host")) {
      headers.Add("X-Forwarded-Host", std::string(*host));
    }
    request.deadline = received + EffectiveTimeout(headers, listener_.options_.request_timeout);
    // We can write any body as it comes (chunked, SSE, or until close on HTTP/1.0).
    request.stream_ok = !head_;

    FilterChain filters;
    filters.reserve(listener_.filters_.size());
    for (const auto& factory : listener_.filters_) filters.push_back(factory());
    StreamInfo info;
    info.listener = listener_.options_.name;
    start_ = received;
    chain_ = std::make_unique<FilterManager>(
        listener_.dispatcher_, std::move(info), std::move(request), std::move(filters),
        [this](absl::StatusOr<Response> result) { OnChainDone(std::move(result)); });
    ++listener_.active_requests_;
    listener_.active_gauge_->Increment();
    chain_->Start();  // may answer synchronously
  }

  void EndRequest() {
    --listener_.active_requests_;
    listener_.active_gauge_->Decrement();
  }

  void OnChainDone(absl::StatusOr<Response> result) {
    // A chain abandoned by Close() (client gone, listener torn down) may still answer before it
    // is reaped: nobody is listening.
    if (chain_ == nullptr || bev_ == nullptr) return;
    // We are inside the chain's callback stack: it is destroyed on a later loop turn.
    std::unique_ptr<FilterManager> chain = std::move(chain_);
    Response response = result.ok() ? *std::move(result) : listener_.RenderError(result.status());
    const Request& request = chain->request();
    if (response.stream != nullptr && !head_) {
      // The request stays active (drain waits for it) until the body's end.
      stream_service_ = request.service;
      stream_action_ = request.action;
      sse_ = WantsEventStream(request.headers);
      listener_.DeferDelete(std::move(chain));
      StartStream(std::move(response));
      return;
    }
    EndRequest();
    listener_.Record(request.service, request.action, response.status, start_);
    listener_.DeferDelete(std::move(chain));
    WriteResponse(std::move(response), keep_alive_ && !listener_.draining_, head_, minor_);
    listener_.MaybeFinishDrain();
  }

  // Serialises the response into the output buffer: the head (and a small body) with one
  // evbuffer_add, a large body by reference. Framing headers are always ours.
  void WriteResponse(Response response, bool keep_alive, bool head, int minor) {
    int status = response.status;
    if (status < 200 || status > 599) status = 500;  // 1xx is ours to send (100 Continue)
    const bool bodyless_status = status == 204 || status == 304;

    AppendBuffer& out = scratch_;  // reused: keeps its room across requests
    out.Clear();
    AppendStatusLine(status, &out);
    for (const auto& [name, value] : response.headers.entries()) {
      if (HeaderMap::IsHopByHopOrFraming(name) || !IsSafeHeader(name, value)) continue;
      out.AppendHeaderLine(name, value);
    }
    if (!bodyless_status) {
      // HEAD: the length a GET would have had, and no body.
      char digits[20];
      out.AppendHeaderLine("Content-Length", FormatDecimal(response.body.size(), digits));
    }
    if (!keep_alive) {
      out.Append("Connection: close\r\n");
    } else if (minor == 0) {
      out.Append("Connection: keep-alive\r\n");
    }
    out.Append("\r\n");

    const bool send_body = !head && !bodyless_status && !response.body.empty();
    std::string_view body;
    if (send_body && response.body.size() <= kInlineBodyBytes) {
      out.Append(response.body);
    } else if (send_body) {
      body = response.body;
    }
    SetPhase(keep_alive ? Phase::kWriting : Phase::kClosing, listener_.options_.idle_timeout);
    Send(out.view(), body, send_body ? &response.body : nullptr);
  }

  // Writes head and body straight to the socket when nothing is queued before them; whatever the
  // kernel does not take (or everything, behind queued output) goes to the bufferevent's output,
  // whose write event sends it and calls OnWritten. (The bufferevent's own output cannot be
  // written from here: libevent freezes its start.) An answer written whole finishes here when no
  // pipelined input waits, else on the next loop turn (OnResume), so pipelined requests answered
  // at once cannot nest. `body_owner`, when given, is the string `body` points into; a large
  // unsent rest is moved from it instead of copied.
  void Send(std::string_view head, std::string_view body, std::string* body_owner) {
    evbuffer* output = bufferevent_get_output(bev_.get());
    size_t sent = 0;
    const evutil_socket_t fd = bufferevent_getfd(bev_.get());
    if (evbuffer_get_length(output) == 0 && fd >= 0 && head.size() + body.size() > 0) {
      iovec parts[2] = {{const_cast<char*>(head.data()), head.size()},
                        {const_cast<char*>(body.data()), body.size()}};
      msghdr message{};
      message.msg_iov = parts;
      message.msg_iovlen = body.empty() ? 1 : 2;
      // MSG_NOSIGNAL: a client that reset must not kill the process. Any error (EAGAIN, a reset)
      // leaves everything to the write event, which reports a failure through OnEvent.
      const ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL);
      if (n > 0) sent = static_cast<size_t>(n);
    }
    if (sent < head.size()) {
      evbuffer_add(output, head.data() + sent, head.size() - sent);
      sent = 0;
    } else {
      sent -= head.size();
    }
    if (sent < body.size()) {
      body.remove_prefix(sent);
      if (body_owner != nullptr && body.size() > kInlineBodyBytes) {
        auto* rest = body.size() == body_owner->size() ? new std::string(std::move(*body_owner))
                                                       : new std::string(body);
        evbuffer_add_reference(output, rest->data(), rest->size(),
                               [](const void*, size_t, void* arg) { delete static_cast<std::string*>(arg); },
                               rest);
      } else {
        evbuffer_add(output, body.data(), body.size());
      }
    }
    if (evbuffer_get_length(output) > 0) {
      bufferevent_enable(bev_.get(), EV_WRITE);
    } else if (phase_ == Phase::kWriting || phase_ == Phase::kClosing) {
      // With no pipelined input, finishing here parses nothing (no nesting) and saves a loop turn.
      if (Buffered() == 0) {
        OnWritten();
      } else {
        event_active(resume_.get(), 0, 0);
      }
    }
  }

  // The whole response is out (written at once by Send): as OnWritten, one loop turn later.
  void OnResume() {
    if (bev_ == nullptr) return;
    if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) OnWritten();
  }

  // The output buffer is empty: a response (or 100 Continue) has been handed to the kernel.
  // ---- streamed responses ----------------------------------------------------------------------

  static bool WantsEventStream(const HeaderMap& headers) {
    for (const auto& [name, value] : headers.entries()) {
      if (HeaderMap::NameEquals(name, "Accept") &&
          value.find("text/event-stream") != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  void StartStream(Response response) {
    stream_ = std::move(response.stream);
    int status = response.status;
    if (status < 200 || status > 599) status = 500;
    const std::string upstream_type = response.headers.GetOr("Content-Type", "");
    // An upstream that already speaks SSE is passed through as is; anything else is wrapped into
    // `data:` events when the client asked for them.
    if (upstream_type.rfind("text/event-stream", 0) == 0) sse_ = false;
    // HTTP/1.0 has no chunked encoding: the body then ends with the connection.
    chunked_ = minor_ == 1;
    if (!chunked_) keep_alive_ = false;

    AppendBuffer& out = scratch_;
    out.Clear();
    AppendStatusLine(status, &out);
    for (const auto& [name, value] : response.headers.entries()) {
      if (HeaderMap::IsHopByHopOrFraming(name) || !IsSafeHeader(name, value)) continue;
      if (sse_ && (HeaderMap::NameEquals(name, "Content-Type") ||
                   HeaderMap::NameEquals(name, "Content-Encoding"))) {
        continue;
      }
      out.AppendHeaderLine(name, value);
    }
    if (sse_) out.Append("Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
    if (chunked_) out.Append("Transfer-Encoding: chunked\r\n");
    if (!keep_alive_ || listener_.draining_) {
      keep_alive_ = false;
      out.Append("Connection: close\r\n");
    }
    out.Append("\r\n");
    evbuffer_add(bufferevent_get_output(bev_.get()), out.view().data(), out.size());
    if (!response.body.empty()) OnChunk(std::move(response.body));

    // The write callback fires once the output drains below half the bound: time to resume.
    bufferevent_setwatermark(bev_.get(), EV_WRITE, kStreamOutputBytes / 2, 0);
    SetPhase(Phase::kStreaming, std::chrono::milliseconds(0));
    StartReading();
    bufferevent_enable(bev_.get(), EV_WRITE);
    stream_->Start(*this);
  }

  void WriteBodyPiece(std::string_view data) {
    evbuffer* output = bufferevent_get_output(bev_.get());
    if (chunked_) evbuffer_add_printf(output, "%zx\r\n", data.size());
    evbuffer_add(output, data.data(), data.size());
    if (chunked_) evbuffer_add(output, "\r\n", 2);
  }

  // BodyStream::Sink
  void OnChunk(std::string data) override {
    if (bev_ == nullptr || data.empty()) return;
    if (sse_) {
      // One event per chunk; a line break inside the chunk continues the event's data.
      std::string event;
      size_t start = 0;
      while (start <= data.size()) {
        size_t end = data.find('\n', start);
        if (end == std::string::npos) end = data.size();
        event.append("data: ").append(data, start, end - start).append("\n");
        start = end + 1;
      }
      event.append("\n");
      WriteBodyPiece(event);
    } else {
      WriteBodyPiece(data);
    }
    // A slow client: stop taking chunks while our output holds more than the bound, so the
    // producer is slowed (acks withheld, upstream socket unread) instead of memory growing.
    if (evbuffer_get_length(bufferevent_get_output(bev_.get())) > kStreamOutputBytes) {
      stream_->Pause();
    }
  }

  void OnEnd(absl::Status status) override {
    if (bev_ == nullptr) return;
    const std::string summary = status.ok() ? stream_->summary() : std::string();
    stream_.reset();
    EndRequest();
    int recorded = 200;
    if (!status.ok()) {
      Response error = listener_.RenderError(status);
      recorded = error.status;
      if (sse_) {
        // The status line is long gone: the failure travels as a last event.
        std::string event = "event: error\ndata: " + error.body + "\n\n";
        WriteBodyPiece(event);
      } else {
        // A truncated chunked body (no last chunk) is the only way to tell a plain HTTP client
        // that the body is incomplete.
        keep_alive_ = false;
        chunked_ = false;
      }
    }
    // The summary comes after the last piece: an SSE event of its own, or a chunked trailer
    // (a one-line JSON document; an unsafe value is dropped rather than sent).
    if (!summary.empty() && sse_) WriteBodyPiece("event: summary\ndata: " + summary + "\n\n");
    if (chunked_) {
      evbuffer* output = bufferevent_get_output(bev_.get());
      if (!summary.empty() && !sse_ && IsSafeHeader(headers::kStreamSummary, summary)) {
        std::string last = "0\r\n";
        last.append(headers::kStreamSummary).append(": ").append(summary).append("\r\n\r\n");
        evbuffer_add(output, last.data(), last.size());
      } else {
        evbuffer_add(output, "0\r\n\r\n", 5);
      }
    }
    listener_.Record(stream_service_, stream_action_, recorded, start_);
    bufferevent_setwatermark(bev_.get(), EV_WRITE, 0, 0);
    const bool keep_alive = keep_alive_ && !listener_.draining_;
    SetPhase(keep_alive ? Phase::kWriting : Phase::kClosing, listener_.options_.idle_timeout);
    listener_.MaybeFinishDrain();
    Send({}, {}, nullptr);
  }

  void OnWritten() {
    if (phase_ == Phase::kStreaming) {
      if (stream_ != nullptr) stream_->Resume();
      return;
    }
    bufferevent_disable(bev_.get(), EV_WRITE);  // until Send leaves output over again
    if (phase_ == Phase::kWriting) {
      if (listener_.draining_) {
        StartLingering();
        return;
      }
      SetPhase(Phase::kIdle, listener_.options_.idle_timeout);
      if (peer_closed_) {
        Close();  // the client sent its last request and half-closed; it has its answer
        return;
      }
      StartReading();  // a no-op unless OnRead stopped it
      ProcessInput();  // a pipelined request may already be buffered
    } else if (phase_ == Phase::kClosing) {
      StartLingering();
    }
  }

  void StartLingering() {
    evutil_socket_t fd = bufferevent_getfd(bev_.get());
    if (fd < 0 || ::shutdown(fd, SHUT_WR) != 0) {
      Close();
      return;
    }
    SetPhase(Phase::kLingering, kLingerTimeout);
    DiscardInput();
    StartReading();
  }

  void OnEvent(short what) {
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) return;
    // The client stopped sending (EOF, or a read error) while its request is in the chain or its
    // response is being written: finish that request, as when reading was off in those phases,
    // and close after it. A failed write, a half-received request or an idle connection closes
    // now; a streamed body's client leaving cancels its producer (Close drops the stream).
    const bool reading_side = (what & BEV_EVENT_READING) != 0;
    if (reading_side &&
        (phase_ == Phase::kInFlight || phase_ == Phase::kWriting || phase_ == Phase::kClosing)) {
      peer_closed_ = true;
      keep_alive_ = false;
      return;
    }
    Close();
  }

  void OnTimeout() {
    switch (phase_) {
      case Phase::kHead:
      case Phase::kBody: {
        listener_.Reject("timeout");
        listener_.Record("", kOtherAction, 408, Clock::now());
        const char* what = phase_ == Phase::kHead ? "request head not received in time"
                                                  : "request body not received in time";
        WriteResponse(JsonError(408, "DEADLINE_EXCEEDED", what, "timeout"), false, false, 1);
        return;
      }
      case Phase::kInFlight:
      case Phase::kStreaming:
        return;  // not armed
      default:
        Close();  // idle, or a client that does not read its response
        return;
    }
  }

  HttpListener& listener_;
  BufferEventPtr bev_;
  const std::string peer_ip_;
  Http1Parser parser_;
  event::TimerPtr timer_;
  // Our own read interest on the socket (the bufferevent only writes), and what it read.
  CHandle<::event, event_free> read_event_;
  bool reading_ = false;
  std::string input_;
  size_t input_pos_ = 0;
  // Activated by Send when a response went out whole (see OnResume).
  CHandle<::event, event_free> resume_;
  Phase phase_ = Phase::kIdle;
  // The client half-closed (or its reads failed) while a request was in flight.
  bool peer_closed_ = false;
  uint64_t requests_ = 0;  // requests parsed on this connection
  AppendBuffer scratch_;

  // The request in flight.
  std::unique_ptr<FilterManager> chain_;
  // The body being streamed (phase kStreaming); dropping it cancels the producer.
  BodyStreamPtr stream_;
  std::string stream_service_, stream_action_;
  bool sse_ = false;
  bool chunked_ = true;
  Clock::time_point start_;
  bool keep_alive_ = true;
  bool head_ = false;
  int minor_ = 1;
};

// ---------------------------------------------------------------------------------------------

HttpListener::HttpListener(Options options, event::Dispatcher& dispatcher, stats::Metrics& metrics,
                           std::vector<FilterFactory> filters)
    : options_(std::move(options)),
      limits_{options_.max_header_bytes, options_.max_headers, options_.max_body_bytes,
              options_.allow_underscores_in_header_names},
      dispatcher_(dispatcher),
      metrics_(metrics),
      filters_(std::move(filters)),
      accept_retry_(dispatcher.CreateTimer([this] {
        if (listener_ != nullptr && accept_paused_ &&
            connections_.size() < options_.max_connections) {
          accept_paused_ = false;
          evconnlistener_enable(listener_.get());
        }
      })),
      reaper_(dispatcher.CreateSchedulableCallback([this] { Reap(); })),
      active_gauge_(&metrics.requests_active.Add({{"listener", options_.name}})) {}

absl::StatusOr<std::unique_ptr<HttpListener>> HttpListener::Create(
    Options options, event::Dispatcher& dispatcher, stats::Metrics& metrics,
    std::vector<FilterFactory> filters) {
  const std::string& name = options.name;
  if (filters.empty()) return absl::InvalidArgumentError("listener " + name + ": no terminal filter");
  if (options.max_header_bytes < 64) {
    return absl::InvalidArgumentError("listener " + name + ": max_header_bytes below 64");
  }
  if (options.max_headers == 0 || options.max_connections == 0 || options.max_in_flight == 0) {
    return absl::InvalidArgumentError(
        "listener " + name + ": max_headers, max_connections and max_in_flight must be positive");
  }
  if (options.header_timeout.count() <= 0 || options.idle_timeout.count() <= 0 ||
      options.body_timeout.count() <= 0 || options.request_timeout.count() <= 0) {
    return absl::InvalidArgumentError("listener " + name + ": timeouts must be positive");
  }
  return std::unique_ptr<HttpListener>(
      new HttpListener(std::move(options), dispatcher, metrics, std::move(filters)));
}

HttpListener::~HttpListener() {
  on_drained_ = nullptr;  // the owner is tearing us down; it is not waiting for a callback
  listener_.reset();
  // Connections close without callbacks into us beyond Remove(); collect first, since Close()
  // edits the map.
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& [ptr, owned] : connections_) open.push_back(ptr);
  for (Connection* c : open) c->Close();
  Reap();
}

absl::Status HttpListener::Start() {
  assert(dispatcher_.IsThreadSafe());
  if (listener_ != nullptr) return absl::FailedPreconditionError("listener already started");
  EnsureFileLimit(options_.name, options_.max_connections);
  absl::StatusOr<int> fd = ListenOn(options_.address);
  if (!fd.ok()) return fd.status();
  port_ = BoundPort(*fd);
  // From here libevent owns the fd (LEV_OPT_CLOSE_ON_FREE).
  listener_.reset(evconnlistener_new(dispatcher_.base(), &HttpListener::OnAccept, this,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, *fd));
  if (listener_ == nullptr) {
    ::close(*fd);
    return absl::InternalError("http listener: evconnlistener_new failed");
  }
  evconnlistener_set_error_cb(listener_.get(), &HttpListener::OnAcceptError);
  log::Info("http listener listening",
            {{"listener", options_.name},
             {"address", options_.address.host + ":" + std::to_string(port_)}});
  return absl::OkStatus();
}

bool HttpListener::Ready(std::string* why) const {
  if (draining_) {
    *why = "draining";
    return false;
  }
  if (listener_ == nullptr) {
    *why = "not listening";
    return false;
  }
  return true;
}

void HttpListener::OnAccept(evconnlistener*, evutil_socket_t fd, sockaddr* addr, int,
                            void* arg) noexcept {
  static_cast<HttpListener*>(arg)->Accept(fd, addr);
}

void HttpListener::OnAcceptError(evconnlistener*, void* arg) noexcept {
  auto* self = static_cast<HttpListener*>(arg);
  const int err = EVUTIL_SOCKET_ERROR();
  log::Warn("http listener accept failed; pausing",
            {{"listener", self->options_.name}, {"error", evutil_socket_error_to_string(err)}});
  if (self->listener_ != nullptr) {
    evconnlistener_disable(self->listener_.get());
    self->accept_paused_ = true;
    self->accept_retry_->Enable(kAcceptRetry);
  }
}

void HttpListener::Accept(evutil_socket_t fd, const sockaddr* addr) {
  if (draining_) {
    evutil_closesocket(fd);
    return;
  }
  // Responses are written whole; Nagle would only delay them behind the client's delayed ACK.
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  BufferEventPtr bev(bufferevent_socket_new(dispatcher_.base(), fd, BEV_OPT_CLOSE_ON_FREE));
  if (bev == nullptr) {
    evutil_closesocket(fd);
    return;
  }
  auto connection = std::make_unique<Connection>(*this, std::move(bev), PeerIp(addr));
  Connection* raw = connection.get();
  connections_.emplace(raw, std::move(connection));
  raw->Start();
  if (connections_.size() >= options_.max_connections && listener_ != nullptr) {
    evconnlistener_disable(listener_.get());
    accept_paused_ = true;
  }
}

void HttpListener::Remove(Connection* connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  dead_connections_.push_back(std::move(it->second));
  connections_.erase(it);
  reaper_->Schedule();
  if (accept_paused_ && !accept_retry_->Enabled() && listener_ != nullptr &&
      connections_.size() < options_.max_connections) {
    accept_paused_ = false;
    evconnlistener_enable(listener_.get());
  }
  MaybeFinishDrain();
}

void HttpListener::DeferDelete(std::unique_ptr<FilterManager> chain) {
  dead_chains_.push_back(std::move(chain));
  reaper_->Schedule();
}

void HttpListener::Reap() {
  // Chains first: a chain's filters may refer to nothing of the connection, but keep the order
  // stable anyway (newest work last).
  // Swapped with a kept vector rather than moved out: dead_chains_ keeps its capacity, so the
  // next request's DeferDelete does not allocate. (A chain's destructor may defer more.)
  reaping_chains_.swap(dead_chains_);
  reaping_chains_.clear();
  std::vector<std::unique_ptr<Connection>> dead = std::move(dead_connections_);
  dead_connections_.clear();
  dead.clear();
}

void HttpListener::Drain(absl::AnyInvocable<void()> done) {
  on_drained_ = std::move(done);
  draining_ = true;
  // Closing the socket refuses new clients at once (a load balancer retries elsewhere) instead of
  // leaving them in the backlog until we exit.
  listener_.reset();
  accept_retry_->Disable();
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& [ptr, owned] : connections_) open.push_back(ptr);
  for (Connection* c : open) c->CloseIfIdle();
  log::Info("http listener draining", {{"listener", options_.name},
                                       {"connections", std::to_string(connections_.size())},
                                       {"active_requests", std::to_string(active_requests_)}});
  MaybeFinishDrain();
}

void HttpListener::MaybeFinishDrain() {
  if (!draining_ || !connections_.empty() || !on_drained_) return;
  auto done = std::move(on_drained_);
  on_drained_ = nullptr;
  done();
}

Response HttpListener::RenderError(const absl::Status& status) const {
  if (options_.error_response) return options_.error_response(status);
  return DefaultErrorResponse(status);
}

void HttpListener::Reject(std::string_view reason) {
  auto it = rejected_.find(reason);
  if (it == rejected_.end()) {
    prometheus::Counter* counter = &metrics_.requests_rejected_total.Add(
        {{"listener", options_.name}, {"reason", std::string(reason)}});
    it = rejected_.emplace(std::string(reason), counter).first;
  }
  it->second->Increment();
}

HttpListener::RouteStats& HttpListener::StatsFor(std::string_view service, std::string_view action) {
  auto it = route_stats_.find(std::make_pair(service, action));
  if (it != route_stats_.end()) return it->second;
  std::pair<std::string, std::string> key(service, action);
  if (route_stats_.size() >= kMaxActionLabels) key.second = kOtherAction;
  auto [slot, inserted] = route_stats_.try_emplace(key);
  if (inserted) {
    slot->second.action_label = key.second;
    slot->second.duration = &metrics_.request_duration_seconds.Add(
        {{"listener", options_.name}, {"service", key.first}, {"action", key.second}},
        stats::Metrics::LatencyBuckets());
  }
  return slot->second;
}

void HttpListener::Record(std::string_view service, std::string_view action, int status,
                          Clock::time_point start) {
  RouteStats& stats = StatsFor(service, action.empty() ? std::string_view(kOtherAction) : action);
  auto it = stats.by_status.find(status);
  if (it == stats.by_status.end()) {
    prometheus::Counter* counter = &metrics_.requests_total.Add({{"listener", options_.name},
                                                                 {"service", std::string(service)},
                                                                 {"action", stats.action_label},
                                                                 {"outcome", OutcomeFor(status)}});
    it = stats.by_status.emplace(status, counter).first;
  }
  it->second->Increment();
  stats.duration->Observe(std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace sidecar::http
