#include "sidecar/http/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::http {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr milliseconds kWait{3000};   // upper bound of every wait; tests normally finish far sooner
constexpr milliseconds kSlowAnswer{300};

// ---- the chain: one terminal filter -----------------------------------------------------------

// What the filter saw, shared with the test thread.
struct Seen {
  std::atomic<int> calls{0};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Request> requests;  // guarded by mu
  int slow_started = 0;           // guarded by mu

  bool WaitForSlowRequests(int n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, kWait, [&] { return slow_started >= n; });
  }
  Request Last() {
    std::lock_guard<std::mutex> lock(mu);
    return requests.back();
  }
};

Response Echo(const Request& r) {
  Response response;
  response.body = r.method + " " + r.path + "\n" + r.body;
  response.headers.Add("Content-Type", "text/plain");
  const auto left = std::chrono::duration_cast<milliseconds>(r.deadline - Clock::now());
  response.headers.Add("X-Remaining-Ms", std::to_string(left.count()));
  // Must never reach the wire: the listener writes its own framing.
  response.headers.Add("Transfer-Encoding", "chunked");
  return response;
}

// Echoes the request. /slow* answers after a dispatcher timer; /error* fails with NOT_FOUND.
class EchoFilter : public Filter {
 public:
  explicit EchoFilter(Seen* seen) : seen_(seen) {}
  void SetCallbacks(FilterCallbacks& callbacks) override { callbacks_ = &callbacks; }
  FilterStatus OnRequest(Request& request) override {
    seen_->calls++;
    const bool slow = absl::StartsWith(request.path, "/slow");
    {
      std::lock_guard<std::mutex> lock(seen_->mu);
      seen_->requests.push_back(request);
      if (slow) seen_->slow_started++;
    }
    seen_->cv.notify_all();
    if (absl::StartsWith(request.path, "/error")) {
      callbacks_->SendError(absl::NotFoundError("no such thing"));
    } else if (slow) {
      timer_ = callbacks_->dispatcher().CreateTimer([this, response = Echo(request)]() mutable {
        callbacks_->SendResponse(std::move(response));
      });
      timer_->Enable(kSlowAnswer);
    } else {
      callbacks_->SendResponse(Echo(request));
    }
    return FilterStatus::kStopIteration;
  }
  void OnDestroy() override { timer_.reset(); }

 private:
  Seen* seen_;
  FilterCallbacks* callbacks_ = nullptr;
  event::TimerPtr timer_;
};

// ---- a raw TCP client: exact bytes out, responses parsed by hand -------------------------------

struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;

  std::string Header(absl::string_view name) const {
    for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
      size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      if (absl::EqualsIgnoreCase(line.substr(0, colon), name)) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
    return "";
  }
  bool HasHeader(absl::string_view name) const {
    return absl::StrContains(absl::AsciiStrToLower(head), "\r\n" + absl::AsciiStrToLower(name) + ":");
  }
};

class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() { Close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Sends FIN: this client will send nothing more but still reads.
  void HalfClose() { ::shutdown(fd_, SHUT_WR); }

