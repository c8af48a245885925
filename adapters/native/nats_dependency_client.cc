#include "adapters/native/nats_dependency_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "adapters/common/errors.h"
#include "adapters/transcoding/json_codec.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"

namespace sidecar::adapters::native {
namespace {

absl::Status DependencyUnavailable(std::string_view service, std::string_view why) {
  return services::Unavailable("dependency_unavailable", {{"service", std::string(service)}},
                               std::string(service) + ": " + std::string(why));
}

}  // namespace

absl::Status StatusFromErrorReply(const http::Response& response) {
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const nlohmann::json& error = body["error"];
    std::string code = error.value("code", "");
    if (IsKnownCode(code)) {
      ErrorDetails details;
      if (error.contains("details") && error["details"].is_object()) {
        for (auto it = error["details"].begin(); it != error["details"].end(); ++it) {
          details[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
        }
      }
      std::string message = error.contains("message") && error["message"].is_string()
                                ? error["message"].get<std::string>()
                                : std::string();
      return ErrorStatus(StatusCodeForCode(code), message, details);
    }
  }
  std::string_view code = CodeForHttpStatus(response.status);
  return ErrorStatus(StatusCodeForCode(code.empty() ? codes::kInternal : code),
                     absl::StrCat("dependency answered ", response.status, ": ", response.body.substr(0, 200)), {});
}

NatsDependencyClient::NatsDependencyClient(std::string caller, upstream::Cluster* cluster,
                                           event::Dispatcher& dispatcher)
    : caller_(std::move(caller)), cluster_(cluster), dispatcher_(dispatcher) {}

NatsDependencyClient::~NatsDependencyClient() {
  *alive_ = false;
  for (auto& [id, handle] : in_flight_) handle->Cancel();
}

void NatsDependencyClient::Call(const services::CallContext& ctx, std::string_view service,
                                std::string_view action, const google::protobuf::Message& request,
                                const google::protobuf::Message& response_prototype,
                                services::DependencyCallOptions options, services::MessageDone done) {
  auto fail_later = [this](absl::Status status, services::MessageDone done) {
    dispatcher_.Post([status = std::move(status), done = std::move(done),
                      alive = std::weak_ptr<bool>(alive_)]() mutable {
      if (!alive.expired()) std::move(done)(status);
    });
  };
  if (cluster_ == nullptr) {
    fail_later(DependencyUnavailable(service, "no dependencies cluster configured"), std::move(done));
    return;
  }
  auto json = transcoding::MessageToJsonText(request);
  if (!json.ok()) {
    fail_later(services::Internal("dependency request not encodable: " + std::string(json.status().message())),
               std::move(done));
    return;
  }
  const http::Clock::time_point now = http::Clock::now();
  std::chrono::milliseconds budget =
      ctx.Remaining(now) - std::chrono::milliseconds(services::kDownstreamMarginMs);
  if (options.timeout) budget = std::min(budget, *options.timeout);
  if (budget <= std::chrono::milliseconds(0)) {
    fail_later(services::DeadlineExceeded("no time left to call " + std::string(service)), std::move(done));
    return;
  }
  http::Request out;
  out.service = std::string(service);
  out.action = std::string(action);
  out.headers = ctx.DownstreamHeaders(caller_, now);
  out.headers.Set("Content-Type", "application/json");
  out.body = *std::move(json);
  out.deadline = now + budget;

  const uint64_t id = next_id_++;
  services::MessagePtr response(response_prototype.New());
  upstream::Cancellable* handle = cluster_->Send(
      out, [this, id, service = std::string(service), response = std::move(response),
            done = std::move(done)](absl::StatusOr<http::Response> result) mutable {
        Finish(id, std::move(service), std::move(result), std::move(response), std::move(done));
      });
  in_flight_[id] = handle;
}

void NatsDependencyClient::Finish(uint64_t id, std::string service, absl::StatusOr<http::Response> result,
                                  services::MessagePtr response, services::MessageDone done) {
  in_flight_.erase(id);
  if (!result.ok()) {
    if (absl::IsDeadlineExceeded(result.status())) {
      std::move(done)(services::DeadlineExceeded(service + " did not answer in time"));
    } else {
      std::move(done)(DependencyUnavailable(service, std::string(result.status().message())));
    }
    return;
  }
  if (result->status != 200) {
    std::move(done)(StatusFromErrorReply(*result));
    return;
  }
  if (absl::Status st = transcoding::JsonTextToMessage(result->body, *response); !st.ok()) {
    std::move(done)(services::Internal(service + " reply does not match its schema: " + std::string(st.message())));
    return;
  }
  std::move(done)(std::move(response));
}

}  // namespace sidecar::adapters::native
