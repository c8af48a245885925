#pragma once
// ai-integration (SERVICES.md §2.17) as a native port: the public factory. Registers complete,
// count_tokens, set_budget, get_usage and `_fixture` (document shape: README.md). Calls
// model-management `get_model` through ServiceDeps::dependencies; the openai_compatible provider
// sends through ServiceDeps::http (may be null: such models then answer UNAVAILABLE).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

// Knobs a host or a test may change; the defaults are the spec's.
struct AiIntegrationOptions {
  std::chrono::milliseconds provider_timeout{20000};  // §2.17 rule 6
  // Secret lookup by variable name (default: the process environment).
  std::function<std::optional<std::string>(const std::string& name)> read_env;
};

std::unique_ptr<Service> MakeAiIntegrationService(const ServiceDeps& deps);
std::unique_ptr<Service> MakeAiIntegrationService(const ServiceDeps& deps,
                                                  AiIntegrationOptions options);

}  // namespace sidecar::services
