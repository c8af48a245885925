#include "sidecar/router/router.h"

#include <algorithm>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sidecar/upstream/guarded_cluster.h"

namespace sidecar::router {
namespace {

// Debian's abseil has its own string_view type; convert at the call sites that need absl.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string_view PathOnly(std::string_view path) { return path.substr(0, path.find('?')); }

// The raw value of query parameter `name`, or nullopt.
std::optional<std::string> QueryParam(std::string_view path, std::string_view name) {
  size_t q = path.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  for (absl::string_view pair : absl::StrSplit(AV(path.substr(q + 1)), '&')) {
    absl::string_view key = pair.substr(0, pair.find('='));
    if (key == AV(name)) return std::string(pair.size() > key.size() ? pair.substr(key.size() + 1) : "");
  }
  return std::nullopt;
}

// The sticky key of a request, or nullopt when it has none (then the split is random).
std::optional<std::string> StickyKey(const config::StickyConfig& sticky, const http::Request& request) {
  if (!sticky.header.empty()) {
    auto value = request.headers.Get(sticky.header);
    if (!value.has_value() || value->empty()) return std::nullopt;
    return std::string(*value);
  }
  if (!request.body.empty()) {
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_object()) {
      auto it = body.find(sticky.json_field);
      if (it != body.end()) {
        if (it->is_string()) return it->get<std::string>();
        if (it->is_number_integer()) return it->dump();
      }
    }
  }
  return QueryParam(request.path, sticky.json_field);
}

uint32_t RandomBucket() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_int_distribution<uint32_t>(0, kBuckets - 1)(rng);
}

bool PrincipalAllowed(const config::RouteOverrideConfig& cfg, const http::Request& request) {
  const std::string principal(request.headers.GetOr(http::headers::kPrincipal, ""));
  for (const std::string& allowed : cfg.principals) {
    if (allowed == "*" || (!principal.empty() && allowed == principal)) return true;
  }
  return false;
}

}  // namespace

bool RetryPolicy::RetriesOn(std::string_view reason) const {
  return std::find(retry_on.begin(), retry_on.end(), reason) != retry_on.end();
}

std::string_view RetryReason(const absl::StatusOr<http::Response>& result) {
  if (result.ok()) return result->status == 503 ? "unavailable" : "";
  switch (upstream::GetFailureKind(result.status())) {
    case upstream::FailureKind::kConnectFailure: return "connect_failure";
    case upstream::FailureKind::kReset: return "reset";
    case upstream::FailureKind::kTimeout: return "timeout";
    case upstream::FailureKind::kNoResponders: return "no_responders";
    case upstream::FailureKind::kNone:
      // An UNAVAILABLE error reply from a remote (e.g. a NATS responder's 503).
      return result.status().code() == absl::StatusCode::kUnavailable ? "unavailable" : "";
    default:
      return "";  // local refusals: retrying the same cluster cannot help
  }
}

bool IsIdempotent(const http::Request& request) {
  static constexpr std::string_view kIdempotentMethods[] = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"};
  for (std::string_view m : kIdempotentMethods) {
    if (request.method == m) return true;
  }
  if (auto key = request.headers.Get("Idempotency-Key"); key.has_value() && !key->empty()) return true;
  if (request.body.find("idempotency_key") == std::string::npos) return false;  // cheap pre-check
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return false;
  auto it = body.find("idempotency_key");
  return it != body.end() && it->is_string() && !it->get<std::string>().empty();
}

uint64_t Fnv1a64(std::string_view data) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

uint32_t StickyBucket(std::string_view key) { return static_cast<uint32_t>(Fnv1a64(key) % kBuckets); }

const WeightedCluster& Route::PickByBucket(uint32_t bucket) const {
  int64_t upper = 0;
  for (const WeightedCluster& w : split) {
    upper += w.weight_bp;
    if (bucket < upper) return w;
  }
  // Weights add up to kBuckets, so this is only reached when the last ones are 0.
  for (auto it = split.rbegin(); it != split.rend(); ++it) {
    if (it->weight_bp > 0) return *it;
  }
  return split.back();
}

const WeightedCluster* Route::FindSide(std::string_view side) const {
  for (const WeightedCluster& w : split) {
    if (w.cluster->name() == side) return &w;
  }
  for (const WeightedCluster& w : split) {
    if (w.cluster->kind() == side) return &w;
  }
  return nullptr;
}

