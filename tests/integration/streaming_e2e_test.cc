// Streamed replies end to end (issue 14), with real processes on loopback:
//   NATS client  -> sidecar (legacy-forward.yaml) -> FastAPI StreamingResponse   (legacy -> NATS)
//   HTTP client  -> gateway sidecar (gateway-split.yaml, all to NATS) -> a NATS streaming responder
//                   written here against the convention (adapters/nats_http/stream.h)
//   NATS / HTTP client -> native host (native-host.yaml) -> ai-integration complete_stream, and
//   HTTP client -> gateway sidecar -> NATS -> native host                 (native streaming)
// Ordering is asserted by events (the stand-in holds its second chunk until released), not by
// timing; the only time bounds are the (cancel within 100 ms) and the slow client's pace.

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_common/http_client.h"
#include "tests/test_common/legacy_service.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int kWindow = 16;  // the sidecar's default (adapters/nats_http/stream.h)

std::string Header(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, name, &value) != NATS_OK || value == nullptr) return "";
  return value;
}

std::string Data(natsMsg* msg) {
  return std::string(natsMsg_GetData(msg) == nullptr ? "" : natsMsg_GetData(msg),
                     static_cast<size_t>(natsMsg_GetDataLength(msg)));
}

void Publish(natsConnection* nc, const std::string& subject, const std::string& reply,
             const std::vector<std::pair<std::string, std::string>>& headers, const std::string& data) {
  natsMsg* msg = nullptr;
  ASSERT_EQ(natsMsg_Create(&msg, subject.c_str(), reply.empty() ? nullptr : reply.c_str(), data.data(),
                           static_cast<int>(data.size())),
            NATS_OK);
  for (const auto& [k, v] : headers) natsMsgHeader_Add(msg, k.c_str(), v.c_str());
  EXPECT_EQ(natsConnection_PublishMsg(nc, msg), NATS_OK);
  natsMsg_Destroy(msg);
}

// A NATS requester that reads a streamed reply message by message (synchronous subscription).
class StreamingRequester {
 public:
  explicit StreamingRequester(const std::string& url) {
    EXPECT_EQ(natsConnection_ConnectTo(&nc_, url.c_str()), NATS_OK);
    inbox_ = "_INBOX.test." + std::to_string(reinterpret_cast<uintptr_t>(this));
    EXPECT_EQ(natsConnection_SubscribeSync(&sub_, nc_, inbox_.c_str()), NATS_OK);
    natsConnection_Flush(nc_);
  }
  ~StreamingRequester() {
    natsSubscription_Destroy(sub_);
    natsConnection_Destroy(nc_);
  }
  void Send(const std::string& subject, std::vector<std::pair<std::string, std::string>> headers,
            const std::string& data = "") {
    Publish(nc_, subject, inbox_, headers, data);
    natsConnection_Flush(nc_);
  }
  // The next message, or null after `timeout`.
  natsMsg* Next(absl::Duration timeout = absl::Seconds(10)) {
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(&msg, sub_, absl::ToInt64Milliseconds(timeout)) != NATS_OK) return nullptr;
    return msg;
  }
  natsConnection* nc() { return nc_; }

 private:
  natsConnection* nc_ = nullptr;
  natsSubscription* sub_ = nullptr;
  std::string inbox_;
};

// A NATS streaming responder on svc.settings.v1.http, written from the convention: head (seq 1),
// `count` chunks of `size` bytes, end. Keeps at most kWindow chunks unacked, stops on cancel, and
// records what it did so tests can assert on the producer's side.
class TestStreamResponder {
 public:
  struct Plan {
    int count = 3;
    size_t size = 0;  // 0: "part-<i> "
    // Waits this long between chunks (a producer that is never done before the client leaves).
    std::chrono::milliseconds pace{0};
  };

