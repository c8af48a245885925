#pragma once
// knowledge-base `_fixture`: {"documents": [Document...]} -> one store entry per document
// (README.md).

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "services/common/call_context.h"
#include "services/common/state_store.h"

namespace sidecar::services::knowledge_base {

absl::StatusOr<std::vector<StoreEntry>> MapKnowledgeBaseFixture(
    const google::protobuf::Struct& document, const CallContext& ctx);

}  // namespace sidecar::services::knowledge_base