const char* PickReasonName(PickReason reason) {
  switch (reason) {
    case PickReason::kSplit:
      return "split";
    case PickReason::kSticky:
      return "sticky";
    case PickReason::kOverride:
      return "override";
  }
  return "split";
}

absl::StatusOr<std::shared_ptr<const RouteTable>> RouteTable::Create(const std::vector<config::RouteConfig>& routes,
                                                                     const upstream::ClusterManager& clusters,
                                                                     stats::Metrics* metrics) {
  auto table = std::make_shared<RouteTable>();
  for (size_t i = 0; i < routes.size(); ++i) {
    const config::RouteConfig& rc = routes[i];
    const std::string where = absl::StrCat("routes[", i, "]");
    Route route;
    route.name = rc.name;
    route.service = rc.service;
    route.action = rc.action;
    route.prefix = rc.prefix;
    route.sticky = rc.sticky;
    route.override_header = rc.override_header;
    route.timeout = std::chrono::milliseconds(rc.timeout_ms);
    if (rc.retry.has_value()) {
      RetryPolicy& retry = route.retry.emplace();
      retry.retry_on = rc.retry->retry_on;
      retry.max_attempts = static_cast<int>(rc.retry->max_attempts);
      retry.backoff = {std::chrono::milliseconds(rc.retry->backoff_base_ms),
                       std::chrono::milliseconds(rc.retry->backoff_max_ms)};
      retry.per_try_timeout = std::chrono::milliseconds(rc.retry->per_try_timeout_ms);
      retry.retry_non_idempotent = rc.retry->retry_non_idempotent;
    }
    int64_t total = 0;
    for (const config::WeightedClusterConfig& w : rc.split) {
      upstream::GuardedCluster* cluster = clusters.Get(w.cluster);
      if (cluster == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": unknown cluster '", w.cluster, "'"));
      }
      route.split.push_back(WeightedCluster{cluster, w.weight_bp});
      total += w.weight_bp;
    }
    if (route.split.empty() || total != kBuckets) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": weights must add up to 100%"));
    }
    if (metrics != nullptr) {
      for (WeightedCluster& side : route.split) {
        for (PickReason reason : {PickReason::kSplit, PickReason::kSticky, PickReason::kOverride}) {
          if (reason == PickReason::kSticky && !route.sticky.has_value()) continue;
          if (reason == PickReason::kOverride && !route.override_header.has_value()) continue;
          side.requests[static_cast<int>(reason)] = &metrics->route_requests_total.Add(
              {{"route", route.name}, {"cluster", side.cluster->name()}, {"reason", PickReasonName(reason)}});
        }
      }
    }
    if (rc.shadow.has_value()) {
      upstream::GuardedCluster* shadow_cluster = clusters.Get(rc.shadow->cluster);
      if (shadow_cluster == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".shadow.cluster: unknown cluster '", rc.shadow->cluster, "'"));
      }
      route.shadow = shadow::ShadowPolicy::Create(*rc.shadow, rc.service, shadow_cluster);
      route.shadow_percent_bp = rc.shadow->percent_bp;
    }
    if (!rc.fallback.empty()) {
      route.fallback = clusters.Get(rc.fallback);
      if (route.fallback == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(where, ".fallback: unknown cluster '", rc.fallback, "'"));
      }
    }
    table->routes_.push_back(std::move(route));
  }
  table->BuildIndex();
  return std::shared_ptr<const RouteTable>(std::move(table));
}

