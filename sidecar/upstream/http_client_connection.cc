#include "sidecar/upstream/http_client_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "sidecar/http/header_chars.h"

namespace sidecar::upstream {
namespace {

// One read takes at most this much; a level-triggered read event comes back for the rest.
constexpr size_t kReadBytes = 32 * 1024;
// A chunk-size line (size plus extensions) longer than this is malformed.
constexpr size_t kMaxChunkLine = 4096;
// Parsed input is dropped from the front of the buffer once this much has piled up.
constexpr size_t kCompactBytes = 64 * 1024;

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `each` with every comma-separated element of a list-valued header, spaces trimmed.
template <typename Each>
void ForEachListElement(std::string_view value, Each each) {
  while (true) {
    const size_t comma = value.find(',');
    each(TrimSpace(value.substr(0, comma)));
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

// The response's framing and connection headers, noted while its head is parsed, so that no
// header is looked up by name afterwards.
struct FramingHeaders {
  bool connection_close = false;
  bool connection_keep_alive = false;
  std::optional<size_t> transfer_encoding;  // index of the first Transfer-Encoding
  std::optional<size_t> content_type;       // index of the first Content-Type
  bool has_content_length = false;
  // Every Content-Length value (repeated, or a list) must be the same number.
  std::optional<uint64_t> content_length;
  bool content_length_invalid = false;

  void Note(std::string_view name, std::string_view value, size_t index) {
    switch (name.size()) {  // by length first: most headers are none of these
      case 10:
        if (!http::HeaderMap::NameEquals(name, "Connection")) return;
        ForEachListElement(value, [this](std::string_view token) {
          if (http::HeaderMap::NameEquals(token, "close")) connection_close = true;
          if (http::HeaderMap::NameEquals(token, "keep-alive")) connection_keep_alive = true;
        });
        return;
      case 12:
        if (!content_type && http::HeaderMap::NameEquals(name, "Content-Type")) content_type = index;
        return;
      case 14:
        if (!http::HeaderMap::NameEquals(name, "Content-Length")) return;
        has_content_length = true;
        ForEachListElement(value, [this](std::string_view digits) { NoteLength(digits); });
        return;
      case 17:
        if (!transfer_encoding && http::HeaderMap::NameEquals(name, "Transfer-Encoding")) {
          transfer_encoding = index;
        }
        return;
    }
  }

  void NoteLength(std::string_view digits) {
    // At most 18 digits, so the value fits in uint64_t without an overflow check.
    bool valid = !digits.empty() && digits.size() <= 18;
    uint64_t n = 0;
    for (size_t i = 0; valid && i < digits.size(); ++i) {
      valid = digits[i] >= '0' && digits[i] <= '9';
      n = n * 10 + static_cast<uint64_t>(digits[i] - '0');
    }
    if (!valid || (content_length.has_value() && *content_length != n)) {
      content_length_invalid = true;
      return;
    }
    content_length = n;
  }
};

bool ParseHexSize(std::string_view digits, uint64_t* out) {
  if (digits.empty() || digits.size() > 15) return false;
  uint64_t value = 0;
  for (char c : digits) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    value = value * 16 + static_cast<uint64_t>(d);
  }
  *out = value;
  return true;
}

constexpr char kBadHead[] = "malformed or oversized response status line or headers";
constexpr char kBadBody[] = "response body too large or malformed chunked encoding";
constexpr char kCutShort[] = "upstream closed the connection before a full response";


}  // namespace

absl::StatusOr<std::unique_ptr<HttpClientConnection>> HttpClientConnection::Create(
    event::Dispatcher& dispatcher, const ConnectionOptions& options, Callbacks& callbacks,
    ConnectionStats stats) {
  std::unique_ptr<HttpClientConnection> c(
      new HttpClientConnection(dispatcher, options, callbacks, stats));
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (options.family != AF_INET6 &&
      inet_pton(AF_INET, options.address.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(options.port);
    std::memcpy(&c->peer_, &v4, sizeof(v4));
    c->peer_len_ = sizeof(v4);
  } else if (options.family != AF_INET &&
             inet_pton(AF_INET6, options.address.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(options.port);
    std::memcpy(&c->peer_, &v6, sizeof(v6));
    c->peer_len_ = sizeof(v6);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("upstream address '", options.address, "' is not a numeric IP address"));
  }
  HttpClientConnection* raw = c.get();
  c->connect_timer_ = dispatcher.CreateTimer([raw] { raw->HandleConnectTimeout(); });
  c->io_timer_ = dispatcher.CreateTimer([raw] { raw->HandleIoTimeout(); });
  return c;
}

HttpClientConnection::HttpClientConnection(event::Dispatcher& dispatcher,
                                           const ConnectionOptions& options, Callbacks& callbacks,
                                           ConnectionStats stats)
    : dispatcher_(dispatcher), options_(options), callbacks_(&callbacks), stats_(stats) {}

HttpClientConnection::~HttpClientConnection() {
  Detach();
  CloseSocket();
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
  busy_ = false;
  if (connect_timer_ != nullptr) connect_timer_->Disable();
  CloseSocket();
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

std::string HttpClientConnection::Where() const {
  return absl::StrCat(options_.address, ":", options_.port);
}

void HttpClientConnection::CloseSocket() {
  if (fd_ < 0) return;
  // Deleting an event from inside its own callback is allowed; the socket closes after.
  if (read_event_ != nullptr) event_del(read_event_.get());
  if (write_event_ != nullptr) event_del(write_event_.get());
  write_armed_ = false;
  ::close(fd_);
  fd_ = -1;
  connecting_ = false;
  if (io_timer_ != nullptr) io_timer_->Disable();
  MarkClosed();
}

absl::Status HttpClientConnection::Start(const WireRequest& wire, bool stream_ok) {
  if (busy_ || !usable()) return absl::FailedPreconditionError("connection busy or unusable");
  if (wire.head().empty()) return absl::InvalidArgumentError("empty request: nothing to send");
  out_sent_ = 0;
  const std::string& body = wire.body();
  out_.Clear();
  out_.Append(wire.head());
  if (!body.empty() && !wire.has_content_length()) {
    char digits[20];
    out_.AppendHeaderLine("Content-Length", FormatDecimal(body.size(), digits));
  }
  out_.Append("\r\n");
  out_.Append(body);

  stream_ok_ = stream_ok;
  streaming_ = false;
  method_ = wire.method();
  state_ = ReadState::kHead;
  response_ = http::Response();
  remaining_ = 0;
  body_bytes_ = 0;
  trailer_bytes_ = 0;
  keep_alive_ = true;
  sync_failure_.reset();
  // A kept-alive connection was up before this request; a new one must prove it.
  established_ = open_;
  busy_ = true;
  in_start_ = true;
  if (!open_) {
    absl::Status connected = Connect();
    if (!connected.ok()) Finish(std::move(connected));
  } else {
    WriteOut();
    if (busy_) io_timer_->Enable(options_.io_timeout);
  }
  in_start_ = false;
  if (sync_failure_.has_value()) {
    absl::Status failure = std::move(*sync_failure_);
    sync_failure_.reset();
    return failure;
  }
  return absl::OkStatus();
}

absl::Status HttpClientConnection::Connect() {
  const int fd = ::socket(peer_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return UpstreamFailure(FailureKind::kConnectFailure,
                           absl::StrCat("socket for ", Where(), ": ", std::strerror(errno)));
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&peer_), peer_len_) != 0 &&
      errno != EINPROGRESS) {
    const int error = errno;
    ::close(fd);
    return UpstreamFailure(FailureKind::kConnectFailure,
                           absl::StrCat("connect to ", Where(), " failed: ", std::strerror(error)));
  }
  fd_ = fd;
  MarkOpen();
  read_event_.reset(event_new(dispatcher_.base(), fd, EV_READ | EV_PERSIST,
                              &HttpClientConnection::OnSocketEvent, this));
  write_event_.reset(event_new(dispatcher_.base(), fd, EV_WRITE | EV_PERSIST,
                               &HttpClientConnection::OnSocketEvent, this));
  if (read_event_ == nullptr || write_event_ == nullptr) {
    CloseSocket();
    return absl::ResourceExhaustedError("event_new failed");
  }
  // Writable means connected (or failed: SO_ERROR tells which).
  connecting_ = true;
  reading_paused_ = false;
  event_add(write_event_.get(), nullptr);
  write_armed_ = true;
  connect_timer_->Enable(options_.connect_timeout);
  return absl::OkStatus();
}

void HttpClientConnection::OnSocketEvent(evutil_socket_t, short what, void* arg) noexcept {
  auto* self = static_cast<HttpClientConnection*>(arg);
  if (what & EV_WRITE) {
    if (self->connecting_) {
      self->OnConnected();
    } else {
      self->WriteOut();
      if (self->busy_) self->io_timer_->Enable(self->options_.io_timeout);
    }
  } else if (what & EV_READ) {
    self->OnReadable();
  }
}

void HttpClientConnection::OnConnected() {
  connecting_ = false;
  connect_timer_->Disable();
  int error = 0;
  socklen_t len = sizeof(error);
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error != 0) {
    Fail(FailureKind::kConnectFailure,
         absl::StrCat("connect to ", Where(), " failed (", std::strerror(error), ")"));
    return;
  }
  established_ = true;
  // Reading stays on for the connection's life: it sees the response, and the peer closing an
  // idle connection.
  event_add(read_event_.get(), nullptr);
  if (!busy_) {
    event_del(write_event_.get());
    write_armed_ = false;
    return;
  }
  io_timer_->Enable(options_.io_timeout);
  WriteOut();
}

void HttpClientConnection::WriteOut() {
  while (out_sent_ < out_.size()) {
    const ssize_t n =
        ::send(fd_, out_.view().data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      event_add(write_event_.get(), nullptr);
      write_armed_ = true;
      return;
    }
    Fail(established_ ? FailureKind::kReset : FailureKind::kConnectFailure,
         absl::StrCat(kCutShort, " (", std::strerror(errno), ")"));
    return;
  }
  // Only when armed: event_del takes the base's lock even when there is nothing to delete.
  if (write_armed_) {
    event_del(write_event_.get());
    write_armed_ = false;
  }
  out_.Clear();
  out_sent_ = 0;
}

void HttpClientConnection::OnReadable() {
  char buffer[kReadBytes];
  const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (!busy_) {
    // Idle: the peer closed, reset, or sent bytes nobody asked for. Either way it is done.
    usable_ = false;
    CloseSocket();
    if (callbacks_ != nullptr) callbacks_->OnIdleClose(*this);
    return;
  }
  if (n > 0) {
    in_.append(buffer, static_cast<size_t>(n));
    if (!reading_paused_) io_timer_->Enable(options_.io_timeout);
    Parse();
    return;
  }
  // End of stream (or a reset) in the middle of a response.
  if (state_ == ReadState::kUntilClose) {
    keep_alive_ = false;
    FinishResponse();
    return;
  }
  Fail(established_ ? FailureKind::kReset : FailureKind::kConnectFailure,
       n == 0 ? std::string(kCutShort) : absl::StrCat(kCutShort, " (", std::strerror(errno), ")"));
}

void HttpClientConnection::Parse() {
  while (busy_ && callbacks_ != nullptr) {
    const std::string_view data(in_.data() + in_pos_, in_.size() - in_pos_);
    switch (state_) {
      case ReadState::kHead: {
        const size_t end = data.find("\r\n\r\n");
        const auto limit = static_cast<size_t>(options_.max_response_headers_bytes);
        if (end == std::string_view::npos) {
          if (data.size() > limit) Fail(FailureKind::kProtocolError, kBadHead);
          return;
        }
        if (end + 4 > limit) {
          Fail(FailureKind::kProtocolError, kBadHead);
          return;
        }
        in_pos_ += end + 4;
        if (!ParseHead(data.substr(0, end))) return;
        break;
      }
      case ReadState::kFixedBody:
      case ReadState::kChunkData: {
        if (data.empty()) return;
        const size_t take = static_cast<size_t>(std::min<uint64_t>(data.size(), remaining_));
        in_pos_ += take;
        remaining_ -= take;
        DeliverBody(data.substr(0, take));
        if (!busy_ || callbacks_ == nullptr) return;
        if (remaining_ == 0) {
          if (state_ == ReadState::kFixedBody) {
            FinishResponse();
            return;
          }
          state_ = ReadState::kChunkDataEnd;
        }
        break;
      }
      case ReadState::kChunkDataEnd: {
        if (data.size() < 2) return;
        if (data.substr(0, 2) != "\r\n") {
          Fail(FailureKind::kProtocolError, kBadBody);
          return;
        }
        in_pos_ += 2;
        state_ = ReadState::kChunkSize;
        break;
      }
      case ReadState::kChunkSize: {
        const size_t eol = data.find("\r\n");
        if (eol == std::string_view::npos) {
          if (data.size() > kMaxChunkLine) Fail(FailureKind::kProtocolError, kBadBody);
          return;
        }
        std::string_view line = data.substr(0, eol);
        line = TrimSpace(line.substr(0, line.find(';')));  // chunk extensions are ignored
        uint64_t size = 0;
        if (eol > kMaxChunkLine || !ParseHexSize(line, &size)) {
          Fail(FailureKind::kProtocolError, kBadBody);
          return;
        }
        in_pos_ += eol + 2;
        if (size == 0) {
          state_ = ReadState::kTrailers;
          break;
        }
        if (!streaming_ &&
            body_bytes_ + size > static_cast<uint64_t>(options_.max_response_body_bytes)) {
          Fail(FailureKind::kProtocolError, kBadBody);
          return;
        }
        remaining_ = size;
        state_ = ReadState::kChunkData;
        break;
      }
      case ReadState::kTrailers: {
        // Trailer fields are read and dropped (nothing downstream asks for them).
        const size_t eol = data.find("\r\n");
        const auto limit = static_cast<size_t>(options_.max_response_headers_bytes);
        if (eol == std::string_view::npos) {
          if (trailer_bytes_ + data.size() > limit) Fail(FailureKind::kProtocolError, kBadHead);
          return;
        }
        in_pos_ += eol + 2;
        if (eol == 0) {
          FinishResponse();
          return;
        }
        trailer_bytes_ += eol + 2;
        if (trailer_bytes_ > limit) {
          Fail(FailureKind::kProtocolError, kBadHead);
          return;
        }
        break;
      }
      case ReadState::kUntilClose: {
        if (data.empty()) return;
        in_pos_ += data.size();
        DeliverBody(data);
        if (busy_ && in_pos_ == in_.size()) {
          in_.clear();
          in_pos_ = 0;
        }
        return;
      }
    }
    if (in_pos_ == in_.size()) {
      in_.clear();
      in_pos_ = 0;
    } else if (in_pos_ > kCompactBytes) {
      in_.erase(0, in_pos_);
      in_pos_ = 0;
    }
  }
}

bool HttpClientConnection::ParseHead(std::string_view head) {
  const size_t line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  // "HTTP/1.x NNN[ reason]"
  const auto digit = [&status_line](size_t i) {
    return absl::ascii_isdigit(static_cast<unsigned char>(status_line[i]));
  };
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || !digit(7) ||
      status_line[8] != ' ' || !digit(9) || !digit(10) || !digit(11) ||
      (status_line.size() > 12 && status_line[12] != ' ') || status_line[9] == '0') {
    Fail(FailureKind::kProtocolError, kBadHead);
    return false;
  }
  // Three digits, the first not 0: 100-999.
  const int status =
      (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  const int minor = status_line[7] - '0';
  http::Response response;
  response.status = status;
  FramingHeaders framing;
  if (line_end != std::string_view::npos) {
    std::string_view rest = head.substr(line_end + 2);
    for (bool more = true; more;) {
      // One header line per turn, up to the next CRLF; the head itself ends without one.
      const size_t crlf = rest.find("\r\n");
      const std::string_view line = rest.substr(0, crlf);
      more = crlf != std::string_view::npos;
      if (more) rest.remove_prefix(crlf + 2);
      const size_t colon = line.find(':');
      // An obs-fold continuation line (leading space) or a line without a name is refused.
      if (colon == std::string_view::npos || !http::IsToken(line.substr(0, colon)) ||
          http::HasLineBreakOrNul(line.substr(colon + 1))) {
        Fail(FailureKind::kProtocolError, kBadHead);
        return false;
      }
      const std::string_view name = line.substr(0, colon);
      const std::string_view value = TrimSpace(line.substr(colon + 1));
      framing.Note(name, value, response.headers.size());
      response.headers.Add(std::string(name), std::string(value));
    }
  }
  if (status < 200) {
    if (status == 101) {  // nobody asked to switch protocols
      Fail(FailureKind::kProtocolError, "unexpected 101 Switching Protocols");
      return false;
    }
    return true;  // 100 Continue and other interim answers: the final one follows
  }
  keep_alive_ = minor >= 1 ? !framing.connection_close : framing.connection_keep_alive;
  const bool no_body = method_ == EVHTTP_REQ_HEAD || status == 204 || status == 304;
  bool chunked = false;
  if (no_body) {
    response_ = std::move(response);
    FinishResponse();
    return false;
  }
  if (framing.transfer_encoding.has_value()) {
    // Both framings at once is how responses are split (RFC 9112 §6.3): refuse.
    if (framing.has_content_length) {
      Fail(FailureKind::kProtocolError, "response has both Content-Length and Transfer-Encoding");
      return false;
    }
    const std::string_view encoding = response.headers.entries()[*framing.transfer_encoding].second;
    const size_t comma = encoding.rfind(',');
    const std::string_view last =
        TrimSpace(comma == std::string_view::npos ? encoding : encoding.substr(comma + 1));
    chunked = http::HeaderMap::NameEquals(last, "chunked");
    if (chunked) {
      state_ = ReadState::kChunkSize;
    } else {
      state_ = ReadState::kUntilClose;
      keep_alive_ = false;
    }
  } else if (framing.has_content_length) {
    if (framing.content_length_invalid) {
      Fail(FailureKind::kProtocolError, "invalid Content-Length in the response");
      return false;
    }
    remaining_ = framing.content_length.value_or(0);
    state_ = ReadState::kFixedBody;
  } else {
    state_ = ReadState::kUntilClose;  // the body ends when the server closes
    keep_alive_ = false;
  }

  // Streaming: a 2xx chunked or event-stream body goes to the caller as it is read.
  const bool event_stream =
      framing.content_type.has_value() &&
      std::string_view(response.headers.entries()[*framing.content_type].second).substr(0, 17) ==
          "text/event-stream";
  if (stream_ok_ && status >= 200 && status <= 299 && (chunked || event_stream)) {
    streaming_ = true;
    callbacks_->OnStreamHead(*this, std::move(response));
    response_ = http::Response();
    response_.status = status;
    if (!busy_ || callbacks_ == nullptr) return false;
  } else {
    if (state_ == ReadState::kFixedBody &&
        remaining_ > static_cast<uint64_t>(options_.max_response_body_bytes)) {
      Fail(FailureKind::kProtocolError, kBadBody);
      return false;
    }
    response_ = std::move(response);
  }
  if (state_ == ReadState::kFixedBody && remaining_ == 0) {
    FinishResponse();
    return false;
  }
  return true;
}

void HttpClientConnection::DeliverBody(std::string_view data) {
  if (data.empty()) return;
  if (streaming_) {
    callbacks_->OnBodyChunk(*this, std::string(data));
    return;
  }
  body_bytes_ += data.size();
  if (body_bytes_ > static_cast<uint64_t>(options_.max_response_body_bytes)) {
    Fail(FailureKind::kProtocolError, kBadBody);
    return;
  }
  response_.body.append(data);
}

void HttpClientConnection::FinishResponse() {
  // Bytes after the response (we never pipeline) mean the two sides disagree on framing.
  if (!keep_alive_ || in_pos_ < in_.size()) usable_ = false;
  in_.clear();
  in_pos_ = 0;
  if (!usable_) CloseSocket();
  Finish(std::move(response_));
}

void HttpClientConnection::Fail(FailureKind kind, std::string_view detail) {
  Finish(UpstreamFailure(kind, detail));
}

void HttpClientConnection::HandleConnectTimeout() {
  if (!busy_ || callbacks_ == nullptr || !connecting_) return;
  Fail(FailureKind::kConnectFailure,
       absl::StrCat("connect to ", Where(), " timed out after ", options_.connect_timeout.count(),
                    " ms"));
}

void HttpClientConnection::HandleIoTimeout() {
  if (busy_ && callbacks_ != nullptr) {
    if (established_) {
      Fail(FailureKind::kTimeout, "upstream inactivity timeout");
    } else {
      Fail(FailureKind::kConnectFailure, absl::StrCat("connect to ", Where(), " timed out"));
    }
    return;
  }
  if (fd_ < 0) return;
  // A kept-alive connection idle for io_timeout is closed by us.
  usable_ = false;
  CloseSocket();
  if (callbacks_ != nullptr) callbacks_->OnIdleClose(*this);
}

void HttpClientConnection::PauseReading() {
  if (!busy_ || fd_ < 0 || reading_paused_) return;
  reading_paused_ = true;
  if (!connecting_) event_del(read_event_.get());
  // A paused body waits for its consumer, not for the upstream: no inactivity timeout.
  io_timer_->Disable();
}

void HttpClientConnection::ResumeReading() {
  if (!reading_paused_) return;
  reading_paused_ = false;
  if (fd_ < 0 || !busy_) return;
  if (!connecting_) event_add(read_event_.get(), nullptr);
  io_timer_->Enable(options_.io_timeout);
}

void HttpClientConnection::Finish(absl::StatusOr<http::Response> result) {
  busy_ = false;
  connect_timer_->Disable();
  if (!result.ok()) {
    usable_ = false;
    CloseSocket();
  } else if (fd_ >= 0) {
    if (reading_paused_) {
      reading_paused_ = false;
      event_add(read_event_.get(), nullptr);  // close detection while idle
    }
    io_timer_->Enable(options_.io_timeout);  // now the idle timeout
  }
  if (in_start_) {
    // Found inside Start(): returned from it instead, so no callback runs inline from the
    // caller's Send().
    if (!result.ok()) sync_failure_ = result.status();
    return;
  }
  if (callbacks_ != nullptr) callbacks_->OnComplete(*this, std::move(result));
}

}  // namespace sidecar::upstream
