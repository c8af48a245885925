#pragma once
// The one interface of all 22 native ports: pure logic behind a thin typed binding.
//
//   class SettingsService final : public Service {
//    public:
//     std::string_view name() const override { return "settings"; }
//     void Register(HandlerRegistry& r) override {
//       r.Add<GetEffectiveRequest, GetEffectiveResponse>(
//           "get_effective", [this](const CallContext& ctx, GetEffectiveRequest rq,
//                                   Done<GetEffectiveResponse> done) {
//             logic_.GetEffective(ctx, std::move(rq), std::move(done));  // may wait on the store
//           });
//     }
//   };
//
// A handler runs on the dispatcher thread and must not block: it completes through `done`, now or
// later (e.g. from a StateStore callback), exactly once. Dropping `done` uncalled answers INTERNAL,
// so a forgotten path cannot hang a request. The logic sees only the CallContext, the request and
// the StateStore/EventPublisher interfaces: no NATS, HTTP or loop.
//
// Whoever hosts a port (the native cluster) finds a Method by action and calls, in §0.4 order:
//   Preflight(ctx)  -> step 1 (UNAUTHENTICATED unless public) and X-Request-Time (envelope);
//   parse the body into NewRequest() (its envelope/type errors come next);
//   Invoke(ctx, request, done)  -> the typed handler.
// InvokeBinary() does all three for a binary protobuf body.
//
// A server-streaming action (proto `returns (stream Resp)`, registered with AddStream) answers
// once too, with a StreamedReply: the body's pieces in order plus the closing Resp (what is only
// known at the end, e.g. token accounting). The host, not the logic, sends the pieces one by one at
// the pace of the consumer; the logic still never sees the transport.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "services/common/call_context.h"

namespace sidecar::services {

template <typename Resp>
using Done = absl::AnyInvocable<void(absl::StatusOr<Resp>) &&>;

using MessagePtr = std::unique_ptr<google::protobuf::Message>;
using MessageDone = absl::AnyInvocable<void(absl::StatusOr<MessagePtr>) &&>;
using BinaryDone = absl::AnyInvocable<void(absl::StatusOr<std::string>) &&>;

// The answer of a server-streaming action. A caller that streams gets `pieces` (the body, in
// order) and then `summary` (the closing message: the response with its streamed field empty); a
// caller that does not stream (or wants protobuf) gets `whole`, the same answer in one message.
template <typename Resp>
struct Streamed {
  std::vector<std::string> pieces;
  Resp summary;
  Resp whole;
};
struct StreamedReply {
  std::vector<std::string> pieces;
  MessagePtr summary;
  MessagePtr whole;
};
using StreamDone = absl::AnyInvocable<void(absl::StatusOr<StreamedReply>) &&>;

struct MethodOptions {
  // §0.3 public action: no principal needed (auth register/login/validate/logout).
  bool is_public = false;
};

// A type-erased registered action.
class Method {
 public:
  using Invoker = absl::AnyInvocable<void(const CallContext&, MessagePtr, MessageDone)>;
  using StreamInvoker = absl::AnyInvocable<void(const CallContext&, MessagePtr, StreamDone)>;

  Method(std::string action, MethodOptions options, const google::protobuf::Message& request_prototype,
         const google::protobuf::Message& response_prototype, Invoker invoker)
      : Method(std::move(action), options, request_prototype, response_prototype) {
    invoker_ = std::move(invoker);
  }
  Method(std::string action, MethodOptions options, const google::protobuf::Message& request_prototype,
         const google::protobuf::Message& response_prototype, StreamInvoker invoker)
      : Method(std::move(action), options, request_prototype, response_prototype) {
    stream_invoker_ = std::move(invoker);
  }

  const std::string& action() const { return action_; }
  const MethodOptions& options() const { return options_; }
  const google::protobuf::Descriptor& request_descriptor() const {
    return *request_prototype_->GetDescriptor();
  }
  const google::protobuf::Descriptor& response_descriptor() const {
    return *response_prototype_->GetDescriptor();
  }
  MessagePtr NewRequest() const { return MessagePtr(request_prototype_->New()); }
  // Registered with AddStream: call InvokeStream, not Invoke.
  bool server_streaming() const { return static_cast<bool>(stream_invoker_); }

  // §0.4 step 1 and the X-Request-Time part of step 2, before the body is looked at.
  absl::Status Preflight(const CallContext& ctx) const;
  // Runs the handler. `request` must be of request_descriptor()'s type (else INTERNAL). `done`
  // runs exactly once, possibly before Invoke returns.
  void Invoke(const CallContext& ctx, MessagePtr request, MessageDone done);
  // The same for a server-streaming action.
  void InvokeStream(const CallContext& ctx, MessagePtr request, StreamDone done);
  // Preflight, parse (failure: INVALID_ARGUMENT field=body malformed), Invoke, serialize.
  void InvokeBinary(const CallContext& ctx, std::string_view body, BinaryDone done);

 private:
  Method(std::string action, MethodOptions options, const google::protobuf::Message& request_prototype,
         const google::protobuf::Message& response_prototype)
      : action_(std::move(action)),
        options_(options),
        request_prototype_(&request_prototype),
        response_prototype_(&response_prototype) {}
  // INTERNAL unless `request` has the request type and the call matches server_streaming().
  absl::Status CheckCall(const google::protobuf::Message* request, bool streaming) const;

