#pragma once
// The `openai_compatible` provider (§2.17 rule 6): POST {base_url}/chat/completions through the
// host's OutboundHttpClient (ServiceDeps::http; the port never opens sockets), with
//   Authorization: Bearer $<api_key_env>   (the variable's value; never logged)
//   body {model: provider_model, messages, max_tokens, temperature: temperature_milli/1000, seed}
// and the rule's mapping: timeout (20 s) -> DEADLINE_EXCEEDED {}; connect error or 5xx ->
// UNAVAILABLE {}; 429 -> RESOURCE_EXHAUSTED {reason: provider_rate_limited}; other 4xx ->
// FAILED_PRECONDITION {reason: provider_rejected}. Tokens from `usage`, else simple-v1 (the
// caller's job: absent counts stay nullopt). No internal retries.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "services/ai_integration/provider.h"
#include "services/common/outbound_http.h"

namespace sidecar::services::ai_integration {

class OpenAiCompatibleProvider final : public Provider {
 public:
  struct Options {
    std::chrono::milliseconds timeout{20000};  // rule 6
    // Reads a secret by its variable name (default: the process environment); nullopt = unset.
    std::function<std::optional<std::string>(const std::string& name)> read_env;
  };

  // `http` may be null (a host without outbound HTTP): every call is then UNAVAILABLE.
  OpenAiCompatibleProvider(OutboundHttpClient* http, Options options);

  void Complete(const ModelConfig& model, const Messages& messages, int32_t max_tokens,
                int32_t temperature_milli, int64_t seed, std::chrono::milliseconds budget,
                Done<ProviderResult> done) override;

  // The request body of rule 6 (exposed for tests).
  static std::string RequestBody(const ModelConfig& model, const Messages& messages,
                                 int32_t max_tokens, int32_t temperature_milli, int64_t seed);
  // Rule 6's mapping of one HTTP exchange.
  static absl::StatusOr<ProviderResult> MapResponse(
      absl::StatusOr<OutboundHttpResponse> response);

 private:
  OutboundHttpClient* http_;
  Options options_;
};

}  // namespace sidecar::services::ai_integration
