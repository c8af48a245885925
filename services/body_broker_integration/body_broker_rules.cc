#include "services/body_broker_integration/body_broker_rules.h"

#include <algorithm>
#include <set>
#include <utility>

#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "services/common/errors.h"
#include "services/common/jcs.h"
#include "services/common/json_fields.h"
#include "services/common/pagination.h"
#include "services/common/validation.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::services::body_broker {
namespace {

using Json = nlohmann::json;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr std::string_view kGrades[] = {"common", "fine", "pristine"};  // ordered
constexpr std::string_view kTiers[] = {"hostile", "unfriendly", "neutral", "friendly", "honored"};
constexpr std::string_view kMinTiers[] = {"neutral", "friendly", "honored"};
constexpr std::string_view kStatuses[] = {"open", "accepted", "fulfilled", "failed", "cancelled"};
constexpr std::string_view kOutcomes[] = {"fulfilled", "failed"};

template <size_t N>
std::vector<std::string_view> Values(const std::string_view (&values)[N]) {
  return std::vector<std::string_view>(std::begin(values), std::end(values));
}

const Pattern& FactionPattern() {  // world-state faction_id (§2.14 r1)
  static const Pattern* p = new Pattern("[a-z][a-z0-9_]{0,31}");
  return *p;
}
const Pattern& PlayerIdPattern() {
  static const Pattern* p = new Pattern("pl_[0-9a-f]{16}");
  return *p;
}

StringSpec RegionIdSpec(bool required) {
  return {.required = required, .min_len = 1, .max_len = 48, .char_class = "a-z0-9-"};
}

// A grade's rank; "" (nothing delivered) ranks below common (BB6).
int GradeRank(std::string_view grade) {
  for (size_t i = 0; i < std::size(kGrades); ++i) {
    if (kGrades[i] == grade) return static_cast<int>(i);
  }
  return -1;
}

Value Number(int64_t v) {
  Value out;
  out.set_number_value(static_cast<double>(v));
  return out;
}
Value String(std::string_view s) {
  Value out;
  out.set_string_value(std::string(s));
  return out;
}

void AddStep(::orchestration::v1::StartSagaRequest& saga, std::string_view kind, Struct params) {
  auto* step = saga.add_steps();
  step->set_kind(std::string(kind));
  *step->mutable_params() = std::move(params);
}

Struct Transfer(std::string_view from, std::string_view to, int64_t amount,
                std::string_view contract_id) {
  Struct p;
  auto& f = *p.mutable_fields();
  f["from_account"] = String(from);
  f["to_account"] = String(to);
  f["currency"] = String(kCurrency);
  f["amount_minor"] = Number(amount);
  f["memo"] = String("contract:" + std::string(contract_id));  // BB8
  return p;
}

}  // namespace

std::string ContractKey(std::string_view contract_id) {
  return ContractsPrefix() + std::string(contract_id);
}

std::string EncodeContract(const pb::Contract& contract) { return contract.SerializeAsString(); }

absl::StatusOr<pb::Contract> DecodeContract(std::string_view bytes) {
  pb::Contract c;
  if (!c.ParseFromString(std::string(bytes))) return Internal("stored contract does not parse");
  return c;
}

absl::Status CheckContractId(std::string_view contract_id) {
  return CheckString("contract_id", contract_id,
                     {.required = true, .min_len = 1, .max_len = 48, .char_class = "a-z0-9-"});
}

absl::Status CheckPostContract(const pb::PostContractRequest& rq) {
  RETURN_IF_ERROR(CheckContractId(rq.contract_id()));
  RETURN_IF_ERROR(
      CheckString("patron_faction", rq.patron_faction(),
                  {.required = true, .min_len = 1, .max_len = 32, .pattern = &FactionPattern()}));
  RETURN_IF_ERROR(CheckString("region_id", rq.region_id(), RegionIdSpec(true)));
  RETURN_IF_ERROR(CheckString("grade", rq.grade(), {.required = true, .allowed = Values(kGrades)}));
  RETURN_IF_ERROR(CheckInt("min_condition", rq.min_condition(), 0, 100));
  RETURN_IF_ERROR(CheckInt("reward_minor", rq.reward_minor(), 1, kMaxReward));
  // BB1: collateral 0–reward, the relation reported on the later field.
  RETURN_IF_ERROR(CheckInt("collateral_minor", rq.collateral_minor(), 0, rq.reward_minor()));
  return CheckString("min_tier", rq.min_tier(), {.required = true, .allowed = Values(kMinTiers)});
}

