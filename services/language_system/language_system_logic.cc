#include "services/language_system/language_system_logic.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/pagination.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::language_system {
namespace {

using nlohmann::json;

const Pattern& LocalePattern() {
  static const Pattern* p = new Pattern("[a-z]{2,3}(-[A-Z]{2})?");
  return *p;
}

const Pattern& KeyPattern() {
  static const Pattern* p = new Pattern("[a-z][a-z0-9_]*(\\.[a-z0-9_]+){0,5}");
  return *p;
}

constexpr std::string_view kPluralRules[] = {"other_only",  "one_other", "french",
                                             "east_slavic", "polish",    "arabic"};
constexpr std::string_view kFormNames[] = {"zero", "one", "two", "few", "many", "other"};

bool IsFormName(std::string_view name) {
  return std::find(std::begin(kFormNames), std::end(kFormNames), name) != std::end(kFormNames);
}

StringSpec LocaleSpec(bool required) {
  StringSpec spec;
  spec.required = required;
  spec.min_len = 2;  // the pattern's shortest and longest match (R4)
  spec.max_len = 6;
  spec.pattern = &LocalePattern();
  return spec;
}

absl::Status CheckKey(std::string_view field, std::string_view key) {
  StringSpec spec;
  spec.required = true;
  spec.max_len = kMaxKeyLength;
  spec.pattern = &KeyPattern();
  return CheckString(field, key, spec);
}

// A list element: "" is `too_short` (§0.4), then the locale syntax.
absl::Status CheckLocaleElement(std::string_view field, std::string_view locale) {
  if (locale.empty()) return InvalidArgument(field, reason::kTooShort);
  return CheckString(field, locale, LocaleSpec(false));
}

// forms of one message (r4, L4). The map is checked whole (empty -> required), then the union of
// the sent names and the required `other` is walked in name order, as §6 NB2 walks a map with
// required names: missing -> required, unknown name -> unknown_value, "" -> too_short, >2000
// code points -> too_long.
absl::Status CheckForms(const std::string& field, const std::map<std::string, std::string>& forms) {
  if (forms.empty()) return InvalidArgument(field, reason::kRequired);
  std::set<std::string> names;
  for (const auto& [name, text] : forms) names.insert(name);
  names.insert("other");
  for (const std::string& name : names) {
    const std::string sub = KeyField(field, name);
    auto it = forms.find(name);
    if (it == forms.end()) return InvalidArgument(sub, reason::kRequired);
    if (!IsFormName(name)) return InvalidArgument(sub, reason::kUnknownValue);
    if (it->second.empty()) return InvalidArgument(sub, reason::kTooShort);
    if (CodePoints(it->second) > kMaxFormLength) return InvalidArgument(sub, reason::kTooLong);
  }
  return absl::OkStatus();
}

std::map<std::string, std::string> SortedForms(
    const google::protobuf::Map<std::string, std::string>& forms) {
  return std::map<std::string, std::string>(forms.begin(), forms.end());
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// ---- JSON reading without exceptions ----

absl::StatusOr<std::vector<std::string>> StringList(const json& j, const std::string& field) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return InvalidArgument(field, reason::kType);
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string()) return InvalidArgument(IndexField(field, i), reason::kType);
    out.push_back(j[i].get<std::string>());
  }
  return out;
}

