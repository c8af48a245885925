#pragma once
// RAII over a nats.c connection driven by a Dispatcher's event loop (nats.c's libevent adapter).
//
// Threads: nats.c reads on the dispatcher thread (through our adapter) and message handlers run right
// there, after each read (subscriptions are synchronous ones drained by the loop: no nats.c delivery
// thread). Connection callbacks come on nats.c's threads; they are noexcept trampolines that Post()
// to the dispatcher, so user code only ever runs on the dispatcher thread.

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/common/c_handle.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::nats {

using NatsOptionsPtr = CHandle<natsOptions, natsOptions_Destroy>;
using NatsConnectionPtr = CHandle<natsConnection, natsConnection_Destroy>;
using NatsSubscriptionPtr = CHandle<natsSubscription, natsSubscription_Destroy>;
using NatsMsgPtr = CHandle<natsMsg, natsMsg_Destroy>;
using NatsStatisticsPtr = CHandle<natsStatistics, natsStatistics_Destroy>;

// True when the messages Connection publishes and receives are freed inline instead of by nats.c's
// garbage-collector thread (see connection.cc: a checked reliance on nats.c's message layout).
bool MessagesFreeInline();

// Converts a nats.c status into an absl::Status once, at the boundary, with nats.c's last error text.
absl::Status FromNats(natsStatus s, std::string_view what);

// nats.c options from config (servers, name, timeouts, SendAsap, inbox prefix, credentials).
absl::StatusOr<NatsOptionsPtr> BaseOptions(const config::NatsConfig& cfg, const std::string& name);
// A plain nats.c connection with its own threads, not on any event loop: for components that make
// blocking nats.c calls from worker threads and at startup (the JetStream KV state store), where a
// loop-driven connection would wait for replies that only a running loop can read.
absl::StatusOr<NatsConnectionPtr> ConnectBlocking(const config::NatsConfig& cfg, const std::string& name);

// A message with its headers copied out of nats.c, so the rest of the code never touches natsMsg.
struct Message {
  std::string subject;
  std::string reply;  // "" for fire-and-forget
  std::vector<std::pair<std::string, std::string>> headers;
  std::string data;
  // A "no responders" status reply (nats-server 503, empty payload): nobody was subscribed to the
  // subject of a request sent with this message's subject as its reply. See natsMsg_IsNoResponders.
  bool no_responders = false;
};
Message ToMessage(natsMsg* msg);

class Subscription;
using SubscriptionPtr = std::unique_ptr<Subscription>;

class Connection {
 public:
  // Delivered on the dispatcher thread.
  using StateCallback = absl::AnyInvocable<void(bool connected)>;
  using MessageHandler = absl::AnyInvocable<void(Message)>;

  // Starts connecting. A server that is not up yet is not an error: nats.c keeps retrying in the
  // background (RetryOnFailedConnect) and the state callback reports when it connects.
  static absl::StatusOr<std::unique_ptr<Connection>> Create(const config::NatsConfig& cfg,
                                                            event::Dispatcher& dispatcher,
                                                            stats::Metrics& metrics);
  // Closes the connection (flushing what was published) and waits, bounded, for nats.c's last callback.
  ~Connection();

  bool connected() const { return connected_->load(); }
  // nats.c's own state at the moment of the call. connected() lags it by the time nats.c takes to
  // run its disconnected callback; a request path that must fail fast while disconnected (rather
  // than let nats.c park the message in its reconnect buffer) asks this.
  natsConnStatus status() const;
  void SetStateCallback(StateCallback cb);
  // More state callbacks (dispatcher thread only): each runs on every change, before the one set
  // by SetStateCallback. Remove before the observer goes away.
  int AddStateObserver(StateCallback cb);
  void RemoveStateObserver(int id);
  // Graceful close for shutdown: nats.c drains what is left, flushes every buffered publish (the
  // last replies live in its buffer until the event loop writes them) and closes. `on_closed` runs
  // on the dispatcher once the connection is closed, so the loop must keep running until then.
  void DrainAndClose(std::chrono::milliseconds timeout, absl::AnyInvocable<void()> on_closed);

  // Queue subscription whose messages are handed to `handler` on the dispatcher thread.
  absl::StatusOr<SubscriptionPtr> QueueSubscribe(const std::string& subject, const std::string& queue,
                                                 MessageHandler handler);

  // How a subscription's messages reach its handler; either way, on the dispatcher thread.
  enum class Delivery {
    // Taken from nats.c on the loop right after each read: no thread hand-off. The default.
    kOnLoop,
    // nats.c's delivery thread Post()s each message. Needed to see "no responders" status replies
    // (with the subject that says whose request it was): nats.c's synchronous API drops them.
    kViaThread,
  };

  // Plain (non-queue) subscription, e.g. a request/reply inbox; same delivery rules as above.
  absl::StatusOr<SubscriptionPtr> Subscribe(const std::string& subject, MessageHandler handler,
                                            Delivery delivery = Delivery::kOnLoop);

  // Publishes a message (reply subject empty for a plain publish). Thread-safe. From the loop
  // thread it is sent at the end of the current loop pass, together with everything else the pass
  // published; from another thread, when the loop next finds the socket writable.
  absl::Status Publish(const std::string& subject, const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& data);
  // The same with a reply subject: the request half of request/reply (see RequestMux).
  absl::Status Publish(const std::string& subject, const std::string& reply,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& data);

  natsConnection* raw() { return conn_.get(); }
  event::Dispatcher& dispatcher() { return dispatcher_; }

 private:
  friend class Subscription;
  struct Shared;  // state shared with nats.c callback threads
  Connection(event::Dispatcher& dispatcher, std::shared_ptr<Shared> shared);
  // `queue` empty: a plain subscription.
  absl::StatusOr<SubscriptionPtr> SubscribeImpl(const std::string& subject, const std::string& queue,
                                                MessageHandler handler, Delivery delivery);
  // Dispatcher thread: every subscription's queued messages to its handler. After a read it asks
  // only until every message nats.c counted since the last round was handed over (`everyone`:
  // ask them all, as the drain does).
  static void DeliverAll(Shared& shared, bool everyone);
  // Dispatcher thread, at the end of a loop pass that published: sends what nats.c buffered.
  void FlushPublished();

  event::Dispatcher& dispatcher_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<std::atomic<bool>> connected_;
  NatsConnectionPtr conn_;
  event::SchedulableCallbackPtr flush_;  // FlushPublished, scheduled by a publish on the loop
};

class Subscription {
 public:
  // Unsubscribes (if not drained). Delivered on the loop: never blocks. Delivered via a nats.c
  // thread: waits, bounded, until nats.c will hand over no more messages.
  ~Subscription();

  // Stops new deliveries (UNSUB) while messages already received are still handed to the handler;
  // `on_drained` runs on the dispatcher once the last one has been.
  absl::Status Drain(absl::AnyInvocable<void()> on_drained);

  const std::string& subject() const { return subject_; }

 private:
  friend class Connection;
  struct Bridge;  // Delivery::kViaThread: the nats.c callback state
  Subscription(std::string subject, std::shared_ptr<Connection::Shared> shared, Connection::MessageHandler handler);
  // Dispatcher thread: hands every message nats.c has queued for this subscription to the handler,
  // and returns how many. The handler may destroy this Subscription.
  size_t DeliverPending();
  void CheckDrained();
  void PostDrained();

  std::string subject_;
  std::shared_ptr<Connection::Shared> shared_;  // outlives nats.c's use of the connection
  natsConnection* conn_ = nullptr;              // kept alive by nats.c while the subscription is
  // Shared so that a handler that destroys this Subscription is not destroyed while it runs.
  std::shared_ptr<Connection::MessageHandler> handler_;
  NatsSubscriptionPtr sub_;
  // Lets DeliverPending notice that a handler destroyed this Subscription.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::shared_ptr<absl::AnyInvocable<void()>> on_drained_ = std::make_shared<absl::AnyInvocable<void()>>();
  bool draining_ = false;
  Bridge* bridge_ = nullptr;  // Delivery::kViaThread only; freed once nats.c's on-complete callback ran
  // nats.c finishes a synchronous subscription's drain only when asked for its next message; while
  // draining (shutdown only) a short timer asks even if no new bytes arrive.
  event::TimerPtr drain_poll_;
};

}  // namespace sidecar::nats
