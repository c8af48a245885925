#include "sidecar/server/server.h"

#include <algorithm>
#include <csignal>

#include "adapters/common/errors.h"
#include "adapters/events/events.h"
#include "adapters/nats_http/nats_cluster.h"
#include "adapters/nats_http/nats_http.h"
#include "adapters/nats_http/nats_listener.h"
#include "adapters/native/native_cluster.h"
#include "adapters/native/outbound_http_client.h"
#include "adapters/transcoding/transcoder.h"
#include "services/common/in_memory_state_store.h"
#include "services/common/jetstream_event_publisher.h"
#include "services/common/jetstream_kv_state_store.h"
#include "services/registry/registry.h"
#include "sidecar/server/effective_config.h"
#include "sidecar/server/mirror_clusters.h"
#include "sidecar/http/http_listener.h"
#include "sidecar/common/build_info.h"
#include "sidecar/common/logging.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/config/loader.h"
#include "sidecar/shadow/status_page.h"
#include "sidecar/upstream/legacy_http_cluster.h"

namespace sidecar::server {
namespace {

http::Response JsonResponse(int status, const nlohmann::json& body) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  // replace, not throw: config values (env expansions included) and route data may hold bytes
  // that are not UTF-8, and a throwing dump inside an admin handler ends the process (found by
  // tests/fuzz/config_loader_fuzz: a config string with a 0x93 byte made /config_dump abort).
  r.body = body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

// Shadow comparisons see a protobuf reply (a NATS side answering a protobuf caller) as the spec's
// JSON, through the service's schema; any other body is compared as it is.
shadow::BodyDecoder ProtobufBodyDecoder() {
  using adapters::transcoding::Transcoder;
  auto transcoders = std::make_shared<std::map<std::string, std::unique_ptr<const Transcoder>>>();
  return [transcoders](const http::Request& request, const http::Response& response) -> std::optional<std::string> {
    auto content_type = response.headers.Get("Content-Type");
    if (!content_type.has_value() || request.service.empty()) return std::nullopt;
    auto encoding = adapters::transcoding::EncodingFromContentType(*content_type);
    if (!encoding.ok() || *encoding != adapters::transcoding::Encoding::kProtobuf) return std::nullopt;
    absl::StatusOr<std::string> json;
    if (response.status >= 400) {
      json = adapters::transcoding::ErrorProtoToJson(response.body);
    } else {
      if (request.action.empty()) return std::nullopt;
      auto [it, inserted] = transcoders->try_emplace(request.service);
      if (inserted) {
        auto created = Transcoder::Create(request.service);
        if (created.ok()) it->second = *std::move(created);  // else stays null: not a schema service
      }
      if (it->second == nullptr) return std::nullopt;
      json = it->second->ProtoToJson(request.action, adapters::transcoding::MessageKind::kResponse, response.body);
    }
    if (!json.ok()) return std::nullopt;
    return *std::move(json);
  };
}

http::Response HtmlResponse(std::string body) {
  http::Response r;
  r.headers.Set("Content-Type", "text/html; charset=utf-8");
  r.body = std::move(body);
  return r;
}

const config::ServiceConfig* FindService(const config::Config& config, const std::string& name) {
  for (const auto& s : config.services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace

const char* StateName(State state) {
  switch (state) {
    case State::kInitializing: return "initializing";
    case State::kLive: return "live";
    case State::kDraining: return "draining";
  }
  return "unknown";
}

absl::Status CheckConfig(const config::Config& config) {
  std::string errors;
  for (size_t i = 0; i < config.services.size(); ++i) {
    auto table = adapters::nats_http::ActionRouteTable::Create(config.services[i], i);
    if (!table.ok()) errors += std::string(table.status().message()) + "\n";
  }
  if (!errors.empty()) {
    errors.pop_back();
    return absl::InvalidArgumentError(errors);
  }
  return absl::OkStatus();
}

Server::Server(config::Config config, event::Dispatcher& dispatcher)
    : config_(std::move(config)), dispatcher_(dispatcher), clusters_(dispatcher, metrics_) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(config::Config config, event::Dispatcher& dispatcher) {
  RETURN_IF_ERROR(ExpandConfig(config));
  RETURN_IF_ERROR(CheckConfig(config));
  std::unique_ptr<Server> server(new Server(std::move(config), dispatcher));
  RETURN_IF_ERROR(server->Init());
  return server;
}

absl::Status Server::Init() {
  SetState(State::kInitializing);
  // Admin first: /health answers while NATS is still connecting, so ECS sees a live process.
  ASSIGN_OR_RETURN(admin_, admin::AdminServer::Create(config_.admin, dispatcher_));
  InstallAdminHandlers();
  log::Info("admin listening", {{"address", config_.admin.address.host + ":" + std::to_string(admin_->port())},
                                {"port", std::to_string(admin_->port())}});

  // The connection comes first: nats clusters and listeners use it. It connects in the background.
  ASSIGN_OR_RETURN(nats_, nats::Connection::Create(config_.nats, dispatcher_, metrics_));
  nats_->SetStateCallback([this](bool) { ReevaluateReadiness(); });
  RETURN_IF_ERROR(CreateClusters());
  // Mirrors run on their own thread where they can (mirror_clusters.h); each side decodes with its own.
  ASSIGN_OR_RETURN(auto mirror_worker, StartMirrorWorker(config_, metrics_, ProtobufBodyDecoder()));
  shadow_ = std::make_unique<shadow::ShadowRuntime>(dispatcher_, metrics_, shadow::ShadowRuntime::Options{},
                                                    ProtobufBodyDecoder(), std::move(mirror_worker));
  ASSIGN_OR_RETURN(auto table, router::RouteTable::Create(config_.routes, clusters_, &metrics_));
  routes_ = std::make_shared<router::RouteTableHolder>(std::move(table));
  if (config_.cutover.has_value()) {
    // Before the listeners: their router filters report every outcome to its guards.
    ASSIGN_OR_RETURN(cutover_, cutover::CutoverController::Create(config_, dispatcher_, metrics_, routes_));
  }
  // Events need the clusters (deliveries) and come before the listeners (the egress publish filter).
  ASSIGN_OR_RETURN(events_, adapters::events::EventsRuntime::Create(config_, dispatcher_, metrics_, clusters_));
  if (events_ != nullptr) events_->Start();
  RETURN_IF_ERROR(CreateListeners());

  for (int signum : {SIGTERM, SIGINT}) {
    signals_.push_back(dispatcher_.ListenForSignal(signum, [this, signum] {
      log::Info("signal received; draining", {{"signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"}});
      BeginDrain();
    }));
  }
  SetState(State::kLive);
  confirm_thread_ = std::thread([this, conn = nats_->raw()] {
    // Not connected yet: the flush fails at once, and the connect callback confirms by itself.
    natsConnection_FlushTimeout(conn, 2000);
    dispatcher_.Post([this] {
      subscriptions_confirmed_ = true;
      ReevaluateReadiness();
    });
  });
  ReevaluateReadiness();
  return absl::OkStatus();
}

void Server::ReevaluateReadiness() {
  Readiness r = CheckReadiness();
  if (r.ready == last_ready_) return;
  last_ready_ = r.ready;
  log::Info("readiness changed", {{"ready", r.ready ? "true" : "false"}, {"detail", r.detail.dump()}});
}

Server::~Server() {
  if (confirm_thread_.joinable()) confirm_thread_.join();
  // Listeners, then clusters (a nats cluster owns an inbox subscription), then the connection.
  discovery_.clear();
  listeners_.clear();
  events_.reset();  // after the listeners (publish filter), before the clusters it delivers to
  shadow_.reset();  // cancels shadow requests in flight, before their clusters go
  cutover_.reset();  // after every RouteObserver caller (router filters, shadow)
  clusters_.Clear();
  publishers_.clear();
  stores_.clear();
  outbound_http_.reset();
  store_conn_.reset();
  nats_.reset();
}

absl::Status Server::CreateNativeCluster(const config::ClusterConfig& cc) {
  const config::NativeClusterConfig& nc = *cc.native;
  services::ServiceDeps deps;
  deps.fixtures_enabled = nc.fixtures;
  if ((nc.store == "jetstream" || nc.events == "jetstream") && store_conn_ == nullptr) {
    ASSIGN_OR_RETURN(store_conn_, nats::ConnectBlocking(config_.nats, config_.nats.name + "-store"));
  }
  if (nc.store == "jetstream") {
    // Binding the bucket is a blocking round trip: fine at startup, and it fails fast (and the
    // task restarts) when NATS is not reachable, instead of serving with no shared state.
    services::JetStreamKvStateStore::Options options;
    options.bucket = nc.kv_bucket;
    options.replicas = static_cast<int>(nc.kv_replicas);
    ASSIGN_OR_RETURN(auto store, services::JetStreamKvStateStore::Create(store_conn_.get(), dispatcher_, options));
    stores_.push_back(std::move(store));
  } else {
    stores_.push_back(std::make_unique<services::InMemoryStateStore>(dispatcher_));
  }
  deps.store = stores_.back().get();
  if (nc.events == "jetstream") {
    ASSIGN_OR_RETURN(auto publisher, services::JetStreamEventPublisher::Create(store_conn_.get(), dispatcher_, {}));
    publishers_.push_back(std::move(publisher));
  } else {
    publishers_.push_back(std::make_unique<services::InMemoryEventPublisher>(dispatcher_));
  }
  deps.events = publishers_.back().get();
  if (outbound_http_ == nullptr) outbound_http_ = std::make_unique<adapters::native::EvOutboundHttpClient>(dispatcher_);
  deps.http = outbound_http_.get();
  adapters::native::NativeClusterOptions options;
  options.name = cc.name;
  options.services = nc.services;
  options.deps = deps;
  if (!nc.dependencies.empty()) {
    // The loader checked it names a nats cluster; CreateClusters made those first.
    options.dependencies_cluster = clusters_.Get(nc.dependencies);
    if (options.dependencies_cluster == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("dependencies cluster '", nc.dependencies, "' not created"));
    }
  }
  ASSIGN_OR_RETURN(auto cluster, adapters::native::NativeCluster::Create(
                                     std::move(options), dispatcher_, metrics_,
                                     [](std::string_view name, const services::ServiceDeps& d) {
                                       return services::MakeService(name, d);
                                     }));
  log::Info("native cluster hosting", {{"cluster", cc.name}, {"services", cluster->HealthDetail()},
                                       {"store", nc.store}, {"events", nc.events}});
  return clusters_.Add(std::move(cluster), &cc);
}

absl::Status Server::CreateClusters() {
  for (const auto& cc : config_.clusters) {
    if (cc.legacy_http) {
      ASSIGN_OR_RETURN(auto cluster, upstream::LegacyHttpCluster::Create(cc, dispatcher_, metrics_));
      cluster->SetOnChange([this](bool) {
        UpdateQueueMembership();
        ReevaluateReadiness();
      });
      RETURN_IF_ERROR(clusters_.Add(std::move(cluster), &cc));
    } else if (cc.nats) {
      ASSIGN_OR_RETURN(auto cluster, adapters::nats_http::NatsCluster::Create(
                                         adapters::nats_http::NatsClusterOptions::FromConfig(cc), *nats_, metrics_));
      cluster->SetOnChange([this](bool) {
        UpdateQueueMembership();
        ReevaluateReadiness();
      });
      RETURN_IF_ERROR(clusters_.Add(std::move(cluster), &cc));
    }
  }
  // Native clusters last: their ports call other services through a nats cluster made above.
  for (const auto& cc : config_.clusters) {
    if (cc.native) RETURN_IF_ERROR(CreateNativeCluster(cc));
  }
  return absl::OkStatus();
}

std::vector<http::FilterFactory> Server::FilterChain() {
  std::vector<http::FilterFactory> filters;
  if (events_ != nullptr) {
    if (http::FilterFactory publish = events_->PublishFilter()) filters.push_back(std::move(publish));
  }
  filters.push_back(router::RouterFilterFactory(routes_, metrics_, /*observer=*/cutover_.get(), shadow_.get()));
  return filters;
}

absl::Status Server::CreateListeners() {
  for (const auto& lc : config_.listeners) {
    if (lc.nats) {
      std::shared_ptr<const adapters::nats_http::ActionRouteTable> actions;
      if (const auto* service = FindService(config_, lc.nats->service)) {
        ASSIGN_OR_RETURN(auto table, adapters::nats_http::ActionRouteTable::Create(*service, 0));
        actions = std::make_shared<const adapters::nats_http::ActionRouteTable>(std::move(table));
      }
      ASSIGN_OR_RETURN(auto listener, adapters::nats_http::NatsListener::Create(
                                          lc.name, *lc.nats, *nats_, metrics_, std::move(actions), FilterChain()));
      listener->SetReadyChangedCallback([this] { ReevaluateReadiness(); });
      QueueGate gate{listener.get(), HealthGatedClusters(lc.nats->service)};
      if (!gate.clusters.empty()) queue_gates_.push_back(gate);
      UpdateQueueMembership();  // before Start: an unhealthy upstream keeps it out from the start
      RETURN_IF_ERROR(listener->Start());
      listeners_.push_back(std::move(listener));
      // ADR-32 discovery: this instance answers $SRV.PING/INFO/STATS for the listener's service.
      adapters::discovery::DiscoveryResponder::Options discovery;
      discovery.service.name = lc.nats->service;
      discovery.service.version = SIDECAR_VERSION;
      discovery.service.description = "nats-sidecar listener " + lc.name;
      discovery.service.metadata = {{"listener", lc.name}, {"git_sha", std::string(BuildGitSha())}};
      std::vector<std::string> action_names;
      if (const auto* service = FindService(config_, lc.nats->service)) {
        for (const auto& a : service->actions) action_names.push_back(a.action);
      }
      discovery.endpoints = adapters::discovery::MakeEndpoints(lc.nats->service, action_names, lc.nats->queue,
                                                              lc.nats->subject);
      discovery.stats = adapters::discovery::MetricsStatsProvider(metrics_, lc.name);
      ASSIGN_OR_RETURN(auto responder, adapters::discovery::DiscoveryResponder::Start(*nats_, std::move(discovery)));
      discovery_.push_back(std::move(responder));
    } else if (lc.http) {
      const config::HttpListenerConfig& hc = *lc.http;
      http::HttpListener::Options options;
      options.name = lc.name;
      options.address = hc.address;
      options.max_header_bytes = static_cast<size_t>(hc.max_header_bytes);
      options.max_headers = static_cast<size_t>(hc.max_headers);
      options.max_body_bytes = static_cast<size_t>(hc.max_body_bytes);
      options.header_timeout = std::chrono::milliseconds(hc.header_timeout_ms);
      options.idle_timeout = std::chrono::milliseconds(hc.idle_timeout_ms);
      options.body_timeout = std::chrono::milliseconds(hc.body_timeout_ms);
      options.request_timeout = std::chrono::milliseconds(hc.request_timeout_ms);
      options.max_connections = static_cast<size_t>(hc.max_connections);
      options.max_in_flight = static_cast<size_t>(hc.max_in_flight);
      options.error_response = [](const absl::Status& status) { return adapters::ErrorResponseFromStatus(status); };
      ASSIGN_OR_RETURN(auto listener,
                       http::HttpListener::Create(std::move(options), dispatcher_, metrics_, FilterChain()));
      RETURN_IF_ERROR(listener->Start());
      log::Info("http listener listening", {{"listener", lc.name},
                                            {"address", hc.address.host + ":" + std::to_string(listener->port())},
                                            {"port", std::to_string(listener->port())}});
      listeners_.push_back(std::move(listener));
    }
  }
  return absl::OkStatus();
}

std::vector<upstream::Cluster*> Server::HealthGatedClusters(const std::string& service) const {
  std::vector<upstream::Cluster*> out;
  for (const config::RouteConfig& route : config_.routes) {
    if (route.service != service || !route.prefix.empty()) continue;
    for (const config::WeightedClusterConfig& w : route.split) {
      for (const config::ClusterConfig& cc : config_.clusters) {
        const bool checked = (cc.legacy_http.has_value() && cc.legacy_http->health_check.has_value()) ||
                             (cc.nats.has_value() && cc.nats->health_check.has_value());
        if (cc.name != w.cluster || !checked) continue;
        upstream::Cluster* cluster = clusters_.Get(cc.name);
        if (cluster != nullptr && std::find(out.begin(), out.end(), cluster) == out.end()) out.push_back(cluster);
      }
    }
  }
  return out;
}

void Server::UpdateQueueMembership() {
  if (state_ == State::kDraining) return;
  for (const QueueGate& gate : queue_gates_) {
    std::string why;
    for (upstream::Cluster* cluster : gate.clusters) {
      if (!cluster->Healthy()) why = cluster->name() + ": " + cluster->HealthDetail();
    }
    gate.listener->SetServing(why.empty(), why);
  }
}

void Server::InstallAdminHandlers() {
  auto add = [this](const char* path, const char* help, admin::AdminServer::Handler h) {
    absl::Status st = admin_->AddHandler(path, help, std::move(h));
    if (!st.ok()) log::Error("admin handler not installed", {{"path", path}, {"error", st.ToString()}});
  };
  add("/health", "200 while the process is live", [](const admin::AdminServer::Request&) {
    return JsonResponse(200, {{"status", "live"}});
  });
  add("/ready", "200 while connected, subscribed and upstreams healthy; else 503 with the reason",
      [this](const admin::AdminServer::Request&) {
        Readiness r = CheckReadiness();
        return JsonResponse(r.ready ? 200 : 503, r.detail);
      });
  add("/metrics", "Prometheus text exposition", [this](const admin::AdminServer::Request&) {
    http::Response r;
    r.headers.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.body = metrics_.SerializeText();
    return r;
  });
  add("/config_dump", "the effective configuration, secrets redacted", [this](const admin::AdminServer::Request&) {
    return JsonResponse(200, config::ToJson(config_));
  });
  // Shadow traffic (issue 7).
  add("/shadow/mismatches", "recent shadow mismatches, newest first: route, request, both answers, differing paths",
      [this](const admin::AdminServer::Request&) {
        nlohmann::json body = shadow_ != nullptr ? shadow_->MismatchesJson() : nlohmann::json::array();
        http::Response r;
        r.headers.Set("Content-Type", "application/json");
        r.body = body.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";  // bodies may not be UTF-8
        return r;
      });
  add("/status", "HTML status page: routes, weights, shadow match rates and recent diffs",
      [this](const admin::AdminServer::Request&) {
        const nlohmann::json stats = shadow_ != nullptr ? shadow_->StatsJson() : nlohmann::json::object();
        const nlohmann::json mismatches = shadow_ != nullptr ? shadow_->MismatchesJson() : nlohmann::json::array();
        const nlohmann::json routes = routes_ != nullptr ? routes_->Get()->ToJson() : nlohmann::json::array();
        return HtmlResponse(shadow::RenderStatusPage(routes, stats, mismatches));
      });
  add("/routes", "routes with their current weights (POST /routes/<name>/weights changes them)",
      [this](const admin::AdminServer::Request&) { return JsonResponse(200, routes_->Get()->ToJson()); });
  add("/cutover", "fleet-wide cut-over: KV state, per-route weights source, revision, ramp (cutover: section)",
      [this](const admin::AdminServer::Request&) {
        return cutover_ != nullptr ? JsonResponse(200, cutover_->Detail())
                                   : JsonResponse(404, {{"error", "no cutover section in the config"}});
      });
  absl::Status st = admin_->AddPostHandler(
      "/routes/", "POST /routes/<name>/weights {\"<cluster>\": <percent>, ...}: new weights, applied atomically",
      [this](const admin::AdminServer::Request& r) { return SetRouteWeights(r); });
  if (!st.ok()) log::Error("admin handler not installed", {{"path", "/routes/"}, {"error", st.ToString()}});
}

http::Response Server::SetRouteWeights(const admin::AdminServer::Request& request) {
  constexpr std::string_view kPrefix = "/routes/";
  constexpr std::string_view kSuffix = "/weights";
  std::string_view path = request.path;
  if (path.size() <= kPrefix.size() + kSuffix.size() || path.substr(path.size() - kSuffix.size()) != kSuffix) {
    return adapters::ErrorResponse("NOT_FOUND", "expected POST /routes/<name>/weights", {});
  }
  const std::string name(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) {
    return adapters::ErrorResponseFromStatus(
        absl::InvalidArgumentError("body must be a JSON object {\"<cluster>\": <percent>, ...}"));
  }
  std::map<std::string, int64_t> weights;
  for (const auto& [cluster, value] : body.items()) {
    if (!value.is_number() || value.get<double>() < 0 || value.get<double>() > 100) {
      return adapters::ErrorResponseFromStatus(
          absl::InvalidArgumentError("weight of '" + cluster + "' must be a number 0-100"));
    }
    weights[cluster] = static_cast<int64_t>(value.get<double>() * 100 + 0.5);
  }
  auto table = routes_->Get()->WithWeights(name, weights);
  if (!table.ok()) return adapters::ErrorResponseFromStatus(table.status());
  routes_->Set(*table);
  log::Info("route weights changed", {{"route", name}, {"weights", body.dump()}});
  for (const nlohmann::json& route : (*table)->ToJson()) {
    if (route["name"] == name) return JsonResponse(200, route);
  }
  return JsonResponse(200, {});
}

Server::Readiness Server::CheckReadiness() const {
  Readiness r;
  r.ready = state_ == State::kLive;
  r.detail["state"] = StateName(state_);
  const bool nats_up = nats_ != nullptr && nats_->connected();
  r.detail["nats"] = !nats_up ? "disconnected" : subscriptions_confirmed_ ? "connected" : "subscribing";
  r.ready = r.ready && nats_up && subscriptions_confirmed_;
  nlohmann::json listeners = nlohmann::json::object();
  for (const auto& l : listeners_) {
    std::string why;
    bool ok = l->Ready(&why);
    listeners[l->name()] = ok ? "ready" : why;
    r.ready = r.ready && ok;
  }
  r.detail["listeners"] = listeners;
  nlohmann::json clusters = nlohmann::json::object();
  for (const auto& [name, cluster] : clusters_.clusters()) {
    bool healthy = cluster->Healthy();
    clusters[name] = cluster->HealthDetail();
    r.ready = r.ready && healthy;
  }
  r.detail["clusters"] = clusters;
  // Informational only: with the KV unreachable the sidecar keeps serving its last known weights,
  // which is safe, and a KV outage must not take the whole fleet out of its load balancers.
  if (cutover_ != nullptr) r.detail["cutover"] = cutover_->Detail();
  r.detail["ready"] = r.ready;
  return r;
}

void Server::SetState(State state) {
  state_ = state;
  for (State s : {State::kInitializing, State::kLive, State::kDraining}) {
    metrics_.server_state.Add({{"state", StateName(s)}}).Set(s == state ? 1 : 0);
  }
}

int Server::Run() {
  dispatcher_.Run();
  return drain_timed_out_ ? 1 : 0;
}

void Server::Shutdown() {
  dispatcher_.Post([this] { BeginDrain(); });
}

void Server::BeginDrain() {
  if (state_ == State::kDraining) return;
  SetState(State::kDraining);  // /ready answers 503 from here on
  ReevaluateReadiness();
  drain_timer_ = dispatcher_.CreateTimer([this] {
    size_t active = 0;
    for (const auto& l : listeners_) active += l->active_requests();
    log::Error("drain timeout reached; exiting with requests unanswered",
               {{"active_requests", std::to_string(active)}});
    drain_timed_out_ = true;
    dispatcher_.Exit();
  });
  drain_timer_->Enable(std::chrono::milliseconds(config_.server.drain_timeout_ms));
  // The event consumers drain like a listener: stop fetching, settle what was fetched.
  listeners_draining_ = listeners_.size() + (events_ != nullptr ? 1 : 0);
  if (listeners_draining_ == 0) {
    dispatcher_.Exit();
    return;
  }
  for (auto& l : listeners_) l->Drain([this] { OnListenerDrained(); });
  if (events_ != nullptr) events_->Drain([this] { OnListenerDrained(); });
}

void Server::OnListenerDrained() {
  if (--listeners_draining_ > 0) return;
  // Every request is answered, but the last replies may still sit in nats.c's buffer until the
  // loop writes them: let nats.c flush and close before the loop stops.
  nats_->DrainAndClose(std::chrono::milliseconds(config_.server.drain_timeout_ms), [this] {
    log::Info("drained; exiting");
    drain_timer_->Disable();
    dispatcher_.Exit();
  });
}

}  // namespace sidecar::server