  TestStreamResponder(const std::string& url, Plan plan) : plan_(plan) {
    EXPECT_EQ(natsConnection_ConnectTo(&nc_, url.c_str()), NATS_OK);
    EXPECT_EQ(natsConnection_Subscribe(&requests_, nc_, "svc.settings.v1.http", &OnRequest, this), NATS_OK);
    EXPECT_EQ(natsConnection_Subscribe(&control_, nc_, "_INBOX.settings.test.>", &OnControl, this), NATS_OK);
    natsConnection_Flush(nc_);
  }
  ~TestStreamResponder() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    natsSubscription_Destroy(requests_);
    natsSubscription_Destroy(control_);
    natsConnection_Destroy(nc_);
  }

  static std::string Chunk(int i, size_t size) {
    std::string text = absl::StrCat("part-", i, " ");
    if (size > text.size()) text.append(size - text.size(), '.');
    return text;
  }

  int sent() const { return sent_.load(); }
  int max_unacked() const { return max_unacked_.load(); }
  bool cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }
  std::optional<SteadyClock::time_point> cancel_time() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancel_time_;
  }
  // Waits (bounded) until the producer has sent at least `n` chunks.
  bool WaitSent(int n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return sent_.load() >= n; });
  }
  bool WaitCancelled(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] { return cancel_time_.has_value(); });
  }

 private:
  static void OnRequest(natsConnection*, natsSubscription*, natsMsg* msg, void* arg) {
    auto* self = static_cast<TestStreamResponder*>(arg);
    std::string reply = natsMsg_GetReply(msg) == nullptr ? "" : natsMsg_GetReply(msg);
    const bool wants_stream = Header(msg, "Nats-Stream") == "1";
    natsMsg_Destroy(msg);
    std::lock_guard<std::mutex> lock(self->mu_);
    self->workers_.emplace_back([self, reply, wants_stream] { self->Serve(reply, wants_stream); });
  }

  static void OnControl(natsConnection*, natsSubscription*, natsMsg* msg, void* arg) {
    auto* self = static_cast<TestStreamResponder*>(arg);
    const std::string subject = natsMsg_GetSubject(msg);
    const std::string data = Data(msg);
    natsMsg_Destroy(msg);
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      if (subject.size() > 4 && subject.substr(subject.size() - 4) == ".ack") {
        self->acked_ = std::max(self->acked_, std::stoi(data));
      } else if (!self->cancel_time_) {
        self->cancelled_ = true;
        self->cancel_time_ = SteadyClock::now();
      }
    }
    self->cv_.notify_all();
  }

  void Serve(const std::string& reply, bool wants_stream) {
    if (!wants_stream) {
      std::string body;
      for (int i = 1; i <= plan_.count; ++i) body += Chunk(i, plan_.size);
      Publish(nc_, reply, "", {{"X-Http-Status", "200"}, {"Content-Type", "text/plain"}}, body);
      return;
    }
    const std::string control = "_INBOX.settings.test." + std::to_string(++streams_);
    int seq = 1;
    Publish(nc_, reply, "",
            {{"X-Http-Status", "200"},
             {"Content-Type", "text/plain"},
             {"Nats-Stream-Seq", "1"},
             {"Nats-Stream-Cancel", control + ".cancel"},
             {"Nats-Stream-Ack", control + ".ack"},
             {"Nats-Stream-Window", std::to_string(kWindow)}},
            "");
    for (int i = 1; i <= plan_.count; ++i) {
      std::unique_lock<std::mutex> lock(mu_);
      // Flow control: at most kWindow unacked; the pace wait doubles as the cancel check.
      cv_.wait_for(lock, std::chrono::seconds(30), [&] { return cancelled_ || seq - acked_ < kWindow; });
      if (plan_.pace.count() > 0) cv_.wait_for(lock, plan_.pace, [&] { return cancelled_; });
      if (cancelled_) return;
      ++seq;
      max_unacked_ = std::max(max_unacked_.load(), seq - acked_);
      lock.unlock();
      Publish(nc_, reply, "", {{"Nats-Stream-Seq", std::to_string(seq)}}, Chunk(i, plan_.size));
      ++sent_;
      cv_.notify_all();
    }
    Publish(nc_, reply, "", {{"Nats-Stream-Seq", std::to_string(seq + 1)}, {"Nats-Stream-End", "true"}}, "");
    natsConnection_Flush(nc_);
  }

  const Plan plan_;
  natsConnection* nc_ = nullptr;
  natsSubscription* requests_ = nullptr;
  natsSubscription* control_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  int streams_ = 0;
  int acked_ = 1;  // seq 1 (the head) needs no ack to start
  bool cancelled_ = false;
  bool stopping_ = false;
  std::optional<SteadyClock::time_point> cancel_time_;
  std::atomic<int> sent_{0};
  std::atomic<int> max_unacked_{0};
};

