#include "services/ai_integration/openai_compatible_provider.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "nlohmann/json.hpp"
#include "services/common/errors.h"

namespace sidecar::services::ai_integration {
namespace {

using Json = nlohmann::json;

std::optional<std::string> ReadProcessEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// usage.<name> as a non-negative integer, else nullopt (then simple-v1 counts).
std::optional<int64_t> UsageCount(const Json& body, const char* name) {
  if (!body.contains("usage") || !body["usage"].is_object()) return std::nullopt;
  const Json& v = body["usage"].value(name, Json());
  if (!v.is_number_integer() && !v.is_number_unsigned()) return std::nullopt;
  const int64_t n = v.get<int64_t>();
  if (n < 0) return std::nullopt;
  return n;
}

}  // namespace

OpenAiCompatibleProvider::OpenAiCompatibleProvider(OutboundHttpClient* http, Options options)
    : http_(http), options_(std::move(options)) {
  if (!options_.read_env) options_.read_env = ReadProcessEnv;
}

std::string OpenAiCompatibleProvider::RequestBody(const ModelConfig& model,
                                                  const Messages& messages, int32_t max_tokens,
                                                  int32_t temperature_milli, int64_t seed) {
  Json list = Json::array();
  for (const pb::Message& m : messages) {
    list.push_back(Json{{"role", m.role()}, {"content", m.content()}});
  }
  return Json{{"model", model.provider_model()},
              {"messages", std::move(list)},
              {"max_tokens", max_tokens},
              {"temperature", static_cast<double>(temperature_milli) / 1000.0},
              {"seed", seed}}
      .dump();
}

absl::StatusOr<ProviderResult> OpenAiCompatibleProvider::MapResponse(
    absl::StatusOr<OutboundHttpResponse> response) {
  if (!response.ok()) {
    if (absl::IsDeadlineExceeded(response.status())) {
      return DeadlineExceeded("provider did not answer in time");
    }
    // Connect failure, reset, malformed reply, or a URL the client cannot send to (https).
    return Unavailable("", {}, "provider unreachable: " + std::string(response.status().message()));
  }
  const int status = response->status;
  if (status == 429) {
    return ResourceExhausted({{"reason", "provider_rate_limited"}}, "provider rate limited");
  }
  if (status >= 500) return Unavailable("", {}, "provider failed with " + std::to_string(status));
  if (status >= 400) {
    return FailedPrecondition("provider_rejected", {},
                              "provider rejected the request with " + std::to_string(status));
  }
  if (status < 200 || status >= 300) {
    return Unavailable("", {}, "unexpected provider status " + std::to_string(status));
  }
  Json body = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("choices") || !body["choices"].is_array() ||
      body["choices"].empty() || !body["choices"][0].is_object()) {
    return Unavailable("", {}, "provider reply has no choices");
  }
  const Json& choice = body["choices"][0];
  ProviderResult result;
  if (choice.contains("message") && choice["message"].is_object() &&
      choice["message"].contains("content") && choice["message"]["content"].is_string()) {
    result.text = choice["message"]["content"].get<std::string>();
  } else if (!(choice.contains("message") && choice["message"].is_object())) {
    return Unavailable("", {}, "provider reply has no message");
  }
  const Json& finish = choice.value("finish_reason", Json());
  result.finish_reason = finish.is_string() ? finish.get<std::string>() : "stop";
  result.input_tokens = UsageCount(body, "prompt_tokens");
  result.output_tokens = UsageCount(body, "completion_tokens");
  return result;
}

void OpenAiCompatibleProvider::Complete(const ModelConfig& model, const Messages& messages,
                                        int32_t max_tokens, int32_t temperature_milli,
                                        int64_t seed, std::chrono::milliseconds budget,
                                        Done<ProviderResult> done) {
  if (http_ == nullptr) {
    std::move(done)(Unavailable("", {}, "this host has no outbound HTTP client"));
    return;
  }
  OutboundHttpRequest request;
  request.method = "POST";
  std::string base = model.base_url();
  while (!base.empty() && base.back() == '/') base.pop_back();
  request.url = base + "/chat/completions";
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("Accept", "application/json");
  // Rule 6 / MM2: api_key_env names the secret; its value goes only into this header.
  if (!model.api_key_env().empty()) {
    std::optional<std::string> key = options_.read_env(model.api_key_env());
    if (key.has_value() && !key->empty()) {
      request.headers.emplace_back("Authorization", "Bearer " + *key);
    }
  }
  request.body = RequestBody(model, messages, max_tokens, temperature_milli, seed);
  // The rule's 20 s, but never past the request's own deadline.
  request.timeout = std::max(std::chrono::milliseconds(1), std::min(options_.timeout, budget));
  http_->Send(std::move(request),
              [done = std::move(done)](absl::StatusOr<OutboundHttpResponse> response) mutable {
                std::move(done)(MapResponse(std::move(response)));
              });
}

}  // namespace sidecar::services::ai_integration
