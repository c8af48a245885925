#pragma once
// For a port test built twice (its CMakeLists.txt): on the in-memory store, and with
// PORT_TEST_ON_KV on JetStream KV (a fresh bucket per harness on a real nats-server -js; the
// binary links services_kv_harness). Suite names get an OnKv suffix there so the two binaries'
// ctest names stay distinct:
//
//   class SUITE(WorldStateTest) : public ::testing::Test { ... h_(..., TestStore()) ... };

#include "tests/services/common/port_harness.h"

#ifdef PORT_TEST_ON_KV
#include "tests/services/common/kv_store_maker.h"
#define SUITE(name) name##OnKv
#else
#define SUITE(name) name
#endif

namespace sidecar::services::testing {

// The store the harness runs the port on in this binary (empty: the in-memory store).
inline PortHarness::StoreMaker TestStore() {
#ifdef PORT_TEST_ON_KV
  return KvStoreMaker();
#else
  return {};
#endif
}

}  // namespace sidecar::services::testing