absl::StatusOr<Forms> FormsFromJson(const json& j, const std::string& field) {
  Forms out;
  if (j.is_null()) return out;
  if (!j.is_object()) return InvalidArgument(field, reason::kType);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) return InvalidArgument(KeyField(field, it.key()), reason::kType);
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string StringOr(const json& obj, const char* key) {
  auto it = obj.find(key);
  return (it != obj.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

// ---- state ----

void EnsureDefaultLocale(LocaleMap& locales) {
  const std::string en(kDefaultLocale);
  if (locales.count(en) == 0) locales[en] = LocaleConfig{std::string(kDefaultLocaleRule), {}};
}

std::string LocalesKey() { return std::string(kStorePrefix) + "locales"; }
std::string CatalogKey(std::string_view locale) {
  return std::string(kStorePrefix) + "catalogs/" + std::string(locale);
}

std::string EncodeLocales(const LocaleMap& locales) {
  json out = json::object();
  for (const auto& [locale, config] : locales) {
    out[locale] = json{{"plural_rule", config.plural_rule}, {"fallbacks", config.fallbacks}};
  }
  return json{{"locales", std::move(out)}}.dump();
}

absl::StatusOr<LocaleMap> DecodeLocales(std::string_view bytes) {
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("locales") ||
      !doc["locales"].is_object()) {
    return Internal("stored locales do not parse");
  }
  LocaleMap out;
  for (auto it = doc["locales"].begin(); it != doc["locales"].end(); ++it) {
    if (!it.value().is_object()) return Internal("stored locale does not parse");
    LocaleConfig config;
    config.plural_rule = StringOr(it.value(), "plural_rule");
    absl::StatusOr<std::vector<std::string>> fallbacks =
        StringList(it.value().value("fallbacks", json()), "fallbacks");
    if (!fallbacks.ok()) return Internal("stored locale does not parse");
    config.fallbacks = std::move(*fallbacks);
    out[it.key()] = std::move(config);
  }
  EnsureDefaultLocale(out);
  return out;
}

std::string EncodeCatalog(const Catalog& catalog) {
  json messages = json::object();
  for (const auto& [key, forms] : catalog.messages) messages[key] = forms;
  return json{{"catalog_revision", catalog.catalog_revision}, {"messages", std::move(messages)}}
      .dump();
}

absl::StatusOr<Catalog> DecodeCatalog(std::string_view bytes) {
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("catalog_revision") ||
      !doc["catalog_revision"].is_number_integer() || !doc.contains("messages") ||
      !doc["messages"].is_object()) {
    return Internal("stored catalog does not parse");
  }
  Catalog out;
  out.catalog_revision = doc["catalog_revision"].get<int64_t>();
  for (auto it = doc["messages"].begin(); it != doc["messages"].end(); ++it) {
    absl::StatusOr<Forms> forms = FormsFromJson(it.value(), "messages");
    if (!forms.ok()) return Internal("stored message does not parse");
    out.messages[it.key()] = std::move(*forms);
  }
  return out;
}

// ---- rules ----

bool IsPluralRule(std::string_view rule) {
  return std::find(std::begin(kPluralRules), std::end(kPluralRules), rule) !=
         std::end(kPluralRules);
}

std::string PluralCategoryOf(std::string_view rule, int64_t n) {
  const int64_t mod10 = n % 10;
  const int64_t mod100 = n % 100;
  const bool slavic_one = mod10 == 1 && mod100 != 11;
  const bool slavic_few = mod10 >= 2 && mod10 <= 4 && !(mod100 >= 12 && mod100 <= 14);
  if (rule == "one_other") return n == 1 ? "one" : "other";
  if (rule == "french") return n <= 1 ? "one" : "other";
  if (rule == "east_slavic") {
    if (slavic_one) return "one";
    if (slavic_few) return "few";
    return "many";
  }
  if (rule == "polish") {
    if (n == 1) return "one";
    if (slavic_few) return "few";
    return "many";
  }
  if (rule == "arabic") {
    if (n == 0) return "zero";
    if (n == 1) return "one";
    if (n == 2) return "two";
    if (mod100 >= 3 && mod100 <= 10) return "few";
    if (mod100 >= 11 && mod100 <= 99) return "many";
    return "other";
  }
  return "other";  // other_only
}

std::vector<std::string> Chain(std::string_view locale, const LocaleMap& locales) {
  std::vector<std::string> chain;
  auto add = [&chain](const std::string& l) {
    if (std::find(chain.begin(), chain.end(), l) == chain.end()) chain.push_back(l);
  };
  const std::string l(locale);
  if (!l.empty()) {
    if (auto it = locales.find(l); it != locales.end()) {
      add(l);
      // Not transitive: a fallback's own fallbacks are ignored.
      for (const std::string& f : it->second.fallbacks) add(f);
    }
    if (size_t dash = l.find('-'); dash != std::string::npos) {
      const std::string base = l.substr(0, dash);
      if (locales.count(base) != 0) add(base);
    }
  }
  add(std::string(kDefaultLocale));
  if (chain.size() > kMaxChain) {
    // en is last (it was not among the earlier entries, or the chain would be shorter): keep the
    // first five and en (L2 "en always fits").
    chain.erase(chain.begin() + (kMaxChain - 1), chain.end() - 1);
  }
  return chain;
}

