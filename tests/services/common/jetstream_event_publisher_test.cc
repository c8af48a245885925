// JetStreamEventPublisher on a real nats-server: the EVENTS stream is created, events land on
// evt.<service>.v1.<event> with Nats-Msg-Id = event_id, and a republished event id is dropped.
#include "services/common/jetstream_event_publisher.h"

#include "payment/v1/payment.pb.h"
#include "tests/services/common/jetstream_test_env.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::services::testing {
namespace {

using JsCtxHandle = CHandle<jsCtx, jsCtx_Destroy>;
using StreamInfoPtr = CHandle<jsStreamInfo, jsStreamInfo_Destroy>;
using MsgPtr = CHandle<natsMsg, natsMsg_Destroy>;

TEST(JetStreamEventPublisherTest, PublishesToEventsStreamAndDeduplicatesByEventId) {
  LoopThread loop;
  NatsConnPtr conn = Connect();
  auto publisher = JetStreamEventPublisher::Create(conn.get(), loop.dispatcher(), {});
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  // A second publisher finds the stream already there.
  auto second = JetStreamEventPublisher::Create(conn.get(), loop.dispatcher(), {});
  ASSERT_TRUE(second.ok()) << second.status();

  payment::v1::TransactionCommittedEvent e;
  e.set_tx_id("tx_1ce5089ef0263ea7");
  std::string id = MakeEventId("payment", "transaction_committed", e.tx_id());
  auto event = MakeEvent("payment", "transaction_committed", id, 1763640000000, e);
  ASSERT_TRUE(event.ok());
  for (int i = 0; i < 2; ++i) {  // the retry of the same occurrence
    auto s = loop.Await<absl::Status>([&](auto cb) { (*publisher)->Publish(*event, std::move(cb)); });
    ASSERT_TRUE(s && s->ok()) << *s;
  }

  jsCtx* raw_js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&raw_js, conn.get(), nullptr), NATS_OK);
  JsCtxHandle js(raw_js);
  jsStreamInfo* raw_si = nullptr;
  ASSERT_EQ(js_GetStreamInfo(&raw_si, js.get(), "EVENTS", nullptr, nullptr), NATS_OK);
  StreamInfoPtr si(raw_si);
  EXPECT_EQ(si->State.Msgs, 1u);
  natsMsg* raw_msg = nullptr;
  ASSERT_EQ(js_GetLastMsg(&raw_msg, js.get(), "EVENTS", "evt.payment.v1.transaction_committed",
                          nullptr, nullptr),
            NATS_OK);
  MsgPtr msg(raw_msg);
  const char* msg_id = nullptr;
  ASSERT_EQ(natsMsgHeader_Get(msg.get(), "Nats-Msg-Id", &msg_id), NATS_OK);
  EXPECT_EQ(std::string(msg_id), id);
  payment::v1::TransactionCommittedEvent parsed;
  ASSERT_TRUE(parsed.ParseFromArray(natsMsg_GetData(msg.get()), natsMsg_GetDataLength(msg.get())));
  EXPECT_EQ(parsed.event_id(), id);
  EXPECT_EQ(parsed.occurred_at(), 1763640000000);
}

}  // namespace
}  // namespace sidecar::services::testing