// A raw HTTP/1.1 client socket: for reading a response slowly or leaving in the middle of it.
class RawClient {
 public:
  RawClient(int port, int rcvbuf = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ~RawClient() { Close(); }
  void Send(const std::string& bytes) { EXPECT_EQ(write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size())); }
  // Reads at most `max` bytes, waiting up to `timeout` for some.
  std::string Read(size_t max, absl::Duration timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) <= 0) return "";
    std::string buf(max, '\0');
    ssize_t n = read(fd_, buf.data(), max);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }
  // Reads until `needle` has been seen (bounded).
  std::string ReadUntil(const std::string& needle, absl::Duration timeout) {
    const absl::Time deadline = In(timeout);
    while (received_.find(needle) == std::string::npos && absl::Now() < deadline) {
      received_ += Read(4096, deadline - absl::Now());
    }
    return received_;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::string received_;
};

int64_t RssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

class StreamingE2ETest : public ::testing::Test {
 protected:
  void SetUp() override { nats_ = ValueOrDie(NatsServer::Start()); }

  void StartLegacyBackend() {
    legacy_ = ValueOrDie(LegacyService::Start({}));
    SidecarOptions o;
    o.name = "backend";
    o.config_yaml = ReadFile(SourceDir() + "/config/examples/legacy-forward.yaml");
    o.env = {{"SERVICE", "settings"}, {"NATS_URL", nats_->url()}, {"UPSTREAM", legacy_->address()},
             {"ADMIN", "127.0.0.1:0"}};
    backend_ = ValueOrDie(SidecarProcess::Start(std::move(o)));
  }

  void StartGateway() {
    SidecarOptions o;
    o.name = "gateway";
    o.config_yaml = ReadFile(SourceDir() + "/config/examples/gateway-split.yaml");
    // LEGACY points nowhere: every request must be served over NATS.
    o.env = {{"SERVICE", "settings"},   {"NATS_URL", nats_->url()}, {"LEGACY", "127.0.0.1:9"},
             {"LISTEN", "127.0.0.1:0"}, {"ADMIN", "127.0.0.1:0"},   {"NATS_WEIGHT", "100"}};
    gateway_ = ValueOrDie(SidecarProcess::Start(std::move(o)));
    gateway_port_ = ValueOrDie(gateway_->HttpListenerPort("gateway", In(absl::Seconds(10))));
    gateway_address_ = absl::StrCat("127.0.0.1:", gateway_port_);
  }

  Json StandIn(const std::string& name) {
    return Json::parse(ValueOrDie(HttpGet(legacy_->address(), "/admin/stream/" + name, In(absl::Seconds(5)))).body);
  }

  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<LegacyService> legacy_;
  std::unique_ptr<SidecarProcess> backend_;
  std::unique_ptr<SidecarProcess> gateway_;
  int gateway_port_ = 0;
  std::string gateway_address_;
};

