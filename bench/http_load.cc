#include "bench/http_load.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>

namespace sidecar::bench {
namespace {

using Clock = std::chrono::steady_clock;

timeval ToTimeval(Clock::duration d) {
  if (d < Clock::duration::zero()) d = Clock::duration::zero();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

bool ContainsNoCase(std::string_view s, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= s.size(); ++i) {
    if (strncasecmp(s.data() + i, needle.data(), needle.size()) == 0) return true;
  }
  return false;
}

struct Target {
  sockaddr_in addr{};
  std::string request;  // the whole request, sent as is every time
  bool head = false;    // HEAD: replies have no body whatever they announce
};

// Parses one HTTP/1.x response at the front of a buffer, incrementally.
class ResponseParser {
 public:
  enum class Result { kNeedMore, kComplete, kMalformed };

  void Reset() { *this = ResponseParser(); }

  // On kComplete, consumed() bytes of `in` belong to this response.
  Result Parse(const std::string& in, bool head_request) {
    if (!have_head_) {
      const size_t from = scanned_ >= 3 ? scanned_ - 3 : 0;
      const size_t end = in.find("\r\n\r\n", from);
      if (end == std::string::npos) {
        scanned_ = in.size();
        return in.size() > 65536 ? Result::kMalformed : Result::kNeedMore;
      }
      if (!ParseHead(std::string_view(in).substr(0, end + 2))) return Result::kMalformed;
      have_head_ = true;
      pos_ = end + 4;
      if (status_ >= 100 && status_ < 200) {  // interim response: skip it, parse the next head
        consumed_ = pos_;
        return Result::kComplete;
      }
      if (head_request || status_ == 204 || status_ == 304) {
        content_length_ = 0;
        chunked_ = false;
      }
      if (!chunked_ && content_length_ < 0) until_eof_ = true;
    }
    if (chunked_) return ParseChunks(in);
    if (until_eof_) return Result::kNeedMore;  // OnEof completes it
    if (in.size() - pos_ < static_cast<size_t>(content_length_)) return Result::kNeedMore;
    consumed_ = pos_ + static_cast<size_t>(content_length_);
    return Result::kComplete;
  }

  int status() const { return status_; }
  bool interim() const { return status_ >= 100 && status_ < 200; }
  bool close() const { return close_; }
  bool until_eof() const { return have_head_ && until_eof_; }
  size_t consumed() const { return consumed_; }

 private:
  bool ParseHead(std::string_view head) {
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (!StartsWithNoCase(status_line, "HTTP/1.") || status_line.size() < 12) return false;
    const bool http10 = status_line[7] == '0';
    close_ = http10;
    auto [p, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, status_);
    if (ec != std::errc() || p != status_line.data() + 12) return false;
    size_t at = line_end + 2;
    while (at < head.size()) {
      size_t end = head.find("\r\n", at);
      if (end == std::string_view::npos) end = head.size();
      std::string_view line = head.substr(at, end - at);
      at = end + 2;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      if (name.size() == 14 && strncasecmp(name.data(), "content-length", 14) == 0) {
        int64_t n = -1;
        auto [q, e] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (e != std::errc() || n < 0) return false;
        content_length_ = n;
      } else if (name.size() == 17 && strncasecmp(name.data(), "transfer-encoding", 17) == 0) {
        chunked_ = ContainsNoCase(value, "chunked");
      } else if (name.size() == 10 && strncasecmp(name.data(), "connection", 10) == 0) {
        if (ContainsNoCase(value, "close")) close_ = true;
        if (ContainsNoCase(value, "keep-alive")) close_ = false;
      }
    }
    return true;
  }

  Result ParseChunks(const std::string& in) {
    while (true) {
      if (chunk_left_ > 0) {
        const size_t need = chunk_left_ + 2;  // data + CRLF
        if (in.size() - pos_ < need) return Result::kNeedMore;
        pos_ += need;
        chunk_left_ = 0;
        continue;
      }
      const size_t end = in.find("\r\n", pos_);
      if (end == std::string::npos) return Result::kNeedMore;
      std::string_view line(in.data() + pos_, end - pos_);
      if (in_trailer_) {
        pos_ = end + 2;
        if (line.empty()) {
          consumed_ = pos_;
          return Result::kComplete;
        }
        continue;
      }
      size_t size = 0;
      auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
      if (ec != std::errc()) return Result::kMalformed;
      pos_ = end + 2;
      if (size == 0) {
        in_trailer_ = true;
      } else {
        chunk_left_ = size;
      }
    }
  }

