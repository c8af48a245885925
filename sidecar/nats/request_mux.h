#pragma once
// Asynchronous request/reply over one nats::Connection, multiplexed on one wildcard inbox (like
// nats.go's respmux): never the blocking natsConnection_Request on a loop thread.
//
//   <inbox_prefix>.<token>.*      one plain subscription, created by the first Request()
//   <inbox_prefix>.<token>.<id>   the reply subject of request <id>
//
// Each request has a callback and a deadline timer on the dispatcher; the reply, handed to the
// dispatcher by the Connection's bridge, completes it. Outcomes:
//   reply                  the Message (any headers/payload; the caller interprets them)
//   no responders          UNAVAILABLE, RequestFailure::kNoResponders (nats-server's 503 status
//                          message: nobody subscribed to the subject)
//   deadline               DEADLINE_EXCEEDED, kTimeout; a reply arriving later is dropped and
//                          counted in late_replies()
//   not connected          UNAVAILABLE, kNotConnected, without publishing: while nats.c
//                          reconnects it would park the request in its reconnect buffer and the
//                          caller would wait for the whole deadline for nothing
//   publish failed         the publish error's code, kPublishFailed
// Requests already in flight when the connection drops fail at once with kNotConnected (like
// nats.c's FailRequestsOnDisconnect): their replies would go to a subscription the server has
// forgotten, so waiting out the deadline would only turn a fast 503 into a slow 504.
//
// Dispatcher thread only. The callback runs exactly once, on the dispatcher, never inline from
// Request(), never after Cancel(), and never after the mux is destroyed: destroying the mux with
// requests pending drops their callbacks uncalled (like LegacyHttpCluster), so an owner tearing
// down never receives calls into half-destroyed state. Must be destroyed before its Connection.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/nats/connection.h"

namespace sidecar::nats {

// Why a request failed, carried as a payload on its Status (sidecar/nats sits below
// sidecar/upstream, so clusters map this to upstream::FailureKind).
enum class RequestFailure { kNone, kTimeout, kNoResponders, kNotConnected, kPublishFailed };
RequestFailure GetRequestFailure(const absl::Status& status);

class RequestMux {
 public:
  struct Options {
    // Replies arrive on <inbox_prefix>.<random token>.<id>. A per-service prefix
    // ("_INBOX.<service>") lets NATS permissions allow exactly this mux's replies.
    std::string inbox_prefix = "_INBOX";
  };
  using RequestId = uint64_t;  // never 0
  using ReplyCallback = absl::AnyInvocable<void(absl::StatusOr<Message>) &&>;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // INVALID_ARGUMENT for a prefix that is empty or not a plain subject (wildcards, spaces, empty
  // tokens). Subscribes nothing yet.
  static absl::StatusOr<std::unique_ptr<RequestMux>> Create(Connection& connection, Options options);
  // Drops pending callbacks uncalled and unsubscribes (bounded wait for nats.c, see Subscription).
  ~RequestMux();

  RequestMux(const RequestMux&) = delete;
  RequestMux& operator=(const RequestMux&) = delete;

  // Publishes `data` with `headers` to `subject` and calls `done` with the reply or a failure once
  // `timeout` has passed (a timeout <= 0 fails with kTimeout without publishing).
  RequestId Request(const std::string& subject, const Headers& headers, const std::string& data,
                    std::chrono::milliseconds timeout, ReplyCallback done);
  // The callback of `id` will not run. A no-op for an unknown or completed id.
  void Cancel(RequestId id);

  // Streamed replies (several messages to one reply subject, adapters/nats_http/stream.h): called
  // from the callback of `id`, routes the later messages to the same reply subject to `handler`
  // (dispatcher thread, in order) until Unfollow(id) or the mux is destroyed. Not bounded by the
  // request's timeout: the follower keeps its own. The handler returns false to stop following
  // (it must not call Unfollow itself).
  void Follow(RequestId id, absl::AnyInvocable<bool(Message)> handler);
  void Unfollow(RequestId id);

  const std::string& inbox_prefix() const { return options_.inbox_prefix; }
  // "<prefix>.<token>": the replies' common prefix (empty until the first Request()).
  const std::string& inbox() const { return inbox_; }
  size_t pending() const { return pending_.size(); }
  // Replies for requests that already timed out or were cancelled, and unknown ids on the inbox.
  uint64_t late_replies() const { return late_replies_; }

 private:
  struct Pending {
    ReplyCallback done;
    event::TimerPtr timer;
    // Set when the request failed locally or timed out: the result waits for a posted delivery
    // (so it never runs inline, nor inside the request's own timer) and replies are late.
    bool failing = false;
    absl::Status failure;
  };

  RequestMux(Connection& connection, Options options);

  absl::Status EnsureSubscribed();
  void OnReply(Message message);
  void OnTimeout(RequestId id, std::chrono::milliseconds timeout);
  // Marks `id` failed and posts the delivery; Cancel() before it runs still wins.
  void FailLater(RequestId id, absl::Status failure);
  void DeliverFailure(RequestId id);
  // On disconnect: every request still waiting for its reply fails now.
  void FailAllInFlight();

  Connection& connection_;
  event::Dispatcher& dispatcher_;
  const Options options_;
  std::string inbox_;  // "<prefix>.<token>"
  SubscriptionPtr subscription_;
  absl::flat_hash_map<RequestId, std::unique_ptr<Pending>> pending_;
  absl::flat_hash_map<RequestId, absl::AnyInvocable<bool(Message)>> followers_;
  RequestId next_id_ = 0;
  uint64_t late_replies_ = 0;
  int state_observer_ = 0;
  // Posted deliveries outlive the mux; they check this first.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};
using RequestMuxPtr = std::unique_ptr<RequestMux>;

}  // namespace sidecar::nats