  bool Send(std::string_view bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // One response off the stream; nullopt if the connection ends (or kWait passes) first.
  std::optional<RawResponse> Read(bool head_request = false) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    RawResponse r;
    r.head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (r.head.size() < 12 || !absl::SimpleAtoi(r.head.substr(9, 3), &r.status)) return std::nullopt;
    size_t length = 0;
    const bool bodyless = head_request || r.status < 200 || r.status == 204 || r.status == 304;
    if (!bodyless && !absl::SimpleAtoi(r.Header("Content-Length"), &length)) return std::nullopt;
    if (bodyless) length = 0;
    while (buf_.size() < length) {
      if (!Fill(deadline)) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True when the server ends the connection within kWait; any bytes it sent first go to *extra.
  bool WaitForClose(std::string* extra = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (Fill(deadline)) {
    }
    if (extra != nullptr) *extra = buf_;
    return eof_;
  }

 private:
  // Reads more bytes; false on EOF, error or deadline.
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
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

std::string Get(absl::string_view path, absl::string_view extra_headers = "") {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: test\r\n", extra_headers, "\r\n");
}

// ---- fixture: a listener on 127.0.0.1:0 and a dispatcher thread --------------------------------

class HttpListenerTest : public ::testing::Test {
 protected:
  void StartListener(HttpListener::Options options = {}) {
    auto dispatcher = event::Dispatcher::Create("edge-test");
    ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
    dispatcher_ = std::move(*dispatcher);
    options.name = "edge";
    options.address = config::HostPort{"127.0.0.1", 0};
    std::vector<FilterFactory> filters;
    filters.push_back([seen = &seen_]() -> FilterPtr { return std::make_unique<EchoFilter>(seen); });
    auto listener = HttpListener::Create(std::move(options), *dispatcher_, metrics_, std::move(filters));
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
    // Started on this thread before the loop runs; from then on only the loop thread touches it.
    ASSERT_TRUE(listener_->Start().ok());
    ASSERT_NE(listener_->port(), 0);
    thread_ = std::thread([this] { dispatcher_->Run(); });
  }

  void TearDown() override {
    if (thread_.joinable()) {
      dispatcher_->Exit();
      thread_.join();
    }
    listener_.reset();
    dispatcher_.reset();
  }

  // Posts Drain; `done` fulfils the returned future. Also reports whether Drain finished at once.
  std::future<void> Drain(bool* finished_synchronously, size_t* active_at_drain) {
    auto promise = std::make_shared<std::promise<void>>();
    std::future<void> done = promise->get_future();
    std::promise<void> posted;
    dispatcher_->Post([&, promise]() mutable {
      // Shared, not a reference to this frame: `done` usually runs long after this task returned.
      auto called = std::make_shared<bool>(false);
      listener_->Drain([promise, called] {
        *called = true;
        promise->set_value();
      });
      *finished_synchronously = *called;
      *active_at_drain = listener_->active_requests();
      posted.set_value();
    });
    EXPECT_EQ(posted.get_future().wait_for(kWait), std::future_status::ready);
    return done;
  }

  double Rejected(const std::string& reason) {
    return metrics_.requests_rejected_total.Add({{"listener", "edge"}, {"reason", reason}}).Value();
  }
  uint16_t port() const { return listener_->port(); }

  stats::Metrics metrics_;
  Seen seen_;
  event::DispatcherPtr dispatcher_;
  std::unique_ptr<HttpListener> listener_;
  std::thread thread_;
};

// ---- happy paths ------------------------------------------------------------------------------

TEST_F(HttpListenerTest, EchoesARequestAndKeepsTheConnectionForTheNext) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Get("/quests/7?verbose=1")));
  auto first = client.Read();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "GET /quests/7?verbose=1\n");
  EXPECT_EQ(first->Header("Content-Length"), "24");
  EXPECT_EQ(first->Header("Content-Type"), "text/plain");
  EXPECT_FALSE(first->HasHeader("Transfer-Encoding"));
  EXPECT_FALSE(first->HasHeader("Connection"));

  ASSERT_TRUE(client.Send("POST /scores HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"));
  auto second = client.Read();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->body, "POST /scores\nhello");
  EXPECT_EQ(seen_.calls.load(), 2);
  EXPECT_EQ(metrics_.requests_total
                .Add({{"listener", "edge"}, {"service", ""}, {"action", "_other"}, {"outcome", "ok"}})
                .Value(),
            2);
}

TEST_F(HttpListenerTest, DecodesAChunkedBody) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send("PUT /c HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer-A: x\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "PUT /c\nabcde");
  EXPECT_FALSE(seen_.Last().headers.Has("Transfer-Encoding"));
}

TEST_F(HttpListenerTest, AnswersPipelinedRequestsInOrder) {
  StartListener();
  RawClient client(port());
  // The first is slow: the second must wait behind it, not overtake it.
  ASSERT_TRUE(client.Send(Get("/slow/1") + Get("/fast/2") +
                          "POST /fast/3 HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\n\r\nx"));
  auto a = client.Read();
  auto b = client.Read();
  auto c = client.Read();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->body, "GET /slow/1\n");
  EXPECT_EQ(b->body, "GET /fast/2\n");
  EXPECT_EQ(c->body, "POST /fast/3\nx");
}

