#include "services/model_management/model_management_rules.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "services/common/errors.h"
#include "services/common/json_fields.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::model_management {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxNameLength = 64;       // [a-z0-9][a-z0-9._-]{0,63}
constexpr size_t kMaxTemplateLength = 2000;  // rule 2
constexpr size_t kMaxBaseUrlLength = 2048;   // MM2
constexpr size_t kMaxProviderModelLength = 256;
constexpr size_t kMaxApiKeyEnvLength = 64;  // [A-Z][A-Z0-9_]{0,63}
constexpr int64_t kMinContextWindow = 256;  // rule 3
constexpr int64_t kMaxContextWindow = 1048576;
constexpr int64_t kMaxOutputTokensCap = 32768;
constexpr int64_t kMaxPrice = 1'000'000'000;

constexpr std::string_view kPlaceholders[] = {"{last_user}", "{system}", "{model_id}",
                                              "{n_messages}"};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool IsValidName(std::string_view name) {
  if (name.empty()) return false;
  const char first = name.front();
  if (!((first >= 'a' && first <= 'z') || (first >= '0' && first <= '9'))) return false;
  return std::all_of(name.begin(), name.end(), IsNameChar);
}

bool IsValidApiKeyEnv(std::string_view name) {
  if (name.empty() || !(name.front() >= 'A' && name.front() <= 'Z')) return false;
  return AllCharsIn(name, "A-Z0-9_");
}

absl::Status CheckTemplateProvider(const pb::PutModelRequest& rq) {
  RETURN_IF_ERROR(CheckString("template", rq.template_(),
                              {.required = true, .min_len = 1, .max_len = kMaxTemplateLength}));
  if (!IsValidTemplate(rq.template_())) return InvalidArgument("template", reason::kPattern);
  return absl::OkStatus();
}

absl::Status CheckOpenAiProvider(const pb::PutModelRequest& rq) {
  RETURN_IF_ERROR(CheckString("provider_model", rq.provider_model(),
                              {.required = true, .min_len = 1, .max_len = kMaxProviderModelLength}));
  RETURN_IF_ERROR(CheckString("base_url", rq.base_url(),
                              {.required = true, .min_len = 1, .max_len = kMaxBaseUrlLength}));
  if (!absl::StartsWith(rq.base_url(), "http://") && !absl::StartsWith(rq.base_url(), "https://")) {
    return InvalidArgument("base_url", reason::kPattern);
  }
  RETURN_IF_ERROR(CheckString("api_key_env", rq.api_key_env(),
                              {.min_len = 1, .max_len = kMaxApiKeyEnvLength}));
  if (!rq.api_key_env().empty() && !IsValidApiKeyEnv(rq.api_key_env())) {
    return InvalidArgument("api_key_env", reason::kPattern);
  }
  return absl::OkStatus();
}

// ---- JSON of the stored catalog ----

// Integers arrive as JSON integers (stored text) or integral doubles (a fixture Struct).
absl::StatusOr<int64_t> ExactIntAt(const Json& object, std::string_view name,
                                   std::string_view parent, int64_t fallback) {
  // A JSON integer is taken exactly (no ±(2^53−1) bound); the rest as the common reader does.
  auto it = object.find(std::string(name));
  if (it != object.end() && it->is_number_integer()) return it->get<int64_t>();
  return IntAt(object, name, parent, fallback);
}

Json ModelToJson(const pb::Model& m) {
  return Json{{"model_id", m.model_id()},
              {"provider", m.provider()},
              {"provider_model", m.provider_model()},
              {"base_url", m.base_url()},
              {"api_key_env", m.api_key_env()},
              {"template", m.template_()},
              {"context_window", m.context_window()},
              {"max_output_tokens", m.max_output_tokens()},
              {"price_in_per_1k", m.price_in_per_1k()},
              {"price_out_per_1k", m.price_out_per_1k()},
              {"status", m.status()},
              {"revision", m.revision()}};
}

absl::StatusOr<pb::Model> ModelFromJson(const Json& j, const std::string& path) {
  if (!j.is_object()) return InvalidArgument(path, reason::kType);
  pb::Model m;
  ASSIGN_OR_RETURN(*m.mutable_model_id(), StringAt(j, "model_id", path));
  if (m.model_id().empty()) {
    return InvalidArgument(MemberPath(path, "model_id"), reason::kRequired);
  }
  ASSIGN_OR_RETURN(*m.mutable_provider(), StringAt(j, "provider", path));
  ASSIGN_OR_RETURN(*m.mutable_provider_model(), StringAt(j, "provider_model", path));
  ASSIGN_OR_RETURN(*m.mutable_base_url(), StringAt(j, "base_url", path));
  ASSIGN_OR_RETURN(*m.mutable_api_key_env(), StringAt(j, "api_key_env", path));
  ASSIGN_OR_RETURN(*m.mutable_template_(), StringAt(j, "template", path));
  ASSIGN_OR_RETURN(int64_t context_window, ExactIntAt(j, "context_window", path, 0));
  ASSIGN_OR_RETURN(int64_t max_output_tokens, ExactIntAt(j, "max_output_tokens", path, 0));
  ASSIGN_OR_RETURN(int64_t price_in, ExactIntAt(j, "price_in_per_1k", path, 0));
  ASSIGN_OR_RETURN(int64_t price_out, ExactIntAt(j, "price_out_per_1k", path, 0));
  ASSIGN_OR_RETURN(*m.mutable_status(), StringAt(j, "status", path));
  ASSIGN_OR_RETURN(int64_t revision, ExactIntAt(j, "revision", path, 1));
  m.set_context_window(static_cast<int32_t>(context_window));
  m.set_max_output_tokens(static_cast<int32_t>(max_output_tokens));
  m.set_price_in_per_1k(price_in);
  m.set_price_out_per_1k(price_out);
  if (m.status().empty()) m.set_status(std::string(kStatusActive));
  m.set_revision(revision);
  return m;
}

