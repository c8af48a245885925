// body-broker-integration (SERVICES.md §2.21): the six actions over the StateStore in §0.4 /
// BB3 / BB7 order, the world-state, payment and orchestration calls, events, `_fixture`. The pure
// rules live in body_broker_rules.{h,cc}.
#include "services/body_broker_integration/body_broker_service.h"

#include <memory>
#include <string>
#include <utility>

#include "orchestration/v1/orchestration.pb.h"
#include "payment/v1/payment.pb.h"
#include "services/body_broker_integration/body_broker_rules.h"
#include "services/common/async_util.h"
#include "services/common/dependency_client.h"
#include "services/common/errors.h"
#include "services/common/event_publisher.h"
#include "services/common/fixtures.h"
#include "services/common/pagination.h"
#include "world_state/v1/world_state.pb.h"

namespace sidecar::services {
namespace {

namespace bb = body_broker;
namespace pb = ::body_broker_integration::v1;
namespace orch = ::orchestration::v1;
namespace pay = ::payment::v1;
namespace world = ::world_state::v1;

// Bounded re-reads after a lost compare-and-set (another replica wrote the contract first).
constexpr int kMaxAttempts = 8;

struct Loaded {
  pb::Contract contract;
  uint64_t revision = 0;
};

// The Contract-shaped responses share field numbers with Contract.
template <typename To>
To ContractAs(const pb::Contract& contract) {
  To out;
  out.ParseFromString(contract.SerializeAsString());
  return out;
}

// Runs `done` after releasing a KeyedQueue slot.
template <typename R>
Done<R> Releasing(KeyedQueue::Release release, Done<R> done) {
  return [release = std::move(release), done = std::move(done)](absl::StatusOr<R> r) mutable {
    std::move(release)();
    std::move(done)(std::move(r));
  };
}

class BodyBrokerService final : public Service {
 public:
  explicit BodyBrokerService(const ServiceDeps& deps) : deps_(deps) {}

  std::string_view name() const override { return bb::kServiceName; }

  void Register(HandlerRegistry& r) override {
    r.Add<pb::PostContractRequest, pb::PostContractResponse>(
        "post_contract",
        [this](const CallContext& ctx, pb::PostContractRequest rq,
               Done<pb::PostContractResponse> done) { PostContract(ctx, rq, std::move(done)); });
    r.Add<pb::AcceptContractRequest, pb::AcceptContractResponse>(
        "accept_contract", [this](const CallContext& ctx, pb::AcceptContractRequest rq,
                                  Done<pb::AcceptContractResponse> done) {
          AcceptContract(ctx, rq, std::move(done));
        });
    r.Add<pb::SettleContractRequest, pb::SettleContractResponse>(
        "settle_contract", [this](const CallContext& ctx, pb::SettleContractRequest rq,
                                  Done<pb::SettleContractResponse> done) {
          SettleContract(ctx, std::move(rq), std::move(done));
        });
    r.AddSync<pb::AppraiseRequest, pb::AppraiseResponse>(
        "appraise",
        [](const CallContext&,
           const pb::AppraiseRequest& rq) -> absl::StatusOr<pb::AppraiseResponse> {
          if (absl::Status s = bb::CheckAppraise(rq); !s.ok()) return s;
          return bb::Appraise(rq);  // BB12: any principal, pure
        });
    r.Add<pb::GetContractRequest, pb::GetContractResponse>(
        "get_contract",
        [this](const CallContext& ctx, pb::GetContractRequest rq,
               Done<pb::GetContractResponse> done) { GetContract(ctx, rq, std::move(done)); });
    r.Add<pb::ListContractsRequest, pb::ListContractsResponse>(
        "list_contracts",
        [this](const CallContext& ctx, pb::ListContractsRequest rq,
               Done<pb::ListContractsResponse> done) { ListContracts(ctx, rq, std::move(done)); });
    RegisterFixtureAction(r, deps_.fixtures_enabled, *deps_.store, {std::string(bb::kStorePrefix)},
                          &bb::MapFixture);
  }

