// The upstream HTTP/1.1 client against exact bytes: a scripted server on a raw socket answers each
// request with a fixed byte string (optionally one byte per write), so every framing rule of the
// response parser is exercised on the wire, not through another HTTP library.

#include "sidecar/upstream/http_client_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::upstream {
namespace {

using std::chrono::milliseconds;

// Accepts connections one after another; answers each request on them with the next scripted
// reply. Stops by itself when the test ends (the destructor) or after 10 s.
class ScriptedServer {
 public:
  struct Reply {
    std::string bytes;
    bool byte_by_byte = false;
    bool close_after = false;
  };

  explicit ScriptedServer(std::vector<Reply> replies) : replies_(std::move(replies)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 8);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  std::string last_request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

 private:
  bool WaitReadable(int fd, std::chrono::steady_clock::time_point deadline) {
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }

  void Serve() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    size_t next = 0;
    int fd = -1;
    std::string buffer;
    while (!stop_ && next < replies_.size()) {
      if (fd < 0) {
        if (!WaitReadable(listen_fd_, deadline)) break;
        fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) continue;
        connections_++;
        buffer.clear();
      }
      // One request: its head, then Content-Length bytes of body.
      size_t end;
      bool closed = false;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!WaitReadable(fd, deadline)) return Close(fd);
        char chunk[4096];
        const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) {
          closed = true;
          break;
        }
        buffer.append(chunk, static_cast<size_t>(n));
      }
      if (closed) {  // the client gave this connection up: the next request comes on a new one
        Close(fd);
        fd = -1;
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_request_ = buffer.substr(0, end + 4);
      }
      buffer.erase(0, end + 4);
      const Reply& reply = replies_[next++];
      if (reply.byte_by_byte) {
        for (char c : reply.bytes) {
          ::send(fd, &c, 1, MSG_NOSIGNAL);
          std::this_thread::yield();
        }
      } else {
        ::send(fd, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL);
      }
      if (reply.close_after) {
        Close(fd);
        fd = -1;
      }
    }
    // Hold the last connection open until the test ends, so "usable" is decided by the client.
    while (fd >= 0 && !stop_ && std::chrono::steady_clock::now() < deadline) {
      if (WaitReadable(fd, deadline)) {
        char chunk[4096];
        if (::recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT) == 0) break;
      }
    }
    Close(fd);
  }
  void Close(int fd) {
    if (fd >= 0) ::close(fd);
  }

  std::vector<Reply> replies_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::string last_request_;
  std::thread thread_;
};

class HttpClientConnectionTest : public ::testing::Test, public HttpClientConnection::Callbacks {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    auto dispatcher = event::Dispatcher::Create("client-test");
    ASSERT_TRUE(dispatcher.ok());
    dispatcher_ = *std::move(dispatcher);
  }
  void TearDown() override {
    connection_.reset();
    dispatcher_.reset();
  }

  void Connect(uint16_t port) {
    ConnectionOptions options;
    options.address = "127.0.0.1";
    options.port = port;
    options.family = AF_INET;
    options.max_response_body_bytes = 1024;
    auto created = HttpClientConnection::Create(*dispatcher_, options, *this);
    ASSERT_TRUE(created.ok()) << created.status();
    connection_ = *std::move(created);
  }

  // Sends one request and runs the loop until it completes (or 3 s pass).
  std::optional<absl::StatusOr<http::Response>> Exchange(evhttp_cmd_type method = EVHTTP_REQ_GET,
                                                         bool stream_ok = false) {
    WireRequest request(method, "/thing?x=1");
    EXPECT_TRUE(request.AddHeader("Host", "legacy").ok());
    result_.reset();
    absl::Status started = connection_->Start(request, stream_ok);
    if (!started.ok()) return absl::StatusOr<http::Response>(started);
    event::TimerPtr guard = dispatcher_->CreateTimer([this] { dispatcher_->Exit(); });
    guard->Enable(milliseconds(3000));
    dispatcher_->Run();
    return std::move(result_);
  }

  void OnComplete(HttpClientConnection&, absl::StatusOr<http::Response> result) override {
    result_ = std::move(result);
    dispatcher_->Exit();
  }
  void OnIdleClose(HttpClientConnection&) override { idle_closed_ = true; }
  void OnStreamHead(HttpClientConnection&, http::Response head) override {
    stream_head_ = std::move(head);
  }
  void OnBodyChunk(HttpClientConnection&, std::string chunk) override { chunks_.push_back(chunk); }

  event::DispatcherPtr dispatcher_;
  std::unique_ptr<HttpClientConnection> connection_;
  std::optional<absl::StatusOr<http::Response>> result_;
  std::optional<http::Response> stream_head_;
  std::vector<std::string> chunks_;
  bool idle_closed_ = false;
};