// The aliases (sorted) that point to `model_id`.
std::vector<std::string> AliasesOf(const Catalog& catalog, std::string_view model_id) {
  std::vector<std::string> out;
  for (const auto& [alias, target] : catalog.aliases) {
    if (target == model_id) out.push_back(alias);
  }
  return out;  // std::map iterates in key (code point) order
}

absl::Status RetiredError(std::string_view message) {
  return FailedPrecondition("retired", {}, message);
}

}  // namespace

// ---- catalog JSON ----

nlohmann::json CatalogToJson(const Catalog& catalog) {
  Json models = Json::array();
  for (const auto& [id, model] : catalog.models) models.push_back(ModelToJson(model));
  Json aliases = Json::object();
  for (const auto& [alias, target] : catalog.aliases) aliases[alias] = target;
  return Json{{"models", std::move(models)}, {"aliases", std::move(aliases)}};
}

absl::StatusOr<Catalog> CatalogFromJson(const nlohmann::json& document) {
  if (!document.is_object()) return InvalidArgument("body", reason::kType);
  Catalog catalog;
  if (auto it = document.find("models"); it != document.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("models", reason::kType);
    for (size_t i = 0; i < it->size(); ++i) {
      ASSIGN_OR_RETURN(pb::Model model, ModelFromJson((*it)[i], IndexField("models", i)));
      std::string id = model.model_id();
      catalog.models[id] = std::move(model);  // a repeated id keeps the last entry
    }
  }
  if (auto it = document.find("aliases"); it != document.end() && !it->is_null()) {
    if (!it->is_object()) return InvalidArgument("aliases", reason::kType);
    for (auto a = it->begin(); a != it->end(); ++a) {
      if (!a.value().is_string()) return InvalidArgument(KeyField("aliases", a.key()), reason::kType);
      catalog.aliases[a.key()] = a.value().get<std::string>();
    }
  }
  return catalog;
}

// ---- field checks ----

absl::Status CheckName(std::string_view field, std::string_view name) {
  RETURN_IF_ERROR(CheckString(field, name, {.required = true, .min_len = 1, .max_len = kMaxNameLength}));
  if (!IsValidName(name)) return InvalidArgument(field, reason::kPattern);
  return absl::OkStatus();
}

bool IsValidTemplate(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '}') return false;  // a '}' outside a placeholder
    if (c != '{') {
      ++i;
      continue;
    }
    const std::string_view rest = text.substr(i);
    const auto* hit = std::find_if(std::begin(kPlaceholders), std::end(kPlaceholders),
                                   [&](std::string_view p) { return rest.substr(0, p.size()) == p; });
    if (hit == std::end(kPlaceholders)) return false;
    i += hit->size();
  }
  return true;
}

absl::Status CheckStatus(std::string_view status, bool required) {
  return CheckString("status", status,
                     {.required = required,
                      .allowed = {kStatusActive, kStatusDeprecated, kStatusRetired}});
}

absl::StatusOr<pb::Model> BuildModel(const pb::PutModelRequest& rq) {
  RETURN_IF_ERROR(CheckName("model_id", rq.model_id()));
  RETURN_IF_ERROR(CheckString("provider", rq.provider(),
                              {.required = true, .allowed = {kProviderTemplate, kProviderOpenAi}}));
  const bool is_template = rq.provider() == kProviderTemplate;
  // Rule 2 / MM2: only the chosen provider's fields are checked (in table order); the others were
  // type-checked by the transcoder and are stored as "".
  if (is_template) {
    RETURN_IF_ERROR(CheckTemplateProvider(rq));
  } else {
    RETURN_IF_ERROR(CheckOpenAiProvider(rq));
  }
  RETURN_IF_ERROR(CheckInt("context_window", rq.context_window(), kMinContextWindow,
                           kMaxContextWindow));
  // MM3: the relation is reported on the later field, 0 included.
  RETURN_IF_ERROR(CheckInt("max_output_tokens", rq.max_output_tokens(), 1,
                           std::min<int64_t>(rq.context_window(), kMaxOutputTokensCap)));
  RETURN_IF_ERROR(CheckInt("price_in_per_1k", rq.price_in_per_1k(), 0, kMaxPrice));
  RETURN_IF_ERROR(CheckInt("price_out_per_1k", rq.price_out_per_1k(), 0, kMaxPrice));

  pb::Model model;
  model.set_model_id(rq.model_id());
  model.set_provider(rq.provider());
  if (is_template) {
    model.set_template_(rq.template_());
  } else {
    model.set_provider_model(rq.provider_model());
    model.set_base_url(rq.base_url());
    model.set_api_key_env(rq.api_key_env());
  }
  model.set_context_window(rq.context_window());
  model.set_max_output_tokens(rq.max_output_tokens());
  model.set_price_in_per_1k(rq.price_in_per_1k());
  model.set_price_out_per_1k(rq.price_out_per_1k());
  return model;
}

