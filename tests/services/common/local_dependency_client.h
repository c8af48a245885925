#pragma once
// A DependencyClient for port unit tests: the dependencies are real ports hosted in process, on
// the same dispatcher (and store) as the port under test, called the way the NATS client would
// call them: the request crosses as protobuf bytes, the callee sees a context with X-Principal
// service:<caller>, the caller's now and request id, and its deadline; replies arrive on a later
// loop turn, never inline. Failures can be injected per (service, action), and every call is
// recorded, so a test can assert the calls a port made and in what order.
//
//   PortHarness h("orchestration", MakeOrchestrationService, true, TestStore(),
//                 {MakePaymentService, MakeQuestSystemService, MakeWorldStateService});
//   h.dependencies().FailNext("payment", "credit", Unavailable("down"), 3);
//
// Only tests link this; it hosts other ports the way services/registry does, so no port links
// another.

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "services/common/call_context.h"
#include "services/common/dependency_client.h"
#include "services/common/errors.h"
#include "services/common/service.h"
#include "services/common/service_deps.h"
#include "sidecar/event/dispatcher.h"

namespace sidecar::services::testing {

class LocalDependencyClient final : public DependencyClient {
 public:
  struct RecordedCall {
    std::string service;
    std::string action;
    std::string principal;          // as the callee saw it: "service:<caller>"
    int64_t now_ms = 0;             // forwarded X-Request-Time
    std::string request_id;         // forwarded X-Request-Id
    std::chrono::milliseconds budget{0};  // the callee's remaining time when the call was made
    std::string request_debug;      // request.ShortDebugString()
  };
  // Decides a call before it reaches the port: a non-OK status fails it with that status; OK lets
  // it through. DeadlineExceededError is delivered only when the call's own deadline passes
  // (like a dependency that never answers).
  using Interceptor = std::function<absl::Status(const RecordedCall&, const google::protobuf::Message&)>;

