#pragma once
// The Given of SERVICES.md §2.17, shared by the ai-integration tests and by ai-router's, which
// hosts ai-integration (and model-management) as its dependencies.

#include <string>

#include "nlohmann/json.hpp"

namespace sidecar::services::testing {

// Model `echo-small` (§2.9 Example 1) as a model-management fixture entry.
inline nlohmann::json EchoSmall(const std::string& id = "echo-small") {
  return nlohmann::json{{"model_id", id},          {"provider", "template"},
                        {"template", "[{model_id}] {last_user}"},
                        {"context_window", 8192},  {"max_output_tokens", 512},
                        {"price_in_per_1k", 100},  {"price_out_per_1k", 300},
                        {"status", "active"},      {"revision", 1}};
}

// The system and user messages of §2.17 Example 1.
inline nlohmann::json Messages() {
  return nlohmann::json::array({{{"role", "system"}, {"content", "You are Odrin, a grave-keeper."}},
                                {{"role", "user"}, {"content", "Who sleeps beneath the yew?"}}});
}

}  // namespace sidecar::services::testing
