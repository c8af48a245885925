#include "services/registry/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/ai_integration/ai_integration_service.h"
#include "services/ai_router/ai_router_service.h"
#include "services/auth/auth_service.h"
#include "services/body_broker_integration/body_broker_service.h"
#include "services/environmental_narrative/environmental_narrative_service.h"
#include "services/orchestration/orchestration_service.h"
#include "services/story_teller/story_teller_service.h"
#include "services/capability_registry/capability_registry_service.h"
#include "services/event_bus/event_bus_service.h"
#include "services/knowledge_base/knowledge_base_service.h"
#include "services/language_system/language_system_service.h"
#include "services/npc_behavior/npc_behavior_service.h"
#include "services/model_management/model_management_service.h"
#include "services/payment/payment_service.h"
#include "services/performance_mode/performance_mode_service.h"
#include "services/quest_system/quest_system_service.h"
#include "services/router/router_service.h"
#include "services/settings/settings_service.h"
#include "services/state_manager/state_manager_service.h"
#include "services/time_manager/time_manager_service.h"
#include "services/weather_manager/weather_manager_service.h"
#include "services/world_state/world_state_service.h"

namespace sidecar::services {
namespace {

using Factory = ServicePtr (*)(const ServiceDeps&);

struct Port {
  const char* name;
  Factory make;
};

// Ports register here as they land (SERVICES.md §2 order).
const std::vector<Port>& Ports() {
  static const std::vector<Port> ports = {
      {"auth", &MakeAuthService},
      {"settings", &MakeSettingsService},
      {"payment", &MakePaymentService},
      {"state-manager", &MakeStateManagerService},
      {"event-bus", &MakeEventBusService},
      {"router", &MakeRouterService},
      {"capability-registry", &MakeCapabilityRegistryService},
      {"performance-mode", &MakePerformanceModeService},
      {"model-management", &MakeModelManagementService},
      {"knowledge-base", &MakeKnowledgeBaseService},
      {"language-system", &MakeLanguageSystemService},
      {"time-manager", &MakeTimeManagerService},
      {"weather-manager", &MakeWeatherManagerService},
      {"world-state", &MakeWorldStateService},
      {"quest-system", &MakeQuestSystemService},
      {"npc-behavior", &MakeNpcBehaviorService},
      {"ai-integration", &MakeAiIntegrationService},
      {"environmental-narrative", &MakeEnvironmentalNarrativeService},
      {"orchestration", &MakeOrchestrationService},
      {"ai-router", &MakeAiRouterService},
      {"body-broker-integration", &MakeBodyBrokerIntegrationService},
      {"story-teller", &MakeStoryTellerService},
  };
  return ports;
}

}  // namespace

std::vector<std::string> HostableServices() {
  std::vector<std::string> names;
  for (const Port& port : Ports()) names.emplace_back(port.name);
  return names;
}

absl::StatusOr<ServicePtr> MakeService(std::string_view name, const ServiceDeps& deps) {
  for (const Port& port : Ports()) {
    if (name == port.name) return port.make(deps);
  }
  return absl::NotFoundError(absl::StrCat("no native port for service '", std::string(name), "' (hostable: ",
                                          absl::StrJoin(HostableServices(), ", "), ")"));
}

}  // namespace sidecar::services
