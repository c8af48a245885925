#pragma once
// Shadow traffic: a share of a route's requests is mirrored to another cluster and the two answers
// are compared (diff.h), off the request path.
//
//   router picks the primary ──► ShadowRuntime::Begin: share, method, cap ──► copy of the request
//                                  (credentials stripped, x-sidecar-shadow: 1), kept
//   primary answers ─► caller       (never waits for, fails because of, or slows for the shadow)
//                   └► MirrorHandle::OnPrimary (a copy) ─► on a later loop turn, after the reply
//                        was written: the copy leaves, own deadline ──► shadow cluster
//                                     (noise sample) ──► the primary cluster once more
//                      ─► compare when every side is in ─► stats, ring, observer
//
// Protections of the primary: the mirror leaves only once the primary's reply is out, so on a
// task's two cores neither this loop nor the shadow's upstream works during the primary's own
// exchange (sent together, as Envoy's mirror does, the shadow's write, its upstream's wake-up and
// its answer's read land inside the primary's latency). A failed primary sends no mirror: there is
// nothing to compare against (counted as an error). The shadow gets its own timeout and a
// per-route cap on mirrors in flight at the shadow cluster (beyond it the mirror is dropped and
// counted), goes to the shadow cluster's inner cluster (so shadow failures never open a breaker or
// spend a retry budget that primary traffic uses), and the comparison runs off the primary's path
// too.
//
// Noise (Diffy): a sampled share of mirrored safe requests (GET/HEAD/OPTIONS) also goes to the
// primary twice; paths that differ between the two primary answers are learned per route as noise
// and reported apart from mismatches.
//
// Dispatcher thread only (the admin handlers that read the stats run there too).

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "prometheus/counter.h"
#include "sidecar/config/config.h"
#include "sidecar/event/dispatcher.h"
#include "sidecar/http/message.h"
#include "sidecar/shadow/diff.h"
#include "sidecar/stats/metrics.h"
#include "sidecar/upstream/guarded_cluster.h"

namespace sidecar::shadow {

// A route's resolved shadow settings (config::ShadowConfig). Built once; every route table copy
// shares it. The run-time share (percent) is not here but on the route itself, so a cut-over can
// change it with a new table like weights.
struct ShadowPolicy {
  upstream::GuardedCluster* cluster = nullptr;
  std::vector<std::string> methods;  // "*" = all
  std::string header;
  std::vector<std::string> allow_credentials;
  std::vector<std::string> strip_headers;
  std::chrono::milliseconds timeout{1000};
  int64_t max_concurrent = 64;
  int64_t noise_bp = 0;  // of mirrored requests, in basis points
  DiffOptions diff;

  static std::shared_ptr<const ShadowPolicy> Create(const config::ShadowConfig& config, std::string_view service,
                                                    upstream::GuardedCluster* cluster);
  bool Mirrors(std::string_view method) const;
  // The request as the shadow gets it: credentials stripped unless allowed, strip_headers
  // removed, the marking header set to "1", the deadline now + timeout.
  http::Request MirrorOf(const http::Request& request) const;
};

class ShadowRuntime;

// The router's handle on one mirrored request. OnPrimary once with the primary's outcome;
// destroying the handle before that (the caller went away) abandons the comparison, and the
// mirror, which has not left yet, is never sent.
class MirrorHandle {
 public:
  MirrorHandle() = default;
  MirrorHandle(MirrorHandle&& other) noexcept { *this = std::move(other); }
  MirrorHandle& operator=(MirrorHandle&& other) noexcept;
  ~MirrorHandle() { Reset(); }

  explicit operator bool() const { return runtime_ != nullptr; }
  // A streamed primary body (Response::stream) is wrapped in place by a tee that hands every chunk
  // on unchanged and keeps a bounded copy: the comparison then uses the concatenation and the
  // stream's final status, once the stream has ended.
  void OnPrimary(absl::StatusOr<http::Response>& result, const std::string& primary_cluster);
  void Reset();

 private:
  friend class ShadowRuntime;
  MirrorHandle(ShadowRuntime* runtime, uint64_t id) : runtime_(runtime), id_(id) {}
  ShadowRuntime* runtime_ = nullptr;
  uint64_t id_ = 0;
};

// Renders a binary (protobuf) response body as JSON for the comparison; nullopt keeps the body.
using BodyDecoder = absl::AnyInvocable<std::optional<std::string>(const http::Request&, const http::Response&)>;

// Called after each comparison with whether the two answers matched (RouteObserver::OnShadowCompared).
using ComparedCallback = absl::AnyInvocable<void(bool matched)>;

class ShadowRuntime {
 public:
  struct Options {
    size_t ring_size = 100;            // recent mismatches kept
    size_t max_body_bytes = 4096;      // per body in the ring
    size_t max_paths_per_route = 50;   // distinct path labels per route; the rest is "other"
    size_t max_noise_paths = 64;       // learned per route
  };

  ShadowRuntime(event::Dispatcher& dispatcher, stats::Metrics& metrics, Options options, BodyDecoder decoder = nullptr);
  ~ShadowRuntime();  // cancels every shadow in flight

  // Called by the router once the primary side is chosen. Decides (share, method, health,
  // primary == shadow, concurrency cap) and keeps the mirror, which leaves after the primary's
  // answer (MirrorHandle::OnPrimary); an empty handle when it did not.
  // `route`, `service`, `action` label the stats (action "" -> "*").
  MirrorHandle Begin(const std::string& route, const std::string& service, const std::string& action,
                     std::shared_ptr<const ShadowPolicy> policy, int64_t percent_bp, const http::Request& request,
                     upstream::GuardedCluster& primary, ComparedCallback on_compared);

  // GET /shadow/mismatches: the ring, newest first.
  nlohmann::json MismatchesJson() const;
  // Per-route counts, match rate, top differing paths and learned noise (for /status).
  nlohmann::json StatsJson() const;
  size_t in_flight() const { return exchanges_.size(); }

 private:
  friend class MirrorHandle;
  struct RouteState;
  struct Exchange;

  RouteState& StateOf(const std::string& route, const std::string& service, const std::string& action);
  void OnPrimary(uint64_t id, absl::StatusOr<http::Response>& result, const std::string& primary_cluster);
  // The tee of a streamed primary ended (or was dropped: `status` CANCELLED).
  void OnPrimaryStreamEnd(uint64_t id, absl::Status status, std::string body, bool truncated);
  void Abandon(uint64_t id);
  // Sends the mirror (and noise copy) once the primary's answer, or its head, is in.
  void Dispatch(uint64_t id);
  void OnShadow(uint64_t id, absl::StatusOr<http::Response> result);
  void OnNoise(uint64_t id, absl::StatusOr<http::Response> result);
  void MaybeComplete(uint64_t id);
  void Complete(Exchange& exchange);
  void Count(RouteState& state, const char* result);
  void Record(const Exchange& exchange, const DiffResult& diff, const std::vector<std::string>& noise);
  // The reply rendered as JSON by the decoder, when it knows the reply's binary form.
  std::optional<std::string> DecodeBody(const http::Request& request, const http::Response& response);

  event::Dispatcher& dispatcher_;
  stats::Metrics& metrics_;
  Options options_;
  BodyDecoder decoder_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Exchange>> exchanges_;
  std::map<std::string, std::unique_ptr<RouteState>> routes_;
  std::deque<nlohmann::json> ring_;  // newest at the front
  // Posted tasks check it, so a comparison posted just before shutdown never runs on a dead runtime.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sidecar::shadow
