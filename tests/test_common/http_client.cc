#include "tests/test_common/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/test_common/net.h"

namespace sidecar::test_common {
namespace {

enum class ParseResult { kNeedMore, kDone };

absl::Status ErrnoStatus(absl::string_view what, int err) {
  std::string text = absl::StrCat(what, ": ", std::string(strerror(err)));
  if (err == ECONNREFUSED || err == ECONNRESET || err == EPIPE) {
    return absl::UnavailableError(text);
  }
  return absl::InternalError(text);
}

int RemainingMs(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
}

// Waits until `fd` is ready for `events`; kDeadlineExceeded when the deadline passes.
absl::Status PollFor(int fd, short events, absl::Time deadline, absl::string_view what) {
  for (;;) {
    struct pollfd pfd = {fd, events, 0};
    int rc = poll(&pfd, 1, RemainingMs(deadline));
    if (rc > 0) return absl::OkStatus();
    if (rc == 0) return absl::DeadlineExceededError(absl::StrCat("HTTP client: timed out ", what));
    if (errno != EINTR) return ErrnoStatus("poll", errno);
  }
}

absl::StatusOr<sockaddr_in> ParseAddress(absl::string_view address) {
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad address \"", address, "\""));
  }
  std::string host(address.substr(0, colon));
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_in addr;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad IPv4 host \"", host, "\""));
  }
  return addr;
}

// Decodes a complete chunked body from `data`; kNeedMore while it is incomplete.
absl::StatusOr<ParseResult> DecodeChunked(absl::string_view data, std::string* body,
                                          HttpHeaders* trailers) {
  body->clear();
  trailers->clear();
  size_t pos = 0;
  for (;;) {
    size_t line_end = data.find("\r\n", pos);
    if (line_end == absl::string_view::npos) return ParseResult::kNeedMore;
    absl::string_view size_text = data.substr(pos, line_end - pos);
    size_text = size_text.substr(0, size_text.find(';'));  // chunk extensions
    size_t size = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_text), &size)) {
      return absl::InternalError(absl::StrCat("bad chunk size \"", size_text, "\""));
    }
    pos = line_end + 2;
    if (size == 0) {
      // Trailer fields, then an empty line.
      for (;;) {
        const size_t end = data.find("\r\n", pos);
        if (end == absl::string_view::npos) return ParseResult::kNeedMore;
        if (end == pos) return ParseResult::kDone;
        absl::string_view field = data.substr(pos, end - pos);
        const size_t colon = field.find(':');
        if (colon == absl::string_view::npos) {
          return absl::InternalError(absl::StrCat("bad trailer line \"", field, "\""));
        }
        trailers->emplace_back(absl::AsciiStrToLower(field.substr(0, colon)),
                               std::string(absl::StripAsciiWhitespace(field.substr(colon + 1))));
        pos = end + 2;
      }
    }
    if (data.size() < pos + size + 2) return ParseResult::kNeedMore;
    body->append(data.data() + pos, size);
    pos += size + 2;
  }
}

// Parses what has arrived so far. With `eof`, a body without framing ends here.
absl::StatusOr<ParseResult> TryParse(const std::string& data, bool eof, bool head_request,
                                     HttpResponse* response) {
  size_t head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos) return ParseResult::kNeedMore;
  absl::string_view head(data.data(), head_end);
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  // Status line: HTTP/1.1 200 OK
  std::vector<absl::string_view> status_parts = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status_parts.size() < 2 || !absl::StartsWith(status_parts[0], "HTTP/") ||
      !absl::SimpleAtoi(status_parts[1], &response->status)) {
    return absl::InternalError(absl::StrCat("bad status line \"", lines[0], "\""));
  }
  response->reason = status_parts.size() > 2 ? std::string(status_parts[2]) : "";
  response->headers.clear();
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) {
      return absl::InternalError(absl::StrCat("bad header line \"", lines[i], "\""));
    }
    response->headers.emplace_back(
        absl::AsciiStrToLower(lines[i].substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  absl::string_view rest(data.data() + head_end + 4, data.size() - head_end - 4);
  if (head_request || response->status / 100 == 1 || response->status == 204 ||
      response->status == 304) {
    response->body.clear();
    return ParseResult::kDone;
  }
  if (absl::StrContains(absl::AsciiStrToLower(response->Header("transfer-encoding")), "chunked")) {
    auto result = DecodeChunked(rest, &response->body, &response->trailers);
    if (result.ok() && *result == ParseResult::kNeedMore && eof) {
      return absl::UnavailableError("connection closed inside a chunked body");
    }
    return result;
  }
  if (response->HasHeader("content-length")) {
    size_t length = 0;
    if (!absl::SimpleAtoi(response->Header("content-length"), &length)) {
      return absl::InternalError("bad Content-Length");
    }
    if (rest.size() < length) {
      if (eof) return absl::UnavailableError("connection closed before the whole body arrived");
      return ParseResult::kNeedMore;
    }
    response->body = std::string(rest.substr(0, length));
    return ParseResult::kDone;
  }
  if (!eof) return ParseResult::kNeedMore;
  response->body = std::string(rest);
  return ParseResult::kDone;
}

}  // namespace