  bool have_head_ = false;
  size_t scanned_ = 0;
  size_t pos_ = 0;
  size_t consumed_ = 0;
  int status_ = 0;
  int64_t content_length_ = -1;
  bool chunked_ = false;
  bool close_ = false;
  bool until_eof_ = false;
  size_t chunk_left_ = 0;
  bool in_trailer_ = false;
};

struct Shared {
  const HttpLoadOptions& options;
  const Target& target;
  Clock::time_point start;            // connections open; the open-loop schedule starts here
  Clock::time_point measure_start;    // start + warm-up
  std::atomic<uint64_t> measured{0};  // replies counted after warm-up, all workers
  std::atomic<bool> stop{false};
};

class Worker;

class Connection {
 public:
  Connection(Worker& worker, int global_index);
  ~Connection() {
    Close();
    FreeEvents();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start();

 private:
  static void OnRead(evutil_socket_t, short, void* arg) noexcept;
  static void OnWrite(evutil_socket_t, short, void* arg) noexcept;
  static void OnSendTimer(evutil_socket_t, short, void* arg) noexcept;
  static void OnTimeout(evutil_socket_t, short, void* arg) noexcept;
  static void OnReconnect(evutil_socket_t, short, void* arg) noexcept;

  void Connect();
  void OnConnected();
  void Next();
  void SendAt(Clock::time_point start);
  void FlushWrite();
  void OnReadable();
  void TryParse();
  void Complete(int status);
  void Fail(const char* kind, bool backoff);
  void Close();
  void FreeEvents();

  Worker& worker_;
  const int index_;
  int fd_ = -1;
  bool connecting_ = false;
  bool busy_ = false;
  size_t written_ = 0;
  std::string in_;
  ResponseParser parser_;
  Clock::time_point start_;      // of the request in flight: sent (closed) or due (open loop)
  Clock::time_point next_due_;   // open loop: the next request's intended time
  Clock::duration interval_{0};  // open loop: time between this connection's requests
  event* read_ev_ = nullptr;     // persistent while the socket is open
  event* write_ev_ = nullptr;    // one-shot: connect completion, or a partial write to finish
  event* send_timer_ = nullptr;
  event* timeout_timer_ = nullptr;
  event* reconnect_timer_ = nullptr;
};

class Worker {
 public:
  Worker(Shared& shared, int first_index, int connections) : shared_(shared) {
    event_config* cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);  // timerfd: sub-ms open-loop sends
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    base_ = event_base_new_with_config(cfg);
    event_config_free(cfg);
    for (int i = 0; i < connections; ++i)
      conns_.push_back(std::make_unique<Connection>(*this, first_index + i));
  }
  ~Worker() {
    conns_.clear();
    if (warmup_timer_ != nullptr) event_free(warmup_timer_);
    if (end_timer_ != nullptr) event_free(end_timer_);
    event_base_free(base_);
  }

  void Run() {
    const HttpLoadOptions& o = shared_.options;
    warmup_timer_ = evtimer_new(base_, &Worker::OnWarmupEnd, this);
    end_timer_ = evtimer_new(base_, &Worker::OnEnd, this);
    measuring_ = o.warmup_s <= 0;
    if (!measuring_) {
      timeval tv = ToTimeval(shared_.measure_start - Clock::now());
      evtimer_add(warmup_timer_, &tv);
    }
    timeval end = ToTimeval(
        shared_.measure_start +
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds)) -
        Clock::now());
    evtimer_add(end_timer_, &end);
    for (auto& c : conns_) c->Start();
    event_base_dispatch(base_);
    stopped_at_ = Clock::now();
    conns_.clear();  // closes the sockets; replies still in flight are not counted
  }

