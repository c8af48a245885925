#include "services/ai_integration/template_provider.h"

#include <utility>

namespace sidecar::services::ai_integration {

void TemplateProvider::Complete(const ModelConfig& model, const Messages& messages,
                                int32_t max_tokens, int32_t /*temperature_milli*/,
                                int64_t /*seed*/, std::chrono::milliseconds /*budget*/,
                                Done<ProviderResult> done) {
  // AI10: {model_id} is the resolved id, never the alias the caller used.
  TemplateOutput out =
      CutToMaxTokens(RenderTemplate(model.template_(), model.model_id(), messages), max_tokens);
  ProviderResult result;
  result.text = std::move(out.text);
  result.finish_reason = std::move(out.finish_reason);
  result.output_tokens = out.output_tokens;
  std::move(done)(std::move(result));
}

}  // namespace sidecar::services::ai_integration
