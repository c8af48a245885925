#pragma once
// Shared by the request/reply integration tests (RequestMux, NatsCluster):
//   NatsLoopTest   a real nats-server, a Dispatcher driven by the test thread and a
//                  nats::Connection on it; Run()/Stop() run the loop until a callback says stop,
//                  bounded by a guard timer (never by sleeping).
//   TestResponder  a service written directly against nats.c, on nats.c's own threads (no event
//                  loop), so it answers while the test thread is inside Run() and can be flushed
//                  from the test thread. Its handler decides each reply; returning nullopt holds
//                  the request (Held()/Answer() release it later, or never).

#include <nats/nats.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/nats/connection.h"
#include "sidecar/stats/metrics.h"
#include "tests/test_common/nats_server.h"

namespace sidecar::nats::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct TestReply {
  Headers headers;
  std::string data;
};

class TestResponder {
 public:
  // Runs on a nats.c thread: must be thread-safe and must not block.
  using Handler = std::function<std::optional<TestReply>(const Message&)>;

  // Connects, subscribes to `subject` and flushes, so the server knows the interest before any
  // request is sent. Reconnects quickly and forever (the server-restart test).
  static std::unique_ptr<TestResponder> Start(const std::string& url, const std::string& subject,
                                              Handler handler) {
    std::unique_ptr<TestResponder> r(new TestResponder(std::move(handler)));
    natsOptions* opts = nullptr;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 20);
    if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, &TestResponder::OnReconnected, r.get());
    if (s == NATS_OK) s = natsConnection_Connect(&r->conn_, opts);
    natsOptions_Destroy(opts);
    if (s == NATS_OK) {
      s = natsConnection_Subscribe(&r->sub_, r->conn_, subject.c_str(), &TestResponder::OnMsg,
                                   r.get());
    }
    if (s == NATS_OK) {
      s = natsSubscription_SetOnCompleteCB(r->sub_, &TestResponder::OnComplete, r.get());
    }
    if (s == NATS_OK) s = natsConnection_FlushTimeout(r->conn_, 5000);
    EXPECT_EQ(s, NATS_OK) << natsStatus_GetText(s) << " " << nats_GetLastError(nullptr);
    return s == NATS_OK ? std::move(r) : nullptr;
  }

  ~TestResponder() {
    if (sub_ != nullptr) {
      natsSubscription_Unsubscribe(sub_);
      // The handler may be running on nats.c's thread: wait until it cannot run any more.
      complete_.get_future().wait_for(std::chrono::seconds(5));
      natsSubscription_Destroy(sub_);
    }
    if (conn_ != nullptr) natsConnection_Destroy(conn_);
  }

  // Publishes a reply to `reply_subject` (thread-safe) and flushes it.
  void Answer(const std::string& reply_subject, const TestReply& reply) {
    natsMsg* msg = nullptr;
    ASSERT_EQ(natsMsg_Create(&msg, reply_subject.c_str(), nullptr, reply.data.data(),
                             static_cast<int>(reply.data.size())),
              NATS_OK);
    for (const auto& [k, v] : reply.headers) natsMsgHeader_Add(msg, k.c_str(), v.c_str());
    EXPECT_EQ(natsConnection_PublishMsg(conn_, msg), NATS_OK);
    natsMsg_Destroy(msg);
    EXPECT_EQ(natsConnection_FlushTimeout(conn_, 5000), NATS_OK);
  }

  // Reply subjects of the requests the handler held, in arrival order.
  std::vector<std::string> Held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }
  int received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  // Blocks (bounded) until nats.c reports the reconnect, then flushes so the server has the
  // resent subscription before the test sends anything.
  bool WaitReconnected(absl::Duration timeout) {
    if (!reconnected_.WaitForNotificationWithTimeout(timeout)) return false;
    return natsConnection_FlushTimeout(conn_, 5000) == NATS_OK;
  }
  natsConnection* raw() { return conn_; }

 private:
  explicit TestResponder(Handler handler) : handler_(std::move(handler)) {}

  static void OnMsg(natsConnection* nc, natsSubscription*, natsMsg* raw, void* closure) noexcept {
    auto* self = static_cast<TestResponder*>(closure);
    Message m = ToMessage(raw);
    natsMsg_Destroy(raw);
    std::optional<TestReply> reply = self->handler_(m);
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      ++self->received_;
      if (!reply) self->held_.push_back(m.reply);
    }
    if (!reply || m.reply.empty()) return;
    natsMsg* out = nullptr;
    if (natsMsg_Create(&out, m.reply.c_str(), nullptr, reply->data.data(),
                       static_cast<int>(reply->data.size())) != NATS_OK) {
      return;
    }
    for (const auto& [k, v] : reply->headers) natsMsgHeader_Add(out, k.c_str(), v.c_str());
    natsConnection_PublishMsg(nc, out);
    natsMsg_Destroy(out);
  }
  static void OnComplete(void* closure) noexcept {
    static_cast<TestResponder*>(closure)->complete_.set_value();
  }
  static void OnReconnected(natsConnection*, void* closure) noexcept {
    auto* self = static_cast<TestResponder*>(closure);
    if (!self->reconnected_.HasBeenNotified()) self->reconnected_.Notify();
  }

  Handler handler_;
  natsConnection* conn_ = nullptr;
  natsSubscription* sub_ = nullptr;
  std::promise<void> complete_;
  absl::Notification reconnected_;
  std::mutex mu_;
  std::vector<std::string> held_;
  int received_ = 0;
};