  event_base* base() { return base_; }
  Shared& shared() { return shared_; }
  bool stopping() const { return stopping_; }

  void Record(Clock::duration latency, int status) {
    if (!measuring_) return;
    latency = std::max(latency, Clock::duration::zero());
    result_.latency.Record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
    ++result_.responses;
    if (status < 200 || status > 299) ++result_.errors;
    if (status >= 0 && status < static_cast<int>(status_counts_.size())) ++status_counts_[status];
    const uint64_t count = shared_.options.count;
    if (count > 0 && shared_.measured.fetch_add(1, std::memory_order_relaxed) + 1 >= count) {
      shared_.stop.store(true);
    }
    if (shared_.stop.load(std::memory_order_relaxed)) Stop();
  }
  void RecordTimeout() {
    if (measuring_) ++result_.timeouts;
  }
  void RecordFailure(const char* kind) {
    if (!measuring_) return;
    ++result_.errors;
    ++result_.statuses[kind];
  }
  void CheckStop() {
    if (shared_.stop.load(std::memory_order_relaxed)) Stop();
  }

  RunResult TakeResult() {
    for (size_t s = 0; s < status_counts_.size(); ++s) {
      if (status_counts_[s] > 0) result_.statuses[std::to_string(s)] += status_counts_[s];
    }
    result_.elapsed_s = std::chrono::duration<double>(stopped_at_ - measure_start_).count();
    return std::move(result_);
  }

 private:
  static void OnWarmupEnd(evutil_socket_t, short, void* arg) noexcept {
    auto* w = static_cast<Worker*>(arg);
    w->measuring_ = true;
    w->measure_start_ = Clock::now();
  }
  static void OnEnd(evutil_socket_t, short, void* arg) noexcept {
    static_cast<Worker*>(arg)->Stop();
  }

  void Stop() {
    if (stopping_) return;
    stopping_ = true;
    event_base_loopbreak(base_);
  }

  Shared& shared_;
  event_base* base_ = nullptr;
  event* warmup_timer_ = nullptr;
  event* end_timer_ = nullptr;
  std::vector<std::unique_ptr<Connection>> conns_;
  bool measuring_ = false;
  bool stopping_ = false;
  Clock::time_point measure_start_ = shared_.measure_start;
  Clock::time_point stopped_at_;
  RunResult result_;
  std::array<uint64_t, 600> status_counts_{};
};

Connection::Connection(Worker& worker, int global_index) : worker_(worker), index_(global_index) {
  const HttpLoadOptions& o = worker.shared().options;
  send_timer_ = evtimer_new(worker.base(), &Connection::OnSendTimer, this);
  timeout_timer_ = evtimer_new(worker.base(), &Connection::OnTimeout, this);
  reconnect_timer_ = evtimer_new(worker.base(), &Connection::OnReconnect, this);
  if (o.rate > 0) {
    const double per_conn_rate = o.rate / o.connections;
    interval_ = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / per_conn_rate));
    next_due_ = worker.shared().start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(index_ / o.rate));
  }
}

void Connection::FreeEvents() {
  for (event** e : {&send_timer_, &timeout_timer_, &reconnect_timer_}) {
    if (*e != nullptr) event_free(*e);
    *e = nullptr;
  }
}

void Connection::Start() { Connect(); }

void Connection::Connect() {
  const Target& t = worker_.shared().target;
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    Fail("socket", true);
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  read_ev_ = event_new(worker_.base(), fd_, EV_READ | EV_PERSIST, &Connection::OnRead, this);
  write_ev_ = event_new(worker_.base(), fd_, EV_WRITE, &Connection::OnWrite, this);
  in_.clear();
  parser_.Reset();
  if (connect(fd_, reinterpret_cast<const sockaddr*>(&t.addr), sizeof(t.addr)) == 0) {
    OnConnected();
    return;
  }
  if (errno != EINPROGRESS) {
    Fail("connect", true);
    return;
  }
  connecting_ = true;
  event_add(write_ev_, nullptr);
}