 private:
  // ---- post_contract (rule 1, BB1, BB2): fields -> service/admin -> create-only write ----
  void PostContract(const CallContext& ctx, const pb::PostContractRequest& rq,
                    Done<pb::PostContractResponse> done) {
    absl::Status s = bb::CheckPostContract(rq);
    if (s.ok()) s = ctx.AuthorizeWrite();
    if (!s.ok()) return std::move(done)(s);
    pb::Contract c;
    c.set_contract_id(rq.contract_id());
    c.set_patron_faction(rq.patron_faction());
    c.set_region_id(rq.region_id());
    c.set_grade(rq.grade());
    c.set_min_condition(rq.min_condition());
    c.set_reward_minor(rq.reward_minor());
    c.set_collateral_minor(rq.collateral_minor());
    c.set_min_tier(rq.min_tier());
    c.set_status("open");
    c.set_updated_at(ctx.now_ms());
    // Expected revision 0 = create: an existing id (even identical) loses -> ALREADY_EXISTS.
    deps_.store->CompareAndSet(
        bb::ContractKey(c.contract_id()), bb::EncodeContract(c), 0, ctx.now_ms(), {},
        [this, ctx, id = c.contract_id(),
         done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
          if (!w.ok()) {
            return std::move(done)(IsConflict(w.status())
                                       ? AlreadyExists("contract_id", "contract exists")
                                       : w.status());
          }
          pb::ContractPostedEvent event;
          event.set_contract_id(id);
          Publish(ctx, "contract_posted", id + ":posted", event);
          pb::PostContractResponse out;
          out.set_contract_id(id);
          out.set_status("open");
          std::move(done)(std::move(out));
        });
  }

  // ---- accept_contract (rule 3, BB3–BB5): fields -> player only -> NOT_FOUND -> not_open ->
  // get_standing -> tier_too_low -> 3-contract cap -> collateral transfer -> store ----
  void AcceptContract(const CallContext& ctx, const pb::AcceptContractRequest& rq,
                      Done<pb::AcceptContractResponse> done) {
    absl::Status s = bb::CheckContractId(rq.contract_id());
    if (s.ok() && !(ctx.principal().has_value() && ctx.principal()->is_player())) {
      s = PermissionDenied("only a player accepts a contract");
    }
    if (!s.ok()) return std::move(done)(s);
    const std::string broker = ctx.principal()->id;
    // One broker's accepts on this replica run one at a time, so the cap counts settled state.
    accept_queue_.Run(broker, [this, ctx, id = rq.contract_id(), broker,
                               done = std::move(done)](KeyedQueue::Release release) mutable {
      AcceptAttempt(ctx, id, broker, 1,
                    Releasing<pb::AcceptContractResponse>(std::move(release), std::move(done)));
    });
  }

  void AcceptAttempt(const CallContext& ctx, const std::string& id, const std::string& broker,
                     int attempt, Done<pb::AcceptContractResponse> done) {
    Load(ctx, id,
         [this, ctx, id, broker, attempt,
          done = std::move(done)](absl::StatusOr<Loaded> loaded) mutable {
           if (!loaded.ok()) return std::move(done)(loaded.status());
           if (absl::Status s = bb::CheckOpen(loaded->contract); !s.ok()) return std::move(done)(s);
           world::GetStandingRequest standing;
           standing.set_player_id(broker);
           standing.set_faction_id(loaded->contract.patron_faction());
           auto state = std::make_shared<Loaded>(std::move(*loaded));
           CallDependency<world::GetStandingResponse>(
               *deps_.dependencies, ctx, "world-state", "get_standing", standing,
               [this, ctx, id, broker, attempt, state,
                done = std::move(done)](absl::StatusOr<world::GetStandingResponse> got) mutable {
                 if (!got.ok()) return std::move(done)(got.status());  // BB4: pass through
                 // W18: a faction filter gives exactly one entry.
                 const std::string tier =
                     got->standings_size() > 0 ? got->standings(0).tier() : "neutral";
                 if (absl::Status s = bb::CheckTier(state->contract, tier); !s.ok()) {
                   return std::move(done)(s);
                 }
                 ListAll(ctx, [this, ctx, id, broker, attempt, state, done = std::move(done)](
                                  absl::StatusOr<std::vector<pb::Contract>> all) mutable {
                   if (!all.ok()) return std::move(done)(all.status());
                   int accepted = 0;
                   for (const pb::Contract& c : *all) {
                     accepted += c.status() == "accepted" && c.broker_id() == broker;
                   }
                   if (absl::Status s = bb::CheckBrokerCap(accepted); !s.ok())
                     return std::move(done)(s);
                   auto store_it = [this, ctx, id, broker, attempt, state,
                                    done = std::move(done)](absl::Status transferred) mutable {
                     if (!transferred.ok())
                       return std::move(done)(transferred);  // contract stays open
                     CommitAccept(ctx, id, broker, attempt, *state, std::move(done));
                   };
                   if (state->contract.collateral_minor() <= 0) return store_it(absl::OkStatus());
                   CallDependency<pay::TransferResponse>(
                       *deps_.dependencies, ctx, "payment", "transfer",
                       bb::CollateralTransfer(state->contract, broker),
                       [store_it =
                            std::move(store_it)](absl::StatusOr<pay::TransferResponse> t) mutable {
                         store_it(t.status());
                       });
                 });
               });
         });
  }

