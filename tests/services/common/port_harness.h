#pragma once
// The one harness every native port's tests share (library target
// services_port_harness). Drives one native port the way a host does, without
// NATS: a HandlerRegistry filled by the port's Register, an InMemoryStateStore
// and InMemoryEventPublisher on a Dispatcher thread, and calls in §0.4 order
// (Method::Preflight, JSON -> request with json_codec, Invoke). Replies come
// back as the spec's JSON: the response object, or {"error":{"code","details"}}
// (the message is volatile, §0.7) with the HTTP status of §0.4.
//
// Golden files (tests/golden/README.md) are replayed through the port's
// Transcoder, which maps "METHOD /path?query" + body to the action and its
// request exactly like the gateway: either one file at a time with
// PortHarness::ReplayGolden (first mismatch as a string), or RunGolden (a fresh
// port per file, every step checked with EXPECT_EQ).

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/common/errors.h"
#include "adapters/transcoding/json_codec.h"
#include "adapters/transcoding/transcoder.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/common/call_context.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/fixtures.h"
#include "services/common/in_memory_state_store.h"
#include "services/common/service.h"
#include "services/common/service_deps.h"
#include "sidecar/http/message.h"
#include "tests/services/common/local_dependency_client.h"
#include "tests/services/common/loop_thread.h"
#include "gtest/gtest.h"

namespace sidecar::services::testing {

using Json = nlohmann::json;

inline constexpr std::string_view kSpecTime = "2025-11-20T12:00:00.000Z";
inline constexpr int64_t kSpecTimeMs = 1763640000000;
inline constexpr std::string_view kPlayerP = "pl_a8694c9d17e9b948";
inline constexpr char kDefaultTime[] =
    "2025-11-20T12:00:00.000Z"; // == kSpecTime
inline constexpr char kDefaultPrincipal[] = "admin:test";

struct Reply {
  int status = 0; // 200, or the §0.4 HTTP status of the error
  Json body;      // the response object, or {"error":{"code","details"}}
  bool ok() const { return status == 200; }
  std::string code() const {
    return ok() ? "OK" : body["error"]["code"].get<std::string>();
  }
  Json details() const { return ok() ? Json() : body["error"]["details"]; }
};

inline std::ostream &operator<<(std::ostream &os, const Reply &r) {
  return os << r.status << " " << r.body.dump();
}

// The reply bodies tests expect for §0.4 errors (the volatile `message` is never part of a Reply).
inline Json InvalidArg(const std::string &field, const std::string &reason) {
  return {{"error",
           {{"code", "INVALID_ARGUMENT"},
            {"details", {{"field", field}, {"reason", reason}}}}}};
}
inline Json Error(const std::string &code, Json details = Json::object()) {
  return {{"error", {{"code", code}, {"details", details}}}};
}

// The headers of one call; the spec's defaults (§1 preamble) unless a test says
// otherwise. An empty string means "header absent".
struct Headers {
  std::string principal = kDefaultPrincipal;
  std::string time = kDefaultTime;
};

inline Headers AsPlayer(std::string_view player_id = kPlayerP) {
  return Headers{"player:" + std::string(player_id), std::string(kSpecTime)};
}

// JSON -> google.protobuf.Value (the fixture body is a Struct; numbers become
// doubles as in any Struct).
inline google::protobuf::Value JsonToValue(const Json &j) {
  google::protobuf::Value v;
  if (j.is_null()) {
    v.set_null_value(google::protobuf::NULL_VALUE);
  } else if (j.is_boolean()) {
    v.set_bool_value(j.get<bool>());
  } else if (j.is_number()) {
    v.set_number_value(j.get<double>());
  } else if (j.is_string()) {
    v.set_string_value(j.get<std::string>());
  } else if (j.is_array()) {
    auto *list = v.mutable_list_value();
    for (const Json &item : j)
      *list->add_values() = JsonToValue(item);
  } else {
    auto *fields = v.mutable_struct_value()->mutable_fields();
    for (auto it = j.begin(); it != j.end(); ++it)
      (*fields)[it.key()] = JsonToValue(it.value());
  }
  return v;
}

class PortHarness {
public:
  using Factory = std::function<std::unique_ptr<Service>(const ServiceDeps &)>;
  // Makes the store the port runs on, bound to the harness's dispatcher (e.g.
  // KvStoreMaker() in kv_store_maker.h: JetStream KV on a real nats-server).
  // Empty: the in-memory store.
  using StoreMaker =
      std::function<std::unique_ptr<StateStore>(event::Dispatcher &)>;

