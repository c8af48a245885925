#pragma once
// The §2.17 Provider interface, the same in both implementations:
//   Complete(ModelConfig, [Message{role, content}], max_tokens, temperature_milli, seed)
//     -> {text, finish_reason, input_tokens?, output_tokens?} | Error
// v1 has two: `template` (offline, deterministic; template_provider.h) and `openai_compatible`
// (HTTP through ServiceDeps::http; openai_compatible_provider.h). A provider never touches the
// store or the budget: ai-integration's logic reserves before and settles after.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "services/ai_integration/ai_integration_rules.h"
#include "services/common/service.h"

namespace sidecar::services::ai_integration {

struct ProviderResult {
  std::string text;
  std::string finish_reason;
  // Counts the provider reported (openai `usage`); absent -> simple-v1 (rule 6).
  std::optional<int64_t> input_tokens;
  std::optional<int64_t> output_tokens;
};

class Provider {
 public:
  virtual ~Provider() = default;
  // `max_tokens` is the effective value (AI4). `budget` is the time the request has left; a
  // provider that waits on the network never waits longer. `done` runs exactly once on the
  // dispatcher thread (inline is allowed: the caller's continuation does not depend on it).
  // Errors are §0.4 statuses (rule 6 mapping); they charge nothing.
  virtual void Complete(const ModelConfig& model, const Messages& messages, int32_t max_tokens,
                        int32_t temperature_milli, int64_t seed, std::chrono::milliseconds budget,
                        Done<ProviderResult> done) = 0;
};

}  // namespace sidecar::services::ai_integration
