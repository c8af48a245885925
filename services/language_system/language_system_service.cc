#include "services/language_system/language_system_service.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "services/common/call_context.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/fixtures.h"
#include "services/common/pagination.h"
#include "services/common/state_store.h"
#include "services/language_system/language_system_logic.h"

namespace sidecar::services {
namespace {

namespace lsl = language_system;
namespace v1 = ::language_system::v1;
using lsl::Catalog;
using lsl::LocaleMap;

// Compare-and-set retries before UNAVAILABLE; each retry re-runs the rule checks on fresh state.
constexpr int kCasAttempts = 8;

class LanguageSystemService final : public Service {
 public:
  explicit LanguageSystemService(const ServiceDeps& deps)
      : store_(*deps.store), events_(*deps.events), fixtures_enabled_(deps.fixtures_enabled) {}

  std::string_view name() const override { return lsl::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<v1::PutLocaleRequest, v1::PutLocaleResponse>(
        "put_locale",
        [this](const CallContext& ctx, v1::PutLocaleRequest rq, Done<v1::PutLocaleResponse> done) {
          PutLocale(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::PutMessagesRequest, v1::PutMessagesResponse>(
        "put_messages", [this](const CallContext& ctx, v1::PutMessagesRequest rq,
                               Done<v1::PutMessagesResponse> done) {
          PutMessages(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::TranslateRequest, v1::TranslateResponse>(
        "translate",
        [this](const CallContext& ctx, v1::TranslateRequest rq, Done<v1::TranslateResponse> done) {
          Translate(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::GetCatalogRequest, v1::GetCatalogResponse>(
        "get_catalog", [this](const CallContext& ctx, v1::GetCatalogRequest rq,
                              Done<v1::GetCatalogResponse> done) {
          GetCatalog(ctx, std::move(rq), std::move(done));
        });
    r.Add<v1::PluralCategoryRequest, v1::PluralCategoryResponse>(
        "plural_category", [this](const CallContext& ctx, v1::PluralCategoryRequest rq,
                                  Done<v1::PluralCategoryResponse> done) {
          PluralCategory(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, fixtures_enabled_, store_, {std::string(lsl::kStorePrefix)},
                          [](const google::protobuf::Struct& doc, const CallContext&) {
                            return lsl::FixtureEntries(doc);
                          });
  }

 private:
  using LocalesDone = absl::AnyInvocable<void(absl::StatusOr<LocaleMap>) &&>;
  using CatalogDone = absl::AnyInvocable<void(absl::StatusOr<Catalog>) &&>;
  // Current bytes (nullopt: absent) -> bytes to write, or the rule's error. Called once per
  // compare-and-set attempt.
  using Mutation =
      absl::AnyInvocable<absl::StatusOr<std::string>(const std::optional<std::string>&)>;
  using WrittenDone = absl::AnyInvocable<void(absl::StatusOr<std::string>) &&>;

  // ---- store helpers ----

  void LoadLocales(int64_t now_ms, LocalesDone done) {
    store_.Get(lsl::LocalesKey(), now_ms,
               [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
                 if (!got.ok()) return std::move(done)(got.status());
                 if (!got->has_value()) {
                   LocaleMap locales;
                   lsl::EnsureDefaultLocale(locales);  // r1: en always exists
                   return std::move(done)(std::move(locales));
                 }
                 std::move(done)(lsl::DecodeLocales((*got)->value));
               });
  }

  void LoadCatalog(const std::string& locale, int64_t now_ms, CatalogDone done) {
    store_.Get(lsl::CatalogKey(locale), now_ms,
               [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
                 if (!got.ok()) return std::move(done)(got.status());
                 if (!got->has_value()) return std::move(done)(Catalog());
                 std::move(done)(lsl::DecodeCatalog((*got)->value));
               });
  }

  // Read-modify-write of one entry with compare-and-set; `done` gets the bytes written.
  void UpdateEntry(std::string key, int64_t now_ms, Mutation mutate, int attempts_left,
                   WrittenDone done) {
    store_.Get(key, now_ms,
               [this, key, now_ms, mutate = std::move(mutate), attempts_left,
                done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
                 if (!got.ok()) return std::move(done)(got.status());
                 std::optional<std::string> current;
                 uint64_t revision = 0;
                 if (got->has_value()) {
                   current = (*got)->value;
                   revision = (*got)->revision;
                 }
                 absl::StatusOr<std::string> next = mutate(current);
                 if (!next.ok()) return std::move(done)(next.status());
                 std::string bytes = *next;
                 store_.CompareAndSet(
                     key, std::move(*next), revision, now_ms, {},
                     [this, key, now_ms, mutate = std::move(mutate), attempts_left,
                      bytes = std::move(bytes),
                      done = std::move(done)](absl::StatusOr<uint64_t> written) mutable {
                       if (written.ok()) return std::move(done)(std::move(bytes));
                       if (IsConflict(written.status()) && attempts_left > 1) {
                         return UpdateEntry(key, now_ms, std::move(mutate), attempts_left - 1,
                                            std::move(done));
                       }
                       std::move(done)(IsConflict(written.status())
                                           ? Unavailable("", {}, "entry kept changing")
                                           : written.status());
                     });
               });
  }

  // ---- actions ----

  void PutLocale(const CallContext& ctx, v1::PutLocaleRequest rq,
                 Done<v1::PutLocaleResponse> done) {
    const int64_t now = ctx.now_ms();
    const std::string locale = rq.locale();
    // The fallback checks are against stored locales (§0.4 step 2 includes own-state checks), so
    // the field checks run inside the read-modify-write, before authorization (step 3).
    UpdateEntry(
        lsl::LocalesKey(), now,
        [rq = std::move(rq),
         ctx](const std::optional<std::string>& current) -> absl::StatusOr<std::string> {
          LocaleMap locales;
          if (current.has_value()) {
            absl::StatusOr<LocaleMap> decoded = lsl::DecodeLocales(*current);
            if (!decoded.ok()) return decoded.status();
            locales = std::move(*decoded);
          } else {
            lsl::EnsureDefaultLocale(locales);
          }
          if (absl::Status s = lsl::ValidatePutLocale(rq, locales); !s.ok()) return s;
          if (absl::Status s = ctx.AuthorizeWrite(); !s.ok()) return s;
          // Caps count existing locales (L10: en included); replacing at the cap succeeds.
          if (locales.count(rq.locale()) == 0 && locales.size() >= lsl::kMaxLocales) {
            return LimitExceeded(lsl::kMaxLocales);
          }
          // L3: only plural_rule and fallbacks change; messages and catalog_revision are kept
          // (they live in the catalog entry).
          lsl::LocaleConfig& config = locales[rq.locale()];
          config.plural_rule = rq.plural_rule();
          config.fallbacks.assign(rq.fallbacks().begin(), rq.fallbacks().end());
          return lsl::EncodeLocales(locales);
        },
        kCasAttempts,
        [locale, done = std::move(done)](absl::StatusOr<std::string> written) mutable {
          if (!written.ok()) return std::move(done)(written.status());
          absl::StatusOr<LocaleMap> locales = lsl::DecodeLocales(*written);
          if (!locales.ok()) return std::move(done)(locales.status());
          v1::PutLocaleResponse resp;
          resp.set_locale(locale);
          for (std::string& l : lsl::Chain(locale, *locales)) resp.add_chain(std::move(l));
          std::move(done)(std::move(resp));
        });
  }

  void PutMessages(const CallContext& ctx, v1::PutMessagesRequest rq,
                   Done<v1::PutMessagesResponse> done) {
    if (absl::Status s = lsl::ValidatePutMessages(rq); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ctx.AuthorizeWrite(); !s.ok()) return std::move(done)(s);
    const int64_t now = ctx.now_ms();
    LoadLocales(now, [this, rq = std::move(rq), now,
                      done = std::move(done)](absl::StatusOr<LocaleMap> locales) mutable {
      if (!locales.ok()) return std::move(done)(locales.status());
      if (locales->count(rq.locale()) == 0) return std::move(done)(NotFound("locale"));
      const std::string locale = rq.locale();
      const int32_t upserted = rq.messages_size();
      UpdateEntry(
          lsl::CatalogKey(locale), now,
          [rq = std::move(rq)](
              const std::optional<std::string>& current) -> absl::StatusOr<std::string> {
            Catalog catalog;
            if (current.has_value()) {
              absl::StatusOr<Catalog> decoded = lsl::DecodeCatalog(*current);
              if (!decoded.ok()) return decoded.status();
              catalog = std::move(*decoded);
            }
            // r4: atomic upsert; each message replaces all forms of its key.
            for (const v1::Message& m : rq.messages()) {
              catalog.messages[m.key()] = lsl::Forms(m.forms().begin(), m.forms().end());
            }
            ++catalog.catalog_revision;
            return lsl::EncodeCatalog(catalog);
          },
          kCasAttempts,
          [this, locale, upserted, now,
           done = std::move(done)](absl::StatusOr<std::string> written) mutable {
            if (!written.ok()) return std::move(done)(written.status());
            absl::StatusOr<Catalog> catalog = lsl::DecodeCatalog(*written);
            if (!catalog.ok()) return std::move(done)(catalog.status());
            PublishCatalogChanged(locale, catalog->catalog_revision, now);
            v1::PutMessagesResponse resp;
            resp.set_upserted(upserted);
            resp.set_catalog_revision(catalog->catalog_revision);
            std::move(done)(std::move(resp));
          });
    });
  }

  void PublishCatalogChanged(const std::string& locale, int64_t revision, int64_t now_ms) {
    v1::CatalogChangedEvent ev;
    ev.set_locale(locale);
    ev.set_catalog_revision(revision);
    std::string id =
        MakeEventId(lsl::kServiceName, "catalog_changed", locale + ":" + std::to_string(revision));
    absl::StatusOr<Event> event =
        MakeEvent(lsl::kServiceName, "catalog_changed", std::move(id), now_ms, ev);
    // A publish failure does not fail the request: the catalog already changed.
    if (event.ok()) events_.Publish(std::move(*event), nullptr);
  }

  // One translate in flight: walks the chain, one catalog read per locale, until one holds the key.
  struct TranslateRun {
    v1::TranslateRequest rq;
    LocaleMap locales;
    std::vector<std::string> chain;
    int64_t now_ms = 0;
    Done<v1::TranslateResponse> done;
  };

  void Translate(const CallContext& ctx, v1::TranslateRequest rq,
                 Done<v1::TranslateResponse> done) {
    if (absl::Status s = lsl::ValidateTranslate(rq); !s.ok()) return std::move(done)(s);
    // L9: a read (any principal), although it is a POST.
    if (absl::Status s = ctx.AuthorizeRead(); !s.ok()) return std::move(done)(s);
    auto run = std::make_unique<TranslateRun>();
    run->rq = std::move(rq);
    run->now_ms = ctx.now_ms();
    run->done = std::move(done);
    const int64_t now = run->now_ms;
    LoadLocales(now, [this, run = std::move(run)](absl::StatusOr<LocaleMap> locales) mutable {
      if (!locales.ok()) return std::move(run->done)(locales.status());
      run->locales = std::move(*locales);
      run->chain = lsl::Chain(run->rq.locale(), run->locales);
      LookUp(std::move(run), 0);
    });
  }

  void LookUp(std::unique_ptr<TranslateRun> run, size_t i) {
    if (i == run->chain.size()) {
      // r5: missing everywhere -> 200, found=false, text = key.
      v1::TranslateResponse resp;
      resp.set_text(run->rq.key());
      resp.set_found(false);
      for (const std::string& l : run->chain) resp.add_chain(l);
      return std::move(run->done)(std::move(resp));
    }
    const std::string locale = run->chain[i];
    const int64_t now = run->now_ms;
    LoadCatalog(locale, now,
                [this, run = std::move(run), i, locale](absl::StatusOr<Catalog> catalog) mutable {
                  if (!catalog.ok()) return std::move(run->done)(catalog.status());
                  auto it = catalog->messages.find(run->rq.key());
                  if (it == catalog->messages.end()) return LookUp(std::move(run), i + 1);
                  const v1::TranslateRequest& rq = run->rq;
                  // r5: the resolved locale's rule decides; absent count -> other.
                  std::string category = "other";
                  if (rq.has_count()) {
                    category = lsl::PluralCategoryOf(run->locales[locale].plural_rule, rq.count());
                  }
                  const lsl::Forms& forms = it->second;
                  auto form = forms.find(category);
                  if (form == forms.end()) form = forms.find("other");
                  const std::string text = form == forms.end() ? std::string() : form->second;
                  std::optional<int64_t> count;
                  if (rq.has_count()) count = rq.count();
                  lsl::Formatted formatted = lsl::FormatMessage(text, count, rq.args());
                  v1::TranslateResponse resp;
                  resp.set_text(std::move(formatted.text));
                  resp.set_resolved_locale(locale);
                  resp.set_plural_category(category);
                  resp.set_found(true);
                  for (std::string& m : formatted.missing_args) resp.add_missing_args(std::move(m));
                  for (const std::string& l : run->chain) resp.add_chain(l);
                  std::move(run->done)(std::move(resp));
                });
  }

  void GetCatalog(const CallContext& ctx, v1::GetCatalogRequest rq,
                  Done<v1::GetCatalogResponse> done) {
    if (absl::Status s = lsl::ValidateGetCatalog(rq); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ctx.AuthorizeRead(); !s.ok()) return std::move(done)(s);
    const int64_t now = ctx.now_ms();
    LoadLocales(now, [this, rq = std::move(rq), now,
                      done = std::move(done)](absl::StatusOr<LocaleMap> locales) mutable {
      if (!locales.ok()) return std::move(done)(locales.status());
      if (locales->count(rq.locale()) == 0) return std::move(done)(NotFound("locale"));
      const std::string locale = rq.locale();
      LoadCatalog(locale, now,
                  [rq = std::move(rq), locale,
                   done = std::move(done)](absl::StatusOr<Catalog> catalog) mutable {
                    if (!catalog.ok()) return std::move(done)(catalog.status());
                    // Both were validated during the field checks.
                    const int32_t page_size = *ResolvePageSize(rq.page_size());
                    const std::optional<std::string> after =
                        *DecodeStringPageToken(rq.page_token());
                    std::vector<std::string> keys;  // r4/N33: key ascending (std::map order)
                    for (const auto& [key, forms] : catalog->messages) keys.push_back(key);
                    std::function<bool(const std::string&)> after_token;
                    if (after.has_value()) {
                      after_token = [&after](const std::string& key) { return key > *after; };
                    }
                    Page<std::string> page = Paginate<std::string>(
                        std::move(keys), page_size, after_token,
                        [](const std::string& key) { return EncodePageToken(key); });
                    v1::GetCatalogResponse resp;
                    for (const std::string& key : page.items) {
                      v1::CatalogMessage* m = resp.add_messages();
                      m->set_locale(locale);
                      m->set_key(key);
                      for (const auto& [name, text] : catalog->messages.at(key))
                        (*m->mutable_forms())[name] = text;
                    }
                    resp.set_next_page_token(page.next_page_token);
                    std::move(done)(std::move(resp));
                  });
    });
  }

  void PluralCategory(const CallContext& ctx, v1::PluralCategoryRequest rq,
                      Done<v1::PluralCategoryResponse> done) {
    if (absl::Status s = lsl::ValidatePluralCategory(rq); !s.ok()) return std::move(done)(s);
    if (absl::Status s = ctx.AuthorizeRead(); !s.ok()) return std::move(done)(s);
    LoadLocales(ctx.now_ms(), [rq = std::move(rq),
                               done = std::move(done)](absl::StatusOr<LocaleMap> locales) mutable {
      if (!locales.ok()) return std::move(done)(locales.status());
      auto it = locales->find(rq.locale());
      if (it == locales->end()) return std::move(done)(NotFound("locale"));
      v1::PluralCategoryResponse resp;
      resp.set_category(lsl::PluralCategoryOf(it->second.plural_rule, rq.count()));
      resp.set_plural_rule(it->second.plural_rule);
      std::move(done)(std::move(resp));
    });
  }

  StateStore& store_;
  EventPublisher& events_;
  bool fixtures_enabled_;
};

}  // namespace

std::unique_ptr<Service> MakeLanguageSystemService(const ServiceDeps& deps) {
  return std::make_unique<LanguageSystemService>(deps);
}

}  // namespace sidecar::services
