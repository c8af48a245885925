#pragma once
// Where orchestration keeps its state in the shared StateStore (strong, write-ahead, rule 5):
//
//   orchestration/sagas/<saga_id>   one Saga as JSON, rewritten (compare-and-set on the revision
//   the
//                                   writer last wrote or read) before every dependency call
//
// saga_id ([A-Za-z0-9_.:-]) never contains '/'. The writer that owns a running saga holds the
// revision it wrote last; a write that loses the compare-and-set means another replica (the
// sweeper) took the saga over, and the loser stops.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"
#include "services/orchestration/orchestration_rules.h"

namespace sidecar::services::orchestration {

inline constexpr std::string_view kStorePrefix = "orchestration/";
inline constexpr std::string_view kSagaPrefix = "orchestration/sagas/";

std::string SagaKey(std::string_view saga_id);

std::string EncodeSaga(const Saga& saga);
absl::StatusOr<Saga> DecodeSaga(const std::string& value);

// The `_fixture` document (README.md) -> store entries.
absl::StatusOr<std::vector<StoreEntry>> MapOrchestrationFixture(const google::protobuf::Struct& doc,
                                                                const CallContext& ctx);

}  // namespace sidecar::services::orchestration
