// nats::Connection's lifetime against a real nats-server (label: integration).

#include "sidecar/nats/connection.h"

#include <event2/event.h>

#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/sidecar/nats/nats_test_util.h"

namespace sidecar::nats {
namespace {

using std::chrono::milliseconds;

class ConnectionTest : public testing::NatsLoopTest {};

// The events left on the loop once it has run what is due. A detach hands its events to the loop
// to free (event_free_finalize: connection.cc), so they are gone only after the loop's next pass.
int EventsOnLoop(event::Dispatcher& dispatcher) {
  event_base_loop(dispatcher.base(), EVLOOP_NONBLOCK);
  return event_base_get_num_events(dispatcher.base(), EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE);
}

// The shutdown path of the sidecar: drain, wait for the closed callback on the loop, destroy the
// connection, then the loop. nats.c ends a drain on one of its own threads and frees its loop
// events there *after* the closed callback; once ~Connection returns, none of them may be left on
// the loop (they would be freed later, into a freed event_base). Repeated, because it is a race.
TEST_F(ConnectionTest, DrainAndCloseThenDestroyLeavesNothingOnTheLoop) {
  connection_.reset();
  const int loop_events_alone = EventsOnLoop(*dispatcher_);
  for (int round = 0; round < 20; ++round) {
    config::NatsConfig cfg;
    cfg.servers = {server_->url()};
    cfg.name = "drain-" + std::to_string(round);
    auto connection = Connection::Create(cfg, *dispatcher_, metrics_);
    ASSERT_TRUE(connection.ok()) << connection.status();
    auto sub = (*connection)->Subscribe("svc.drain.v1.x", [](Message) {});
    ASSERT_TRUE(sub.ok()) << sub.status();
    ASSERT_GT(EventsOnLoop(*dispatcher_), loop_events_alone);

    bool closed = false;
    (*connection)->DrainAndClose(milliseconds(2000), [&] {
      closed = true;
      Stop();
    });
    ASSERT_TRUE(Run(milliseconds(5000)));
    ASSERT_TRUE(closed);
    sub->reset();
    connection->reset();
    EXPECT_EQ(EventsOnLoop(*dispatcher_), loop_events_alone) << "round " << round;
  }
}

// Closing without a drain (the destructor alone) also takes nats.c off the loop before returning.
TEST_F(ConnectionTest, DestroyWhileConnectedLeavesNothingOnTheLoop) {
  connection_.reset();
  const int loop_events_alone = EventsOnLoop(*dispatcher_);
  config::NatsConfig cfg;
  cfg.servers = {server_->url()};
  cfg.name = "plain-close";
  auto connection = Connection::Create(cfg, *dispatcher_, metrics_);
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_GT(EventsOnLoop(*dispatcher_), loop_events_alone);
  connection->reset();
  EXPECT_EQ(EventsOnLoop(*dispatcher_), loop_events_alone);
}

// A host with every port has a hundred subscriptions on one connection. After a read the loop asks
// subscriptions only until it handed over as many messages as nats.c counted, most recently busy
// first: a burst spread over all of them must still reach every one, each in order.
TEST_F(ConnectionTest, EveryMessageOfABurstReachesItsSubscriptionAmongMany) {
  constexpr int kSubjects = 120;
  constexpr int kPerSubject = 3;
  std::vector<std::vector<std::string>> received(kSubjects);
  std::vector<SubscriptionPtr> subs;
  int total = 0;
  for (int i = 0; i < kSubjects; ++i) {
    auto sub = connection_->Subscribe("svc.many.v1.a" + std::to_string(i), [&, i](Message m) {
      received[i].push_back(m.data);
      if (++total == kSubjects * kPerSubject) Stop();
    });
    ASSERT_TRUE(sub.ok()) << sub.status();
    subs.push_back(*std::move(sub));
  }
  // Last subscribed first, so the busiest subscriptions sit at the end of the list at the start.
  for (int round = 0; round < kPerSubject; ++round) {
    for (int i = kSubjects - 1; i >= 0; --i) {
      ASSERT_TRUE(connection_->Publish("svc.many.v1.a" + std::to_string(i), {}, std::to_string(round)).ok());
    }
  }
  ASSERT_TRUE(Run(milliseconds(5000))) << total << " of " << kSubjects * kPerSubject << " delivered";
  for (int i = 0; i < kSubjects; ++i) {
    EXPECT_EQ(received[i], (std::vector<std::string>{"0", "1", "2"})) << "subject " << i;
  }
}

// A handler may subscribe and unsubscribe others in the middle of a delivery round: the round
// starts over, and the messages of the subscriptions that stay all arrive.
TEST_F(ConnectionTest, AHandlerChangingTheSubscriptionsMidRoundLosesNoOtherMessage) {
  std::vector<std::string> kept;
  SubscriptionPtr dropped;
  SubscriptionPtr added;
  auto changer = connection_->Subscribe("svc.change.v1.changer", [&](Message) {
    dropped.reset();
    auto sub = connection_->Subscribe("svc.change.v1.added", [](Message) {});
    ASSERT_TRUE(sub.ok()) << sub.status();
    added = *std::move(sub);
  });
  ASSERT_TRUE(changer.ok()) << changer.status();
  auto dropped_sub = connection_->Subscribe("svc.change.v1.dropped", [](Message) {});
  ASSERT_TRUE(dropped_sub.ok()) << dropped_sub.status();
  dropped = *std::move(dropped_sub);
  auto keeper = connection_->Subscribe("svc.change.v1.kept", [&](Message m) {
    kept.push_back(m.data);
    if (kept.size() == 4) Stop();
  });
  ASSERT_TRUE(keeper.ok()) << keeper.status();
  for (const char* data : {"1", "2"}) ASSERT_TRUE(connection_->Publish("svc.change.v1.kept", {}, data).ok());
  ASSERT_TRUE(connection_->Publish("svc.change.v1.dropped", {}, "x").ok());
  ASSERT_TRUE(connection_->Publish("svc.change.v1.changer", {}, "go").ok());
  for (const char* data : {"3", "4"}) ASSERT_TRUE(connection_->Publish("svc.change.v1.kept", {}, data).ok());
  ASSERT_TRUE(Run(milliseconds(5000)));
  EXPECT_EQ(kept, (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(dropped, nullptr);
  EXPECT_NE(added, nullptr);
}

// The pinned nats.c (Debian 3.4) has the message layout connection.cc relies on, so messages are
// freed inline rather than by nats.c's garbage-collector thread (a wake per message).
TEST(NatsMessagesTest, ThePinnedNatsCLetsMessagesBeFreedInline) { EXPECT_TRUE(MessagesFreeInline()); }

}  // namespace
}  // namespace sidecar::nats