  // `dependencies`: ports the port under test calls (SERVICES.md §1), hosted
  // in process by a LocalDependencyClient on the same loop, store and event
  // publisher (dependencies() injects failures and records calls).
  PortHarness(std::string service_name, const Factory &factory,
              bool fixtures_enabled = true,
              const StoreMaker &make_store = {},
              const std::vector<Factory> &dependencies = {})
      : service_name_(std::move(service_name)),
        memory_store_(loop_.dispatcher()), events_(loop_.dispatcher()),
        dependencies_(loop_.dispatcher()), timers_(loop_.dispatcher()) {
    if (make_store) {
      external_store_ = make_store(loop_.dispatcher());
      if (external_store_ == nullptr)
        ADD_FAILURE() << "store maker failed; using the in-memory store";
    }
    store_ = external_store_ != nullptr
                 ? external_store_.get()
                 : static_cast<StateStore *>(&memory_store_);
    ServiceDeps deps;
    deps.store = store_;
    deps.events = &events_;
    deps.fixtures_enabled = fixtures_enabled;
    deps.timers = &timers_;
    for (const Factory &make_dependency : dependencies)
      dependencies_.Host(make_dependency, deps);
    deps.dependencies = &dependencies_;
    service_ = factory(deps);
    service_->Register(registry_);
    dependencies_.set_caller(std::string(service_->name()));
  }
  // The service name (transcoder, event subjects) is the one the service
  // reports.
  explicit PortHarness(const Factory &factory, bool fixtures_enabled = true,
                       const StoreMaker &make_store = {},
                       const std::vector<Factory> &dependencies = {})
      : PortHarness(std::string(), factory, fixtures_enabled, make_store,
                    dependencies) {
    service_name_ = std::string(service_->name());
  }

  HandlerRegistry &registry() { return registry_; }
  StateStore &store() { return *store_; }
  InMemoryEventPublisher &events() { return events_; }
  LoopThread &loop() { return loop_; }
  LocalDependencyClient &dependencies() { return dependencies_; }

  // Runs `action` of a hosted dependency directly (its fixtures, its state
  // after the port under test called it), with the test's headers.
  Reply CallDependency(std::string_view service, std::string_view action,
                       std::string_view json, const Headers &headers = {}) {
    HandlerRegistry *registry = dependencies_.registry(service);
    Method *method = registry == nullptr ? nullptr : registry->Find(action);
    if (method == nullptr) {
      ADD_FAILURE() << "no dependency action " << service << "." << action;
      return {};
    }
    return RunJson(*method, json, headers);
  }
  Service &service() { return *service_; }

  static CallContext Context(const Headers &h) {
    http::HeaderMap map;
    if (!h.principal.empty())
      map.Set(std::string(http::headers::kPrincipal), h.principal);
    if (!h.time.empty())
      map.Set(std::string(http::headers::kRequestTime), h.time);
    return CallContext::FromHeaders(map, absl::Now());
  }

  // Runs `action` with a JSON request body (§0.4 order: preflight, parse,
  // handler). `_fixture` takes a Struct: the JSON object as is (see Parse).
  Reply Call(std::string_view action, std::string_view json,
             const Headers &headers = {}) {
    Method *method = registry_.Find(action);
    if (method == nullptr) {
      ADD_FAILURE() << "no action " << action;
      return {};
    }
    return RunJson(*method, json, headers);
  }