TEST_F(HttpClientConnectionTest, WritesTheRequestLineHeadersAndReadsAFixedLengthBody) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"}});
  Connect(server.port());
  auto r = Exchange();
  ASSERT_TRUE(r.has_value() && r->ok()) << (r ? r->status().ToString() : "no answer");
  EXPECT_EQ((*r)->status, 200);
  EXPECT_EQ((*r)->body, "hello");
  EXPECT_EQ((*r)->headers.GetOr("X-A", ""), "b");
  EXPECT_EQ(server.last_request(), "GET /thing?x=1 HTTP/1.1\r\nHost: legacy\r\n\r\n");
  EXPECT_TRUE(connection_->usable());
}

TEST_F(HttpClientConnectionTest, KeepsTheConnectionForTheNextRequest) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"},
                         {"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb"}});
  Connect(server.port());
  auto first = Exchange();
  ASSERT_TRUE(first && first->ok());
  auto second = Exchange();
  ASSERT_TRUE(second && second->ok());
  EXPECT_EQ((*second)->status, 201);
  EXPECT_EQ((*second)->body, "b");
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(HttpClientConnectionTest, DecodesChunksWithExtensionsAndTrailersByteByByte) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3;name=value\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer-X: 1\r\n\r\n",
                          /*byte_by_byte=*/true}});
  Connect(server.port());
  auto r = Exchange();
  ASSERT_TRUE(r && r->ok()) << (r ? r->status().ToString() : "no answer");
  EXPECT_EQ((*r)->body, "abc0123456789");
  EXPECT_TRUE(connection_->usable());
}

TEST_F(HttpClientConnectionTest, ABodyEndedByCloseIsWholeAndTheConnectionIsNotReused) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
                          false, /*close_after=*/true}});
  Connect(server.port());
  auto r = Exchange();
  ASSERT_TRUE(r && r->ok()) << (r ? r->status().ToString() : "no answer");
  EXPECT_EQ((*r)->body, "until the end");
  EXPECT_FALSE(connection_->usable());
}

