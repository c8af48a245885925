#include "sidecar/admin/healthcheck_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "sidecar/admin/socket_address.h"

namespace sidecar::admin {
namespace {

using Clock = std::chrono::steady_clock;

// Enough for the status line, the headers and a short explanatory body from /ready.
constexpr size_t kMaxResponseBytes = 8 * 1024;
constexpr size_t kMaxDetailChars = 200;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on `fd` until `deadline`. OK when ready, DEADLINE_EXCEEDED when out of time.
absl::Status WaitFor(int fd, short events, Clock::time_point deadline, absl::string_view what) {
  for (;;) {
    const Clock::duration left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) {
      return absl::DeadlineExceededError(absl::StrCat("timed out ", what));
    }
    // Round up, so a sub-millisecond remainder still waits instead of spinning with timeout 0.
    const auto timeout = std::chrono::ceil<std::chrono::milliseconds>(left);
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n > 0) return absl::OkStatus();
    if (n == 0 || errno == EINTR) continue;  // the clock check above ends the loop
    return absl::UnavailableError(absl::StrCat("poll failed ", what, ": ", std::strerror(errno)));
  }
}

absl::Status Connect(int fd, const SocketAddress& addr, Clock::time_point deadline) {
  if (::connect(fd, addr.get(), addr.length) == 0) return absl::OkStatus();
  if (errno != EINPROGRESS && errno != EINTR) {
    return absl::UnavailableError(absl::StrCat("connect failed: ", std::strerror(errno)));
  }
  absl::Status ready = WaitFor(fd, POLLOUT, deadline, "connecting");
  if (!ready.ok()) return ready;
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return absl::UnavailableError(absl::StrCat("connect failed: ", std::strerror(err)));
  return absl::OkStatus();
}

absl::Status SendAll(int fd, absl::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a peer that resets must not kill the healthcheck process with SIGPIPE.
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      absl::Status ready = WaitFor(fd, POLLOUT, deadline, "sending the request");
      if (!ready.ok()) return ready;
      continue;
    }
    return absl::UnavailableError(absl::StrCat("send failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// True once `buffer` holds a whole response: headers plus Content-Length bytes of body. Without a
// Content-Length the response ends at EOF (we ask for Connection: close).
bool ResponseComplete(absl::string_view buffer) {
  size_t end = buffer.find("\r\n\r\n");
  if (end == absl::string_view::npos) return false;
  absl::string_view head = buffer.substr(0, end);
  size_t body_bytes = buffer.size() - (end + 4);
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    absl::string_view line = head.substr(pos, eol == absl::string_view::npos ? eol : eol - pos);
    pos = eol == absl::string_view::npos ? head.size() : eol + 2;
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (!absl::EqualsIgnoreCase(line.substr(0, colon), "content-length")) continue;
    size_t length = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)), &length))
      return false;
    return body_bytes >= length;
  }
  return false;
}

// Reads until the response is complete, EOF, the size cap or the deadline. A deadline that hits
// after the status line arrived is not an error: the status is all we need.
absl::StatusOr<std::string> ReadResponse(int fd, Clock::time_point deadline) {
  std::string buffer;
  char chunk[2048];
  while (buffer.size() < kMaxResponseBytes && !ResponseComplete(buffer)) {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      absl::Status ready = WaitFor(fd, POLLIN, deadline, "waiting for the response");
      if (ready.ok()) continue;
      if (buffer.find("\r\n") != std::string::npos) break;
      return ready;
    }
    if (buffer.find("\r\n") != std::string::npos) break;  // e.g. a reset after the reply
    return absl::UnavailableError(absl::StrCat("recv failed: ", std::strerror(errno)));
  }
  return buffer;
}

struct StatusLine {
  int code = 0;
  std::string text;  // "200 OK"
};

std::optional<StatusLine> ParseStatusLine(absl::string_view response) {
  size_t eol = response.find("\r\n");
  if (eol == absl::string_view::npos) return std::nullopt;
  absl::string_view line = response.substr(0, eol);
  if (!absl::StartsWith(line, "HTTP/1.")) return std::nullopt;
  size_t space = line.find(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = line.substr(space + 1);
  int code = 0;
  if (rest.size() < 3 || !absl::SimpleAtoi(rest.substr(0, 3), &code) || code < 100 || code > 599) {
    return std::nullopt;
  }
  return StatusLine{code, std::string(absl::StripAsciiWhitespace(rest))};
}

// The start of the body on one line: /ready explains a 503 there.
std::string Detail(absl::string_view response) {
  size_t end = response.find("\r\n\r\n");
  if (end == absl::string_view::npos) return "";
  absl::string_view body = absl::StripAsciiWhitespace(response.substr(end + 4));
  std::string out;
  for (char c : body.substr(0, kMaxDetailChars)) {
    out.push_back((c == '\r' || c == '\n' || c == '\t') ? ' ' : c);
  }
  if (body.size() > kMaxDetailChars) out += "...";
  return out;
}

}  // namespace

int RunHealthcheck(const std::string& admin_address, bool ready, std::chrono::milliseconds deadline,
                   std::ostream& out) {
  const Clock::time_point start = Clock::now();
  const Clock::time_point until = start + deadline;
  const char* path = ready ? "/ready" : "/health";
  auto elapsed = [&] {
    return absl::StrCat(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count(), " ms");
  };
  auto fail = [&](absl::string_view why) {
    out << "unhealthy: GET " << path << " on " << admin_address << ": " << why << " (" << elapsed()
        << ")\n";
    return 1;
  };

  absl::StatusOr<config::HostPort> address = ParseAddress(admin_address);
  if (!address.ok()) return fail(address.status().message());
  absl::StatusOr<SocketAddress> sockaddr = ResolveLiteral(*address);
  if (!sockaddr.ok()) return fail(sockaddr.status().message());

  Fd fd(::socket(sockaddr->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail(absl::StrCat("socket: ", std::strerror(errno)));
  if (absl::Status s = Connect(fd.get(), *sockaddr, until); !s.ok()) return fail(s.message());

  // HTTP/1.0 with Connection: close, so the server ends the response by closing even without a
  // length.
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", address->ToString(),
                                           "\r\nUser-Agent: nats-sidecar-healthcheck\r\n"
                                           "Connection: close\r\n\r\n");
  if (absl::Status s = SendAll(fd.get(), request, until); !s.ok()) return fail(s.message());
  absl::StatusOr<std::string> response = ReadResponse(fd.get(), until);
  if (!response.ok()) return fail(response.status().message());
  if (response->empty()) return fail("connection closed without a response");

  std::optional<StatusLine> status = ParseStatusLine(*response);
  if (!status.has_value()) return fail("malformed HTTP status line");
  std::string detail = Detail(*response);
  if (status->code != 200) {
    return fail(detail.empty() ? status->text : absl::StrCat(status->text, ": ", detail));
  }
  out << "healthy: GET " << path << " on " << admin_address << ": " << status->text << " ("
      << elapsed() << ")\n";
  return 0;
}

}  // namespace sidecar::admin
