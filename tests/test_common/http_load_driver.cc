#include "tests/test_common/http_load_driver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace sidecar::test_common {
namespace {

// One keep-alive connection; every step bounded by a deadline through poll().
class Connection {
 public:
  explicit Connection(int port) : port_(port) {}
  ~Connection() { Close(); }

  // Status (and X-Sidecar-Reason, body); -1 transport failure, 0 deadline passed.
  int RoundTrip(const std::string& request, absl::Time deadline, std::string* body, std::string* reason) {
    if (fd_ < 0 && !Open(deadline)) return Fail(-1);
    if (!WriteAll(request, deadline)) return Fail(timed_out_ ? 0 : -1);
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(deadline)) return Fail(timed_out_ ? 0 : -1);
    }
    const std::string head = buf_.substr(0, header_end);
    int status = 0;
    if (head.size() < 12 || !absl::SimpleAtoi(head.substr(9, 3), &status)) return Fail(-1);
    size_t length = 0;
    bool close = false;
    reason->clear();
    for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
      const size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      const absl::string_view name = line.substr(0, colon);
      const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
      if (absl::EqualsIgnoreCase(name, "content-length")) absl::SimpleAtoi(value, &length);
      if (absl::EqualsIgnoreCase(name, "x-sidecar-reason")) *reason = std::string(value);
      if (absl::EqualsIgnoreCase(name, "connection") && absl::StrContains(absl::AsciiStrToLower(value), "close")) close = true;
    }
    while (buf_.size() < header_end + 4 + length) {
      if (!ReadMore(deadline)) return Fail(timed_out_ ? 0 : -1);
    }
    *body = buf_.substr(header_end + 4, length);
    buf_.erase(0, header_end + 4 + length);
    if (close) Close();
    return status;
  }

 private:
  bool Open(absl::Time deadline) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return true;
    if (errno != EINPROGRESS || !Poll(POLLOUT, deadline)) return false;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0;
  }
  bool Poll(short events, absl::Time deadline) {
    for (;;) {
      const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (ms < 0) {
        timed_out_ = true;
        return false;
      }
      pollfd p{fd_, events, 0};
      const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms + 1, 60000)));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return false;
    }
  }
  bool WriteAll(const std::string& data, absl::Time deadline) {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!Poll(POLLOUT, deadline)) return false;
      } else {
        return false;
      }
    }
    return true;
  }
  bool ReadMore(absl::Time deadline) {
    char chunk[8192];
    for (;;) {
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) return false;
      if (!Poll(POLLIN, deadline)) return false;
    }
  }
  int Fail(int code) {
    Close();
    return code;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    buf_.clear();
    timed_out_ = false;
  }

  int port_;
  int fd_ = -1;
  bool timed_out_ = false;
  std::string buf_;
};

}  // namespace

std::unique_ptr<HttpLoadDriver> HttpLoadDriver::Start(HttpLoadSpec spec) {
  std::unique_ptr<HttpLoadDriver> d(new HttpLoadDriver(std::move(spec)));
  d->start_ = absl::Now();
  {
    absl::MutexLock lock(&d->mu_);
    d->rate_ = d->spec_.rate;
    d->epoch_ = d->start_;
  }
  for (int i = 0; i < d->spec_.connections; ++i) d->threads_.emplace_back([p = d.get(), i] { p->Run(i); });
  return d;
}

HttpLoadDriver::~HttpLoadDriver() { Stop(); }

void HttpLoadDriver::SetRate(double rate) {
  absl::MutexLock lock(&mu_);
  rate_ = rate;
  epoch_ = absl::Now();
  ++epoch_id_;
}

std::vector<HttpOutcome> HttpLoadDriver::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return outcomes_;
}

size_t HttpLoadDriver::completed() const {
  absl::MutexLock lock(&mu_);
  return outcomes_.size();
}

size_t HttpLoadDriver::WaitForOk(size_t n, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ok_ >= n; };
  mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
  return ok_;
}