  void CommitAccept(const CallContext& ctx, const std::string& id, const std::string& broker,
                    int attempt, Loaded loaded, Done<pb::AcceptContractResponse> done) {
    pb::Contract c = std::move(loaded.contract);
    c.set_status("accepted");
    c.set_broker_id(broker);
    c.set_updated_at(ctx.now_ms());
    std::string value = bb::EncodeContract(c);
    deps_.store->CompareAndSet(
        bb::ContractKey(id), std::move(value), loaded.revision, ctx.now_ms(), {},
        [this, ctx, id, broker, attempt, c,
         done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
          if (!w.ok() && IsConflict(w.status()) && attempt < kMaxAttempts) {
            // Another writer changed the contract meanwhile: re-run the checks on what it wrote
            // (a replayed transfer is idempotent by its key).
            return AcceptAttempt(ctx, id, broker, attempt + 1, std::move(done));
          }
          if (!w.ok()) return std::move(done)(Retryable(w.status()));
          pb::ContractAcceptedEvent event;
          event.set_contract_id(id);
          event.set_broker_id(broker);
          Publish(ctx, "contract_accepted", id + ":accepted:" + std::to_string(*w), event);
          std::move(done)(ContractAs<pb::AcceptContractResponse>(c));
        });
  }

  // ---- settle_contract (rule 4–5, BB6–BB11): fields -> service/admin -> NOT_FOUND ->
  // not_accepted -> delivery_rejected -> attempt n stored -> start_saga -> outcome ----
  void SettleContract(const CallContext& ctx, pb::SettleContractRequest rq,
                      Done<pb::SettleContractResponse> done) {
    absl::Status s = bb::CheckSettleContract(rq);
    if (s.ok()) s = ctx.AuthorizeWrite();
    if (!s.ok()) return std::move(done)(s);
    auto request = std::make_shared<pb::SettleContractRequest>(std::move(rq));
    settle_queue_.Run(request->contract_id(), [this, ctx, request, done = std::move(done)](
                                                  KeyedQueue::Release release) mutable {
      SettleAttempt(ctx, request, 1,
                    Releasing<pb::SettleContractResponse>(std::move(release), std::move(done)));
    });
  }

  void SettleAttempt(const CallContext& ctx, std::shared_ptr<pb::SettleContractRequest> rq,
                     int attempt, Done<pb::SettleContractResponse> done) {
    Load(ctx, rq->contract_id(),
         [this, ctx, rq, attempt, done = std::move(done)](absl::StatusOr<Loaded> loaded) mutable {
           if (!loaded.ok()) return std::move(done)(loaded.status());
           if (absl::Status s = bb::CheckSettle(loaded->contract, *rq); !s.ok()) {
             return std::move(done)(s);  // delivery_rejected leaves the contract unchanged
           }
           // BB7/BB9: the attempt counter and saga id persist whatever the saga does.
           pb::Contract c = std::move(loaded->contract);
           const int32_t n = c.settle_attempts() + 1;
           c.set_settle_attempts(n);
           c.set_settle_saga_id(bb::SettleSagaId(c.contract_id(), n));
           c.set_updated_at(ctx.now_ms());
           std::string value = bb::EncodeContract(c);
           deps_.store->CompareAndSet(
               bb::ContractKey(c.contract_id()), std::move(value), loaded->revision, ctx.now_ms(),
               {},
               [this, ctx, rq, attempt, c,
                done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
                 if (!w.ok() && IsConflict(w.status()) && attempt < kMaxAttempts) {
                   return SettleAttempt(ctx, rq, attempt + 1, std::move(done));
                 }
                 if (!w.ok()) return std::move(done)(Retryable(w.status()));
                 RunSaga(ctx, rq, c, std::move(done));
               });
         });
  }

