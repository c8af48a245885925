#pragma once
// Actions the issues add beyond SERVICES.md's tables. spec_tables.h stays a pure transcription of
// the spec; a test that compares the protos with the spec takes both lists.

#include "tests/services/proto/spec_tables.h"

namespace sidecar::services::spec {

inline constexpr SpecAction kExtensionActions[] = {
    // Issue 14: complete's answer streamed one word per piece (rpc ... returns (stream ...)).
    {"ai-integration", "complete_stream", "POST", "/api/ai-integration/complete/stream"},
};

}  // namespace sidecar::services::spec
