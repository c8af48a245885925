#pragma once
// Drives the auth port the way a host does (services/common/service.h): a HandlerRegistry with the
// service registered over an InMemoryStateStore and InMemoryEventPublisher on a loop thread;
// requests are JSON parsed with json_codec, answered responses printed with json_codec, errors
// rendered in the §0.4 JSON form.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "adapters/common/errors.h"
#include "adapters/transcoding/json_codec.h"
#include "auth/v1/auth.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/auth/auth_service.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/in_memory_state_store.h"
#include "services/common/service.h"
#include "tests/services/common/loop_thread.h"

namespace sidecar::services::auth_test {

inline constexpr char kP[] = "pl_a8694c9d17e9b948";  // mara_vex (SERVICES.md §1 preamble)
inline constexpr char kNoon[] = "2025-11-20T12:00:00.000Z";
inline constexpr int64_t kNoonMs = 1763640000000;

struct Reply {
  int status = 0;       // HTTP status of §0.4 (200 on success)
  nlohmann::json body;  // the response object, or {"error":{code, message, details}}

  std::string code() const { return status == 200 ? "" : body["error"]["code"].get<std::string>(); }
  nlohmann::json details() const {
    return status == 200 ? nlohmann::json() : body["error"]["details"];
  }
};

// Headers of one call; defaults are the spec's (§1 preamble).
struct Headers {
  std::optional<std::string> time = std::string(kNoon);
  std::optional<std::string> principal = std::string("admin:test");
};

class AuthHarness {
 public:
  explicit AuthHarness(bool fixtures_enabled = true)
      : store_(loop_.dispatcher()), events_(loop_.dispatcher()) {
    service_ = MakeAuthService(ServiceDeps{&store_, &events_, fixtures_enabled});
    service_->Register(registry_);
  }

  HandlerRegistry& registry() { return registry_; }
  InMemoryStateStore& store() { return store_; }
  testing::LoopThread& loop() { return loop_; }
  Service& service() { return *service_; }

  // Calls `action` with a JSON body text, as the host would: Preflight, parse, Invoke.
  Reply Call(const std::string& action, const std::string& body, const Headers& h = {}) {
    Method* method = registry_.Find(action);
    if (method == nullptr) {
      ADD_FAILURE() << "no action " << action;
      return {};
    }
    http::HeaderMap headers;
    if (h.time) headers.Set(std::string(http::headers::kRequestTime), *h.time);
    if (h.principal) headers.Set(std::string(http::headers::kPrincipal), *h.principal);
    CallContext ctx = CallContext::FromHeaders(headers, absl::Now());
    auto result = loop_.Await<absl::StatusOr<MessagePtr>>([&](auto cb) {
      if (absl::Status s = method->Preflight(ctx); !s.ok()) {
        std::move(cb)(s);
        return;
      }
      MessagePtr request = method->NewRequest();
      if (absl::Status s = Parse(body, *request); !s.ok()) {
        std::move(cb)(s);
        return;
      }
      method->Invoke(ctx, std::move(request), std::move(cb));
    });
    if (!result.has_value()) return {};
    return Render(*result);
  }

  // Starts every call in one loop turn, so their store reads interleave before any write (the
  // compare-and-set races of two replicas), and returns the replies in call order.
  std::vector<Reply> CallTogether(const std::vector<std::pair<std::string, std::string>>& calls,
                                  const Headers& h = {}) {
    http::HeaderMap headers;
    if (h.time) headers.Set(std::string(http::headers::kRequestTime), *h.time);
    if (h.principal) headers.Set(std::string(http::headers::kPrincipal), *h.principal);
    CallContext ctx = CallContext::FromHeaders(headers, absl::Now());
    using Results = std::vector<absl::StatusOr<MessagePtr>>;
    struct Pending {
      Results results;
      size_t remaining;
      absl::AnyInvocable<void(Results) &&> done;
    };
    auto out = loop_.Await<Results>([&](absl::AnyInvocable<void(Results) &&> cb) {
      auto pending = std::make_shared<Pending>(Pending{Results(), calls.size(), std::move(cb)});
      for (size_t i = 0; i < calls.size(); ++i)
        pending->results.emplace_back(absl::UnknownError("no reply"));
      for (size_t i = 0; i < calls.size(); ++i) {
        Method* method = registry_.Find(calls[i].first);
        MessagePtr request = method->NewRequest();
        EXPECT_TRUE(Parse(calls[i].second, *request).ok());
        method->Invoke(ctx, std::move(request), [pending, i](absl::StatusOr<MessagePtr> r) {
          pending->results[i] = std::move(r);
          if (--pending->remaining == 0) std::move(pending->done)(std::move(pending->results));
        });
      }
    });
    std::vector<Reply> replies;
    if (out.has_value()) {
      for (const auto& r : *out) replies.push_back(Render(r));
    }
    return replies;
  }