void Connection::OnConnected() {
  connecting_ = false;
  event_add(read_ev_, nullptr);
  if (worker_.stopping()) return;
  if (busy_) {  // a reconnect after a failure mid-request: that request is over
    busy_ = false;
  }
  Next();
}

void Connection::Next() {
  worker_.CheckStop();
  if (worker_.stopping() || fd_ < 0 || connecting_) return;
  if (interval_.count() == 0) {
    SendAt(Clock::now());
    return;
  }
  const auto now = Clock::now();
  if (next_due_ <= now) {
    SendAt(next_due_);
  } else {
    // libevent adds the timeout to its cached time of this loop turn: refresh it, or the timer
    // fires early by however long this turn has run.
    event_base_update_cache_time(worker_.base());
    timeval tv = ToTimeval(next_due_ - Clock::now());
    evtimer_add(send_timer_, &tv);
  }
}

void Connection::SendAt(Clock::time_point start) {
  // Latency runs from the intended time; a timer that fires a little early must not make it
  // start before the request leaves.
  start_ = std::min(start, Clock::now());
  if (interval_.count() != 0) next_due_ += interval_;
  busy_ = true;
  written_ = 0;
  parser_.Reset();
  const int timeout_ms = worker_.shared().options.timeout_ms;
  timeval tv{timeout_ms / 1000, static_cast<suseconds_t>((timeout_ms % 1000) * 1000)};
  evtimer_add(timeout_timer_, &tv);
  FlushWrite();
}

void Connection::FlushWrite() {
  const std::string& req = worker_.shared().target.request;
  while (written_ < req.size()) {
    ssize_t n = send(fd_, req.data() + written_, req.size() - written_, MSG_NOSIGNAL);
    if (n > 0) {
      written_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    Fail("reset", false);
    return;
  }
  if (written_ < req.size()) event_add(write_ev_, nullptr);
}

void Connection::OnWrite(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  if (!c->connecting_) {
    if (c->busy_) c->FlushWrite();
    return;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(c->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    c->Fail("connect", true);
    return;
  }
  c->OnConnected();
}

void Connection::OnRead(evutil_socket_t, short, void* arg) noexcept {
  static_cast<Connection*>(arg)->OnReadable();
}

void Connection::OnReadable() {
  char buf[65536];
  while (true) {
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof(buf)) break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    // EOF or error.
    if (busy_ && parser_.until_eof()) {
      Complete(parser_.status());
      Close();
      if (!worker_.stopping()) Connect();
      return;
    }
    if (busy_) {
      Fail("reset", false);
    } else {  // the server closed an idle connection
      Close();
      if (!worker_.stopping()) Connect();
    }
    return;
  }
  TryParse();
}

void Connection::TryParse() {
  while (busy_ && !in_.empty()) {
    const bool head = worker_.shared().target.head;
    switch (parser_.Parse(in_, head)) {
      case ResponseParser::Result::kNeedMore:
        return;
      case ResponseParser::Result::kMalformed:
        Fail("malformed", false);
        return;
      case ResponseParser::Result::kComplete: {
        in_.erase(0, parser_.consumed());
        if (parser_.interim()) {
          parser_.Reset();
          continue;
        }
        const bool close = parser_.close();
        Complete(parser_.status());
        if (close) {
          Close();
          if (!worker_.stopping()) Connect();
        } else {
          Next();
        }
        return;
      }
    }
  }
}

void Connection::Complete(int status) {
  const auto now = Clock::now();
  busy_ = false;
  evtimer_del(timeout_timer_);
  worker_.Record(now - start_, status);
}

void Connection::OnSendTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  if (!c->worker_.stopping() && !c->busy_ && c->fd_ >= 0 && !c->connecting_)
    c->SendAt(c->next_due_);
}

void Connection::OnTimeout(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  c->worker_.RecordTimeout();
  c->busy_ = false;
  c->Close();
  if (!c->worker_.stopping()) c->Connect();
}

void Connection::OnReconnect(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  if (!c->worker_.stopping()) c->Connect();
}