  // A server-streaming action (AddStream): its pieces in order, the closing summary, and the
  // whole answer a non-streaming caller gets. On an error all three are empty but `summary`.
  struct StreamedCall {
    std::vector<std::string> pieces;
    Reply summary;
    Reply whole;
  };
  StreamedCall CallStream(std::string_view action, std::string_view json,
                          const Headers &headers = {}) {
    Method *method = registry_.Find(action);
    if (method == nullptr) {
      ADD_FAILURE() << "no action " << action;
      return {};
    }
    CallContext ctx = Context(headers);
    auto out = loop_.Await<absl::StatusOr<StreamedReply>>([&](auto done) {
      if (absl::Status s = method->Preflight(ctx); !s.ok()) {
        std::move(done)(s);
        return;
      }
      MessagePtr request = method->NewRequest();
      if (absl::Status s = Parse(json, *request); !s.ok()) {
        std::move(done)(s);
        return;
      }
      method->InvokeStream(ctx, std::move(request), std::move(done));
    });
    StreamedCall call;
    if (!out->ok()) {
      call.summary = ToReply(out->status());
      return call;
    }
    call.pieces = std::move((*out)->pieces);
    call.summary = ToReply(std::move((*out)->summary));
    call.whole = ToReply(std::move((*out)->whole));
    return call;
  }

  // Runs the message form directly (requests JSON cannot express, e.g. a null
  // `default`).
  Reply CallMessage(std::string_view action,
                    const google::protobuf::Message &request,
                    const Headers &headers = {}) {
    Method *method = registry_.Find(action);
    CallContext ctx = Context(headers);
    auto out = loop_.Await<absl::StatusOr<MessagePtr>>([&](auto done) {
      if (absl::Status s = method->Preflight(ctx); !s.ok()) {
        std::move(done)(s);
        return;
      }
      MessagePtr copy = method->NewRequest();
      copy->CopyFrom(request);
      method->Invoke(ctx, std::move(copy), std::move(done));
    });
    return ToReply(std::move(*out));
  }

  // The legacy HTTP form through the service's Transcoder (what the gateway
  // does).
  Reply CallHttp(std::string_view http_method, std::string_view path,
                 std::string_view body, const Headers &headers = {}) {
    if (!transcoder_) {
      auto t = adapters::transcoding::Transcoder::Create(service_name_);
      EXPECT_TRUE(t.ok()) << t.status();
      transcoder_ = std::move(*t);
    }
    auto decoded = transcoder_->DecodeHttpRequest(http_method, path, body);
    if (!decoded.ok())
      return ToReply(decoded.status());
    Method *method = registry_.Find(decoded->action);
    if (method == nullptr) {
      ADD_FAILURE() << "no action " << decoded->action;
      return {};
    }
    CallContext ctx = Context(headers);
    auto out = loop_.Await<absl::StatusOr<MessagePtr>>([&](auto done) {
      if (absl::Status s = method->Preflight(ctx); !s.ok()) {
        std::move(done)(s);
        return;
      }
      MessagePtr request = method->NewRequest();
      if (!request->ParseFromString(decoded->proto)) {
        std::move(done)(InvalidArgument("body", reason::kMalformed));
        return;
      }
      method->Invoke(ctx, std::move(request), std::move(done));
    });
    return ToReply(std::move(*out));
  }

  // A golden file's `dependency_fixtures` ({"<service>": <its fixture
  // document>}): the Given of the ports this one calls, loaded through each
  // dependency's own `_fixture` first. Returns "" or the first failure.
  std::string LoadDependencyFixtures(const Json &golden) {
    if (!golden.contains("dependency_fixtures") ||
        golden["dependency_fixtures"].is_null())
      return "";
    for (auto it = golden["dependency_fixtures"].begin();
         it != golden["dependency_fixtures"].end(); ++it) {
      Reply r = CallDependency(it.key(), kFixtureAction, it.value().dump());
      if (!r.ok())
        return "dependency fixture " + it.key() + " failed: " + r.body.dump();
    }
    return "";
  }

