#include "sidecar/cutover/cli.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "sidecar/cutover/controller.h"
#include "sidecar/cutover/route_kv.h"
#include "sidecar/cutover/route_state.h"
#include "sidecar/nats/connection.h"

namespace sidecar::cutover {
namespace {

constexpr int64_t kTimeoutMs = 5000;
constexpr int kMaxCasAttempts = 5;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string DefaultBy() {
  const char* user = std::getenv("USER");
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(user != nullptr ? user : "unknown", "@", host);
}

// Routes named `target`, or else every split route of service `target`.
std::vector<const config::RouteConfig*> Targets(const config::Config& config, const std::string& target) {
  std::vector<const config::RouteConfig*> out;
  for (const config::RouteConfig& r : config.routes) {
    if (r.name == target) return {&r};
  }
  for (const config::RouteConfig& r : config.routes) {
    if (r.service == target && r.split.size() >= 2) out.push_back(&r);
  }
  return out;
}

const config::CutoverRouteConfig* GuardConfig(const config::Config& config, const std::string& route) {
  if (!config.cutover.has_value()) return nullptr;
  for (const config::CutoverRouteConfig& c : config.cutover->routes) {
    if (c.route == route) return &c;
  }
  return nullptr;
}

struct Session {
  nats::NatsConnectionPtr conn;
  std::unique_ptr<RouteKv> kv;
};

absl::StatusOr<Session> Open(const config::Config& config, bool create) {
  Session s;
  auto conn = nats::ConnectBlocking(config.nats, config.nats.name + "-cli");
  if (!conn.ok()) return conn.status();
  s.conn = *std::move(conn);
  const std::string bucket = config.cutover.has_value() ? config.cutover->kv_bucket : "sidecar-routes";
  const int replicas = config.cutover.has_value() ? static_cast<int>(config.cutover->kv_replicas) : 1;
  auto kv = RouteKv::Bind(s.conn.get(), bucket, create, replicas, kTimeoutMs);
  if (!kv.ok()) return kv.status();
  s.kv = *std::move(kv);
  return s;
}

// The new state for one route from its current one (nullopt: config weights), or an error.
absl::StatusOr<RouteState> NextState(const config::Config& config, const config::RouteConfig& route,
                                     const std::optional<RouteState>& current, const CutoverCommand& cmd) {
  const std::vector<SplitSide> split = SplitOf(config, route);
  Weights now;
  for (const SplitSide& s : split) now[s.cluster] = s.base_bp;
  if (current.has_value()) now = current->weights;
  const config::CutoverRouteConfig* guard = GuardConfig(config, route.name);
  RouteState next;
  if (current.has_value()) {
    next.shadow_percent = current->shadow_percent;
    next.rollback = current->rollback;  // the latest one stays visible in status
  }
  if (cmd.ramp) {
    const std::string side = ResolveSide(split, guard != nullptr ? guard->side : "native");
    if (side.empty()) return absl::InvalidArgumentError(absl::StrCat("route '", route.name, "' has no new side to ramp"));
    RampState& ramp = next.ramp.emplace();
    ramp.side = side;
    if (!cmd.steps.empty()) {
      for (double p : cmd.steps) ramp.steps_bp.push_back(PercentToBp(p));
    } else if (guard != nullptr && guard->ramp.has_value()) {
      ramp.steps_bp = guard->ramp->steps_bp;
    } else {
      ramp.steps_bp = config::RampConfig{}.steps_bp;
    }
    for (size_t i = 0; i < ramp.steps_bp.size(); ++i) {
      if (ramp.steps_bp[i] <= 0 || ramp.steps_bp[i] > 10000 || (i > 0 && ramp.steps_bp[i] <= ramp.steps_bp[i - 1])) {
        return absl::InvalidArgumentError("--steps: increasing percentages above 0, up to 100");
      }
    }
    ramp.hold_ms = cmd.hold_ms > 0 ? cmd.hold_ms
                   : guard != nullptr && guard->ramp.has_value() ? guard->ramp->hold_ms
                                                                 : config::RampConfig{}.hold_ms;
    ramp.index = 0;
    ramp.state = ramp.steps_bp.size() == 1 ? "done" : "running";
    next.weights = WeightsWithSide(split, side, ramp.steps_bp[0], now);
    next.last_safe = now;  // before the ramp
    next.reason = cmd.reason.empty() ? absl::StrCat("ramp started: ", side, " ", BpToPercent(ramp.steps_bp[0]), "%")
                                     : cmd.reason;
  } else {
    auto weights = ParseTo(cmd.to, split, now);
    if (!weights.ok()) return weights.status();
    next.weights = *std::move(weights);
    // Moving traffic toward the new side keeps the old weights as the rollback target; moving it
    // back (or sideways on an unguarded route) makes the new weights the safe ones.
    const std::string side = guard != nullptr ? ResolveSide(split, guard->side) : "";
    next.last_safe = !side.empty() && SideBp(next.weights, side) > SideBp(now, side) ? now : next.weights;
    next.reason = cmd.reason.empty() ? absl::StrCat("set ", WeightsToString(next.weights)) : cmd.reason;
  }
  next.by = cmd.by.empty() ? DefaultBy() : cmd.by;
  next.at_ms = NowMs();
  return next;
}

nlohmann::json WeightsJson(const Weights& w) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [cluster, bp] : w) out[cluster] = BpToPercent(bp);
  return out;
}

}  // namespace