TEST_F(StreamingE2ETest, LegacyStreamingResponseReachesNatsClientChunkByChunk) {
  StartLegacyBackend();
  StreamingRequester client(nats_->url());
  client.Send("svc.settings.v1.http", {{"X-Http-Method", "GET"},
                                       {"X-Http-Path", "/stream/first?count=5&gate=1"},
                                       {"Nats-Stream", "1"}});
  // The head: status, cancel/ack subjects, window.
  natsMsg* head = client.Next();
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(Header(head, "Nats-Stream-Seq"), "1");
  EXPECT_EQ(Header(head, "X-Http-Status"), "200");
  EXPECT_THAT(Header(head, "Nats-Stream-Cancel"), ::testing::StartsWith("_INBOX.settings."));
  EXPECT_THAT(Header(head, "Nats-Stream-Ack"), ::testing::StartsWith("_INBOX.settings."));
  EXPECT_EQ(Header(head, "Nats-Stream-Window"), std::to_string(kWindow));
  std::string body = Data(head);
  int seq = 1;
  natsMsg_Destroy(head);
  // Read until the first chunk has arrived...
  while (body.find("chunk-1 ") == std::string::npos) {
    natsMsg* msg = client.Next();
    ASSERT_NE(msg, nullptr) << "first chunk never arrived";
    EXPECT_EQ(Header(msg, "Nats-Stream-Seq"), std::to_string(++seq));
    body += Data(msg);
    natsMsg_Destroy(msg);
  }
  // ...while the stand-in has produced only that one: it waits for our release before chunk 2.
  Json state = StandIn("first");
  EXPECT_EQ(state["produced"], 1);
  EXPECT_FALSE(state["done"].get<bool>());
  ASSERT_TRUE(HttpPostJson(legacy_->address(), "/admin/stream/first/release", "{}", In(absl::Seconds(5))).ok());
  for (;;) {
    natsMsg* msg = client.Next();
    ASSERT_NE(msg, nullptr) << "stream never ended; got " << body;
    EXPECT_EQ(Header(msg, "Nats-Stream-Seq"), std::to_string(++seq));
    body += Data(msg);
    const bool end = Header(msg, "Nats-Stream-End") == "true";
    EXPECT_EQ(Header(msg, "Nats-Service-Error"), "");
    natsMsg_Destroy(msg);
    if (end) break;
  }
  EXPECT_EQ(body, "chunk-1 chunk-2 chunk-3 chunk-4 chunk-5 ");
  EXPECT_TRUE(StandIn("first")["done"].get<bool>());
}

TEST_F(StreamingE2ETest, RequesterWithoutOptInGetsOneWholeReply) {
  StartLegacyBackend();
  StreamingRequester client(nats_->url());
  client.Send("svc.settings.v1.http", {{"X-Http-Method", "GET"}, {"X-Http-Path", "/stream/whole?count=4"}});
  natsMsg* reply = client.Next();
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(Header(reply, "Nats-Stream-Seq"), "");
  EXPECT_EQ(Header(reply, "X-Http-Status"), "200");
  EXPECT_EQ(Data(reply), "chunk-1 chunk-2 chunk-3 chunk-4 ");
  natsMsg_Destroy(reply);
  EXPECT_EQ(client.Next(absl::Milliseconds(200)), nullptr) << "a second message after a whole reply";
}

TEST_F(StreamingE2ETest, NatsCancelStopsTheLegacyProducer) {
  StartLegacyBackend();
  StreamingRequester client(nats_->url());
  client.Send("svc.settings.v1.http", {{"X-Http-Method", "GET"},
                                       {"X-Http-Path", "/stream/cancelme?count=5&gate=1"},
                                       {"Nats-Stream", "1"}});
  natsMsg* head = client.Next();
  ASSERT_NE(head, nullptr);
  const std::string cancel = Header(head, "Nats-Stream-Cancel");
  natsMsg_Destroy(head);
  natsMsg* first = client.Next();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Data(first), "chunk-1 ");
  natsMsg_Destroy(first);
  const size_t from = legacy_->output().size();
  Publish(client.nc(), cancel, "", {}, "");
  natsConnection_Flush(client.nc());
  // The sidecar closes the upstream connection: Starlette sees the disconnect and cancels the
  // generator, which is still waiting for its gate.
  EXPECT_TRUE(legacy_->WaitForOutput("stream cancelme cancelled", In(absl::Seconds(5)), from).ok())
      << legacy_->output();
  EXPECT_FALSE(StandIn("cancelme")["done"].get<bool>());
  // Nothing more is published after a cancel.
  natsMsg* extra = client.Next(absl::Milliseconds(300));
  EXPECT_EQ(extra, nullptr);
  if (extra != nullptr) natsMsg_Destroy(extra);
}

TEST_F(StreamingE2ETest, NatsStreamingResponderReachesHttpClientAsChunked) {
  TestStreamResponder responder(nats_->url(), {.count = 5});
  StartGateway();
  auto r = ValueOrDie(HttpRequest(gateway_address_, "GET", "/api/settings/stream", {}, "", In(absl::Seconds(10))));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
  EXPECT_FALSE(r.HasHeader("content-length"));
  EXPECT_EQ(r.Header("content-type"), "text/plain");
  EXPECT_EQ(r.body, "part-1 part-2 part-3 part-4 part-5 ");
}

