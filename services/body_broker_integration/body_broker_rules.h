#pragma once
// body-broker-integration (SERVICES.md §2.21, §4 N30, §6 BB1–BB13), the pure part: field checks,
// appraisal, tiers, the accept and settle decisions, payouts, the settlement saga's steps, the
// stored contract and the `_fixture` mapping. No store, no loop, no calls:
// body_broker_service.cc does those.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "body_broker_integration/v1/body_broker_integration.pb.h"
#include "google/protobuf/struct.pb.h"
#include "orchestration/v1/orchestration.pb.h"
#include "payment/v1/payment.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"

namespace sidecar::services::body_broker {

namespace pb = ::body_broker_integration::v1;

inline constexpr std::string_view kServiceName = "body-broker-integration";
inline constexpr std::string_view kStorePrefix = "body-broker-integration/";
inline constexpr std::string_view kCurrency = "GLD";  // all money is GLD
inline constexpr int64_t kMaxReward = 10'000'000;     // rule 1
inline constexpr int kMaxAcceptedPerBroker = 3;       // rule 3, BB3
inline constexpr int32_t kFulfilledStanding = 250;    // rule 5
inline constexpr int32_t kFailedStanding = -400;      // rule 5

std::string ContractKey(std::string_view contract_id);
inline std::string ContractsPrefix() { return std::string(kStorePrefix) + "contracts/"; }
std::string EncodeContract(const pb::Contract& contract);
absl::StatusOr<pb::Contract> DecodeContract(std::string_view bytes);

// ---- field checks, table order (§0.4) ----

absl::Status CheckContractId(std::string_view contract_id);
absl::Status CheckPostContract(const pb::PostContractRequest& rq);      // BB1
absl::Status CheckSettleContract(const pb::SettleContractRequest& rq);  // BB6
absl::Status CheckAppraise(const pb::AppraiseRequest& rq);              // BB12
absl::Status CheckListContracts(const pb::ListContractsRequest& rq);    // BB13

// ---- rules ----

// Rule 2 (pure).
pb::AppraiseResponse Appraise(const pb::AppraiseRequest& rq);

// hostile < unfriendly < neutral < friendly < honored; -1 for anything else.
int TierRank(std::string_view tier);
// Rule 3 / BB3 after the principal check: NOT_FOUND is the caller's; `not_open`.
absl::Status CheckOpen(const pb::Contract& contract);
// `tier_too_low` {required_tier, current_tier} when current < min_tier.
absl::Status CheckTier(const pb::Contract& contract, std::string_view current_tier);
// RESOURCE_EXHAUSTED limit_exceeded limit=3 when `accepted_by_broker` ≥ 3.
absl::Status CheckBrokerCap(int accepted_by_broker);
// The collateral transfer (BB4).
::payment::v1::TransferRequest CollateralTransfer(const pb::Contract& contract,
                                                  std::string_view broker_id);

// Rule 4 / BB6 / BB7: `not_accepted`, then (fulfilled) `delivery_rejected`.
absl::Status CheckSettle(const pb::Contract& contract, const pb::SettleContractRequest& rq);
// Rule 4 / BB11: fulfilled: reward·min(15000, 10000 + 50·(condition − min_condition))÷10000;
// failed: 0.
int64_t Payout(const pb::Contract& contract, const pb::SettleContractRequest& rq);
// Rule 5: "bbi:<contract_id>:settle:<n>".
std::string SettleSagaId(std::string_view contract_id, int32_t attempt);
// Rule 5 / BB8: the saga's steps for `outcome`.
::orchestration::v1::StartSagaRequest SettlementSaga(const pb::Contract& contract,
                                                     std::string_view outcome, int64_t payout,
                                                     const std::string& saga_id);

// ---- `_fixture` ({"contracts": [Contract...]}, README.md) ----

absl::StatusOr<std::vector<StoreEntry>> MapFixture(const google::protobuf::Struct& document,
                                                   const CallContext& ctx);

}  // namespace sidecar::services::body_broker