void Connection::Fail(const char* kind, bool backoff) {
  worker_.RecordFailure(kind);
  busy_ = false;
  evtimer_del(timeout_timer_);
  Close();
  if (worker_.stopping()) return;
  if (backoff) {  // the server is not there (yet): do not spin
    timeval tv{0, 10000};
    evtimer_add(reconnect_timer_, &tv);
  } else {
    Connect();
  }
}

void Connection::Close() {
  for (event** e : {&read_ev_, &write_ev_}) {
    if (*e != nullptr) event_free(*e);
    *e = nullptr;
  }
  if (send_timer_ != nullptr) evtimer_del(send_timer_);
  if (timeout_timer_ != nullptr) evtimer_del(timeout_timer_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  connecting_ = false;
}

bool ParseUrl(const std::string& url, const HttpLoadOptions& o, Target& target,
              std::string& error) {
  static constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    error = "url must start with http:// (no TLS): " + url;
    return false;
  }
  std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  const size_t colon = authority.rfind(':');
  std::string host = authority.substr(0, colon);
  int port = 80;
  if (colon != std::string::npos) {
    const std::string p = authority.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || ptr != p.data() + p.size() || port <= 0 || port > 65535) {
      error = "bad port in " + url;
      return false;
    }
  }
  if (host != "127.0.0.1") {
    error = "sidecar-load http only targets 127.0.0.1, not '" + host + "'";
    return false;
  }
  target.addr.sin_family = AF_INET;
  target.addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &target.addr.sin_addr);
  target.head = o.method == "HEAD";
  std::string& r = target.request;
  r = o.method + " " + path + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  bool has_content_type = false;
  for (const std::string& h : o.headers) {
    const size_t c = h.find(':');
    if (c == std::string::npos || c == 0) {
      error = "header must be 'Name: value': " + h;
      return false;
    }
    if (StartsWithNoCase(h, "content-type:")) has_content_type = true;
    r += h + "\r\n";
  }
  if (!o.body.empty()) {
    if (!has_content_type) r += "Content-Type: application/json\r\n";
    r += "Content-Length: " + std::to_string(o.body.size()) + "\r\n";
  }
  r += "\r\n" + o.body;
  return true;
}

}  // namespace

bool RunHttpLoad(const HttpLoadOptions& options, RunResult& result, std::string& error) {
  if (options.connections < 1 || options.threads < 1) {
    error = "connections and threads must be >= 1";
    return false;
  }
  if (options.seconds <= 0 || options.seconds > 3600 || options.warmup_s < 0 ||
      options.warmup_s > 600) {
    error = "--seconds must be in (0, 3600] and --warmup in [0, 600]";
    return false;
  }
  if (options.rate < 0 || options.timeout_ms <= 0) {
    error = "--rate must be >= 0 and --timeout-ms > 0";
    return false;
  }
  Target target;
  if (!ParseUrl(options.url, options, target, error)) return false;
  const int threads = std::min(options.threads, options.connections);
  Shared shared{options, target, {}, {}, {}, {}};
  shared.start = Clock::now();
  shared.measure_start = shared.start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(options.warmup_s));
  std::vector<std::unique_ptr<Worker>> workers;
  int first = 0;
  for (int t = 0; t < threads; ++t) {
    const int n = options.connections / threads + (t < options.connections % threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(shared, first, n));
    first += n;
  }
  std::vector<std::thread> running;
  for (size_t t = 1; t < workers.size(); ++t)
    running.emplace_back([w = workers[t].get()] { w->Run(); });
  workers[0]->Run();
  shared.stop.store(true);
  for (auto& t : running) t.join();

  result = RunResult{};
  result.label = options.label.empty() ? options.url : options.label;
  result.mode = options.rate > 0 ? "http-open" : "http-closed";
  result.concurrency = options.connections;
  result.target_rate = options.rate;
  for (auto& w : workers) {
    RunResult r = w->TakeResult();
    result.responses += r.responses;
    result.errors += r.errors;
    result.timeouts += r.timeouts;
    for (const auto& [k, v] : r.statuses) result.statuses[k] += v;
    result.latency.Merge(r.latency);
    result.elapsed_s = std::max(result.elapsed_s, r.elapsed_s);
  }
  return true;
}

}  // namespace sidecar::bench