void RouteTable::BuildIndex() {
  by_service_action_.clear();
  by_prefix_.clear();
  for (size_t i = 0; i < routes_.size(); ++i) {
    if (!routes_[i].prefix.empty()) {
      by_prefix_.emplace_back(routes_[i].prefix, i);
    } else {
      by_service_action_.emplace(std::make_pair(routes_[i].service, routes_[i].action), i);
    }
  }
  std::stable_sort(by_prefix_.begin(), by_prefix_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

const Route* RouteTable::Find(const http::Request& request) const {
  if (!request.service.empty()) {
    auto it = by_service_action_.find({request.service, request.action});
    if (it == by_service_action_.end()) it = by_service_action_.find({request.service, ""});
    return it == by_service_action_.end() ? nullptr : &routes_[it->second];
  }
  const std::string_view path = PathOnly(request.path);
  for (const auto& [prefix, index] : by_prefix_) {
    if (absl::StartsWith(AV(path), prefix)) return &routes_[index];
  }
  return nullptr;
}

const Route* RouteTable::FindByName(std::string_view name) const {
  for (const Route& route : routes_) {
    if (route.name == name) return &route;
  }
  return nullptr;
}

absl::StatusOr<std::shared_ptr<const RouteTable>> RouteTable::WithWeights(
    std::string_view name, const std::map<std::string, int64_t>& weights) const {
  auto copy = std::make_shared<RouteTable>(*this);
  Route* route = nullptr;
  for (Route& r : copy->routes_) {
    if (r.name == name) route = &r;
  }
  if (route == nullptr) return absl::NotFoundError(absl::StrCat("no route named '", AV(name), "'"));
  int64_t total = 0;
  for (const auto& [cluster, bp] : weights) {
    bool found = false;
    for (const WeightedCluster& w : route->split) found = found || w.cluster->name() == cluster;
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster '", cluster, "' is not part of route '", AV(name), "'s split"));
    }
    if (bp < 0 || bp > kBuckets) {
      return absl::InvalidArgumentError(absl::StrCat("weight of '", cluster, "' must be 0-100"));
    }
    total += bp;
  }
  if (total != kBuckets) {
    return absl::InvalidArgumentError(absl::StrCat("weights add up to ", total / 100.0, "%, not 100%"));
  }
  for (WeightedCluster& w : route->split) {
    auto it = weights.find(w.cluster->name());
    w.weight_bp = it == weights.end() ? 0 : it->second;
  }
  return std::shared_ptr<const RouteTable>(std::move(copy));
}

absl::StatusOr<std::shared_ptr<const RouteTable>> RouteTable::WithShadowPercent(std::string_view name,
                                                                              double percent) const {
  if (!(percent >= 0 && percent <= 100)) {
    return absl::InvalidArgumentError("shadow percent must be 0-100");
  }
  auto copy = std::make_shared<RouteTable>(*this);
  for (Route& r : copy->routes_) {
    if (r.name != name) continue;
    if (r.shadow == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("route '", AV(name), "' has no shadow block"));
    }
    r.shadow_percent_bp = static_cast<int64_t>(percent * 100 + 0.5);
    return std::shared_ptr<const RouteTable>(std::move(copy));
  }
  return absl::NotFoundError(absl::StrCat("no route named '", AV(name), "'"));
}

nlohmann::json RouteTable::ToJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const Route& route : routes_) {
    nlohmann::json split = nlohmann::json::array();
    for (const WeightedCluster& w : route.split) {
      split.push_back({{"cluster", w.cluster->name()}, {"kind", std::string(w.cluster->kind())},
                       {"weight", w.weight_bp / 100.0}});
    }
    nlohmann::json entry = {{"name", route.name}, {"split", std::move(split)}};
    if (!route.service.empty()) entry["service"] = route.service;
    if (!route.action.empty()) entry["action"] = route.action;
    if (!route.prefix.empty()) entry["prefix"] = route.prefix;
    if (route.sticky.has_value()) {
      entry["sticky"] = route.sticky->header.empty() ? "json_field:" + route.sticky->json_field
                                                     : "header:" + route.sticky->header;
    } else {
      entry["sticky"] = nullptr;
    }
    if (route.fallback != nullptr) entry["fallback"] = route.fallback->name();
    if (route.timeout.count() > 0) entry["timeout_ms"] = route.timeout.count();
    if (route.retry.has_value()) {
      entry["retry"] = {{"retry_on", route.retry->retry_on},
                        {"max_attempts", route.retry->max_attempts},
                        {"backoff_base_ms", route.retry->backoff.base.count()},
                        {"backoff_max_ms", route.retry->backoff.max.count()},
                        {"per_try_timeout_ms", route.retry->per_try_timeout.count()},
                        {"retry_non_idempotent", route.retry->retry_non_idempotent}};
    }
    for (const WeightedCluster& w : route.split) {
      entry["breakers"][w.cluster->name()] = std::string(resilience::BreakerStateName(w.cluster->breaker_state()));
    }
    if (route.shadow != nullptr) {
      entry["shadow"] = {{"cluster", route.shadow->cluster->name()}, {"percent", route.shadow_percent_bp / 100.0}};
    }
    out.push_back(std::move(entry));
  }
  return out;
}

