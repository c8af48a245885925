// The two halves of the NATS streaming convention (adapters/nats_http/stream.h) against each other
// over a real nats-server: StreamResponder publishing a body, NatsReplyStream consuming it.

#include "adapters/nats_http/stream.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/sidecar/nats/nats_test_util.h"

namespace sidecar::adapters::nats_http {
namespace {

using std::chrono::milliseconds;

// A producer the test drives by hand.
class FakeBody final : public http::QueuedBodyStream {
 public:
  FakeBody(event::Dispatcher& d, bool* destroyed) : QueuedBodyStream(d), destroyed_(destroyed) {}
  ~FakeBody() override { *destroyed_ = true; }
  void Feed(std::string s) { Push(std::move(s)); }
  void Close(absl::Status s) { End(std::move(s)); }
  int pauses = 0;

 private:
  void OnPause() override { ++pauses; }
  void OnResume() override {}
  bool* destroyed_;
};

// The consumer: records chunks; may hold the stream paused.
class Consumer final : public http::BodyStream::Sink {
 public:
  void OnChunk(std::string data) override { chunks.push_back(std::move(data)); if (on_chunk) on_chunk(); }
  void OnEnd(absl::Status status) override { end = status; if (on_end) on_end(); }
  std::vector<std::string> chunks;
  std::optional<absl::Status> end;
  std::function<void()> on_chunk, on_end;
};

class StreamTest : public nats::testing::NatsLoopTest {
 protected:
  // Wires a responder for `body` to a requester stream consumed by `consumer_`.
  void Connect(std::shared_ptr<FakeBody> body, int window) {
    auto control = connection_->Subscribe("_INBOX.t.ctl.>", [this](nats::Message m) {
      if (responder_ == nullptr) return;
      if (m.subject.size() > 4 && m.subject.substr(m.subject.size() - 4) == ".ack") {
        ++acks_;
        responder_->OnAck(m.data);
      } else {
        responder_->OnCancel();
      }
    });
    ASSERT_TRUE(control.ok());
    control_ = *std::move(control);
    auto replies = connection_->Subscribe("_INBOX.t.reply", [this](nats::Message m) {
      ++messages_;
      if (requester_ == nullptr) {
        requester_ = NatsReplyStream::Create(*connection_, alive_, m, {},
                                             [this](absl::Status s, const StreamStats&) { requester_outcome_ = s; });
        requester_->Start(consumer_);
        if (pause_consumer_) requester_->Pause();
      } else {
        requester_->OnMessage(std::move(m));
      }
    });
    ASSERT_TRUE(replies.ok());
    replies_ = *std::move(replies);
    StreamResponder::Options options;
    options.window = window;
    NatsReply head;
    head.headers = {{"X-Http-Status", "200"}};
    responder_ = std::make_unique<StreamResponder>(
        *connection_, "_INBOX.t.reply", "_INBOX.t.ctl.1", options, std::move(head), std::move(body),
        [this](absl::Status s, const StreamStats& stats) {
          responder_outcome_ = s;
          responder_chunks_ = stats.chunks;
        });
    responder_->Start();
  }

  Consumer consumer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  nats::SubscriptionPtr control_, replies_;
  std::unique_ptr<StreamResponder> responder_;
  std::shared_ptr<NatsReplyStream> requester_;
  std::optional<absl::Status> responder_outcome_, requester_outcome_;
  uint64_t responder_chunks_ = 0;
  int messages_ = 0;
  int acks_ = 0;
  bool pause_consumer_ = false;
};

TEST_F(StreamTest, ChunksArriveInOrderAndTheEndCompletesBothSides) {
  bool destroyed = false;
  auto body = std::make_shared<FakeBody>(*dispatcher_, &destroyed);
  FakeBody* producer = body.get();
  Connect(body, 4);
  for (int i = 0; i < 10; ++i) producer->Feed("c" + std::to_string(i) + " ");
  producer->Close(absl::OkStatus());
  consumer_.on_end = [this] { Stop(); };
  ASSERT_TRUE(Run(milliseconds(5000)));
  std::string all;
  for (const auto& c : consumer_.chunks) all += c;
  EXPECT_EQ(all, "c0 c1 c2 c3 c4 c5 c6 c7 c8 c9 ");
  ASSERT_TRUE(consumer_.end.has_value());
  EXPECT_TRUE(consumer_.end->ok());
  ASSERT_TRUE(responder_outcome_.has_value());
  EXPECT_TRUE(responder_outcome_->ok());
  EXPECT_EQ(responder_chunks_, 10u);
  EXPECT_GE(acks_, 1) << "10 chunks through a window of 4 need acks";
}

TEST_F(StreamTest, APausedConsumerHoldsTheResponderAtTheWindow) {
  bool destroyed = false;
  auto body = std::make_shared<FakeBody>(*dispatcher_, &destroyed);
  FakeBody* producer = body.get();
  pause_consumer_ = true;
  Connect(body, 4);
  for (int i = 0; i < 50; ++i) producer->Feed("x");
  ASSERT_FALSE(Run(milliseconds(300)));  // nothing ends while paused
  EXPECT_LE(responder_->unacked(), 4u);
  EXPECT_LE(messages_, 1 + 4 + 1) << "the responder published past its window";
  EXPECT_GE(producer->pauses, 1) << "the producer was never paused";
  // Resume: everything flows and ends.
  producer->Close(absl::OkStatus());
  requester_->Resume();
  consumer_.on_end = [this] { Stop(); };
  ASSERT_TRUE(Run(milliseconds(5000)));
  EXPECT_EQ(consumer_.chunks.size(), 50u);
}

TEST_F(StreamTest, DroppingTheRequesterCancelsTheResponderAndItsBody) {
  bool destroyed = false;
  auto body = std::make_shared<FakeBody>(*dispatcher_, &destroyed);
  FakeBody* producer = body.get();
  Connect(body, 4);
  producer->Feed("first");
  consumer_.on_chunk = [this] { Stop(); };
  ASSERT_TRUE(Run(milliseconds(5000)));
  requester_.reset();  // the consumer went away
  body.reset();
  ASSERT_FALSE(Run(milliseconds(300)));
  ASSERT_TRUE(responder_outcome_.has_value());
  EXPECT_EQ(responder_outcome_->code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(destroyed) << "the upstream body was not dropped";
  ASSERT_TRUE(requester_outcome_.has_value());
  EXPECT_EQ(requester_outcome_->code(), absl::StatusCode::kCancelled);
}

TEST_F(StreamTest, AFailureMidwayReachesTheConsumerAsTheResponderStatus) {
  bool destroyed = false;
  auto body = std::make_shared<FakeBody>(*dispatcher_, &destroyed);
  FakeBody* producer = body.get();
  Connect(body, 4);
  producer->Feed("part");
  producer->Close(absl::UnavailableError("legacy reset"));
  consumer_.on_end = [this] { Stop(); };
  ASSERT_TRUE(Run(milliseconds(5000)));
  ASSERT_TRUE(consumer_.end.has_value());
  EXPECT_EQ(consumer_.end->code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(consumer_.chunks, std::vector<std::string>{"part"});
}

}  // namespace
}  // namespace sidecar::adapters::nats_http
