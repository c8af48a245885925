// environmental-narrative (SERVICES.md §2.18): the four actions over the StateStore and the two
// dependencies, in §0.4 order, plus `_fixture`. The pure rules live in
// environmental_narrative_rules.{h,cc}.
#include "services/environmental_narrative/environmental_narrative_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "language_system/v1/language_system.pb.h"
#include "services/common/async_util.h"
#include "services/common/dependency_client.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/fixtures.h"
#include "services/common/pagination.h"
#include "services/environmental_narrative/environmental_narrative_rules.h"
#include "weather_manager/v1/weather_manager.pb.h"

namespace sidecar::services {
namespace {

namespace en = environmental_narrative;
namespace pb = ::environmental_narrative::v1;
namespace lang = ::language_system::v1;
namespace weather = ::weather_manager::v1;

// All rules in rule_id order (store List is in key order, keys are RuleKey(rule_id)).
using RuleList = std::vector<pb::Rule>;

// What describe carries across its asynchronous steps.
struct DescribeOp {
  CallContext ctx;
  pb::DescribeRequest rq;
  Done<pb::DescribeResponse> done;
  pb::DescribeResponse response;
  std::vector<pb::Rule> picks;
  size_t next = 0;  // the next pick to translate (EN7: line by line in pick order)
};

class EnvironmentalNarrativeService final : public Service {
 public:
  explicit EnvironmentalNarrativeService(const ServiceDeps& deps) : deps_(deps) {}

  std::string_view name() const override { return en::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PutRuleRequest, pb::PutRuleResponse>(
        "put_rule", [this](const CallContext& ctx, pb::PutRuleRequest rq,
                           Done<pb::PutRuleResponse> done) { PutRule(ctx, rq, std::move(done)); });
    r.Add<pb::DeleteRuleRequest, pb::DeleteRuleResponse>(
        "delete_rule",
        [this](const CallContext& ctx, pb::DeleteRuleRequest rq,
               Done<pb::DeleteRuleResponse> done) { DeleteRule(ctx, rq, std::move(done)); });
    r.Add<pb::ListRulesRequest, pb::ListRulesResponse>(
        "list_rules",
        [this](const CallContext& ctx, pb::ListRulesRequest rq, Done<pb::ListRulesResponse> done) {
          ListRules(ctx, rq, std::move(done));
        });
    r.Add<pb::DescribeRequest, pb::DescribeResponse>(
        "describe",
        [this](const CallContext& ctx, pb::DescribeRequest rq, Done<pb::DescribeResponse> done) {
          Describe(ctx, std::move(rq), std::move(done));
        });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store, {std::string(en::kStorePrefix)},
                          &en::MapFixture);
  }

 private:
  // ---- put_rule: fields -> service/admin -> the 500 cap (EN3) -> write -> rules_changed ----
  void PutRule(const CallContext& ctx, const pb::PutRuleRequest& rq,
               Done<pb::PutRuleResponse> done) {
    absl::Status s = en::CheckPutRule(rq);
    if (s.ok()) s = ctx.AuthorizeWrite();  // EN10
    if (!s.ok()) return std::move(done)(s);
    // Puts on this replica run one at a time, so the cap is counted against settled state.
    // (Config state: two replicas creating the 500th rule at the same instant could both pass;
    // README.md "Readings".)
    write_queue_.Run("rules", [this, ctx, rq,
                               done = std::move(done)](KeyedQueue::Release release) mutable {
      LoadRules(ctx, [this, ctx, rq, done = std::move(done),
                      release = std::move(release)](absl::StatusOr<RuleList> rules) mutable {
        auto finish = [&](absl::StatusOr<pb::PutRuleResponse> result) {
          std::move(release)();
          std::move(done)(std::move(result));
        };
        if (!rules.ok()) return finish(rules.status());
        bool exists = false;
        for (const pb::Rule& r : *rules) exists = exists || r.rule_id() == rq.rule_id();
        if (!exists && rules->size() >= en::kMaxRules) return finish(LimitExceeded(en::kMaxRules));
        pb::Rule rule;
        rule.set_rule_id(rq.rule_id());
        *rule.mutable_regions() = rq.regions();  // stored in given order (EN1)
        *rule.mutable_weather() = rq.weather();
        *rule.mutable_time_of_day() = rq.time_of_day();
        rule.set_message_key(rq.message_key());
        rule.set_weight(rq.weight());
        deps_.store->Put(en::RuleKey(rq.rule_id()), en::EncodeRule(rule), {},
                         [this, ctx, id = rq.rule_id(), done = std::move(done),
                          release = std::move(release)](absl::StatusOr<uint64_t> written) mutable {
                           std::move(release)();
                           if (!written.ok()) return std::move(done)(written.status());
                           PublishRulesChanged(ctx, id, "put", *written);  // EN4: every success
                           pb::PutRuleResponse out;
                           out.set_rule_id(id);
                           std::move(done)(std::move(out));
                         });
      });
    });
  }