// Echoes the request: headers (X-Request-Id among them) and payload.
inline TestResponder::Handler Echo() {
  return [](const Message& m) -> std::optional<TestReply> {
    return TestReply{m.headers, m.data};
  };
}
// Holds requests whose payload is `payload` (they pile up in Held()) and echoes the others. An
// echoed request doubles as a barrier: the responder handles requests in order, so once its reply
// is back, every request sent before it has been received (and held).
inline TestResponder::Handler HoldOnly(std::string payload) {
  return [payload](const Message& m) -> std::optional<TestReply> {
    if (m.data == payload) return std::nullopt;
    return TestReply{m.headers, m.data};
  };
}

class NatsLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = test_common::NatsServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto dispatcher = event::Dispatcher::Create("test");
    ASSERT_TRUE(dispatcher.ok()) << dispatcher.status();
    dispatcher_ = *std::move(dispatcher);
    config::NatsConfig cfg;
    cfg.servers = {server_->url()};
    cfg.name = "test-client";
    cfg.reconnect_wait_ms = 20;
    auto connection = Connection::Create(cfg, *dispatcher_, metrics_);
    ASSERT_TRUE(connection.ok()) << connection.status();
    connection_ = *std::move(connection);
    ASSERT_TRUE(connection_->connected());
  }

  // Asks the running loop to return; only the first call of a Run() counts.
  void Stop() {
    if (stopping_) return;
    stopping_ = true;
    dispatcher_->Exit();
  }

  // Runs the loop until Stop(); false if `limit` passed first.
  bool Run(std::chrono::milliseconds limit) {
    stopping_ = false;
    bool timed_out = false;
    event::TimerPtr guard = dispatcher_->CreateTimer([&] {
      timed_out = true;
      Stop();
    });
    guard->Enable(limit);
    dispatcher_->Run();
    return !timed_out;
  }

  // Runs the loop until the connection's state callback reports `connected`.
  bool WaitConnection(bool connected, std::chrono::milliseconds limit) {
    if (connection_->connected() == connected &&
        (connection_->status() == NATS_CONN_STATUS_CONNECTED) == connected) {
      return true;
    }
    connection_->SetStateCallback([this, connected](bool up) {
      if (up == connected) Stop();
    });
    const bool ok = Run(limit);
    connection_->SetStateCallback(nullptr);
    return ok;
  }

  // Destroyed in reverse: the derived fixture's muxes, clusters and responders first (they use
  // the connection), then the connection, the dispatcher and the server.
  stats::Metrics metrics_;
  std::unique_ptr<test_common::NatsServer> server_;
  event::DispatcherPtr dispatcher_;
  std::unique_ptr<Connection> connection_;
  bool stopping_ = false;
};

}  // namespace sidecar::nats::testing
