#pragma once
// Payload sizes of golden requests in both NATS encodings (issue 8, contender k): each step of each
// tests/golden/<service>/<file>.json with a 2xx answer is decoded from its legacy HTTP form
// (Transcoder::DecodeHttpRequest) and its expected body encoded as the action's response; the JSON
// sizes are the transcoder's own compact JSON (what a JSON caller sends and gets back), the
// protobuf sizes the binary messages.

#include <string>
#include <vector>

namespace sidecar::bench {

// Prints one row per step and a total (or one JSON object per line, the total last). Exit code.
int RunPayloadSizes(const std::vector<std::string>& golden_files, bool json);

}  // namespace sidecar::bench