std::string HttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

bool HttpResponse::HasHeader(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return true;
  }
  return false;
}

absl::StatusOr<HttpResponse> HttpRequest(absl::string_view address, absl::string_view method,
                                         absl::string_view path, const HttpHeaders& headers,
                                         absl::string_view body, absl::Time deadline) {
  auto addr = ParseAddress(address);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    if (errno != EINPROGRESS) return ErrnoStatus(absl::StrCat("connect ", address), errno);
    if (absl::Status s = PollFor(fd.get(), POLLOUT, deadline, "connecting"); !s.ok()) return s;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return ErrnoStatus(absl::StrCat("connect ", address), err);
  }

  auto has = [&headers](absl::string_view name) {
    return std::any_of(headers.begin(), headers.end(),
                       [name](const auto& h) { return absl::EqualsIgnoreCase(h.first, name); });
  };
  std::string request = absl::StrCat(method, " ", path, " HTTP/1.1\r\n");
  if (!has("host")) absl::StrAppend(&request, "Host: ", address, "\r\n");
  if (!has("connection")) absl::StrAppend(&request, "Connection: close\r\n");
  bool bodyless_method = method == "GET" || method == "HEAD" || method == "DELETE";
  if (!has("content-length") && !has("transfer-encoding") && (!body.empty() || !bodyless_method)) {
    absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n");
  }
  for (const auto& [name, value] : headers) absl::StrAppend(&request, name, ": ", value, "\r\n");
  absl::StrAppend(&request, "\r\n", body);

  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (absl::Status s = PollFor(fd.get(), POLLOUT, deadline, "sending"); !s.ok()) return s;
      continue;
    }
    return ErrnoStatus("send", errno);
  }

  HttpResponse response;
  std::string data;
  char buffer[16384];
  bool head_request = method == "HEAD";
  for (;;) {
    ssize_t n = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (absl::Status s = PollFor(fd.get(), POLLIN, deadline, "waiting for the response");
          !s.ok()) {
        return s;
      }
      continue;
    }
    if (n < 0) return ErrnoStatus("recv", errno);
    bool eof = n == 0;
    data.append(buffer, static_cast<size_t>(n));
    if (eof && data.empty()) {
      return absl::UnavailableError(absl::StrCat(address, " closed the connection with no reply"));
    }
    auto result = TryParse(data, eof, head_request, &response);
    if (!result.ok()) return result.status();
    if (*result == ParseResult::kDone) return response;
    if (eof) return absl::UnavailableError("connection closed before the response headers ended");
  }
}

absl::StatusOr<HttpResponse> HttpGet(absl::string_view address, absl::string_view path,
                                     absl::Time deadline) {
  return HttpRequest(address, "GET", path, {}, "", deadline);
}

absl::StatusOr<HttpResponse> HttpPostJson(absl::string_view address, absl::string_view path,
                                          absl::string_view json, absl::Time deadline) {
  return HttpRequest(address, "POST", path, {{"Content-Type", "application/json"}}, json, deadline);
}

}  // namespace sidecar::test_common
