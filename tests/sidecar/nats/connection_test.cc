// nats::Connection's lifetime against a real nats-server (label: integration).

#include "sidecar/nats/connection.h"

#include <event2/event.h>

#include <chrono>
#include <string>

#include "gtest/gtest.h"
#include "tests/sidecar/nats/nats_test_util.h"

namespace sidecar::nats {
namespace {

using std::chrono::milliseconds;

class ConnectionTest : public testing::NatsLoopTest {};

int EventsOnLoop(event::Dispatcher& dispatcher) {
  return event_base_get_num_events(dispatcher.base(), EVENT_BASE_COUNT_ADDED);
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

// The pinned nats.c (Debian 3.4) has the message layout connection.cc relies on, so messages are
// freed inline rather than by nats.c's garbage-collector thread (a wake per message).
TEST(NatsMessagesTest, ThePinnedNatsCLetsMessagesBeFreedInline) { EXPECT_TRUE(MessagesFreeInline()); }

}  // namespace
}  // namespace sidecar::nats