  void RunSaga(const CallContext& ctx, std::shared_ptr<pb::SettleContractRequest> rq,
               const pb::Contract& c, Done<pb::SettleContractResponse> done) {
    const int64_t payout = bb::Payout(c, *rq);
    orch::StartSagaRequest saga = bb::SettlementSaga(c, rq->outcome(), payout, c.settle_saga_id());
    CallDependency<orch::StartSagaResponse>(
        *deps_.dependencies, ctx, "orchestration", "start_saga", saga,
        [this, ctx, rq, c, payout,
         done = std::move(done)](absl::StatusOr<orch::StartSagaResponse> result) mutable {
          if (!result.ok()) return std::move(done)(result.status());  // BB9: pass through
          if (result->status() != "completed") {
            // BB10: the contract stays accepted; a retry is attempt n+1.
            return std::move(done)(Unavailable("settlement_" + result->status(),
                                               {{"saga_id", c.settle_saga_id()}},
                                               "settlement did not complete"));
          }
          FinishSettle(ctx, rq, c.contract_id(), payout, 1, std::move(done));
        });
  }

  // The completed saga's outcome on the contract (re-read: it was written before the call).
  void FinishSettle(const CallContext& ctx, std::shared_ptr<pb::SettleContractRequest> rq,
                    const std::string& id, int64_t payout, int attempt,
                    Done<pb::SettleContractResponse> done) {
    Load(ctx, id,
         [this, ctx, rq, id, payout, attempt,
          done = std::move(done)](absl::StatusOr<Loaded> loaded) mutable {
           if (!loaded.ok()) return std::move(done)(loaded.status());
           pb::Contract c = std::move(loaded->contract);
           c.set_status(rq->outcome());
           c.set_updated_at(ctx.now_ms());
           std::string value = bb::EncodeContract(c);
           deps_.store->CompareAndSet(
               bb::ContractKey(id), std::move(value), loaded->revision, ctx.now_ms(), {},
               [this, ctx, rq, id, payout, attempt, c,
                done = std::move(done)](absl::StatusOr<uint64_t> w) mutable {
                 if (!w.ok() && IsConflict(w.status()) && attempt < kMaxAttempts) {
                   return FinishSettle(ctx, rq, id, payout, attempt + 1, std::move(done));
                 }
                 if (!w.ok()) return std::move(done)(Retryable(w.status()));
                 pb::ContractSettledEvent event;  // BB11: only on a completed saga
                 event.set_contract_id(id);
                 event.set_outcome(rq->outcome());
                 event.set_payout_minor(payout);
                 Publish(ctx, "contract_settled", c.settle_saga_id(), event);
                 pb::SettleContractResponse out;
                 *out.mutable_contract() = c;
                 out.set_payout_minor(payout);
                 out.set_saga_id(c.settle_saga_id());
                 std::move(done)(std::move(out));
               });
         });
  }

  // ---- get_contract / list_contracts (BB13: any-principal reads) ----
  void GetContract(const CallContext& ctx, const pb::GetContractRequest& rq,
                   Done<pb::GetContractResponse> done) {
    if (absl::Status s = bb::CheckContractId(rq.contract_id()); !s.ok()) return std::move(done)(s);
    Load(ctx, rq.contract_id(), [done = std::move(done)](absl::StatusOr<Loaded> loaded) mutable {
      if (!loaded.ok()) return std::move(done)(loaded.status());
      std::move(done)(ContractAs<pb::GetContractResponse>(loaded->contract));
    });
  }

