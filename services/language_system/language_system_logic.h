#pragma once
// language-system (SERVICES.md §2.11), the pure part: locale chains, plural rules, placeholder
// formatting, request field checks and the stored forms of locales and catalogs. No store and no
// loop: the binding (language_system_service.cc) reads the store and calls these.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/map.h"
#include "google/protobuf/struct.pb.h"
#include "language_system/v1/language_system.pb.h"
#include "services/common/state_store.h"

namespace sidecar::services::language_system {

// The generated messages live in ::language_system::v1, which this namespace would shadow.
namespace v1 = ::language_system::v1;

inline constexpr std::string_view kServiceName = "language-system";

inline constexpr size_t kMaxLocales = 100;         // r1, L10 (counts en)
inline constexpr size_t kMaxFallbacks = 4;         // L2
inline constexpr size_t kMaxChain = 6;             // r2
inline constexpr size_t kMaxMessagesPerPut = 500;  // r4
inline constexpr size_t kMaxKeyLength = 128;       // r4
inline constexpr size_t kMaxFormLength = 2000;     // r4
inline constexpr std::string_view kDefaultLocale = "en";
inline constexpr std::string_view kDefaultLocaleRule = "one_other";

// ---- state (§2.11 "State (config, shared)") ----

struct LocaleConfig {
  std::string plural_rule;
  std::vector<std::string> fallbacks;  // as put (L itself and duplicates are dropped in chains)
};
// Every configured locale. `en` is always present (r1): EnsureDefaultLocale adds it when the store
// has never seen a put_locale for it.
using LocaleMap = std::map<std::string, LocaleConfig>;
void EnsureDefaultLocale(LocaleMap& locales);

using Forms = std::map<std::string, std::string>;  // zero, one, two, few, many, other
struct Catalog {
  int64_t catalog_revision = 0;
  std::map<std::string, Forms> messages;  // by key (byte order = code-point order)
};

// Store keys, all under kStorePrefix (the fixture clears exactly that). The locale table is one
// entry (≤100 small records: the cap is one compare-and-set, a chain is one read); each locale's
// catalog is one entry, so put_messages is an atomic upsert.
inline constexpr std::string_view kStorePrefix = "language-system/";
std::string LocalesKey();
std::string CatalogKey(std::string_view locale);

std::string EncodeLocales(const LocaleMap& locales);
// Includes EnsureDefaultLocale.
absl::StatusOr<LocaleMap> DecodeLocales(std::string_view bytes);
std::string EncodeCatalog(const Catalog& catalog);
absl::StatusOr<Catalog> DecodeCatalog(std::string_view bytes);

// ---- rules ----

// r3: other_only, one_other, french, east_slavic, polish, arabic.
bool IsPluralRule(std::string_view rule);
// The category of n ≥ 0 under `rule` (an unknown rule answers "other").
std::string PluralCategoryOf(std::string_view rule, int64_t n);

// r2 / L1 / L2: L (if configured), L's explicit fallbacks in order, L's base language (if L has a
// region and the base is configured), en; duplicates dropped; at most 6 entries, of which the last
// is always en (so a 7th distinct entry — only a base language after four fallbacks — is dropped).
std::vector<std::string> Chain(std::string_view locale, const LocaleMap& locales);

// r5 / N34 / L7: `{name}` (name `[a-z_][a-z0-9_]*`) from args; `{count}` from args.count, else
// the decimal count; unresolved placeholders stay verbatim and are listed (distinct, sorted);
// `{{`/`}}` are literal braces; any other brace is literal; substituted text is not re-scanned.
struct Formatted {
  std::string text;
  std::vector<std::string> missing_args;
};
Formatted FormatMessage(std::string_view text, std::optional<int64_t> count,
                        const google::protobuf::Map<std::string, std::string>& args);

// ---- field checks (§0.4 step 2, table order) ----

// `locale` `[a-z]{2,3}(-[A-Z]{2})?` (2–6 chars); "" -> required.
absl::Status CheckLocale(std::string_view field, std::string_view locale);
// put_locale, including the own-state check of each fallback (r1, N33, L1, L2).
absl::Status ValidatePutLocale(const v1::PutLocaleRequest& rq, const LocaleMap& locales);
absl::Status ValidatePutMessages(const v1::PutMessagesRequest& rq);
absl::Status ValidateTranslate(const v1::TranslateRequest& rq);
absl::Status ValidateGetCatalog(const v1::GetCatalogRequest& rq);
absl::Status ValidatePluralCategory(const v1::PluralCategoryRequest& rq);

// ---- fixture (_fixture, see README.md) ----

absl::StatusOr<std::vector<StoreEntry>> FixtureEntries(const google::protobuf::Struct& document);

}  // namespace sidecar::services::language_system
