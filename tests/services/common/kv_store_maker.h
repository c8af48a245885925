#pragma once
// Runs a port's tests on JetStream KV instead of the in-memory store: pass KvStoreMaker() to
// PortHarness / RunGolden. Each harness gets a fresh bucket (memory storage) on the binary's one
// nats-server -js (jetstream_test_env.h), on a connection of its own. Link services_kv_harness and
// label the test `integration`.

#include "tests/services/common/port_harness.h"

namespace sidecar::services::testing {

PortHarness::StoreMaker KvStoreMaker();

}  // namespace sidecar::services::testing