  // Loads a fixture document through `_fixture`.
  Reply Fixture(const Json &document, const Headers &headers = {}) {
    google::protobuf::Struct doc = JsonToValue(document).struct_value();
    return CallMessage(kFixtureAction, doc, headers);
  }
  // Loads a fixture document (its JSON text through `_fixture`, parsed by
  // protobuf's own Struct parser) and requires it to succeed.
  void LoadFixture(const Json &document) {
    Reply r = Call(kFixtureAction, document.dump());
    ASSERT_EQ(r.status, 200) << r;
  }

  // Events published so far, as JSON: {"subject", <event fields except
  // event_id>}.
  std::vector<Json> Events() {
    auto out = loop_.Await<std::vector<Event>>(
        [&](auto done) { std::move(done)(events_.events()); });
    std::vector<Json> result;
    for (const Event &e : *out)
      result.push_back(EventJson(e));
    return result;
  }
  // Events published so far: {"subject": ..., "event": <JSON without
  // event_id>}; `decode` maps a subject to a message of the right type.
  std::vector<Json>
  Events(const std::function<std::unique_ptr<google::protobuf::Message>(
             const std::string &)> &decode) {
    auto list = loop_.Await<std::vector<Event>>(
        [&](auto done) { std::move(done)(events_.events()); });
    std::vector<Json> out;
    for (const Event &e : *list) {
      std::unique_ptr<google::protobuf::Message> m = decode(e.subject);
      if (m == nullptr || !m->ParseFromString(e.data)) {
        ADD_FAILURE() << "undecodable event " << e.subject;
        continue;
      }
      Json j = Json::parse(*adapters::transcoding::MessageToJsonText(*m));
      EXPECT_EQ(j.value("event_id", ""), e.event_id);
      j.erase("event_id");
      out.push_back(Json{{"subject", e.subject}, {"event", j}});
    }
    return out;
  }
  // The events as published (event_id included).
  std::vector<Event> RawEvents() {
    auto out = loop_.Await<std::vector<Event>>(
        [&](auto done) { std::move(done)(events_.events()); });
    return *out;
  }
  void ClearEvents() {
    loop_.Await<bool>([&](auto done) {
      events_.Clear();
      std::move(done)(true);
    });
  }

  // Writes one store entry directly (state a test arranges without the port).
  void Put(const std::string &key, const std::string &value,
           int64_t expires_at_ms = 0) {
    loop_.Await<absl::StatusOr<uint64_t>>([&](auto done) {
      store_->Put(key, value, WriteOptions{expires_at_ms}, std::move(done));
    });
  }
  // The store entries under `prefix` (empty on error).
  std::vector<StoreEntry> List(const std::string &prefix) {
    auto got = loop_.Await<absl::StatusOr<std::vector<StoreEntry>>>(
        [&](auto done) { store_->List(prefix, 0, std::move(done)); });
    return got.has_value() && got->ok() ? **got : std::vector<StoreEntry>{};
  }

  static Reply ToReply(absl::StatusOr<MessagePtr> result) {
    Reply reply;
    if (result.ok()) {
      auto json = adapters::transcoding::MessageToJson(**result);
      EXPECT_TRUE(json.ok()) << json.status();
      reply.status = 200;
      reply.body = Json::parse(json->dump());
      return reply;
    }
    ::common::v1::Error error = ToErrorProto(result.status());
    Json details = Json::object();
    for (const auto &[k, v] : error.details())
      details[k] = v;
    reply.status = adapters::HttpStatusForCode(error.code());
    reply.body = {{"error", {{"code", error.code()}, {"details", details}}}};
    return reply;
  }