Formatted FormatMessage(std::string_view text, std::optional<int64_t> count,
                        const google::protobuf::Map<std::string, std::string>& args) {
  Formatted out;
  std::set<std::string> missing;
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const char c = text[i];
    if (c == '{' && i + 1 < n && text[i + 1] == '{') {
      out.text += '{';
      i += 2;
      continue;
    }
    if (c == '}' && i + 1 < n && text[i + 1] == '}') {
      out.text += '}';
      i += 2;
      continue;
    }
    if (c == '{' && i + 1 < n && IsNameStart(text[i + 1])) {
      size_t j = i + 2;
      while (j < n && IsNameChar(text[j])) ++j;
      if (j < n && text[j] == '}') {
        const std::string name(text.substr(i + 1, j - i - 1));
        if (auto it = args.find(name); it != args.end()) {
          out.text += it->second;  // L7: args.count wins over count
        } else if (name == "count" && count.has_value()) {
          out.text += std::to_string(*count);
        } else {
          out.text.append(text.substr(i, j - i + 1));
          missing.insert(name);
        }
        i = j + 1;
        continue;
      }
    }
    out.text += c;  // any other brace (or character) is literal
    ++i;
  }
  out.missing_args.assign(missing.begin(), missing.end());
  return out;
}

// ---- field checks ----

absl::Status CheckLocale(std::string_view field, std::string_view locale) {
  return CheckString(field, locale, LocaleSpec(true));
}