TEST_F(HttpClientConnectionTest, Http10IsReusedOnlyWithKeepAlive) {
  {
    ScriptedServer server({{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
    Connect(server.port());
    auto r = Exchange();
    ASSERT_TRUE(r && r->ok());
    EXPECT_FALSE(connection_->usable());
  }
  ScriptedServer server({{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"}});
  Connect(server.port());
  auto r = Exchange();
  ASSERT_TRUE(r && r->ok());
  EXPECT_TRUE(connection_->usable());
}

TEST_F(HttpClientConnectionTest, ConnectionCloseFromTheServerEndsReuse) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"}});
  Connect(server.port());
  auto r = Exchange();
  ASSERT_TRUE(r && r->ok());
  EXPECT_FALSE(connection_->usable());
}

TEST_F(HttpClientConnectionTest, SkipsInterimResponses) {
  ScriptedServer server({{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
                          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  Connect(server.port());
  auto r = Exchange();
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ((*r)->status, 200);
  EXPECT_EQ((*r)->body, "ok");
}

TEST_F(HttpClientConnectionTest, HeadAnd204And304HaveNoBody) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"},
                         {"HTTP/1.1 204 No Content\r\n\r\n"},
                         {"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"},
                         {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"}});
  Connect(server.port());
  auto head = Exchange(EVHTTP_REQ_HEAD);
  ASSERT_TRUE(head && head->ok());
  EXPECT_EQ((*head)->headers.GetOr("Content-Length", ""), "50");
  EXPECT_EQ((*head)->body, "");
  auto no_content = Exchange();
  ASSERT_TRUE(no_content && no_content->ok());
  EXPECT_EQ((*no_content)->status, 204);
  auto not_modified = Exchange();
  ASSERT_TRUE(not_modified && not_modified->ok());
  EXPECT_EQ((*not_modified)->status, 304);
  auto last = Exchange();  // the framing stayed in step
  ASSERT_TRUE(last && last->ok());
  EXPECT_EQ((*last)->body, "z");
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(HttpClientConnectionTest, StreamsA2xxChunkedBodyToTheCaller) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                          "5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n"}});
  Connect(server.port());
  auto r = Exchange(EVHTTP_REQ_GET, /*stream_ok=*/true);
  ASSERT_TRUE(r && r->ok());
  ASSERT_TRUE(stream_head_.has_value());
  EXPECT_EQ(stream_head_->status, 200);
  std::string body;
  for (const auto& c : chunks_) body += c;
  EXPECT_EQ(body, "firstsecond");
  EXPECT_EQ((*r)->body, "");
}

struct BadReply {
  const char* name;
  const char* bytes;
};

class HttpClientConnectionBadReplyTest : public HttpClientConnectionTest,
                                         public ::testing::WithParamInterface<BadReply> {};

TEST_P(HttpClientConnectionBadReplyTest, IsAProtocolErrorAndTheConnectionIsDropped) {
  ScriptedServer server({{GetParam().bytes}});
  Connect(server.port());
  auto r = Exchange();
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(GetFailureKind(r->status()), FailureKind::kProtocolError) << r->status();
  EXPECT_FALSE(connection_->usable());
}

INSTANTIATE_TEST_SUITE_P(
    Framing, HttpClientConnectionBadReplyTest,
    ::testing::Values(
        BadReply{"LengthAndChunked",
                 "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        BadReply{"ConflictingLengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"},
        BadReply{"NonNumericLength", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nab"},
        BadReply{"ObsFold", "HTTP/1.1 200 OK\r\nX-A: b\r\n  continued\r\nContent-Length: 0\r\n\r\n"},
        BadReply{"NoColon", "HTTP/1.1 200 OK\r\nbroken header\r\nContent-Length: 0\r\n\r\n"},
        BadReply{"BadStatusLine", "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n"},
        BadReply{"StatusWithALetter", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"},
        BadReply{"StatusBelow100", "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n"},
        BadReply{"FourDigitStatus", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"},
        BadReply{"BadChunkSize", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"},
        BadReply{"MissingChunkEnd", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n"},
        BadReply{"BodyOverTheCap", "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n"},
        BadReply{"SwitchingProtocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"}),
    [](const ::testing::TestParamInfo<BadReply>& info) { return std::string(info.param.name); });

TEST_F(HttpClientConnectionTest, BytesAfterTheResponseEndReuse) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"}});
  Connect(server.port());
  auto r = Exchange();
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ((*r)->body, "ok");
  EXPECT_FALSE(connection_->usable());
}

TEST_F(HttpClientConnectionTest, TheHeadGoesOutAsBuiltAndABodyWithoutLengthGetsOne) {
  ScriptedServer server({{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}});
  Connect(server.port());
  WireRequest request(EVHTTP_REQ_POST, "/p?q=1");
  ASSERT_TRUE(request.AddHeader("Host", "legacy").ok());
  ASSERT_TRUE(request.AddHeader("X-A", "b c").ok());
  request.set_body("hello");
  ASSERT_TRUE(connection_->Start(request).ok());
  event::TimerPtr guard = dispatcher_->CreateTimer([this] { dispatcher_->Exit(); });
  guard->Enable(milliseconds(3000));
  dispatcher_->Run();
  ASSERT_TRUE(result_.has_value() && result_->ok());
  EXPECT_EQ(server.last_request(),
            "POST /p?q=1 HTTP/1.1\r\nHost: legacy\r\nX-A: b c\r\nContent-Length: 5\r\n\r\n");
}

TEST_F(HttpClientConnectionTest, AnEmptyPlaceholderIsRefusedBeforeAnythingIsSent) {
  ScriptedServer server({});
  Connect(server.port());
  EXPECT_EQ(connection_->Start(WireRequest()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.connections(), 0);
}

TEST_F(HttpClientConnectionTest, ANonNumericAddressIsRefusedAtCreation) {
  ConnectionOptions options;
  options.address = "legacy.internal";
  options.port = 80;
  auto created = HttpClientConnection::Create(*dispatcher_, options, *this);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sidecar::upstream
