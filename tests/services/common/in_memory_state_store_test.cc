#include "services/common/in_memory_state_store.h"

#include "tests/services/common/state_store_conformance.h"

namespace sidecar::services::testing {
namespace {

struct InMemoryFactory {
  static std::unique_ptr<StateStore> Make(event::Dispatcher& d) {
    return std::make_unique<InMemoryStateStore>(d);
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(InMemory, StateStoreConformanceTest, InMemoryFactory);

}  // namespace
}  // namespace sidecar::services::testing