absl::Status CheckSettleContract(const pb::SettleContractRequest& rq) {
  RETURN_IF_ERROR(CheckContractId(rq.contract_id()));
  RETURN_IF_ERROR(
      CheckString("outcome", rq.outcome(), {.required = true, .allowed = Values(kOutcomes)}));
  RETURN_IF_ERROR(
      CheckString("delivered_grade", rq.delivered_grade(), {.allowed = Values(kGrades)}));
  return CheckInt("condition", rq.condition(), 0, 100);
}

absl::Status CheckAppraise(const pb::AppraiseRequest& rq) {
  RETURN_IF_ERROR(CheckString("grade", rq.grade(), {.required = true, .allowed = Values(kGrades)}));
  RETURN_IF_ERROR(CheckInt("condition", rq.condition(), 0, 100));
  return CheckString("tier", rq.tier(), {.required = true, .allowed = Values(kTiers)});
}

absl::Status CheckListContracts(const pb::ListContractsRequest& rq) {
  RETURN_IF_ERROR(CheckString("status", rq.status(), {.allowed = Values(kStatuses)}));
  RETURN_IF_ERROR(CheckString("region_id", rq.region_id(), RegionIdSpec(false)));
  RETURN_IF_ERROR(ResolvePageSize(rq.page_size()).status());
  return DecodeStringPageToken(rq.page_token()).status();
}

pb::AppraiseResponse Appraise(const pb::AppraiseRequest& rq) {
  const int64_t base = rq.grade() == "pristine" ? 15000 : rq.grade() == "fine" ? 6000 : 2000;
  const int64_t value = base * (50 + rq.condition()) / 150;  // non-negative: ÷ is floor
  const int32_t bonus = rq.tier() == "honored" ? 1000 : rq.tier() == "friendly" ? 500 : 0;
  pb::AppraiseResponse out;
  out.set_currency(std::string(kCurrency));
  out.set_base_minor(base);
  out.set_value_minor(value * (10000 + bonus) / 10000);
  out.set_tier_bonus_bp(bonus);
  return out;
}

int TierRank(std::string_view tier) {
  for (size_t i = 0; i < std::size(kTiers); ++i) {
    if (kTiers[i] == tier) return static_cast<int>(i);
  }
  return -1;
}

absl::Status CheckOpen(const pb::Contract& contract) {
  if (contract.status() != "open") return FailedPrecondition("not_open", {}, "contract not open");
  return absl::OkStatus();
}

absl::Status CheckTier(const pb::Contract& contract, std::string_view current_tier) {
  if (TierRank(current_tier) < TierRank(contract.min_tier())) {
    return FailedPrecondition(
        "tier_too_low",
        {{"required_tier", contract.min_tier()}, {"current_tier", std::string(current_tier)}},
        "standing too low");
  }
  return absl::OkStatus();
}

absl::Status CheckBrokerCap(int accepted_by_broker) {
  if (accepted_by_broker >= kMaxAcceptedPerBroker) return LimitExceeded(kMaxAcceptedPerBroker);
  return absl::OkStatus();
}

::payment::v1::TransferRequest CollateralTransfer(const pb::Contract& contract,
                                                  std::string_view broker_id) {
  ::payment::v1::TransferRequest t;
  t.set_from_account(std::string(broker_id));
  t.set_to_account("escrow:" + contract.contract_id());
  t.set_currency(std::string(kCurrency));
  t.set_amount_minor(contract.collateral_minor());
  t.set_memo("contract:" + contract.contract_id());
  t.set_idempotency_key("bbi:" + contract.contract_id() + ":collateral");
  return t;
}

absl::Status CheckSettle(const pb::Contract& contract, const pb::SettleContractRequest& rq) {
  if (contract.status() != "accepted") {
    return FailedPrecondition("not_accepted", {}, "contract not accepted");
  }
  if (rq.outcome() == "fulfilled" &&
      (GradeRank(rq.delivered_grade()) < GradeRank(contract.grade()) ||
       rq.condition() < contract.min_condition())) {
    return FailedPrecondition("delivery_rejected", {}, "delivery rejected");
  }
  return absl::OkStatus();
}