  // Replays one golden file (tests/golden/README.md); returns a description of
  // the first mismatch, or "".
  std::string ReplayGolden(const Json &golden) {
    if (std::string error = LoadDependencyFixtures(golden); !error.empty())
      return error;
    if (!golden["fixture"].is_null()) {
      Reply r = Fixture(golden["fixture"]);
      if (!r.ok())
        return "fixture failed: " + r.body.dump();
    }
    int index = 0;
    for (const Json &step : golden["steps"]) {
      Headers headers;
      if (step.contains("headers")) {
        for (auto it = step["headers"].begin(); it != step["headers"].end();
             ++it) {
          if (it.key() == "X-Principal")
            headers.principal = it.value().get<std::string>();
          if (it.key() == "X-Request-Time")
            headers.time = it.value().get<std::string>();
        }
      }
      std::string body = step["body"].is_null() ? "" : step["body"].dump();
      Reply got = CallHttp(step["method"].get<std::string>(),
                           step["path"].get<std::string>(), body, headers);
      Json want = step["expect"]["body"];
      if (want.contains("error"))
        want["error"].erase("message");
      if (got.status != step["expect"]["status"].get<int>() ||
          got.body != want) {
        return "step " + std::to_string(index) + ": got " +
               std::to_string(got.status) + " " + got.body.dump() + ", want " +
               step["expect"].dump();
      }
      ++index;
    }
    return "";
  }

  // Every *.json under tests/golden/<dir>, sorted by name.
  static std::vector<std::pair<std::string, Json>>
  GoldenFiles(std::string_view dir) {
    const char *root = std::getenv("SIDECAR_SOURCE_DIR");
    std::filesystem::path base = std::filesystem::path(root ? root : ".") /
                                 "tests" / "golden" / std::string(dir);
    std::vector<std::pair<std::string, Json>> files;
    if (!std::filesystem::exists(base))
      return files;
    for (const auto &entry : std::filesystem::directory_iterator(base)) {
      if (entry.path().extension() != ".json")
        continue;
      std::ifstream in(entry.path());
      std::stringstream text;
      text << in.rdbuf();
      files.emplace_back(entry.path().filename().string(),
                         Json::parse(text.str()));
    }
    std::sort(files.begin(), files.end(),
              [](const auto &a, const auto &b) { return a.first < b.first; });
    return files;
  }

private:
  // `_fixture` takes a Struct: the JSON object as is. json_codec maps a
  // top-level message by its declared fields (a Struct has only `fields`), so
  // the Struct goes through protobuf's own parser.
  static absl::Status Parse(std::string_view body,
                            google::protobuf::Message &request) {
    if (request.GetDescriptor() == google::protobuf::Struct::descriptor()) {
      if (!google::protobuf::util::JsonStringToMessage(std::string(body),
                                                       &request)
               .ok()) {
        return InvalidArgument("body", reason::kMalformed);
      }
      return absl::OkStatus();
    }
    return adapters::transcoding::JsonTextToMessage(body, request);
  }

  // evt.<service>.v1.<event> -> <package>.<Pascal>Event, decoded and printed.
  Json EventJson(const Event &e) {
    const std::string prefix = "evt." + service_name_ + ".v1.";
    std::string name = e.subject.substr(prefix.size());
    std::string pascal;
    bool upper = true;
    for (char c : name) {
      if (c == '_') {
        upper = true;
        continue;
      }
      pascal +=
          upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                : c;
      upper = false;
    }
    std::string package = service_name_;
    std::replace(package.begin(), package.end(), '-', '_');
    const auto *desc =
        google::protobuf::DescriptorPool::generated_pool()
            ->FindMessageTypeByName(package + ".v1." + pascal + "Event");
    if (desc == nullptr) {
      ADD_FAILURE() << "no event type for " << e.subject;
      return Json();
    }
    std::unique_ptr<google::protobuf::Message> msg(
        google::protobuf::MessageFactory::generated_factory()
            ->GetPrototype(desc)
            ->New());
    EXPECT_TRUE(msg->ParseFromString(e.data));
    auto json = adapters::transcoding::MessageToJson(*msg);
    Json out = Json::parse(json->dump());
    EXPECT_EQ(out["event_id"], e.event_id);
    EXPECT_EQ(e.event_id.rfind("ev_", 0), 0u);
    out.erase("event_id"); // volatile (§0.7)
    out["subject"] = e.subject;
    return out;
  }