  std::string action_;
  MethodOptions options_;
  const google::protobuf::Message* request_prototype_;
  const google::protobuf::Message* response_prototype_;
  Invoker invoker_;
  StreamInvoker stream_invoker_;
};

class HandlerRegistry {
 public:
  template <typename Req, typename Resp>
  using Handler = absl::AnyInvocable<void(const CallContext&, Req, Done<Resp>)>;
  template <typename Req, typename Resp>
  using SyncHandler = absl::AnyInvocable<absl::StatusOr<Resp>(const CallContext&, const Req&)>;
  template <typename Req, typename Resp>
  using StreamHandler = absl::AnyInvocable<void(const CallContext&, Req, Done<Streamed<Resp>>)>;

  // Registers an asynchronous handler for svc.<service>.v1.<action>.
  template <typename Req, typename Resp>
  void Add(std::string action, Handler<Req, Resp> handler, MethodOptions options = {});
  // A handler that answers at once (no store wait): a pure function of context and request.
  template <typename Req, typename Resp>
  void AddSync(std::string action, SyncHandler<Req, Resp> handler, MethodOptions options = {});
  // Registers a server-streaming action (proto `rpc X(Req) returns (stream Resp)`).
  template <typename Req, typename Resp>
  void AddStream(std::string action, StreamHandler<Req, Resp> handler, MethodOptions options = {});

  // nullptr when the action is not registered.
  Method* Find(std::string_view action);
  std::vector<std::string> Actions() const;
  // Registration errors (a duplicate action), reported once at startup instead of per call.
  const absl::Status& status() const { return status_; }

 private:
  void AddMethod(std::unique_ptr<Method> method);

  std::map<std::string, std::unique_ptr<Method>, std::less<>> methods_;
  absl::Status status_;
};

class Service {
 public:
  virtual ~Service() = default;
  // The spec name (§2 heading): "state-manager". Subjects svc.<name>.v1.<action>.
  virtual std::string_view name() const = 0;
  // Semver reported by health (§0.1).
  virtual std::string_view version() const { return "1.0.0"; }
  // Registers every action of the service's section (and `_fixture`, see fixtures.h).
  virtual void Register(HandlerRegistry& registry) = 0;
};
using ServicePtr = std::unique_ptr<Service>;

// Checks a registry against the service's proto (services/proto): every rpc is registered under
// its snake_case action with exactly its request/response types, and nothing else is registered
// except actions starting with '_' (`_fixture`). A port's test calls this so no action is missing.
absl::Status VerifyRegistry(std::string_view service_name, const HandlerRegistry& registry);

// ---- implementation ----

namespace internal {
absl::Status UnansweredError();

// Calls `done` with INTERNAL if it is destroyed uncalled (a handler that forgot a path).
template <typename T>
class GuardedDone {
 public:
  using Fn = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;
  explicit GuardedDone(Fn done) : done_(std::move(done)) {}
  GuardedDone(GuardedDone&& other) noexcept : done_(std::move(other.done_)) { other.done_ = nullptr; }
  GuardedDone& operator=(GuardedDone&&) = delete;
  ~GuardedDone() {
    if (done_) (*this)(UnansweredError());
  }
  void operator()(absl::StatusOr<T> result) {
    if (!done_) return;  // answered already: exactly once
    Fn done = std::move(done_);
    done_ = nullptr;
    std::move(done)(std::move(result));
  }

 private:
  Fn done_;
};
}  // namespace internal

template <typename Req, typename Resp>
void HandlerRegistry::Add(std::string action, Handler<Req, Resp> handler, MethodOptions options) {
  static_assert(std::is_base_of_v<google::protobuf::Message, Req>);
  static_assert(std::is_base_of_v<google::protobuf::Message, Resp>);
  Method::Invoker invoker = [handler = std::move(handler)](const CallContext& ctx,
                                                           MessagePtr request,
                                                           MessageDone done) mutable {
    Req typed = std::move(*static_cast<Req*>(request.get()));
    handler(ctx, std::move(typed),
            [guard = internal::GuardedDone<MessagePtr>(std::move(done))](absl::StatusOr<Resp> result) mutable {
              if (!result.ok()) {
                guard(result.status());
              } else {
                guard(MessagePtr(new Resp(std::move(*result))));
              }
            });
  };
  AddMethod(std::make_unique<Method>(std::move(action), options, Req::default_instance(),
                                     Resp::default_instance(), std::move(invoker)));
}

template <typename Req, typename Resp>
void HandlerRegistry::AddSync(std::string action, SyncHandler<Req, Resp> handler,
                              MethodOptions options) {
  Add<Req, Resp>(
      std::move(action),
      [handler = std::move(handler)](const CallContext& ctx, Req request, Done<Resp> done) mutable {
        std::move(done)(handler(ctx, request));
      },
      options);
}

template <typename Req, typename Resp>
void HandlerRegistry::AddStream(std::string action, StreamHandler<Req, Resp> handler,
                                MethodOptions options) {
  static_assert(std::is_base_of_v<google::protobuf::Message, Req>);
  static_assert(std::is_base_of_v<google::protobuf::Message, Resp>);
  Method::StreamInvoker invoker = [handler = std::move(handler)](const CallContext& ctx,
                                                                 MessagePtr request,
                                                                 StreamDone done) mutable {
    Req typed = std::move(*static_cast<Req*>(request.get()));
    handler(ctx, std::move(typed),
            [guard = internal::GuardedDone<StreamedReply>(std::move(done))](
                absl::StatusOr<Streamed<Resp>> result) mutable {
              if (!result.ok()) {
                guard(result.status());
              } else {
                guard(StreamedReply{std::move(result->pieces),
                                    MessagePtr(new Resp(std::move(result->summary))),
                                    MessagePtr(new Resp(std::move(result->whole)))});
              }
            });
  };
  AddMethod(std::make_unique<Method>(std::move(action), options, Req::default_instance(),
                                     Resp::default_instance(), std::move(invoker)));
}

}  // namespace sidecar::services