absl::Status ValidatePutLocale(const v1::PutLocaleRequest& rq, const LocaleMap& locales) {
  RETURN_IF_ERROR(CheckLocale("locale", rq.locale()));
  StringSpec rule;
  rule.required = true;
  rule.allowed = std::vector<std::string_view>(std::begin(kPluralRules), std::end(kPluralRules));
  RETURN_IF_ERROR(CheckString("plural_rule", rq.plural_rule(), rule));
  CountSpec fallbacks;
  fallbacks.max = kMaxFallbacks;
  RETURN_IF_ERROR(CheckCount("fallbacks", rq.fallbacks_size(), fallbacks));
  for (int i = 0; i < rq.fallbacks_size(); ++i) {
    const std::string field = IndexField("fallbacks", i);
    const std::string& f = rq.fallbacks(i);
    RETURN_IF_ERROR(CheckLocaleElement(field, f));
    // L1: L itself is always accepted (and dropped from the chain as a duplicate).
    if (f != rq.locale() && locales.count(f) == 0) {
      return InvalidArgument(field, reason::kUnknownValue);
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePutMessages(const v1::PutMessagesRequest& rq) {
  RETURN_IF_ERROR(CheckLocale("locale", rq.locale()));
  CountSpec messages;
  messages.required = true;
  messages.max = kMaxMessagesPerPut;
  RETURN_IF_ERROR(CheckCount("messages", rq.messages_size(), messages));
  std::set<std::string> keys;
  for (int i = 0; i < rq.messages_size(); ++i) {
    const std::string field = IndexField("messages", i);
    const v1::Message& m = rq.messages(i);
    RETURN_IF_ERROR(CheckKey(field + ".key", m.key()));
    // L5: a repeated key is the later entry's `malformed`.
    if (!keys.insert(m.key()).second) return InvalidArgument(field + ".key", reason::kMalformed);
    RETURN_IF_ERROR(CheckForms(field + ".forms", SortedForms(m.forms())));
  }
  return absl::OkStatus();
}

absl::Status ValidateTranslate(const v1::TranslateRequest& rq) {
  RETURN_IF_ERROR(CheckKey("key", rq.key()));
  // r2: an empty or unconfigured locale is not an error; a non-empty one must be a locale.
  RETURN_IF_ERROR(CheckString("locale", rq.locale(), LocaleSpec(false)));
  if (rq.has_count()) RETURN_IF_ERROR(CheckInt("count", rq.count(), 0, INT64_MAX));  // L6
  return absl::OkStatus();
}

absl::Status ValidateGetCatalog(const v1::GetCatalogRequest& rq) {
  RETURN_IF_ERROR(CheckLocale("locale", rq.locale()));
  RETURN_IF_ERROR(ResolvePageSize(rq.page_size()).status());
  return DecodeStringPageToken(rq.page_token()).status();
}

absl::Status ValidatePluralCategory(const v1::PluralCategoryRequest& rq) {
  RETURN_IF_ERROR(CheckLocale("locale", rq.locale()));
  return CheckInt("count", rq.count(), 0, INT64_MAX);  // L6
}

// ---- fixture ----

absl::StatusOr<std::vector<StoreEntry>> FixtureEntries(const google::protobuf::Struct& document) {
  const json doc = StructToJson(document);
  LocaleMap locales;
  std::map<std::string, Catalog> catalogs;
  std::vector<std::pair<std::string, std::vector<std::string>>> pending_fallbacks;
  if (auto it = doc.find("locales"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("locales", reason::kType);
    if (it->size() > kMaxLocales) return InvalidArgument("locales", reason::kTooLong);
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string field = IndexField("locales", i);
      const json& item = (*it)[i];
      if (!item.is_object()) return InvalidArgument(field, reason::kType);
      const std::string locale = StringOr(item, "locale");
      RETURN_IF_ERROR(CheckLocale(field + ".locale", locale));
      if (locales.count(locale) != 0) return InvalidArgument(field + ".locale", reason::kMalformed);
      LocaleConfig config;
      config.plural_rule = StringOr(item, "plural_rule");
      if (!IsPluralRule(config.plural_rule)) {
        return InvalidArgument(field + ".plural_rule", reason::kUnknownValue);
      }
      ASSIGN_OR_RETURN(config.fallbacks,
                       StringList(item.value("fallbacks", json()), field + ".fallbacks"));
      if (config.fallbacks.size() > kMaxFallbacks) {
        return InvalidArgument(field + ".fallbacks", reason::kTooLong);
      }
      int64_t revision = 0;
      if (auto rev = item.find("catalog_revision"); rev != item.end() && !rev->is_null()) {
        if (!rev->is_number() || std::floor(rev->get<double>()) != rev->get<double>() ||
            rev->get<double>() < 0) {
          return InvalidArgument(field + ".catalog_revision", reason::kOutOfRange);
        }
        revision = static_cast<int64_t>(rev->get<double>());
      }
      catalogs[locale].catalog_revision = revision;
      locales[locale] = std::move(config);
    }
  }
  EnsureDefaultLocale(locales);
  if (locales.size() > kMaxLocales) return InvalidArgument("locales", reason::kTooLong);
  // Fallbacks may name locales listed later in the document: check once all are known.
  for (const auto& [locale, config] : locales) {
    for (size_t j = 0; j < config.fallbacks.size(); ++j) {
      const std::string& f = config.fallbacks[j];
      if (f != locale && locales.count(f) == 0) {
        return InvalidArgument(IndexField("locales." + locale + ".fallbacks", j),
                               reason::kUnknownValue);
      }
    }
  }
  if (auto it = doc.find("messages"); it != doc.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("messages", reason::kType);
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string field = IndexField("messages", i);
      const json& item = (*it)[i];
      if (!item.is_object()) return InvalidArgument(field, reason::kType);
      const std::string locale = StringOr(item, "locale");
      RETURN_IF_ERROR(CheckLocale(field + ".locale", locale));
      if (locales.count(locale) == 0) {
        return InvalidArgument(field + ".locale", reason::kUnknownValue);
      }
      const std::string key = StringOr(item, "key");
      RETURN_IF_ERROR(CheckKey(field + ".key", key));
      ASSIGN_OR_RETURN(Forms forms, FormsFromJson(item.value("forms", json()), field + ".forms"));
      RETURN_IF_ERROR(CheckForms(field + ".forms", forms));
      Catalog& catalog = catalogs[locale];
      if (!catalog.messages.emplace(key, std::move(forms)).second) {
        return InvalidArgument(field + ".key", reason::kMalformed);
      }
    }
  }
  std::vector<StoreEntry> entries;
  entries.push_back(StoreEntry{LocalesKey(), EncodeLocales(locales), 0, 0});
  for (const auto& [locale, catalog] : catalogs) {
    if (catalog.catalog_revision == 0 && catalog.messages.empty()) continue;
    entries.push_back(StoreEntry{CatalogKey(locale), EncodeCatalog(catalog), 0, 0});
  }
  return entries;
}

}  // namespace sidecar::services::language_system