int RunCutover(const config::Config& config, const CutoverCommand& cmd, std::ostream& out, std::ostream& err) {
  const std::vector<const config::RouteConfig*> routes = Targets(config, cmd.target);
  if (routes.empty()) {
    err << "cutover: no route named '" << cmd.target << "' and no service with a split route of that name\n";
    return 2;
  }
  if (cmd.ramp == !cmd.to.empty()) {
    err << "cutover: give exactly one of --to SIDE=PERCENT or --ramp\n";
    return 2;
  }
  // Validate every target before writing any, so a typo does not leave a service half cut over.
  for (const config::RouteConfig* r : routes) {
    if (r->split.size() < 2) {
      err << "cutover: route '" << r->name << "' has a single cluster; nothing to split\n";
      return 2;
    }
    auto probe = NextState(config, *r, std::nullopt, cmd);
    if (!probe.ok()) {
      err << "cutover: route '" << r->name << "': " << probe.status().message() << "\n";
      return 2;
    }
  }
  auto session = Open(config, /*create=*/true);
  if (!session.ok()) {
    err << "cutover: " << session.status().message() << "\n";
    return 1;
  }
  int code = 0;
  for (const config::RouteConfig* r : routes) {
    const std::string key = RouteKey(r->name);
    absl::Status last = absl::OkStatus();
    bool written = false;
    for (int attempt = 0; attempt < kMaxCasAttempts && !written; ++attempt) {
      auto record = session->kv->Get(key);
      if (!record.ok()) {
        last = record.status();
        break;
      }
      std::optional<RouteState> current;
      uint64_t revision = 0;
      if (record->has_value()) {
        revision = (*record)->revision;
        if (!(*record)->deleted) {
          auto parsed = RouteState::FromJson((*record)->value);
          if (parsed.ok()) current = *std::move(parsed);
        }
      }
      auto next = NextState(config, *r, current, cmd);
      if (!next.ok()) {
        last = next.status();
        break;
      }
      auto rev = session->kv->Write(key, next->ToJson().dump(), revision);
      if (rev.ok()) {
        written = true;
        out << nlohmann::json({{"route", r->name},
                               {"revision", *rev},
                               {"weights", WeightsJson(next->weights)},
                               {"by", next->by},
                               {"reason", next->reason}})
                   .dump()
            << "\n";
      } else {
        last = rev.status();
        if (!IsConflict(rev.status())) break;  // a conflict re-reads and tries again
      }
    }
    if (!written) {
      err << "cutover: route '" << r->name << "': " << last.message() << "\n";
      code = 1;
    }
  }
  return code;
}

int RunStatus(const config::Config& config, const std::string& target, std::ostream& out, std::ostream& err) {
  std::vector<const config::RouteConfig*> routes;
  if (target.empty()) {
    for (const config::RouteConfig& r : config.routes) {
      if (r.split.size() >= 2) routes.push_back(&r);
    }
  } else {
    routes = Targets(config, target);
    if (routes.empty()) {
      err << "status: no route or service named '" << target << "'\n";
      return 2;
    }
  }
  auto session = Open(config, /*create=*/false);
  if (!session.ok() && session.status().code() != absl::StatusCode::kNotFound) {
    err << "status: " << session.status().message() << "\n";
    return 1;
  }
  nlohmann::json doc;
  doc["bucket"] = config.cutover.has_value() ? config.cutover->kv_bucket : "sidecar-routes";
  doc["bucket_exists"] = session.ok();
  nlohmann::json list = nlohmann::json::array();
  for (const config::RouteConfig* r : routes) {
    nlohmann::json entry = {{"route", r->name}, {"service", r->service}, {"action", r->action}};
    Weights config_weights;
    for (const config::WeightedClusterConfig& w : r->split) config_weights[w.cluster] = w.weight_bp;
    entry["config_weights"] = WeightsJson(config_weights);
    entry["source"] = "config";
    entry["weights"] = WeightsJson(config_weights);
    entry["revision"] = 0;
    if (session.ok()) {
      const std::string key = RouteKey(r->name);
      auto history = session->kv->History(key);
      if (!history.ok()) {
        err << "status: route '" << r->name << "': " << history.status().message() << "\n";
        return 1;
      }
      nlohmann::json changes = nlohmann::json::array();
      for (const KvRecord& rec : *history) {
        nlohmann::json change = {{"revision", rec.revision}, {"stored_at_ms", rec.created_ms}};
        if (rec.deleted) {
          change["deleted"] = true;
        } else if (auto s = RouteState::FromJson(rec.value); s.ok()) {
          change["weights"] = WeightsJson(s->weights);
          change["by"] = s->by;
          change["at_ms"] = s->at_ms;
          change["reason"] = s->reason;
        } else {
          change["invalid"] = std::string(s.status().message());
        }
        changes.push_back(std::move(change));
      }
      entry["history"] = std::move(changes);
      if (!history->empty() && !history->back().deleted) {
        auto s = RouteState::FromJson(history->back().value);
        if (s.ok()) {
          entry["source"] = "kv";
          entry["revision"] = history->back().revision;
          nlohmann::json state = s->ToJson();
          for (auto it = state.begin(); it != state.end(); ++it) entry[it.key()] = it.value();
        }
      }
    }
    list.push_back(std::move(entry));
  }
  doc["routes"] = std::move(list);
  out << doc.dump(2) << "\n";
  return 0;
}

}  // namespace sidecar::cutover