TEST_F(StreamingE2ETest, NatsStreamingResponderReachesHttpClientAsSse) {
  TestStreamResponder responder(nats_->url(), {.count = 3});
  StartGateway();
  auto r = ValueOrDie(HttpRequest(gateway_address_, "GET", "/api/settings/stream",
                                  {{"Accept", "text/event-stream"}}, "", In(absl::Seconds(10))));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/event-stream");
  EXPECT_EQ(r.Header("cache-control"), "no-cache");
  EXPECT_EQ(r.body, "data: part-1 \n\ndata: part-2 \n\ndata: part-3 \n\n");
}

TEST_F(StreamingE2ETest, ClientDisconnectCancelsTheProducerWithin100Ms) {
  // A producer that would go on for minutes.
  TestStreamResponder responder(nats_->url(), {.count = 100000, .pace = std::chrono::milliseconds(20)});
  StartGateway();
  RawClient client(gateway_port_);
  client.Send("GET /api/settings/stream HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got = client.ReadUntil("part-2 ", absl::Seconds(10));
  ASSERT_NE(got.find("part-2 "), std::string::npos) << got;
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos);
  const auto closed = SteadyClock::now();
  client.Close();
  ASSERT_TRUE(responder.WaitCancelled(absl::Seconds(5))) << "the producer was never cancelled";
  const auto after = std::chrono::duration_cast<std::chrono::microseconds>(*responder.cancel_time() - closed);
  std::cout << "cancel reached the producer " << after.count() << " us after the client closed\n";
  EXPECT_LT(after, std::chrono::milliseconds(100));
}

TEST_F(StreamingE2ETest, SlowClientKeepsTheSidecarBoundedAndThrottlesTheProducer) {
  constexpr int kChunks = 10000;
  constexpr size_t kChunkBytes = 1024;
  TestStreamResponder responder(nats_->url(), {.count = kChunks, .size = kChunkBytes});
  StartGateway();
  const int64_t rss_before = RssKb(gateway_->process().pid());
  RawClient client(gateway_port_, /*rcvbuf=*/4096);
  client.Send("GET /api/settings/stream HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(responder.WaitSent(1, absl::Seconds(10)));
  // Read one chunk's worth every 100 ms for 3 s.
  size_t read = 0;
  for (int i = 0; i < 30; ++i) {
    read += client.Read(kChunkBytes + 8, absl::Milliseconds(100)).size();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the slow client's pace, not a sync
  }
  const int sent = responder.sent();
  const int64_t rss_after = RssKb(gateway_->process().pid());
  std::cout << "slow client read " << read << " bytes; producer sent " << sent << " of " << kChunks
            << " chunks; max unacked " << responder.max_unacked() << "; gateway RSS " << rss_before
            << " -> " << rss_after << " kB\n";
  EXPECT_LT(sent, kChunks / 2) << "the producer was not throttled";
  EXPECT_LE(responder.max_unacked(), kWindow);
  EXPECT_LT(rss_after - rss_before, 32 * 1024) << "the gateway buffered the stream";
  client.Close();
  EXPECT_TRUE(responder.WaitCancelled(absl::Seconds(5)));
}

// ---- native: ai-integration complete_stream (SERVICES.md §2.17 examples, streamed) ----

class NativeCompleteStreamTest : public ::testing::Test {
 protected:
  static constexpr char kText[] = "[echo-small] Who sleeps beneath the yew?";

  void SetUp() override {
    nats_ = ValueOrDie(NatsServer::Start());
    SidecarOptions o;
    o.name = "native-host";
    o.config_yaml = ReadFile(SourceDir() + "/config/examples/native-host.yaml");
    o.env = {{"SERVICES", "ai-integration,model-management"}, {"NATS_URL", nats_->url()},
             {"ADMIN", "127.0.0.1:0"}, {"LISTEN", "127.0.0.1:0"}, {"FIXTURES", "true"}};
    host_ = ValueOrDie(SidecarProcess::Start(std::move(o)));
    host_address_ = absl::StrCat("127.0.0.1:", ValueOrDie(host_->HttpListenerPort("gateway", In(absl::Seconds(10)))));
    // Example 1's Given, from its golden file.
    golden_ = Json::parse(ReadFile(SourceDir() + "/tests/golden/ai-integration/01-offline-completion.json"));
    Fixture("model-management", golden_["dependency_fixtures"]["model-management"]);
    Fixture("ai-integration", golden_["fixture"]);
  }

  void Fixture(const std::string& service, const Json& document) {
    auto r = HttpRequest(host_address_, "POST", "/api/" + service + "/_fixture", Headers(),
                         document.dump(), In(absl::Seconds(5)));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200) << r->body;
  }
  static HttpHeaders Headers(HttpHeaders extra = {}) {
    HttpHeaders h = {{"Content-Type", "application/json"},
                     {"X-Principal", "service:ai-router"},
                     {"X-Request-Time", "2025-11-20T12:00:00.000Z"}};
    h.insert(h.end(), extra.begin(), extra.end());
    return h;
  }
  std::string Example1Body() const { return golden_["steps"][0]["body"].dump(); }
  // Example 1's answer without the text: what the summary must carry.
  Json ExpectedSummary(int64_t remaining) const {
    Json summary = golden_["steps"][0]["expect"]["body"];
    summary["text"] = "";
    summary["budget_remaining_tokens"] = remaining;
    return summary;
  }
  static std::string Trailer(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.trailers) {
      if (k == name) return v;
    }
    return "";
  }
  void StartGateway() {
    SidecarOptions o;
    o.name = "gateway";
    o.config_yaml = ReadFile(SourceDir() + "/config/examples/gateway-split.yaml");
    o.env = {{"SERVICE", "ai-integration"}, {"NATS_URL", nats_->url()}, {"LEGACY", "127.0.0.1:9"},
             {"LISTEN", "127.0.0.1:0"},     {"ADMIN", "127.0.0.1:0"},   {"NATS_WEIGHT", "100"}};
    gateway_ = ValueOrDie(SidecarProcess::Start(std::move(o)));
    gateway_address_ = absl::StrCat("127.0.0.1:", ValueOrDie(gateway_->HttpListenerPort("gateway", In(absl::Seconds(10)))));
  }

  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<SidecarProcess> host_;
  std::unique_ptr<SidecarProcess> gateway_;
  std::string host_address_;
  std::string gateway_address_;
  Json golden_;
};