  explicit LocalDependencyClient(event::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  // The name sent as X-Principal service:<caller> (the port under test).
  void set_caller(std::string caller) { caller_ = std::move(caller); }

  // Hosts a dependency port made by `make` with `deps`; its own calls (ai-integration ->
  // model-management) go through this client too, as service:<its name>. Its registry answers calls
  // to svc.<its name>.v1.*.
  void Host(const std::function<ServicePtr(const ServiceDeps&)>& make, ServiceDeps deps) {
    auto view = std::make_unique<CallerView>(*this);
    deps.dependencies = view.get();
    ServicePtr service = make(deps);
    view->caller = std::string(service->name());
    views_.push_back(std::move(view));
    Host(std::move(service));
  }
  // Hosts a dependency port that makes no calls itself.
  void Host(ServicePtr service) {
    auto hosted = std::make_unique<Hosted>();
    hosted->service = std::move(service);
    hosted->service->Register(hosted->registry);
    EXPECT_TRUE(hosted->registry.status().ok()) << hosted->registry.status();
    std::string name(hosted->service->name());
    hosted_[name] = std::move(hosted);
  }
  HandlerRegistry* registry(std::string_view service) {
    auto it = hosted_.find(std::string(service));
    return it == hosted_.end() ? nullptr : &it->second->registry;
  }

  // The next `count` calls to service.action fail with `status` without reaching the port.
  void FailNext(std::string service, std::string action, absl::Status status, int count = 1) {
    for (int i = 0; i < count; ++i) failures_[{service, action}].push_back(status);
  }
  void SetInterceptor(Interceptor interceptor) { interceptor_ = std::move(interceptor); }

  // Loop thread only (read them from Await or after the loop is idle).
  const std::vector<RecordedCall>& calls() const { return calls_; }
  void ClearCalls() { calls_.clear(); }

  void Call(const CallContext& ctx, std::string_view service, std::string_view action,
            const google::protobuf::Message& request, const google::protobuf::Message& response_prototype,
            DependencyCallOptions options, MessageDone done) override {
    CallAs(caller_, ctx, service, action, request, response_prototype, options, std::move(done));
  }

 private:
  struct Hosted {
    ServicePtr service;
    HandlerRegistry registry;
  };
  // The client a hosted dependency calls through: the same hosts, its own principal.
  struct CallerView final : DependencyClient {
    explicit CallerView(LocalDependencyClient& owner) : owner(owner) {}
    void Call(const CallContext& ctx, std::string_view service, std::string_view action,
              const google::protobuf::Message& request, const google::protobuf::Message& response_prototype,
              DependencyCallOptions options, MessageDone done) override {
      owner.CallAs(caller, ctx, service, action, request, response_prototype, options, std::move(done));
    }
    LocalDependencyClient& owner;
    std::string caller;
  };

  void CallAs(const std::string& caller, const CallContext& ctx, std::string_view service,
              std::string_view action, const google::protobuf::Message& request,
              const google::protobuf::Message& response_prototype, DependencyCallOptions options,
              MessageDone done) {
    auto deadline_budget = ctx.Remaining() - std::chrono::milliseconds(kDownstreamMarginMs);
    if (deadline_budget < std::chrono::milliseconds(0)) deadline_budget = std::chrono::milliseconds(0);
    if (options.timeout && *options.timeout < deadline_budget) deadline_budget = *options.timeout;
    RecordedCall rc{std::string(service), std::string(action), "service:" + caller, ctx.now_ms(),
                    ctx.request_id(), deadline_budget, request.ShortDebugString()};
    calls_.push_back(rc);
    std::string bytes = request.SerializeAsString();
    MessagePtr response_holder(response_prototype.New());
    // Posted, so `done` never runs inline from Call().
    dispatcher_.Post([this, rc, bytes = std::move(bytes), response_holder = std::move(response_holder),
                      done = std::move(done)]() mutable {
      Dispatch(rc, bytes, std::move(response_holder), std::move(done));
    });
  }

  void Dispatch(const RecordedCall& rc, const std::string& bytes, MessagePtr response, MessageDone done) {
    auto it = failures_.find({rc.service, rc.action});
    absl::Status injected;
    if (it != failures_.end() && !it->second.empty()) {
      injected = it->second.front();
      it->second.pop_front();
    }
    Method* method = nullptr;
    if (auto h = hosted_.find(rc.service); h != hosted_.end()) method = h->second->registry.Find(rc.action);
    if (injected.ok() && interceptor_) {
      MessagePtr probe = method != nullptr ? method->NewRequest() : nullptr;
      if (probe != nullptr) probe->ParseFromString(bytes);
      if (probe != nullptr) injected = interceptor_(rc, *probe);
    }
    if (!injected.ok()) {
      if (absl::IsDeadlineExceeded(injected)) {
        // A dependency that never answers: the caller sees DEADLINE_EXCEEDED when its budget ends.
        auto shared_done = std::make_shared<MessageDone>(std::move(done));
        event::TimerPtr& timer = hangs_.emplace_back();
        timer = dispatcher_.CreateTimer([shared_done, injected]() {
          if (*shared_done) std::move(*shared_done)(injected);
        });
        timer->Enable(rc.budget);
        return;
      }
      std::move(done)(injected);
      return;
    }
    if (method == nullptr) {
      // What the NATS client reports when nobody serves the subject.
      std::move(done)(Unavailable("dependency_unavailable", {{"service", rc.service}}, "no responders"));
      return;
    }
    MessagePtr request = method->NewRequest();
    if (!request->ParseFromString(bytes)) {
      std::move(done)(Internal("request does not parse as " + method->request_descriptor().full_name()));
      return;
    }
    CallContext callee = CallContext::Make(rc.now_ms, Principal{Principal::Kind::kService, rc.principal.substr(8)},
                                           rc.request_id, http::Clock::now() + rc.budget);
    method->Invoke(callee, std::move(request),
                   [this, response = std::move(response), done = std::move(done)](
                       absl::StatusOr<MessagePtr> result) mutable {
                     // Never inline: a real reply arrives on a later loop turn.
                     dispatcher_.Post([response = std::move(response), done = std::move(done),
                                       result = std::move(result)]() mutable {
                       if (!result.ok()) {
                         std::move(done)(result.status());
                         return;
                       }
                       if (!response->ParseFromString((*result)->SerializeAsString())) {
                         std::move(done)(Internal("reply does not parse as the caller's response type"));
                         return;
                       }
                       std::move(done)(std::move(response));
                     });
                   });
  }

  event::Dispatcher& dispatcher_;
  std::string caller_ = "test";
  std::vector<std::unique_ptr<CallerView>> views_;
  std::map<std::string, std::unique_ptr<Hosted>> hosted_;
  std::map<std::pair<std::string, std::string>, std::deque<absl::Status>> failures_;
  Interceptor interceptor_;
  std::vector<RecordedCall> calls_;
  std::vector<event::TimerPtr> hangs_;  // calls that "never answer": each fires at its call's deadline
};

}  // namespace sidecar::services::testing
