#pragma once
// The offline `template` provider (§2.17 rule 5, AI10): the model's template with {last_user},
// {system}, {model_id}, {n_messages} substituted in one pass, cut after the max_tokens-th token
// (`length`) or whole (`stop`). Deterministic: temperature and seed are ignored, and it answers
// inline.

#include "services/ai_integration/provider.h"

namespace sidecar::services::ai_integration {

class TemplateProvider final : public Provider {
 public:
  void Complete(const ModelConfig& model, const Messages& messages, int32_t max_tokens,
                int32_t temperature_milli, int64_t seed, std::chrono::milliseconds budget,
                Done<ProviderResult> done) override;
};

}  // namespace sidecar::services::ai_integration