int64_t Payout(const pb::Contract& contract, const pb::SettleContractRequest& rq) {
  if (rq.outcome() != "fulfilled") return 0;  // BB11
  const int64_t factor =
      std::min<int64_t>(15000, 10000 + 50 * (int64_t{rq.condition()} - contract.min_condition()));
  return contract.reward_minor() * factor / 10000;  // both ≥ 0 here: ÷ is floor
}

std::string SettleSagaId(std::string_view contract_id, int32_t attempt) {
  return "bbi:" + std::string(contract_id) + ":settle:" + std::to_string(attempt);
}

::orchestration::v1::StartSagaRequest SettlementSaga(const pb::Contract& c,
                                                     std::string_view outcome, int64_t payout,
                                                     const std::string& saga_id) {
  ::orchestration::v1::StartSagaRequest saga;
  saga.set_saga_id(saga_id);
  const bool fulfilled = outcome == "fulfilled";
  const std::string escrow = "escrow:" + c.contract_id();
  if (c.collateral_minor() > 0) {
    AddStep(saga, "payment.transfer",
            Transfer(escrow, fulfilled ? c.broker_id() : "sys:sink", c.collateral_minor(),
                     c.contract_id()));
  }
  if (fulfilled) {
    Struct credit;
    auto& f = *credit.mutable_fields();
    f["account_id"] = String(c.broker_id());
    f["currency"] = String(kCurrency);
    f["amount_minor"] = Number(payout);
    f["reason"] = String("contract:" + c.contract_id());
    AddStep(saga, "payment.credit", std::move(credit));
  }
  Struct delta;
  Value change;
  auto& cf = *change.mutable_struct_value()->mutable_fields();
  cf["player_id"] = String(c.broker_id());
  cf["faction_id"] = String(c.patron_faction());
  cf["delta"] = Number(fulfilled ? kFulfilledStanding : kFailedStanding);
  *(*delta.mutable_fields())["standing_changes"].mutable_list_value()->add_values() =
      std::move(change);
  AddStep(saga, "world.apply_delta", std::move(delta));  // BB8: no region_changes
  return saga;
}

absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext&) {
  Json doc = StructToJson(document);
  std::vector<StoreEntry> entries;
  if (!doc.contains("contracts") || doc["contracts"].is_null()) return entries;
  const Json& contracts = doc["contracts"];
  if (!contracts.is_array()) return InvalidArgument("contracts", reason::kType);
  std::set<std::string> ids;
  for (size_t i = 0; i < contracts.size(); ++i) {
    const std::string path = IndexField("contracts", i);
    if (!contracts[i].is_object()) return InvalidArgument(path, reason::kType);
    Json c = contracts[i];
    ASSIGN_OR_RETURN(std::optional<int64_t> updated_at, TsAt(c, "updated_at", path));
    c.erase("updated_at");  // a ts in JSON, an int64 in the message
    ASSIGN_OR_RETURN(std::string text, Jcs(c));
    pb::Contract contract;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(text, &contract, options).ok()) {
      return InvalidArgument(path, reason::kType);
    }
    pb::PostContractRequest post;
    post.set_contract_id(contract.contract_id());
    post.set_patron_faction(contract.patron_faction());
    post.set_region_id(contract.region_id());
    post.set_grade(contract.grade());
    post.set_min_condition(contract.min_condition());
    post.set_reward_minor(contract.reward_minor());
    post.set_collateral_minor(contract.collateral_minor());
    post.set_min_tier(contract.min_tier());
    absl::Status s = CheckPostContract(post);
    if (s.ok() && contract.status().empty()) contract.set_status("open");
    if (s.ok()) s = CheckString("status", contract.status(), {.allowed = Values(kStatuses)});
    if (s.ok()) s = CheckString("broker_id", contract.broker_id(), {.pattern = &PlayerIdPattern()});
    if (s.ok()) s = CheckInt("settle_attempts", contract.settle_attempts(), 0, INT32_MAX);
    if (!s.ok()) return InvalidArgument(path + "." + DetailsOf(s)["field"], DetailsOf(s)["reason"]);
    if (!ids.insert(contract.contract_id()).second) {
      return InvalidArgument(path + ".contract_id", reason::kMalformed);
    }
    contract.set_updated_at(updated_at.value_or(0));
    entries.push_back(
        StoreEntry{ContractKey(contract.contract_id()), EncodeContract(contract), 0, 0});
  }
  return entries;
}

}  // namespace sidecar::services::body_broker