TEST_F(HttpListenerTest, AClientThatHalfClosesWhileItsRequestIsInFlightStillGetsTheAnswer) {
  // Reading stays on while a request is in flight, so the FIN arrives then: the request must
  // still be answered (and the connection closed after it), not abandoned.
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/slow/half-closed")));
  ASSERT_TRUE(seen_.WaitForSlowRequests(1));
  client.HalfClose();
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /slow/half-closed\n");
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(HttpListenerTest, AResponseTheSocketCannotTakeAtOnceArrivesWholeAndTheConnectionLives) {
  // Responses are written straight to the socket; the rest of one too large for the socket
  // buffer goes out through the write event, then the next request is served.
  HttpListener::Options options;
  options.max_body_bytes = 16 * 1024 * 1024;
  StartListener(std::move(options));
  RawClient client(port());
  std::string body(6 * 1024 * 1024, 'x');
  for (size_t i = 0; i < body.size(); i += 4099) body[i] = static_cast<char>('a' + i % 26);
  std::thread sender([&] {
    client.Send(absl::StrCat("POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: ", body.size(),
                             "\r\n\r\n", body));
  });
  auto r = client.Read();
  sender.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "POST /big\n" + body);
  ASSERT_TRUE(client.Send(Get("/after")));
  auto next = client.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "GET /after\n");
}

TEST_F(HttpListenerTest, ReplacesClientForwardingHeadersWithTheRealConnection) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send("GET /f HTTP/1.1\r\nHost: api.example.com\r\nX-Forwarded-For: 6.6.6.6\r\n"
                          "x-forwarded-proto: https\r\nX-Forwarded-Host: evil.example\r\n"
                          "X-Forwarded-For: 7.7.7.7\r\n\r\n"));
  ASSERT_TRUE(client.Read().has_value());
  Request seen = seen_.Last();
  int xff = 0;
  for (const auto& [name, value] : seen.headers.entries()) {
    if (HeaderMap::NameEquals(name, "X-Forwarded-For")) ++xff;
  }
  EXPECT_EQ(xff, 1);
  EXPECT_EQ(seen.headers.GetOr("X-Forwarded-For", ""), "127.0.0.1");
  EXPECT_EQ(seen.headers.GetOr("X-Forwarded-Proto", ""), "http");
  EXPECT_EQ(seen.headers.GetOr("X-Forwarded-Host", ""), "api.example.com");
}

TEST_F(HttpListenerTest, DeadlineIsTheSmallerOfDefaultAndXDeadlineMs) {
  HttpListener::Options options;
  options.request_timeout = milliseconds(2000);
  StartListener(std::move(options));
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/d", "X-Deadline-Ms: 100\r\n")));
  auto small = client.Read();
  ASSERT_TRUE(client.Send(Get("/d", "X-Deadline-Ms: 999999\r\n")));
  auto large = client.Read();
  ASSERT_TRUE(client.Send(Get("/d", "X-Deadline-Ms: junk\r\n")));
  auto junk = client.Read();
  ASSERT_TRUE(small && large && junk);
  int64_t ms = 0;
  ASSERT_TRUE(absl::SimpleAtoi(small->Header("X-Remaining-Ms"), &ms));
  EXPECT_LE(ms, 100);
  ASSERT_TRUE(absl::SimpleAtoi(large->Header("X-Remaining-Ms"), &ms));
  EXPECT_GT(ms, 1000);
  EXPECT_LE(ms, 2000);
  ASSERT_TRUE(absl::SimpleAtoi(junk->Header("X-Remaining-Ms"), &ms));
  EXPECT_GT(ms, 1000);
  EXPECT_LE(ms, 2000);
}

