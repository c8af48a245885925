#pragma once
// RAII over a nats.c connection driven by a Dispatcher's event loop (nats.c's libevent adapter).
//
// Threads: nats.c reads on the dispatcher thread (through the adapter) but calls message handlers and
// connection callbacks on its own threads. Every callback here is a noexcept trampoline that takes
// ownership and Post()s to the dispatcher, so user code only ever runs on the dispatcher thread.

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

  // Plain (non-queue) subscription, e.g. a request/reply inbox; same delivery rules as above.
  absl::StatusOr<SubscriptionPtr> Subscribe(const std::string& subject, MessageHandler handler);

  // Publishes a message (reply subject empty for a plain publish). Thread-safe; sent at once (SendAsap).
  absl::Status Publish(const std::string& subject, const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& data);
  // The same with a reply subject: the request half of request/reply (see RequestMux).
  absl::Status Publish(const std::string& subject, const std::string& reply,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& data);

  natsConnection* raw() { return conn_.get(); }
  event::Dispatcher& dispatcher() { return dispatcher_; }

 private:
  struct Shared;  // state shared with nats.c callback threads
  Connection(event::Dispatcher& dispatcher, std::shared_ptr<Shared> shared);
  // `queue` empty: a plain subscription.
  absl::StatusOr<SubscriptionPtr> SubscribeImpl(const std::string& subject, const std::string& queue,
                                                MessageHandler handler);

  event::Dispatcher& dispatcher_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<std::atomic<bool>> connected_;
  NatsConnectionPtr conn_;
};

class Subscription {
 public:
  // Unsubscribes (if not drained) and waits, bounded, until nats.c will call the handler no more.
  ~Subscription();

  // Stops new deliveries (UNSUB) while messages already received are still handed to the handler;
  // `on_drained` runs on the dispatcher once nats.c has delivered the last one.
  absl::Status Drain(absl::AnyInvocable<void()> on_drained);

  const std::string& subject() const { return subject_; }

 private:
  friend class Connection;
  struct Bridge;
  Subscription(std::string subject, event::Dispatcher& d) : subject_(std::move(subject)), dispatcher_(d) {}

  std::string subject_;
  event::Dispatcher& dispatcher_;
  // Owned here and reached by posted work through a weak_ptr, so work posted after destruction is a no-op.
  std::shared_ptr<Connection::MessageHandler> handler_;
  std::shared_ptr<absl::AnyInvocable<void()>> on_drained_;
  Bridge* bridge_ = nullptr;  // freed by nats.c's on-complete callback
  NatsSubscriptionPtr sub_;
};

}  // namespace sidecar::nats
