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
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/nats_http/nats_http.h"
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
  size_t active_requests() const override { return active_.size(); }

 private:
  struct ActiveRequest;
  struct ActionStats {
    std::string action_label;  // the action, or "_other" past the label cap
    prometheus::Histogram* duration = nullptr;
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
  void Record(const std::string& service, const std::string& action, const std::string& outcome,
              http::Clock::time_point start);
  ActionStats& StatsFor(const std::string& service, const std::string& action);
  void MaybeFinishDrain();

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
  std::unordered_map<uint64_t, std::unique_ptr<ActiveRequest>> active_;
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