absl::StatusOr<const WeightedCluster*> RouterFilter::Choose(const Route& route, http::Request& request,
                                                            PickReason* reason) {
  if (route.override_header.has_value()) {
    const config::RouteOverrideConfig& cfg = *route.override_header;
    if (auto side = request.headers.Get(cfg.header); side.has_value()) {
      const std::string value(*side);
      request.headers.Remove(cfg.header);  // ours; never forwarded
      if (!PrincipalAllowed(cfg, request)) {
        return absl::PermissionDeniedError(
            absl::StrCat(cfg.header, " is not allowed for principal '",
                         request.headers.GetOr(http::headers::kPrincipal, ""), "'"));
      }
      const WeightedCluster* chosen = route.FindSide(value);
      if (chosen == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(cfg.header, ": route '", route.name, "' has no side '", value, "'"));
      }
      *reason = PickReason::kOverride;
      return chosen;
    }
  }
  if (route.split.size() == 1) {
    *reason = PickReason::kSplit;
    return &route.split.front();
  }
  if (route.sticky.has_value()) {
    if (auto key = StickyKey(*route.sticky, request); key.has_value()) {
      *reason = PickReason::kSticky;
      return &route.PickByBucket(StickyBucket(*key));
    }
  }
  *reason = PickReason::kSplit;
  return &route.PickByBucket(RandomBucket());
}

http::FilterStatus RouterFilter::OnRequest(http::Request& request) {
  table_ = routes_->Get();
  route_ = table_->Find(request);
  if (route_ == nullptr) {
    callbacks_->SendError(absl::NotFoundError(
        request.service.empty()
            ? absl::StrCat("no route for path '", AV(PathOnly(request.path)), "'")
            : absl::StrCat("no route for service '", request.service, "' action '", request.action, "'")));
    return http::FilterStatus::kStopIteration;
  }
  if (request.service.empty()) request.service = route_->service;
  started_ = http::Clock::now();
  if (route_->timeout.count() > 0) {
    request.deadline = std::min(request.deadline, started_ + route_->timeout);
  }
  PickReason reason = PickReason::kSplit;
  absl::StatusOr<const WeightedCluster*> chosen = Choose(*route_, request, &reason);
  if (!chosen.ok()) {
    callbacks_->SendError(chosen.status());
    return http::FilterStatus::kStopIteration;
  }
  upstream::GuardedCluster& cluster = *(*chosen)->cluster;
  prometheus::Counter* requests = (*chosen)->requests[static_cast<int>(reason)];
  if (requests == nullptr) {
    requests = &metrics_.route_requests_total.Add(
        {{"route", route_->name}, {"cluster", cluster.name()}, {"reason", PickReasonName(reason)}});
  }
  requests->Increment();
  request_ = &request;
  deadline_ = request.deadline;
  if (shadow_ != nullptr && route_->shadow != nullptr && route_->shadow_percent_bp > 0) {
    shadow::ComparedCallback on_compared;
    if (observer_ != nullptr) {
      on_compared = [observer = observer_, route = route_->name,
                     shadow_cluster = route_->shadow->cluster->name()](bool matched) {
        observer->OnShadowCompared(route, shadow_cluster, matched);
      };
    }
    mirror_ = shadow_->Begin(route_->name, route_->service, route_->action, route_->shadow,
                             route_->shadow_percent_bp, request, cluster, std::move(on_compared));
  }
  Send(cluster, /*retry=*/false);
  return http::FilterStatus::kStopIteration;
}

void RouterFilter::Send(upstream::GuardedCluster& cluster, bool retry) {
  callbacks_->stream_info().route_cluster = cluster.name();
  serving_cluster_ = &cluster;
  const http::Clock::time_point now = http::Clock::now();
  if (now >= deadline_) {
    Finish(absl::DeadlineExceededError("deadline passed before the request was routed"));
    return;
  }
  request_->deadline = deadline_;
  if (route_->retry.has_value() && route_->retry->per_try_timeout.count() > 0) {
    request_->deadline = std::min(deadline_, now + route_->retry->per_try_timeout);
  }
  ++attempts_;
  auto on_result = [this, &cluster](absl::StatusOr<http::Response> result) {
    in_flight_ = nullptr;
    OnResult(cluster, std::move(result));
  };
  if (!retry) {
    in_flight_ = cluster.Send(*request_, std::move(on_result));
    return;
  }
  std::string_view refused;
  in_flight_ = cluster.SendRetry(*request_, std::move(on_result), &refused);
  if (in_flight_ == nullptr) {
    metrics_.retries_skipped_total
        .Add({{"route", route_->name}, {"cluster", cluster.name()}, {"reason", std::string(refused)}})
        .Increment();
    Finish(std::move(retrying_));
  }
}

