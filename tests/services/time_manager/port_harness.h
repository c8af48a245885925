#pragma once
// Drives one native port through its HandlerRegistry exactly as a host would (§0.4 order):
// Preflight (principal, X-Request-Time) -> JSON body into NewRequest() with json_codec -> Invoke
// on the loop -> the reply printed back to JSON. Errors come back as the §0.4 body without the
// volatile `message` (§0.7). Also replays golden files (tests/golden/README.md) through the
// schema's HTTP routes.
//
// This copy serves the time-manager tests; each port's tests keep their own so ports never share
// code.

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/common/errors.h"
#include "adapters/transcoding/json_codec.h"
#include "adapters/transcoding/transcoder.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/common/call_context.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/in_memory_state_store.h"
#include "services/common/service.h"
#include "services/common/service_deps.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::services::testing::time_manager_tests {

inline constexpr char kDefaultTime[] = "2025-11-20T12:00:00.000Z";
inline constexpr char kDefaultPrincipal[] = "admin:test";

struct Reply {
  int status = 0;       // 200, or the §0.4 HTTP status of the error
  nlohmann::json body;  // the response object, or {"error":{"code","details"}}
};

inline std::ostream& operator<<(std::ostream& os, const Reply& r) {
  return os << r.status << " " << r.body.dump();
}

struct Headers {
  std::string principal = kDefaultPrincipal;  // "" = no X-Principal
  std::string time = kDefaultTime;            // "" = no X-Request-Time
};

inline Reply ErrorReply(const absl::Status& status) {
  const std::string code(adapters::CodeForStatusCode(status.code()));
  nlohmann::json details = nlohmann::json::object();
  for (const auto& [k, v] : DetailsOf(status)) details[k] = v;
  return Reply{adapters::HttpStatusForCode(code),
               nlohmann::json{{"error", {{"code", code}, {"details", details}}}}};
}

class PortHarness {
 public:
  using Factory = std::function<std::unique_ptr<Service>(const ServiceDeps&)>;

  explicit PortHarness(const Factory& make, bool fixtures_enabled = true)
      : store_(loop_.dispatcher()), events_(loop_.dispatcher()) {
    ServiceDeps deps;
    deps.store = &store_;
    deps.events = &events_;
    deps.fixtures_enabled = fixtures_enabled;
    service_ = make(deps);
    service_->Register(registry_);
  }

  HandlerRegistry& registry() { return registry_; }
  Service& service() { return *service_; }
  InMemoryStateStore& store() { return store_; }
  InMemoryEventPublisher& events() { return events_; }
  LoopThread& loop() { return loop_; }

  static CallContext Context(const Headers& h) {
    http::HeaderMap headers;
    if (!h.principal.empty()) headers.Set("X-Principal", h.principal);
    if (!h.time.empty()) headers.Set("X-Request-Time", h.time);
    return CallContext::FromHeaders(headers, absl::Now());
  }

  // Runs `action` with a JSON body (text). Parsing follows Preflight, as in §0.4.
  Reply Call(const std::string& action, const std::string& body, const Headers& h = {}) {
    Method* method = registry_.Find(action);
    if (method == nullptr) {
      ADD_FAILURE() << "no action " << action;
      return {};
    }
    CallContext ctx = Context(h);
    if (absl::Status s = method->Preflight(ctx); !s.ok()) return ErrorReply(s);
    MessagePtr request = method->NewRequest();
    if (absl::Status s = Parse(body, *request); !s.ok()) return ErrorReply(s);
    return InvokeParsed(*method, ctx, std::move(request));
  }

  Reply InvokeParsed(Method& method, const CallContext& ctx, MessagePtr request) {
    auto result = loop_.Await<absl::StatusOr<MessagePtr>>(
        [&](absl::AnyInvocable<void(absl::StatusOr<MessagePtr>) &&> cb) {
          method.Invoke(ctx, std::move(request), std::move(cb));
        });
    if (!result.has_value()) return {};
    if (!result->ok()) return ErrorReply(result->status());
    absl::StatusOr<std::string> json = adapters::transcoding::MessageToJsonText(***result);
    if (!json.ok()) {
      ADD_FAILURE() << json.status();
      return {};
    }
    return Reply{200, nlohmann::json::parse(*json)};
  }

  // Loads a fixture document (the _fixture body).
  void Fixture(const nlohmann::json& document) {
    Reply r = Call("_fixture", document.dump());
    ASSERT_EQ(r.status, 200) << r;
  }

  // A legacy-style HTTP call routed by the service's proto HTTP rules.
  Reply Http(const std::string& method, const std::string& path, const std::string& body,
             const Headers& h = {}) {
    if (transcoder_ == nullptr) {
      auto t = adapters::transcoding::Transcoder::Create(service_->name());
      if (!t.ok()) {
        ADD_FAILURE() << t.status();
        return {};
      }
      transcoder_ = std::move(*t);
    }
    CallContext ctx = Context(h);
    auto decoded = transcoder_->DecodeHttpRequest(method, path, body);
    if (!decoded.ok()) return ErrorReply(decoded.status());
    Method* m = registry_.Find(decoded->action);
    if (m == nullptr) {
      ADD_FAILURE() << "no action " << decoded->action;
      return {};
    }
    if (absl::Status s = m->Preflight(ctx); !s.ok()) return ErrorReply(s);
    MessagePtr request = m->NewRequest();
    if (!request->ParseFromString(decoded->proto)) {
      ADD_FAILURE() << "transcoded request does not parse";
      return {};
    }
    return InvokeParsed(*m, ctx, std::move(request));
  }