  void ListContracts(const CallContext& ctx, const pb::ListContractsRequest& rq,
                     Done<pb::ListContractsResponse> done) {
    if (absl::Status s = bb::CheckListContracts(rq); !s.ok()) return std::move(done)(s);
    const int32_t page_size = *ResolvePageSize(rq.page_size());
    const std::optional<std::string> after = *DecodeStringPageToken(rq.page_token());
    const std::string status = rq.status().empty() ? "open" : rq.status();  // rule 6
    ListAll(ctx, [page_size, after, status, region = rq.region_id(),
                  done = std::move(done)](absl::StatusOr<std::vector<pb::Contract>> all) mutable {
      if (!all.ok()) return std::move(done)(all.status());
      std::vector<pb::Contract> matching;
      for (pb::Contract& c : *all) {
        if (c.status() == status && (region.empty() || c.region_id() == region)) {
          matching.push_back(std::move(c));
        }
      }
      std::function<bool(const pb::Contract&)> after_token;
      if (after.has_value()) {
        after_token = [&](const pb::Contract& c) { return c.contract_id() > *after; };
      }
      Page<pb::Contract> page = Paginate<pb::Contract>(
          std::move(matching), page_size, after_token,
          [](const pb::Contract& c) { return EncodePageToken(c.contract_id()); });
      pb::ListContractsResponse out;
      for (pb::Contract& c : page.items) *out.add_contracts() = std::move(c);
      out.set_next_page_token(page.next_page_token);
      std::move(done)(std::move(out));
    });
  }

  // ---- shared steps ----

  // The contract and its revision; absent -> NOT_FOUND contract_id.
  void Load(const CallContext& ctx, const std::string& id, Done<Loaded> done) {
    deps_.store->Get(
        bb::ContractKey(id), ctx.now_ms(),
        [done = std::move(done)](absl::StatusOr<std::optional<StoreEntry>> got) mutable {
          if (!got.ok()) return std::move(done)(got.status());
          if (!got->has_value()) {
            return std::move(done)(NotFound("contract_id", "unknown contract"));
          }
          absl::StatusOr<pb::Contract> c = bb::DecodeContract((*got)->value);
          if (!c.ok()) return std::move(done)(c.status());
          std::move(done)(Loaded{std::move(*c), (*got)->revision});
        });
  }

  // Every contract, by contract_id (store List is in key order).
  void ListAll(const CallContext& ctx, Done<std::vector<pb::Contract>> done) {
    deps_.store->List(
        bb::ContractsPrefix(), ctx.now_ms(),
        [done = std::move(done)](absl::StatusOr<std::vector<StoreEntry>> entries) mutable {
          if (!entries.ok()) return std::move(done)(entries.status());
          std::vector<pb::Contract> out;
          for (const StoreEntry& e : *entries) {
            absl::StatusOr<pb::Contract> c = bb::DecodeContract(e.value);
            if (!c.ok()) return std::move(done)(c.status());
            out.push_back(std::move(*c));
          }
          std::move(done)(std::move(out));
        });
  }

  // A store conflict that outlasted the retries is UNAVAILABLE (retry later), not a bug.
  static absl::Status Retryable(const absl::Status& s) {
    return IsConflict(s) ? Unavailable("", {}, "too much contention, retry") : s;
  }

  void Publish(const CallContext& ctx, std::string_view event_name, const std::string& material,
               google::protobuf::Message& event) {
    absl::StatusOr<Event> built =
        MakeEvent(bb::kServiceName, event_name, MakeEventId(bb::kServiceName, event_name, material),
                  ctx.now_ms(), event);
    // After the commit; a publish error does not undo it (event_publisher.h).
    if (built.ok()) deps_.events->Publish(std::move(*built), nullptr);
  }

  ServiceDeps deps_;
  KeyedQueue accept_queue_;  // by broker: the 3-contract cap
  KeyedQueue settle_queue_;  // by contract
};

}  // namespace

std::unique_ptr<Service> MakeBodyBrokerIntegrationService(const ServiceDeps& deps) {
  return std::make_unique<BodyBrokerService>(deps);
}

}  // namespace sidecar::services