void RouterFilter::OnResult(upstream::GuardedCluster& cluster, absl::StatusOr<http::Response> result) {
  // Nobody serves this subject (a NATS side not deployed yet, or all its tasks gone), or the
  // side's breaker is open: one more try on the fallback side within the same deadline. Counted
  // apart from errors and retries.
  const upstream::FailureKind kind = upstream::GetFailureKind(result.status());
  if (!fell_back_ && route_->fallback != nullptr && route_->fallback != &cluster &&
      (kind == upstream::FailureKind::kNoResponders || kind == upstream::FailureKind::kCircuitOpen)) {
    fell_back_ = true;
    metrics_.route_fallback_total
        .Add({{"route", route_->name}, {"from", cluster.name()}, {"to", route_->fallback->name()}})
        .Increment();
    Send(*route_->fallback, /*retry=*/false);
    return;
  }
  const std::string_view reason = RetryReason(result);
  if (reason.empty()) {
    Finish(std::move(result));
    return;
  }
  retrying_ = std::move(result);
  if (!MaybeRetry(cluster, reason)) Finish(std::move(retrying_));
}

bool RouterFilter::MaybeRetry(upstream::GuardedCluster& cluster, std::string_view reason) {
  if (!route_->retry.has_value() || !route_->retry->RetriesOn(reason)) return false;
  const RetryPolicy& policy = *route_->retry;
  auto skip = [&](const char* why) {
    metrics_.retries_skipped_total.Add({{"route", route_->name}, {"cluster", cluster.name()}, {"reason", why}})
        .Increment();
    return false;
  };
  if (attempts_ >= policy.max_attempts) return skip("max_attempts");
  if (!policy.retry_non_idempotent && !IsIdempotent(*request_)) return skip("non_idempotent");
  const std::chrono::milliseconds backoff = resilience::FullJitterBackoff(policy.backoff, attempts_);
  if (http::Clock::now() + backoff >= deadline_) return skip("deadline");
  if (!cluster.TryReserveRetry()) return skip("budget");
  metrics_.retries_total.Add({{"route", route_->name}, {"cluster", cluster.name()}, {"reason", std::string(reason)}})
      .Increment();
  retry_timer_ = callbacks_->dispatcher().CreateTimer([this, &cluster] { Send(cluster, /*retry=*/true); });
  retry_timer_->Enable(backoff);
  return true;
}

void RouterFilter::Finish(absl::StatusOr<http::Response> result) {
  if (observer_ != nullptr && route_ != nullptr && serving_cluster_ != nullptr) {
    observer_->OnRequest(route_->name, serving_cluster_->name(), !upstream::IsUpstreamFailure(result),
                         std::chrono::duration_cast<std::chrono::microseconds>(http::Clock::now() - started_));
  }
  // A copy for the shadow comparison, which runs on a later loop turn: never before this reply.
  if (mirror_) mirror_.OnPrimary(result, serving_cluster_ != nullptr ? serving_cluster_->name() : "");
  if (result.ok()) {
    callbacks_->SendResponse(*std::move(result));
  } else {
    callbacks_->SendError(result.status());
  }
}

void RouterFilter::OnDestroy() {
  mirror_.Reset();  // no primary answer (the caller went away): the comparison is abandoned
  if (retry_timer_ != nullptr) retry_timer_->Disable();
  if (in_flight_ != nullptr) {
    in_flight_->Cancel();
    in_flight_ = nullptr;
  }
}

http::FilterFactory RouterFilterFactory(std::shared_ptr<const RouteTableHolder> routes, stats::Metrics& metrics,
                                       RouteObserver* observer, shadow::ShadowRuntime* shadow) {
  return [routes = std::move(routes), &metrics, observer, shadow]() -> http::FilterPtr {
    return std::make_unique<RouterFilter>(routes, metrics, observer, shadow);
  };
}

}  // namespace sidecar::router
