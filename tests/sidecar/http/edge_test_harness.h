#pragma once
// Shared by the framing corpus and slowloris tests: an HttpListener on 127.0.0.1:0 running on its
// own dispatcher thread, whose terminal filter stands in for the upstream and counts every request
// that reaches it, and a blocking raw TCP client that sends exact bytes and reads one response.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/filter.h"
#include "sidecar/http/http_listener.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::http::testing {

// Bytes as a C string literal body, so a failing case can be read (and pasted back) exactly.
inline std::string Escape(std::string_view bytes, size_t max = 400) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    switch (c) {
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  if (bytes.size() > max) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

// Counts what reaches it and answers 200 at once: the upstream, as far as the listener knows.
struct UpstreamCounter {
  std::atomic<int> requests{0};
  std::mutex mu;
  std::vector<std::string> paths;  // guarded by mu
};

class CountingUpstreamFilter : public Filter {
 public:
  explicit CountingUpstreamFilter(UpstreamCounter* counter) : counter_(counter) {}
  void SetCallbacks(FilterCallbacks& callbacks) override { callbacks_ = &callbacks; }
  FilterStatus OnRequest(Request& request) override {
    {
      std::lock_guard<std::mutex> lock(counter_->mu);
      counter_->paths.push_back(request.path);
    }
    counter_->requests++;
    Response response;
    response.body = "upstream saw " + request.method + " " + request.path;
    callbacks_->SendResponse(std::move(response));
    return FilterStatus::kStopIteration;
  }
  void OnDestroy() override {}

 private:
  UpstreamCounter* counter_;
  FilterCallbacks* callbacks_ = nullptr;
};

// The listener and its loop thread. Stop() (or the destructor) exits the loop and joins.
class EdgeUnderTest {
 public:
  static absl::StatusOr<std::unique_ptr<EdgeUnderTest>> Start(HttpListener::Options options) {
    auto edge = std::unique_ptr<EdgeUnderTest>(new EdgeUnderTest());
    auto dispatcher = event::Dispatcher::Create("edge-test");
    if (!dispatcher.ok()) return dispatcher.status();
    edge->dispatcher_ = std::move(*dispatcher);
    options.name = "edge";
    options.address = config::HostPort{"127.0.0.1", 0};
    std::vector<FilterFactory> filters;
    filters.push_back([counter = &edge->upstream]() -> FilterPtr {
      return std::make_unique<CountingUpstreamFilter>(counter);
    });
    auto listener =
        HttpListener::Create(std::move(options), *edge->dispatcher_, edge->metrics, std::move(filters));
    if (!listener.ok()) return listener.status();
    edge->listener_ = std::move(*listener);
    // Started before the loop runs; from then on only the loop thread touches the listener.
    if (absl::Status s = edge->listener_->Start(); !s.ok()) return s;
    edge->port_ = edge->listener_->port();
    edge->thread_ = std::thread([e = edge.get()] { e->dispatcher_->Run(); });
    return edge;
  }

  ~EdgeUnderTest() { Stop(); }

  void Stop() {
    if (thread_.joinable()) {
      dispatcher_->Exit();
      thread_.join();
    }
    listener_.reset();
    dispatcher_.reset();
  }

  uint16_t port() const { return port_; }
  double Rejected(const std::string& reason) {
    return metrics.requests_rejected_total.Add({{"listener", "edge"}, {"reason", reason}}).Value();
  }

  stats::Metrics metrics;
  UpstreamCounter upstream;

 private:
  EdgeUnderTest() = default;

  event::DispatcherPtr dispatcher_;
  std::unique_ptr<HttpListener> listener_;
  std::thread thread_;
  uint16_t port_ = 0;
};

struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;

  std::string Header(std::string_view name) const {
    for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
      size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      if (absl::EqualsIgnoreCase(line.substr(0, colon), absl::string_view(name.data(), name.size()))) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
    return "";
  }
};

// Blocking client socket on 127.0.0.1. Every wait is bounded by the deadline given.
class RawConnection {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit RawConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConnection() { Close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Sends as much as the server takes. The server may answer and close before a large request is
  // all sent (that is the point of 413/431 before the body); a failed send is not an error here,
  // the response decides.
  bool Send(std::string_view bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // One response; nullopt if the connection ends or the deadline passes first.
  std::optional<RawResponse> Read(TimePoint deadline) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    RawResponse r;
    r.head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (r.head.size() < 12 || !absl::SimpleAtoi(r.head.substr(9, 3), &r.status)) return std::nullopt;
    size_t length = 0;
    if (!absl::SimpleAtoi(r.Header("Content-Length"), &length)) return std::nullopt;
    while (buf_.size() < length) {
      if (!Fill(deadline)) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True when the server ends the connection before the deadline; bytes it sent first (after
  // what Read consumed) go to *extra.
  bool WaitForClose(TimePoint deadline, std::string* extra) {
    while (Fill(deadline)) {
    }
    *extra = buf_;
    return eof_;
  }

  // Non-blocking: has the server closed (EOF or reset)? Buffers any bytes it sent.
  bool PollClosed() {
    for (;;) {
      char chunk[4096];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof_ = true;
      return eof_;
    }
  }
  const std::string& received() const { return buf_; }

 private:
  // Reads more bytes; false on EOF, error or deadline.
  bool Fill(TimePoint deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[16384];
      ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        eof_ = true;  // EOF, or a reset: either way the server closed
        return false;
      }
      buf_.append(chunk, static_cast<size_t>(n));
      return true;
    }
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

}  // namespace sidecar::http::testing
