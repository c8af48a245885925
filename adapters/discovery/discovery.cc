#include "adapters/discovery/discovery.h"

#include <utility>

#include "absl/random/random.h"
#include "sidecar/common/logging.h"

namespace sidecar::adapters::discovery {
namespace {

using Json = nlohmann::json;

constexpr char kWildcardEndpoint[] = "all";

Json Metadata(const std::map<std::string, std::string>& m) {
  Json out = Json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

Json Identity(const ServiceIdentity& s, const char* type) {
  return Json{{"type", type}, {"name", s.name}, {"id", s.id}, {"version", s.version},
              {"metadata", Metadata(s.metadata)}};
}

}  // namespace

std::vector<Endpoint> MakeEndpoints(const std::string& service, const std::vector<std::string>& actions,
                                    const std::string& queue, const std::string& wildcard_subject) {
  const std::string group = queue.empty() ? "svc-" + service + "-workers" : queue;
  std::vector<Endpoint> out;
  if (actions.empty()) {
    Endpoint e;
    e.name = kWildcardEndpoint;
    e.subject = wildcard_subject.empty() ? "svc." + service + ".v1.>" : wildcard_subject;
    e.queue_group = group;
    out.push_back(std::move(e));
    return out;
  }
  for (const auto& action : actions) {
    Endpoint e;
    e.name = action;
    e.subject = "svc." + service + ".v1." + action;
    e.queue_group = group;
    e.action = action;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> DiscoverySubjects(const std::string& name, const std::string& id) {
  std::vector<std::string> out;
  for (const char* verb : {"PING", "INFO", "STATS"}) {
    const std::string base = std::string("$SRV.") + verb;
    out.push_back(base);
    out.push_back(base + "." + name);
    out.push_back(base + "." + name + "." + id);
  }
  return out;
}

Json PingResponse(const ServiceIdentity& service) { return Identity(service, kPingType); }

Json InfoResponse(const ServiceIdentity& service, const std::vector<Endpoint>& endpoints) {
  Json out = Identity(service, kInfoType);
  out["description"] = service.description;
  Json eps = Json::array();
  for (const auto& e : endpoints) {
    eps.push_back({{"name", e.name}, {"subject", e.subject}, {"queue_group", e.queue_group},
                   {"metadata", Metadata(e.metadata)}});
  }
  out["endpoints"] = std::move(eps);
  return out;
}

Json StatsResponse(const ServiceIdentity& service, const std::vector<Endpoint>& endpoints, absl::Time started,
                   const StatsProvider& stats) {
  Json out = Identity(service, kStatsType);
  out["started"] = FormatRfc3339(started);
  Json eps = Json::array();
  for (const auto& e : endpoints) {
    EndpointStats s = stats ? stats(e) : EndpointStats{};
    eps.push_back({{"name", e.name},
                   {"subject", e.subject},
                   {"queue_group", e.queue_group},
                   {"num_requests", s.num_requests},
                   {"num_errors", s.num_errors},
                   {"last_error", s.last_error},
                   {"processing_time", s.processing_time_ns},
                   {"average_processing_time", s.num_requests > 0 ? s.processing_time_ns / s.num_requests : 0}});
  }
  out["endpoints"] = std::move(eps);
  return out;
}

std::string FormatRfc3339(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", t, absl::UTCTimeZone()); }

std::string NewInstanceId() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  absl::BitGen gen;
  std::string id(22, '0');
  for (char& c : id) c = kAlphabet[absl::Uniform<size_t>(gen, 0, sizeof(kAlphabet) - 1)];
  return id;
}

StatsProvider MetricsStatsProvider(stats::Metrics& metrics, std::string listener) {
  return [&metrics, listener = std::move(listener)](const Endpoint& endpoint) {
    auto label = [](const prometheus::ClientMetric& m, const char* name) -> const std::string* {
      for (const auto& l : m.label) {
        if (l.name == name) return &l.value;
      }
      return nullptr;
    };
    auto matches = [&](const prometheus::ClientMetric& m) {
      const std::string* l = label(m, "listener");
      if (l == nullptr || *l != listener) return false;
      if (endpoint.action.empty()) return true;
      const std::string* a = label(m, "action");
      return a != nullptr && *a == endpoint.action;
    };
    EndpointStats s;
    std::map<std::string, int64_t> errors;
    for (const auto& family : metrics.requests_total.Collect()) {
      for (const auto& m : family.metric) {
        if (!matches(m)) continue;
        const auto n = static_cast<int64_t>(m.counter.value);
        s.num_requests += n;
        const std::string* outcome = label(m, "outcome");
        if (outcome != nullptr && *outcome != "ok") {
          s.num_errors += n;
          errors[*outcome] += n;
        }
      }
    }
    double seconds = 0;
    for (const auto& family : metrics.request_duration_seconds.Collect()) {
      for (const auto& m : family.metric) {
        if (matches(m)) seconds += m.histogram.sample_sum;
      }
    }
    s.processing_time_ns = static_cast<int64_t>(seconds * 1e9);
    int64_t most = 0;
    for (const auto& [outcome, n] : errors) {
      if (n > most) {
        most = n;
        s.last_error = outcome;
      }
    }
    return s;
  };
}

DiscoveryResponder::DiscoveryResponder(nats::Connection& connection, Options options)
    : connection_(connection), options_(std::move(options)), started_(absl::Now()) {}

DiscoveryResponder::~DiscoveryResponder() { subscriptions_.clear(); }

absl::StatusOr<std::unique_ptr<DiscoveryResponder>> DiscoveryResponder::Start(nats::Connection& connection,
                                                                              Options options) {
  if (options.service.name.empty()) return absl::InvalidArgumentError("discovery: service name is empty");
  if (options.service.id.empty()) options.service.id = NewInstanceId();
  std::unique_ptr<DiscoveryResponder> r(new DiscoveryResponder(connection, std::move(options)));
  const std::vector<std::string> subjects = DiscoverySubjects(r->options_.service.name, r->options_.service.id);
  for (size_t i = 0; i < subjects.size(); ++i) {
    const Verb verb = static_cast<Verb>(i / 3);
    DiscoveryResponder* self = r.get();
    auto sub = connection.Subscribe(subjects[i], [self, verb](nats::Message m) { self->OnRequest(verb, m); });
    if (!sub.ok()) return sub.status();
    r->subscriptions_.push_back(*std::move(sub));
  }
  log::Info("discovery responder subscribed",
            {{"service", r->options_.service.name}, {"id", r->options_.service.id},
             {"endpoints", std::to_string(r->options_.endpoints.size())}});
  return r;
}

void DiscoveryResponder::OnRequest(Verb verb, const nats::Message& message) {
  if (message.reply.empty()) return;
  Json body;
  switch (verb) {
    case Verb::kPing: body = PingResponse(options_.service); break;
    case Verb::kInfo: body = InfoResponse(options_.service, options_.endpoints); break;
    case Verb::kStats: body = StatsResponse(options_.service, options_.endpoints, started_, options_.stats); break;
  }
  absl::Status st = connection_.Publish(message.reply, {}, body.dump());
  if (!st.ok()) {
    log::Warn("discovery reply not published", {{"service", options_.service.name}, {"error", st.ToString()}});
  }
}

}  // namespace sidecar::adapters::discovery