std::vector<HttpOutcome> HttpLoadDriver::Stop() {
  if (!stop_.exchange(true)) {
    { absl::MutexLock lock(&mu_); ++epoch_id_; }  // wakes every waiting connection
    for (auto& t : threads_) t.join();
  }
  return Snapshot();
}

void HttpLoadDriver::Run(int index) {
  Connection conn(spec_.port);
  const int c = spec_.connections;
  if (spec_.thread_setup && !spec_.thread_setup()) return;
  uint64_t k = 0;
  uint64_t seen_epoch = 0;
  std::string body, reason;
  while (!stop_.load()) {
    absl::Time due;
    {
      absl::MutexLock lock(&mu_);
      if (epoch_id_ != seen_epoch) {  // new rate: this connection's schedule restarts now
        seen_epoch = epoch_id_;
        k = 0;
      }
      if (rate_ <= 0) {
        // Paused: wait for a rate change or stop (a condition, not a poll).
        const uint64_t e = epoch_id_;
        auto changed = [this, e]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return epoch_id_ != e; };
        mu_.Await(absl::Condition(&changed));
        continue;
      }
      due = epoch_ + absl::Seconds((index + static_cast<double>(k) * c) / rate_);
      // The pacing wait: until this request is due, or a rate change / stop (which bumps epoch_id_).
      const uint64_t e = epoch_id_;
      auto changed = [this, e]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return epoch_id_ != e; };
      if (mu_.AwaitWithDeadline(absl::Condition(&changed), due)) continue;
    }
    ++k;
    const uint64_t seq = next_seq_.fetch_add(1);
    const std::string token = absl::StrCat(spec_.tag, "-", seq);
    const std::string payload = absl::StrCat(R"({"id":")", token, R"("})");
    std::string request = absl::StrCat(spec_.method, " ", spec_.path, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (const auto& [name, value] : spec_.headers) absl::StrAppend(&request, name, ": ", value, "\r\n");
    absl::StrAppend(&request, spec_.id_header, ": ", token, "\r\nContent-Type: application/json\r\nContent-Length: ",
                    payload.size(), "\r\n\r\n", payload);
    HttpOutcome o;
    o.seq = seq;
    o.intended = due;
    o.sent = absl::Now();
    o.status = conn.RoundTrip(request, o.sent + spec_.timeout, &body, &reason);
    o.latency = absl::Now() - o.sent;
    o.reason = reason;
    if (spec_.check_echo && o.status >= 200 && o.status < 300) {
      o.wrong_caller = !absl::StrContains(body, absl::StrCat(token, "\""));
    }
    if (spec_.keep_ok_bodies && o.status >= 200 && o.status < 300) o.body = body;
    absl::MutexLock lock(&mu_);
    ok_ += o.ok();
    outcomes_.push_back(std::move(o));
  }
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t i = std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())));
  return values[i];
}

LoadSummary Summarize(const std::vector<HttpOutcome>& outcomes) {
  LoadSummary s;
  std::vector<double> ms;
  ms.reserve(outcomes.size());
  for (const HttpOutcome& o : outcomes) {
    ++s.total;
    s.ok += o.ok();
    s.wrong_caller += o.wrong_caller;
    s.timeouts += o.status == 0;
    s.transport += o.status == -1;
    s.by_5xx += o.status >= 500;
    s.by_other += o.status > 0 && o.status < 500 && !(o.status >= 200 && o.status < 300);
    ms.push_back(absl::ToDoubleMilliseconds(o.latency));
  }
  s.p50_ms = Quantile(ms, 0.5);
  s.p99_ms = Quantile(ms, 0.99);
  s.max_ms = ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end());
  return s;
}

std::string LoadSummary::ToString() const {
  return absl::StrFormat("total=%d ok=%d 5xx=%d other=%d timeouts=%d transport=%d wrong_caller=%d "
                         "p50=%.2fms p99=%.2fms max=%.1fms",
                         total, ok, by_5xx, by_other, timeouts, transport, wrong_caller, p50_ms, p99_ms, max_ms);
}

}  // namespace sidecar::test_common