  // Events published so far: {"subject": ..., "event": <JSON without event_id>}; `decode` maps a
  // subject to a message of the right type.
  std::vector<nlohmann::json> Events(
      const std::function<std::unique_ptr<google::protobuf::Message>(const std::string&)>& decode) {
    // Read on the loop: the publisher is owned by it.
    auto list =
        loop_.Await<std::vector<Event>>([&](absl::AnyInvocable<void(std::vector<Event>) &&> cb) {
          std::move(cb)(events_.events());
        });
    std::vector<nlohmann::json> out;
    for (const Event& e : *list) {
      std::unique_ptr<google::protobuf::Message> m = decode(e.subject);
      if (m == nullptr || !m->ParseFromString(e.data)) {
        ADD_FAILURE() << "undecodable event " << e.subject;
        continue;
      }
      nlohmann::json j = nlohmann::json::parse(*adapters::transcoding::MessageToJsonText(*m));
      EXPECT_EQ(j.value("event_id", ""), e.event_id);
      j.erase("event_id");
      out.push_back(nlohmann::json{{"subject", e.subject}, {"event", j}});
    }
    return out;
  }

  void ClearEvents() {
    loop_.Await<bool>([&](absl::AnyInvocable<void(bool) &&> cb) {
      events_.Clear();
      std::move(cb)(true);
    });
  }

  void Put(const std::string& key, const std::string& value, int64_t expires_at_ms = 0) {
    loop_.Await<absl::StatusOr<uint64_t>>(
        [&](absl::AnyInvocable<void(absl::StatusOr<uint64_t>) &&> cb) {
          store_.Put(key, value, WriteOptions{expires_at_ms}, std::move(cb));
        });
  }

  std::vector<StoreEntry> List(const std::string& prefix) {
    auto got = loop_.Await<absl::StatusOr<std::vector<StoreEntry>>>(
        [&](absl::AnyInvocable<void(absl::StatusOr<std::vector<StoreEntry>>) &&> cb) {
          store_.List(prefix, 0, std::move(cb));
        });
    return got.has_value() && got->ok() ? **got : std::vector<StoreEntry>{};
  }

 private:
  // `_fixture` takes a Struct: the JSON object as is. json_codec maps a top-level message by its
  // declared fields (a Struct has only `fields`), so the Struct goes through protobuf's own parser.
  static absl::Status Parse(const std::string& body, google::protobuf::Message& request) {
    if (request.GetDescriptor() == google::protobuf::Struct::descriptor()) {
      if (!google::protobuf::util::JsonStringToMessage(body, &request).ok()) {
        return InvalidArgument("body", reason::kMalformed);
      }
      return absl::OkStatus();
    }
    return adapters::transcoding::JsonTextToMessage(body, request);
  }

  // Declared first: destroyed last, after everything that posts to it.
  LoopThread loop_;
  InMemoryStateStore store_;
  InMemoryEventPublisher events_;
  HandlerRegistry registry_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<const adapters::transcoding::Transcoder> transcoder_;
};

// tests/golden/<service>/*.json in name order.
inline std::vector<std::filesystem::path> GoldenFiles(const std::string& service) {
  const char* root = std::getenv("SIDECAR_SOURCE_DIR");
  std::filesystem::path dir =
      std::filesystem::path(root != nullptr ? root : ".") / "tests" / "golden" / service;
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".json") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline nlohmann::json ReadJsonFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
}

// Replays one golden file on a fresh port; every step's status and body must match exactly (the
// error `message` is volatile and never compared; ts fields are pinned by X-Request-Time).
inline void RunGolden(const PortHarness::Factory& make, const std::filesystem::path& file) {
  SCOPED_TRACE(file.string());
  nlohmann::json golden = ReadJsonFile(file);
  ASSERT_TRUE(golden.is_object()) << "not JSON";
  PortHarness port(make);
  EXPECT_EQ(golden.value("service", ""), std::string(port.service().name()));
  if (!golden["fixture"].is_null()) port.Fixture(golden["fixture"]);
  for (const nlohmann::json& step : golden["steps"]) {
    Headers h;
    if (step.contains("headers")) {
      for (auto it = step["headers"].begin(); it != step["headers"].end(); ++it) {
        if (it.key() == "X-Principal") h.principal = it.value().get<std::string>();
        if (it.key() == "X-Request-Time") h.time = it.value().get<std::string>();
      }
    }
    const std::string body = step["body"].is_null() ? "" : step["body"].dump();
    Reply got =
        port.Http(step["method"].get<std::string>(), step["path"].get<std::string>(), body, h);
    nlohmann::json expected_body = step["expect"]["body"];
    if (expected_body.contains("error")) expected_body["error"].erase("message");
    EXPECT_EQ(got.status, step["expect"]["status"].get<int>()) << got;
    EXPECT_EQ(got.body, expected_body)
        << "got      " << got.body.dump() << "\nexpected " << expected_body.dump();
  }
}

}  // namespace sidecar::services::testing::time_manager_tests