  // Loads a fixture document (JSON text) through `_fixture`.
  Reply Fixture(const std::string& document_json) { return Call("_fixture", document_json); }

  // The events published so far, as {"subject": ..., "event": <JSON of the event message>}.
  std::vector<nlohmann::json> Events() {
    std::vector<nlohmann::json> out;
    auto copy = loop_.Await<std::vector<Event>>(
        [&](auto cb) { std::move(cb)(std::vector<Event>(events_.events())); });
    for (const Event& e : *copy) out.push_back(DecodeEvent(e));
    return out;
  }
  void ClearEvents() {
    loop_.Await<bool>([&](auto cb) {
      events_.Clear();
      std::move(cb)(true);
    });
  }

  // Every stored entry "key=value" (store layout checks).
  std::vector<StoreEntry> Entries() {
    auto list = loop_.Await<absl::StatusOr<std::vector<StoreEntry>>>(
        [&](auto cb) { store_.List("", 0, std::move(cb)); });
    return list && list->ok() ? **list : std::vector<StoreEntry>{};
  }

  static Reply Render(const absl::StatusOr<MessagePtr>& result) {
    Reply reply;
    if (result.ok()) {
      auto json = adapters::transcoding::MessageToJson(**result);
      EXPECT_TRUE(json.ok()) << json.status();
      reply.status = 200;
      reply.body = nlohmann::json::parse(json->dump());
      return reply;
    }
    const std::string code(adapters::CodeForStatusCode(result.status().code()));
    reply.status = adapters::HttpStatusForCode(code);
    nlohmann::json details = nlohmann::json::object();
    for (const auto& [k, v] : DetailsOf(result.status())) details[k] = v;
    reply.body = {{"error",
                   {{"code", code},
                    {"message", std::string(result.status().message())},
                    {"details", details}}}};
    return reply;
  }

 private:
  // `_fixture` takes a Struct (the JSON object as is); json_codec maps declared fields only.
  static absl::Status Parse(const std::string& body, google::protobuf::Message& request) {
    if (request.GetDescriptor() == google::protobuf::Struct::descriptor()) {
      auto s = google::protobuf::util::JsonStringToMessage(body, &request);
      if (!s.ok()) return InvalidArgument("body", "malformed");
      return absl::OkStatus();
    }
    return adapters::transcoding::JsonTextToMessage(body, request);
  }

  static nlohmann::json DecodeEvent(const Event& e) {
    std::unique_ptr<google::protobuf::Message> message;
    const std::string name = e.subject.substr(e.subject.rfind('.') + 1);
    if (name == "player_registered")
      message = std::make_unique<::auth::v1::PlayerRegisteredEvent>();
    if (name == "login_succeeded") message = std::make_unique<::auth::v1::LoginSucceededEvent>();
    if (name == "account_locked") message = std::make_unique<::auth::v1::AccountLockedEvent>();
    if (name == "sessions_revoked") message = std::make_unique<::auth::v1::SessionsRevokedEvent>();
    if (message == nullptr || !message->ParseFromString(e.data)) {
      ADD_FAILURE() << "undecodable event " << e.subject;
      return {};
    }
    auto json = adapters::transcoding::MessageToJson(*message);
    return {{"subject", e.subject},
            {"nats_msg_id", e.event_id},
            {"event", nlohmann::json::parse(json->dump())}};
  }

  testing::LoopThread loop_;
  InMemoryStateStore store_;
  InMemoryEventPublisher events_;
  HandlerRegistry registry_;
  std::unique_ptr<Service> service_;
};

// Shorthand for `{"error":{"code":C,"details":D}}` checks (message is volatile, §0.7).
inline void ExpectError(const Reply& r, const std::string& code, const nlohmann::json& details) {
  ASSERT_NE(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.code(), code) << r.body.dump();
  EXPECT_EQ(r.details(), details) << r.body.dump();
}
inline void ExpectInvalid(const Reply& r, const std::string& field, const std::string& reason) {
  ExpectError(r, "INVALID_ARGUMENT", {{"field", field}, {"reason", reason}});
}

}  // namespace sidecar::services::auth_test