TEST_F(NativeCompleteStreamTest, NatsClientGetsOneWordPerMessageAndTheAccountingOnTheEnd) {
  StreamingRequester client(nats_->url());
  client.Send("svc.ai-integration.v1.complete_stream",
              {{"Nats-Stream", "1"}, {"Content-Type", "application/json"},
               {"X-Principal", "service:ai-router"}, {"X-Request-Time", "2025-11-20T12:00:00.000Z"}},
              Example1Body());
  natsMsg* head = client.Next();
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(Header(head, "Nats-Stream-Seq"), "1");
  EXPECT_EQ(Header(head, "X-Http-Status"), "200");
  std::vector<std::string> words;
  if (!Data(head).empty()) words.push_back(Data(head));
  natsMsg_Destroy(head);
  std::string summary;
  for (int seq = 2;; ++seq) {
    natsMsg* msg = client.Next();
    ASSERT_NE(msg, nullptr) << "stream never ended after " << words.size() << " words";
    EXPECT_EQ(Header(msg, "Nats-Stream-Seq"), std::to_string(seq));
    const bool end = Header(msg, "Nats-Stream-End") == "true";
    if (!Data(msg).empty()) words.push_back(Data(msg));
    if (end) summary = Header(msg, "Nats-Stream-Summary");
    natsMsg_Destroy(msg);
    if (end) break;
  }
  EXPECT_EQ(words, (std::vector<std::string>{"[echo-small] ", "Who ", "sleeps ", "beneath ", "the ", "yew?"}));
  ASSERT_FALSE(summary.empty()) << "no Nats-Stream-Summary on the end message";
  EXPECT_EQ(Json::parse(summary), ExpectedSummary(19966));
}

