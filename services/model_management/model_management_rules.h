#pragma once
// model-management (SERVICES.md §2.9 and resolutions MM1–MM10): the pure rules. No store, no loop:
// every function maps (catalog, request) to a decision, so each rule is testable on its own.
//
// The whole config state is one Catalog document (models by id, aliases by name): ids and aliases
// share one namespace and retiring checks the aliases, so every write is one compare-and-set of
// one document and those cross-entity rules can never race between replicas.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model_management/v1/model_management.pb.h"
#include "nlohmann/json.hpp"

namespace sidecar::services::model_management {

namespace pb = ::model_management::v1;

inline constexpr std::string_view kServiceName = "model-management";

inline constexpr std::string_view kProviderTemplate = "template";
inline constexpr std::string_view kProviderOpenAi = "openai_compatible";
inline constexpr std::string_view kStatusActive = "active";
inline constexpr std::string_view kStatusDeprecated = "deprecated";
inline constexpr std::string_view kStatusRetired = "retired";

struct Catalog {
  std::map<std::string, pb::Model> models;     // by model_id (list order, rule 5)
  std::map<std::string, std::string> aliases;  // alias -> model_id
};

// Stored form (also the `_fixture` document, README.md): {"models":[Model...],"aliases":{a:id}}.
nlohmann::json CatalogToJson(const Catalog& catalog);
// Absent members are zero values, except a model's status ("active") and revision (1).
// INVALID_ARGUMENT (field path, type/required) for a document of the wrong shape.
absl::StatusOr<Catalog> CatalogFromJson(const nlohmann::json& document);

// ---- field checks (§0.4 order, table order) ----

// Rule 1: `[a-z0-9][a-z0-9._-]{0,63}` on `field`, required (model_id, alias, get_model name).
absl::Status CheckName(std::string_view field, std::string_view name);
// MM1: every brace belongs to one of the four exact placeholders.
bool IsValidTemplate(std::string_view text);
// put_model fields (rules 1–3, MM1–MM3) in table order; returns the Model to store (status and
// revision unset, fields of the other provider zeroed, N5/MM2).
absl::StatusOr<pb::Model> BuildModel(const pb::PutModelRequest& request);
// set_status / list_models `status`: required enum / "" or enum.
absl::Status CheckStatus(std::string_view status, bool required);

// ---- decisions (after authorization) ----

struct PutModelOutcome {
  pb::PutModelResponse response;
  pb::Model stored;
};
// MM4/MM8: `retired` (existing retired model) -> ALREADY_EXISTS model_id (an alias has that
// name); a new model is active at revision 1, an existing one keeps its status, revision + 1.
absl::StatusOr<PutModelOutcome> ApplyPutModel(Catalog& catalog, pb::Model model);

// get_model (rule 1, N16, MM10): NOT_FOUND name.
absl::StatusOr<pb::GetModelResponse> ResolveModel(const Catalog& catalog, std::string_view name);

struct SetAliasOutcome {
  pb::SetAliasResponse response;
  bool changed = false;  // MM7: created or re-pointed (event + write)
};
// MM5/MM7: NOT_FOUND model_id -> retired -> ALREADY_EXISTS alias.
absl::StatusOr<SetAliasOutcome> ApplySetAlias(Catalog& catalog, std::string_view alias,
                                              std::string_view model_id);

struct SetStatusOutcome {
  pb::SetStatusResponse response;
  bool changed = false;  // MM9: a real change (revision + 1, event)
  int64_t revision = 0;  // the model's revision after the call
};
// Rule 4, MM6: NOT_FOUND model_id -> retired -> same status no-op -> has_aliases.
absl::StatusOr<SetStatusOutcome> ApplySetStatus(Catalog& catalog, std::string_view model_id,
                                                std::string_view status);

// Rule 5: models with `status` ("" = all) in model_id order.
std::vector<pb::Model> FilterModels(const Catalog& catalog, std::string_view status);

}  // namespace sidecar::services::model_management