  // ---- delete_rule: fields -> service/admin -> delete; absent -> deleted=false (EN4) ----
  void DeleteRule(const CallContext& ctx, const pb::DeleteRuleRequest& rq,
                  Done<pb::DeleteRuleResponse> done) {
    absl::Status s = en::CheckRuleId(rq.rule_id());
    if (s.ok()) s = ctx.AuthorizeWrite();
    if (!s.ok()) return std::move(done)(s);
    write_queue_.Run("rules", [this, ctx, id = rq.rule_id(),
                               done = std::move(done)](KeyedQueue::Release release) mutable {
      deps_.store->Get(
          en::RuleKey(id), ctx.now_ms(),
          [this, ctx, id, done = std::move(done),
           release = std::move(release)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
            if (!got.ok() || !got->has_value()) {
              std::move(release)();
              if (!got.ok()) return std::move(done)(got.status());
              pb::DeleteRuleResponse out;
              out.set_deleted(false);  // EN4: no error, no event
              return std::move(done)(std::move(out));
            }
            const uint64_t revision = (*got)->revision;
            deps_.store->Delete(en::RuleKey(id), 0,
                                [this, ctx, id, revision, done = std::move(done),
                                 release = std::move(release)](absl::Status deleted) mutable {
                                  std::move(release)();
                                  if (!deleted.ok()) return std::move(done)(deleted);
                                  PublishRulesChanged(ctx, id, "delete", revision);
                                  pb::DeleteRuleResponse out;
                                  out.set_deleted(true);
                                  std::move(done)(std::move(out));
                                });
          });
    });
  }

  // ---- list_rules: a read (EN10), by rule_id ----
  void ListRules(const CallContext& ctx, const pb::ListRulesRequest& rq,
                 Done<pb::ListRulesResponse> done) {
    if (absl::Status s = en::CheckListRules(rq); !s.ok()) return std::move(done)(s);
    const int32_t page_size = *ResolvePageSize(rq.page_size());
    const std::optional<std::string> after = *DecodeStringPageToken(rq.page_token());
    LoadRules(
        ctx, [page_size, after, done = std::move(done)](absl::StatusOr<RuleList> rules) mutable {
          if (!rules.ok()) return std::move(done)(rules.status());
          std::function<bool(const pb::Rule&)> after_token;
          if (after.has_value())
            after_token = [&](const pb::Rule& r) { return r.rule_id() > *after; };
          Page<pb::Rule> page =
              Paginate<pb::Rule>(std::move(*rules), page_size, after_token,
                                 [](const pb::Rule& r) { return EncodePageToken(r.rule_id()); });
          pb::ListRulesResponse out;
          for (pb::Rule& r : page.items) *out.add_rules() = std::move(r);
          out.set_next_page_token(page.next_page_token);
          std::move(done)(std::move(out));
        });
  }

  // ---- describe: fields -> (read) -> weather (override or weather-manager, rule 2) -> rules ->
  // picks (rule 3) -> translate line by line (rule 4, EN7) ----
  void Describe(const CallContext& ctx, pb::DescribeRequest rq, Done<pb::DescribeResponse> done) {
    if (absl::Status s = en::CheckDescribe(rq); !s.ok()) return std::move(done)(s);
    auto op =
        std::make_shared<DescribeOp>(DescribeOp{ctx, std::move(rq), std::move(done), {}, {}, 0});
    op->response.set_region_id(op->rq.region_id());
    op->response.set_tick(op->rq.tick());
    if (!op->rq.weather_override().empty()) {
      // N26/EN6: no weather-manager call; the region need not exist, no tick/anchor check.
      return WithWeather(op, op->rq.weather_override());
    }
    weather::GetWeatherRequest call;
    call.set_region_id(op->rq.region_id());
    call.set_tick(op->rq.tick());
    CallDependency<weather::GetWeatherResponse>(
        *deps_.dependencies, ctx, "weather-manager", "get_weather", call,
        [this, op](absl::StatusOr<weather::GetWeatherResponse> got) mutable {
          if (!got.ok()) return std::move(op->done)(got.status());  // EN6: pass through
          WithWeather(op, got->state());
        });
  }

