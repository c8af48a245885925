#include "services/common/service.h"

#include "services/common/strings_internal.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/common/errors.h"
#include "services/proto/descriptors.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services {

namespace internal {

absl::Status UnansweredError() { return Internal("handler finished without answering"); }

}  // namespace internal

absl::Status Method::Preflight(const CallContext& ctx) const {
  RETURN_IF_ERROR(ctx.CheckAuthenticated(options_.is_public));
  return ctx.CheckEnvelope();
}

absl::Status Method::CheckCall(const google::protobuf::Message* request, bool streaming) const {
  if (streaming != server_streaming()) {
    return Internal(absl::StrCat("action ", action_,
                                 streaming ? " is not a streaming action" : " streams its reply: use InvokeStream"));
  }
  if (request == nullptr || request->GetDescriptor() != request_prototype_->GetDescriptor()) {
    return Internal(absl::StrCat("action ", action_, " expects ", request_prototype_->GetDescriptor()->full_name()));
  }
  return absl::OkStatus();
}

void Method::Invoke(const CallContext& ctx, MessagePtr request, MessageDone done) {
  if (absl::Status s = CheckCall(request.get(), /*streaming=*/false); !s.ok()) {
    std::move(done)(s);
    return;
  }
  invoker_(ctx, std::move(request), std::move(done));
}

void Method::InvokeStream(const CallContext& ctx, MessagePtr request, StreamDone done) {
  if (absl::Status s = CheckCall(request.get(), /*streaming=*/true); !s.ok()) {
    std::move(done)(s);
    return;
  }
  stream_invoker_(ctx, std::move(request), std::move(done));
}

void Method::InvokeBinary(const CallContext& ctx, std::string_view body, BinaryDone done) {
  if (absl::Status s = Preflight(ctx); !s.ok()) {
    std::move(done)(s);
    return;
  }
  MessagePtr request = NewRequest();
  if (!request->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    std::move(done)(InvalidArgument("body", reason::kMalformed, "body is not a valid protobuf"));
    return;
  }
  Invoke(ctx, std::move(request),
         [done = std::move(done)](absl::StatusOr<MessagePtr> result) mutable {
           if (!result.ok()) {
             std::move(done)(result.status());
           } else {
             std::move(done)((*result)->SerializeAsString());
           }
         });
}

void HandlerRegistry::AddMethod(std::unique_ptr<Method> method) {
  const std::string action = method->action();
  if (!methods_.emplace(action, std::move(method)).second && status_.ok()) {
    status_ = absl::AlreadyExistsError(absl::StrCat("action '", action, "' registered twice"));
  }
}

Method* HandlerRegistry::Find(std::string_view action) {
  auto it = methods_.find(action);
  return it == methods_.end() ? nullptr : it->second.get();
}

std::vector<std::string> HandlerRegistry::Actions() const {
  std::vector<std::string> out;
  for (const auto& [action, unused] : methods_) out.push_back(action);
  return out;
}

absl::Status VerifyRegistry(std::string_view service_name, const HandlerRegistry& registry) {
  RETURN_IF_ERROR(registry.status());
  const google::protobuf::ServiceDescriptor* service = FindServiceDescriptor(service_name);
  if (service == nullptr) return absl::NotFoundError(absl::StrCat("no proto for ", Av(service_name)));
  auto& mutable_registry = const_cast<HandlerRegistry&>(registry);
  std::vector<std::string> problems;
  std::vector<std::string> expected;
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* m = service->method(i);
    const std::string action = ActionName(*m);
    expected.push_back(action);
    Method* method = mutable_registry.Find(action);
    if (method == nullptr) {
      problems.push_back(absl::StrCat(action, ": not registered"));
      continue;
    }
    if (&method->request_descriptor() != m->input_type() ||
        &method->response_descriptor() != m->output_type()) {
      problems.push_back(absl::StrCat(action, ": registered as ", method->request_descriptor().full_name(),
                                      " -> ", method->response_descriptor().full_name(),
                                      ", proto says ", m->input_type()->full_name(), " -> ",
                                      m->output_type()->full_name()));
    }
    if (method->server_streaming() != m->server_streaming()) {
      problems.push_back(absl::StrCat(action, m->server_streaming() ? ": proto streams its reply, registered unary"
                                                                    : ": registered streaming, proto is unary"));
    }
  }
  for (const std::string& action : registry.Actions()) {
    if (action.rfind('_', 0) == 0) continue;
    if (std::find(expected.begin(), expected.end(), action) == expected.end()) {
      problems.push_back(absl::StrCat(action, ": not an action of ", Av(service_name)));
    }
  }
  if (!problems.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(Av(service_name), " registry: ", absl::StrJoin(problems, "; ")));
  }
  return absl::OkStatus();
}

}  // namespace sidecar::services