TEST_F(NativeCompleteStreamTest, HttpClientGetsChunkedWithTheSummaryTrailerOrSse) {
  auto chunked = ValueOrDie(HttpRequest(host_address_, "POST", "/api/ai-integration/complete/stream", Headers(),
                                        Example1Body(), In(absl::Seconds(10))));
  EXPECT_EQ(chunked.status, 200) << chunked.body;
  EXPECT_EQ(chunked.Header("transfer-encoding"), "chunked");
  EXPECT_EQ(chunked.Header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(chunked.body, kText);
  EXPECT_EQ(Json::parse(Trailer(chunked, "x-stream-summary")), ExpectedSummary(19966));

  // 23 + 11 tokens later, as SSE: one event per word, then the summary event.
  auto sse = ValueOrDie(HttpRequest(host_address_, "POST", "/api/ai-integration/complete/stream",
                                    Headers({{"Accept", "text/event-stream"}}), Example1Body(),
                                    In(absl::Seconds(10))));
  EXPECT_EQ(sse.status, 200);
  EXPECT_EQ(sse.Header("content-type"), "text/event-stream");
  const std::string words =
      "data: [echo-small] \n\ndata: Who \n\ndata: sleeps \n\ndata: beneath \n\ndata: the \n\ndata: yew?\n\n";
  const std::string summary_event = "event: summary\ndata: ";
  ASSERT_EQ(sse.body.substr(0, words.size() + summary_event.size()), words + summary_event);
  ASSERT_EQ(sse.body.substr(sse.body.size() - 2), "\n\n");
  const std::string summary = sse.body.substr(words.size() + summary_event.size());
  EXPECT_EQ(Json::parse(summary.substr(0, summary.size() - 2)), ExpectedSummary(19966 - 34));
}

TEST_F(NativeCompleteStreamTest, ThroughAGatewaySidecarTheStreamEqualsCompletesTextForBothExamples) {
  StartGateway();
  // Example 1 through gateway -> NATS -> native host, streamed, next to `complete` itself.
  auto streamed = ValueOrDie(HttpRequest(gateway_address_, "POST", "/api/ai-integration/complete/stream",
                                         Headers(), Example1Body(), In(absl::Seconds(10))));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.Header("transfer-encoding"), "chunked");
  EXPECT_EQ(Json::parse(Trailer(streamed, "x-stream-summary")), ExpectedSummary(19966));
  auto whole = ValueOrDie(HttpRequest(gateway_address_, "POST", "/api/ai-integration/complete", Headers(),
                                      Example1Body(), In(absl::Seconds(10))));
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(streamed.body, Json::parse(whole.body)["text"]);
  EXPECT_EQ(streamed.body, kText);

  // Example 2: 19990 tokens used today, 87 required: the same 429 as complete, before any piece.
  Fixture("ai-integration", Json::parse(ReadFile(SourceDir() +
                                                 "/tests/golden/ai-integration/02-budget-exhausted.json"))["fixture"]);
  auto exhausted = ValueOrDie(HttpRequest(gateway_address_, "POST", "/api/ai-integration/complete/stream",
                                          Headers(), Example1Body(), In(absl::Seconds(10))));
  EXPECT_EQ(exhausted.status, 429) << exhausted.body;
  EXPECT_NE(exhausted.Header("transfer-encoding"), "chunked");
  const Json error = Json::parse(exhausted.body)["error"];
  EXPECT_EQ(error["code"], "RESOURCE_EXHAUSTED");
  EXPECT_EQ(error["details"]["reason"], "budget_exhausted");
  EXPECT_EQ(error["details"]["remaining_tokens"], "10");
  EXPECT_EQ(error["details"]["required_tokens"], "87");
}

TEST_F(NativeCompleteStreamTest, NatsClientWithoutOptInGetsCompletesWholeAnswer) {
  StreamingRequester client(nats_->url());
  client.Send("svc.ai-integration.v1.complete_stream",
              {{"Content-Type", "application/json"}, {"X-Principal", "service:ai-router"},
               {"X-Request-Time", "2025-11-20T12:00:00.000Z"}},
              Example1Body());
  natsMsg* reply = client.Next();
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(Header(reply, "Nats-Stream-Seq"), "");
  EXPECT_EQ(Json::parse(Data(reply)), golden_["steps"][0]["expect"]["body"]);
  natsMsg_Destroy(reply);
}

}  // namespace
}  // namespace sidecar::test_common