// ---- decisions ----

absl::StatusOr<PutModelOutcome> ApplyPutModel(Catalog& catalog, pb::Model model) {
  auto existing = catalog.models.find(model.model_id());
  // MM4: `retired` first (rule 4: retired models are immutable), then the shared namespace.
  if (existing != catalog.models.end() && existing->second.status() == kStatusRetired) {
    return RetiredError("model is retired");
  }
  if (catalog.aliases.count(model.model_id()) > 0) {
    return AlreadyExists("model_id", "an alias has this name");
  }
  if (existing == catalog.models.end()) {
    model.set_status(std::string(kStatusActive));
    model.set_revision(1);
  } else {
    // MM8: full replace, status kept, revision + 1 even when identical.
    model.set_status(existing->second.status());
    model.set_revision(existing->second.revision() + 1);
  }
  PutModelOutcome outcome;
  outcome.response.set_model_id(model.model_id());
  outcome.response.set_revision(model.revision());
  outcome.response.set_status(model.status());
  outcome.stored = model;
  catalog.models[model.model_id()] = std::move(model);
  return outcome;
}

absl::StatusOr<pb::GetModelResponse> ResolveModel(const Catalog& catalog, std::string_view name) {
  pb::GetModelResponse response;
  std::string model_id(name);
  if (auto alias = catalog.aliases.find(model_id); alias != catalog.aliases.end()) {
    response.set_resolved_from_alias(alias->first);
    model_id = alias->second;
  }
  auto model = catalog.models.find(model_id);
  if (model == catalog.models.end()) return NotFound("name", "no model or alias with this name");
  *response.mutable_model() = model->second;
  return response;
}

absl::StatusOr<SetAliasOutcome> ApplySetAlias(Catalog& catalog, std::string_view alias,
                                              std::string_view model_id) {
  // MM5: aliases point to model ids only (no chains): an alias name is NOT_FOUND here.
  auto target = catalog.models.find(std::string(model_id));
  if (target == catalog.models.end()) return NotFound("model_id", "no model with this id");
  if (target->second.status() == kStatusRetired) return RetiredError("model is retired");
  if (catalog.models.count(std::string(alias)) > 0) {
    return AlreadyExists("alias", "a model has this id");
  }
  SetAliasOutcome outcome;
  outcome.response.set_alias(std::string(alias));
  outcome.response.set_model_id(std::string(model_id));
  auto current = catalog.aliases.find(std::string(alias));
  if (current != catalog.aliases.end()) {
    outcome.response.set_previous_model_id(current->second);
    outcome.changed = current->second != model_id;  // MM7: same target = no-op
  } else {
    outcome.changed = true;
  }
  catalog.aliases[std::string(alias)] = std::string(model_id);
  return outcome;
}

absl::StatusOr<SetStatusOutcome> ApplySetStatus(Catalog& catalog, std::string_view model_id,
                                                std::string_view status) {
  auto it = catalog.models.find(std::string(model_id));
  if (it == catalog.models.end()) return NotFound("model_id", "no model with this id");
  pb::Model& model = it->second;
  if (model.status() == kStatusRetired) return RetiredError("model is retired");
  SetStatusOutcome outcome;
  outcome.response.set_model_id(model.model_id());
  outcome.response.set_status(std::string(status));
  outcome.response.set_previous(model.status());
  outcome.revision = model.revision();
  if (model.status() == status) return outcome;  // N17/MM6: unchanged, no event
  if (status == kStatusRetired) {
    std::vector<std::string> aliases = AliasesOf(catalog, model_id);
    if (!aliases.empty()) {
      return FailedPrecondition("has_aliases", {{"aliases", absl::StrJoin(aliases, ",")}},
                                "model is an alias target");
    }
  }
  // Rule 4: active <-> deprecated, any -> retired: every change between the three is allowed.
  model.set_status(std::string(status));
  model.set_revision(model.revision() + 1);
  outcome.changed = true;
  outcome.revision = model.revision();
  return outcome;
}

std::vector<pb::Model> FilterModels(const Catalog& catalog, std::string_view status) {
  std::vector<pb::Model> out;
  for (const auto& [id, model] : catalog.models) {
    if (status.empty() || model.status() == status) out.push_back(model);
  }
  return out;
}

}  // namespace sidecar::services::model_management