  // §0.4 order on the loop: preflight, parse the JSON body, invoke.
  Reply RunJson(Method &method, std::string_view json, const Headers &headers) {
    CallContext ctx = Context(headers);
    auto out = loop_.Await<absl::StatusOr<MessagePtr>>([&](auto done) {
      if (absl::Status s = method.Preflight(ctx); !s.ok()) {
        std::move(done)(s);
        return;
      }
      MessagePtr request = method.NewRequest();
      if (absl::Status s = Parse(json, *request); !s.ok()) {
        std::move(done)(s);
        return;
      }
      method.Invoke(ctx, std::move(request), std::move(done));
    });
    return ToReply(std::move(*out));
  }

  std::string service_name_;
  // Declared before everything that posts to it: destroyed last.
  LoopThread loop_;
  InMemoryStateStore memory_store_;
  std::unique_ptr<StateStore> external_store_;
  StateStore *store_ = nullptr; // one of the two above
  InMemoryEventPublisher events_;
  LocalDependencyClient dependencies_;
  DispatcherTimers timers_;
  HandlerRegistry registry_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<const adapters::transcoding::Transcoder> transcoder_;
};

// tests/golden/<service>/*.json in name order, as paths (for RunGolden).
inline std::vector<std::filesystem::path>
GoldenPaths(const std::string &service) {
  const char *root = std::getenv("SIDECAR_SOURCE_DIR");
  std::filesystem::path dir =
      std::filesystem::path(root != nullptr ? root : ".") / "tests" / "golden" /
      service;
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::exists(dir))
    return out;
  for (const auto &e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".json")
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline Json ReadJsonFile(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
}

// Replays one golden file on a fresh port; every step's status and body must
// match exactly (the error `message` is volatile and never compared; ts fields
// are pinned by X-Request-Time).
// `dependencies`: the ports this one calls, hosted in process (their Given
// comes from the file's `dependency_fixtures`).
inline void RunGolden(const PortHarness::Factory &make,
                      const std::filesystem::path &file,
                      const PortHarness::StoreMaker &make_store = {},
                      const std::vector<PortHarness::Factory> &dependencies = {}) {
  SCOPED_TRACE(file.string());
  Json golden = ReadJsonFile(file);
  ASSERT_TRUE(golden.is_object()) << "not JSON";
  PortHarness port(make, /*fixtures_enabled=*/true, make_store, dependencies);
  EXPECT_EQ(golden.value("service", ""), std::string(port.service().name()));
  {
    std::string error = port.LoadDependencyFixtures(golden);
    ASSERT_EQ(error, "");
  }
  if (!golden["fixture"].is_null())
    port.LoadFixture(golden["fixture"]);
  for (const Json &step : golden["steps"]) {
    Headers h;
    if (step.contains("headers")) {
      for (auto it = step["headers"].begin(); it != step["headers"].end();
           ++it) {
        if (it.key() == "X-Principal")
          h.principal = it.value().get<std::string>();
        if (it.key() == "X-Request-Time")
          h.time = it.value().get<std::string>();
      }
    }
    const std::string body = step["body"].is_null() ? "" : step["body"].dump();
    Reply got = port.CallHttp(step["method"].get<std::string>(),
                              step["path"].get<std::string>(), body, h);
    Json expected_body = step["expect"]["body"];
    if (expected_body.contains("error"))
      expected_body["error"].erase("message");
    EXPECT_EQ(got.status, step["expect"]["status"].get<int>()) << got;
    EXPECT_EQ(got.body, expected_body) << "got      " << got.body.dump()
                                       << "\nexpected " << expected_body.dump();
  }
}

} // namespace sidecar::services::testing