  void WithWeather(const std::shared_ptr<DescribeOp>& op, const std::string& state) {
    op->response.set_weather(state);
    LoadRules(op->ctx, [this, op](absl::StatusOr<RuleList> rules) mutable {
      if (!rules.ok()) return std::move(op->done)(rules.status());
      std::vector<pb::Rule> eligible = en::EligibleRules(
          *rules, op->rq.region_id(), op->response.weather(), op->rq.time_of_day());
      op->picks = en::PickRules(std::move(eligible), op->rq.region_id(), op->rq.tick(),
                                en::ResolvedMaxLines(op->rq.max_lines()));
      TranslateNext(op);
    });
  }

  void TranslateNext(const std::shared_ptr<DescribeOp>& op) {
    if (op->next == op->picks.size()) return std::move(op->done)(std::move(op->response));
    const pb::Rule& rule = op->picks[op->next];
    lang::TranslateRequest call;
    call.set_key(rule.message_key());
    call.set_locale(en::ResolvedLocale(op->rq.locale()));
    for (const auto& [k, v] : en::TranslateArgs(op->rq, op->response.weather())) {
      (*call.mutable_args())[k] = v;
    }
    CallDependency<lang::TranslateResponse>(
        *deps_.dependencies, op->ctx, "language-system", "translate", call,
        [this, op](absl::StatusOr<lang::TranslateResponse> got) mutable {
          if (!got.ok()) return std::move(op->done)(got.status());  // EN7: abort, pass through
          const pb::Rule& rule = op->picks[op->next];
          pb::Line* line = op->response.add_lines();
          line->set_rule_id(rule.rule_id());
          line->set_message_key(rule.message_key());
          // Rule 4 / EN8: found=false yields the key as text and the resolved_locale as returned.
          line->set_text(got->found() ? got->text() : rule.message_key());
          line->set_locale(got->resolved_locale());
          ++op->next;
          TranslateNext(op);
        });
  }

  void LoadRules(const CallContext& ctx, Done<RuleList> done) {
    deps_.store->List(
        en::RulesPrefix(), ctx.now_ms(),
        [done = std::move(done)](absl::StatusOr<std::vector<StoreEntry>> entries) mutable {
          if (!entries.ok()) return std::move(done)(entries.status());
          RuleList rules;
          for (const StoreEntry& e : *entries) {
            absl::StatusOr<pb::Rule> rule = en::DecodeRule(e.value);
            if (!rule.ok()) return std::move(done)(rule.status());
            rules.push_back(std::move(*rule));
          }
          std::move(done)(std::move(rules));
        });
  }

  void PublishRulesChanged(const CallContext& ctx, const std::string& rule_id, std::string_view op,
                           uint64_t store_revision) {
    pb::RulesChangedEvent event;
    event.set_rule_id(rule_id);
    event.set_op(std::string(op));
    // The store revision names this occurrence (a re-put of the same rule is a new one).
    const std::string material =
        rule_id + ":" + std::string(op) + ":" + std::to_string(store_revision);
    absl::StatusOr<Event> built =
        MakeEvent(en::kServiceName, "rules_changed",
                  MakeEventId(en::kServiceName, "rules_changed", material), ctx.now_ms(), event);
    // After the commit; a publish error does not undo it (event_publisher.h).
    if (built.ok()) deps_.events->Publish(std::move(*built), nullptr);
  }

  ServiceDeps deps_;
  KeyedQueue write_queue_;
};

}  // namespace

std::unique_ptr<Service> MakeEnvironmentalNarrativeService(const ServiceDeps& deps) {
  return std::make_unique<EnvironmentalNarrativeService>(deps);
}

}  // namespace sidecar::services
