#pragma once
// The NATS listener: a queue subscription on svc.<service>.v1.> whose messages become requests for the
// filter chain, and whose responses go back to each message's reply subject.
//
// Nothing accepted is dropped: the subscription drains (UNSUB, then every buffered message is still
// handled) and the listener reports drained only when the last reply is published.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/nats_http/nats_http.h"
#include "adapters/nats_http/stream.h"
#include "adapters/transcoding/transcoder.h"
#include "sidecar/config/config.h"
#include "sidecar/http/filter.h"
#include "sidecar/http/listener.h"
#include "sidecar/nats/connection.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::adapters::nats_http {

class NatsListener final : public http::Listener {
 public:
  // `actions` may be null (passthrough only). `filters` run in order; the last must answer (router).
  static absl::StatusOr<std::unique_ptr<NatsListener>> Create(
      std::string name, const config::NatsListenerConfig& cfg, nats::Connection& connection,
      stats::Metrics& metrics, std::shared_ptr<const ActionRouteTable> actions,
      std::vector<http::FilterFactory> filters);
  ~NatsListener() override;

  const std::string& name() const override { return name_; }
  absl::Status Start() override;
  bool Ready(std::string* why) const override;
  void Drain(absl::AnyInvocable<void()> done) override;
  size_t active_requests() const override { return active_.size() + streams_.size(); }
  // Streamed replies being published (each also counts in active_requests()).
  size_t active_streams() const { return streams_.size(); }

  // Leaves the queue group while `serving` is false and rejoins when it is true again. The server
  // calls it when the upstream's health changes, so NATS sends the work to healthy tasks instead
  // of to one that can only fail it. Leaving drains: messages already delivered are still served.
  // Before Start() it only records the wish (Start then does not subscribe while not serving).
  void SetServing(bool serving, const std::string& why);
  bool serving() const { return serving_; }
  // Runs (on the dispatcher) when Ready() may have changed by itself, e.g. once a rejoin is
  // confirmed, so the owner can re-evaluate /ready.
  void SetReadyChangedCallback(absl::AnyInvocable<void()> cb) { ready_changed_ = std::move(cb); }

 private:
  struct ActiveRequest;
  struct ActionStats {
    std::string action_label;  // the action, or "_other" past the label cap
    stats::Histogram* duration = nullptr;
    std::map<std::string, prometheus::Counter*> by_outcome;
  };

  NatsListener(std::string name, const config::NatsListenerConfig& cfg, nats::Connection& connection,
               stats::Metrics& metrics, std::shared_ptr<const ActionRouteTable> actions,
               std::vector<http::FilterFactory> filters);

  void OnMessage(nats::Message message);
  // Answers a message that never reached the filter chain.
  // Protobuf action payload -> the JSON the legacy forward takes; records the caller's encoding.
  absl::Status TranscodeRequest(nats::Message& message, const std::string& action,
                                std::optional<transcoding::Encoding>* encoding);
  void Reject(const nats::Message& message, const std::string& service, const std::string& action,
              const absl::Status& status, const char* reason,
              std::optional<transcoding::Encoding> encoding = std::nullopt);
  void Complete(uint64_t id, absl::StatusOr<http::Response> result);
  void Reply(const std::string& reply_subject, const NatsReply& reply, const std::string& trace_id);
  // A streamed body for a requester that asked for one: published under the streaming convention.
  void StartStream(uint64_t id, std::unique_ptr<ActiveRequest> active, http::Response response);
  void OnStreamControl(nats::Message message);
  void EndStream(uint64_t id, const absl::Status& outcome, const StreamStats& stats);
  void Record(const std::string& service, const std::string& action, const std::string& outcome,
              http::Clock::time_point start);
  ActionStats& StatsFor(const std::string& service, const std::string& action);
  void MaybeFinishDrain();
  absl::Status Subscribe();

  const std::string name_;
  const config::NatsListenerConfig cfg_;
  nats::Connection& connection_;
  event::Dispatcher& dispatcher_;
  stats::Metrics& metrics_;
  const std::shared_ptr<const ActionRouteTable> actions_;
  // The service's schema (services/proto), when it has one: action-route payloads may then be
  // protobuf (the default) or JSON, and replies go back in the caller's encoding.
  std::unique_ptr<const transcoding::Transcoder> transcoder_;
  const std::vector<http::FilterFactory> filters_;

  nats::SubscriptionPtr subscription_;
  // Subscriptions left behind by SetServing(false), kept until their drain completes (a
  // Subscription must not be destroyed from its own drain callback).
  std::vector<nats::SubscriptionPtr> left_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // weak-referenced by posted cleanup
  bool started_ = false;
  bool serving_ = true;
  // After rejoining, not ready until a PING/PONG round trip shows nats-server has our SUB (the
  // flush blocks, so it runs on its own thread; joined before the next one and on destruction).
  bool rejoin_confirmed_ = true;
  std::thread rejoin_confirm_thread_;
  absl::AnyInvocable<void()> ready_changed_;
  std::string not_serving_why_;
  std::unordered_map<uint64_t, std::unique_ptr<ActiveRequest>> active_;
  struct ActiveStream;
  std::unordered_map<uint64_t, std::unique_ptr<ActiveStream>> streams_;
  // Acks and cancels of our streams arrive on <control_prefix_>.<id>.{ack,cancel}; subscribed on
  // the first stream.
  std::string control_prefix_;
  nats::SubscriptionPtr control_subscription_;
  uint64_t next_id_ = 0;
  bool draining_ = false;
  bool subscription_drained_ = false;
  absl::AnyInvocable<void()> on_drained_;

  // Cached metric children (Family::Add takes a lock). Distinct action labels are capped, so a
  // caller inventing subjects cannot grow the metrics without bound.
  std::map<std::pair<std::string, std::string>, ActionStats> action_stats_;
  prometheus::Gauge* active_gauge_;
  prometheus::Counter* fire_and_forget_;
};

}  // namespace sidecar::adapters::nats_http