TEST_F(HttpListenerTest, HeadResponseHasTheLengthButNoBody) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send("HEAD /h HTTP/1.1\r\nHost: test\r\n\r\n" + Get("/after")));
  auto head = client.Read(/*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("Content-Length"), std::to_string(std::string("HEAD /h\n").size()));
  // Had the HEAD response carried a body, this would read it as a broken status line.
  auto after = client.Read();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->status, 200);
  EXPECT_EQ(after->body, "GET /after\n");
}

TEST_F(HttpListenerTest, HonoursConnectionCloseFromTheClient) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/bye", "Connection: close\r\n")));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("Connection"), "close");
  std::string extra;
  EXPECT_TRUE(client.WaitForClose(&extra));
  EXPECT_EQ(extra, "");
}

TEST_F(HttpListenerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  StartListener();
  {
    RawClient client(port());
    ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\n\r\n"));
    auto r = client.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->head.substr(0, 12), "HTTP/1.1 200");
    EXPECT_EQ(r->Header("Connection"), "close");
    EXPECT_TRUE(client.WaitForClose());
  }
  RawClient client(port());
  ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Header("Connection"), "keep-alive");
  ASSERT_TRUE(client.Send("GET /again HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(client.Read().has_value());
}

TEST_F(HttpListenerTest, ChainErrorsAreRenderedAsTheErrorBody) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/error")));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->Header("Content-Type"), "application/json");
  EXPECT_EQ(r->body, R"({"error":{"code":"NOT_FOUND","message":"no such thing","details":{}}})");
  // The framing was fine: the connection stays usable.
  ASSERT_TRUE(client.Send(Get("/ok")));
  ASSERT_TRUE(client.Read().has_value());
}

TEST_F(HttpListenerTest, UsesTheInjectedErrorRenderer) {
  HttpListener::Options options;
  options.error_response = [](const absl::Status& status) {
    Response response;
    response.status = 502;
    response.body = "custom: " + std::string(status.message());
    return response;
  };
  StartListener(std::move(options));
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/error")));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(r->body, "custom: no such thing");
}

TEST_F(HttpListenerTest, AnswersOverloadedPastMaxInFlight) {
  HttpListener::Options options;
  options.max_in_flight = 1;
  StartListener(std::move(options));
  RawClient slow(port());
  ASSERT_TRUE(slow.Send(Get("/slow")));
  ASSERT_TRUE(seen_.WaitForSlowRequests(1));
  RawClient other(port());
  ASSERT_TRUE(other.Send(Get("/fast")));
  auto rejected = other.Read();
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->status, 503);
  EXPECT_THAT(rejected->body, HasSubstr(R"("code":"UNAVAILABLE")"));
  EXPECT_THAT(rejected->body, HasSubstr(R"("reason":"overloaded")"));
  auto ok = slow.Read();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(seen_.calls.load(), 1);
  EXPECT_EQ(Rejected("overloaded"), 1);
}

// ---- rejections: the status, the connection closes, the chain never sees the request -----------

struct BadRequest {
  std::string name;
  std::string bytes;
  int status;
  std::string reason;
};
std::ostream& operator<<(std::ostream& os, const BadRequest& b) { return os << b.name; }

class HttpListenerRejectTest : public HttpListenerTest,
                               public ::testing::WithParamInterface<BadRequest> {};

TEST_P(HttpListenerRejectTest, AnswersWithTheStatusClosesAndNeverCallsTheChain) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send(GetParam().bytes));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, GetParam().status);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_EQ(r->Header("Content-Type"), "application/json");
  EXPECT_THAT(r->body, HasSubstr("\"reason\":\"" + GetParam().reason + "\""));
  std::string extra;
  EXPECT_TRUE(client.WaitForClose(&extra));
  EXPECT_EQ(extra, "") << "nothing after the rejection (a smuggled request must not be answered)";
  EXPECT_EQ(seen_.calls.load(), 0);
  EXPECT_EQ(Rejected(GetParam().reason), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Framing, HttpListenerRejectTest,
    ::testing::Values(
        BadRequest{"ContentLengthWithTransferEncoding",
                   "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
                   400, "malformed"},
        BadRequest{"DuplicateContentLength",
                   "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400,
                   "malformed"},
        BadRequest{"InvalidContentLength", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\nx", 400,
                   "malformed"},
        BadRequest{"TransferEncodingNotChunked",
                   "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n", 400, "malformed"},
        BadRequest{"ObsFold", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400, "malformed"},
        BadRequest{"BareLf", "GET / HTTP/1.1\nHost: t\n\n", 400, "malformed"},
        BadRequest{"InvalidHeaderName", "GET / HTTP/1.1\r\nHost: t\r\nBad Name: v\r\n\r\n", 400, "malformed"},
        BadRequest{"GarbageRequestLine", "\x16\x03\x01 \xfc\x03\r\n\r\n", 400,
                   "malformed"},
        BadRequest{"MissingHost", "GET / HTTP/1.1\r\n\r\n", 400, "malformed"},
        BadRequest{"HttpVersion2", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505, "version_not_supported"},
        BadRequest{"HeadersTooLarge",
                   "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n", 431,
                   "header_too_large"},
        BadRequest{"TooManyHeaders",
                   [] {
                     std::string s = "GET / HTTP/1.1\r\nHost: t\r\n";
                     for (int i = 0; i < 120; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
                     return s + "\r\n";
                   }(),
                   431, "header_too_large"},
        BadRequest{"UnknownExpectation",
                   "POST / HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417,
                   "expectation_failed"}),
    [](const ::testing::TestParamInfo<BadRequest>& info) { return info.param.name; });

TEST_F(HttpListenerTest, RejectsABadRequestAfterAGoodOneOnTheSameConnection) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/good") + "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n"));
  auto good = client.Read();
  auto bad = client.Read();
  ASSERT_TRUE(good && bad);
  EXPECT_EQ(good->status, 200);
  EXPECT_EQ(bad->status, 400);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_EQ(seen_.calls.load(), 1);
}

TEST_F(HttpListenerTest, Answers413BeforeTheBodyIsSent) {
  StartListener();
  RawClient client(port());
  // Only the head: the answer must come without waiting for (or reading) a byte of the body.
  ASSERT_TRUE(client.Send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_THAT(r->body, HasSubstr("\"reason\":\"body_too_large\""));
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_EQ(seen_.calls.load(), 0);
  EXPECT_EQ(Rejected("body_too_large"), 1);
}

TEST_F(HttpListenerTest, RejectedBodyStillInFlightDoesNotDestroyThe413) {
  HttpListener::Options options;
  options.max_body_bytes = 1024;
  StartListener(std::move(options));
  RawClient client(port());
  // The client sends the whole oversized body anyway; lingering close lets it read the 413.
  ASSERT_TRUE(client.Send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n" +
                          std::string(200000, 'b')));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(seen_.calls.load(), 0);
}

TEST_F(HttpListenerTest, AnswersAChunkedBodyWith413AsSoonAsItPassesTheLimit) {
  HttpListener::Options options;
  options.max_body_bytes = 16;
  StartListener(std::move(options));
  RawClient client(port());
  ASSERT_TRUE(client.Send("POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "10\r\n0123456789abcdef\r\n1\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_EQ(seen_.calls.load(), 0);
}

TEST_F(HttpListenerTest, SendsContinueThenTheResponseForAnAcceptableBody) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send("PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  auto interim = client.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("data"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "PUT /e\ndata");
  EXPECT_FALSE(seen_.Last().headers.Has("Expect"));
}

TEST_F(HttpListenerTest, Answers413InsteadOfContinueForATooLargeBody) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send(
      "PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(client.WaitForClose());
}

// ---- timeouts ---------------------------------------------------------------------------------

TEST_F(HttpListenerTest, IncompleteHeadTimesOutWith408) {
  HttpListener::Options options;
  options.header_timeout = milliseconds(200);
  StartListener(std::move(options));
  RawClient client(port());
  ASSERT_TRUE(client.Send("GET /slowloris HTTP/1.1\r\nHost: t\r\nX-A: "));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_THAT(r->body, HasSubstr(R"("code":"DEADLINE_EXCEEDED")"));
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_EQ(seen_.calls.load(), 0);
  EXPECT_EQ(Rejected("timeout"), 1);
}

TEST_F(HttpListenerTest, IncompleteBodyTimesOutWith408) {
  HttpListener::Options options;
  options.body_timeout = milliseconds(200);
  StartListener(std::move(options));
  RawClient client(port());
  ASSERT_TRUE(client.Send("POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(client.WaitForClose());
  EXPECT_EQ(seen_.calls.load(), 0);
}

TEST_F(HttpListenerTest, SilentConnectionIsClosedWithoutAResponse) {
  HttpListener::Options options;
  options.header_timeout = milliseconds(200);
  StartListener(std::move(options));
  RawClient client(port());
  std::string extra;
  EXPECT_TRUE(client.WaitForClose(&extra));
  EXPECT_EQ(extra, "");
}

TEST_F(HttpListenerTest, IdleKeepAliveConnectionIsClosedSilently) {
  HttpListener::Options options;
  options.idle_timeout = milliseconds(200);
  StartListener(std::move(options));
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/once")));
  ASSERT_TRUE(client.Read().has_value());
  std::string extra;
  EXPECT_TRUE(client.WaitForClose(&extra));
  EXPECT_EQ(extra, "");
  EXPECT_EQ(Rejected("timeout"), 0);
}

// ---- drain ------------------------------------------------------------------------------------

TEST_F(HttpListenerTest, DrainFinishesTheInFlightRequestThenCallsDone) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/slow")));
  ASSERT_TRUE(seen_.WaitForSlowRequests(1));

  bool finished_at_once = true;
  size_t active = 0;
  std::future<void> done = Drain(&finished_at_once, &active);
  EXPECT_FALSE(finished_at_once);
  EXPECT_EQ(active, 1u);

  // New clients are refused at once.
  RawClient late(port());
  EXPECT_FALSE(late.connected());

  auto r = client.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /slow\n");
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(client.WaitForClose());
  client.Close();
  EXPECT_EQ(done.wait_for(kWait), std::future_status::ready);
}

TEST_F(HttpListenerTest, DrainClosesIdleKeepAliveConnections) {
  StartListener();
  RawClient client(port());
  ASSERT_TRUE(client.Send(Get("/once")));
  ASSERT_TRUE(client.Read().has_value());

  bool finished_at_once = false;
  size_t active = 0;
  std::future<void> done = Drain(&finished_at_once, &active);
  EXPECT_TRUE(finished_at_once);
  EXPECT_EQ(active, 0u);
  EXPECT_EQ(done.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(client.WaitForClose());
  std::string why;
  bool ready = true;
  std::promise<void> checked;
  dispatcher_->Post([&] {
    ready = listener_->Ready(&why);
    checked.set_value();
  });
  ASSERT_EQ(checked.get_future().wait_for(kWait), std::future_status::ready);
  EXPECT_FALSE(ready);
  EXPECT_EQ(why, "draining");
}

TEST(HttpListenerCreateTest, RejectsAnEmptyChainAndBadLimits) {
  auto dispatcher = event::Dispatcher::Create("edge-test");
  ASSERT_TRUE(dispatcher.ok());
  stats::Metrics metrics;
  EXPECT_FALSE(HttpListener::Create({}, **dispatcher, metrics, {}).ok());
  HttpListener::Options options;
  options.header_timeout = milliseconds(0);
  std::vector<FilterFactory> filters;
  filters.push_back([]() -> FilterPtr { return nullptr; });
  EXPECT_FALSE(HttpListener::Create(std::move(options), **dispatcher, metrics, std::move(filters)).ok());
}

TEST(HttpListenerCreateTest, StartFailsOnANonLiteralHost) {
  auto dispatcher = event::Dispatcher::Create("edge-test");
  ASSERT_TRUE(dispatcher.ok());
  stats::Metrics metrics;
  HttpListener::Options options;
  options.address = config::HostPort{"example.invalid", 0};
  std::vector<FilterFactory> filters;
  filters.push_back([]() -> FilterPtr { return nullptr; });
  auto listener = HttpListener::Create(std::move(options), **dispatcher, metrics, std::move(filters));
  ASSERT_TRUE(listener.ok());
  absl::Status st = (*listener)->Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  std::string why;
  EXPECT_FALSE((*listener)->Ready(&why));
}

}  // namespace
}  // namespace sidecar::http
