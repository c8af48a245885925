#include "tests/services/common/kv_store_maker.h"

#include <memory>
#include <string>
#include <utility>

#include "services/common/jetstream_kv_state_store.h"
#include "tests/services/common/jetstream_test_env.h"

namespace sidecar::services::testing {
namespace {

// The store together with the connection it must not outlive.
class OwnedKvStore final : public StateStore {
 public:
  OwnedKvStore(NatsConnPtr conn, std::unique_ptr<JetStreamKvStateStore> store)
      : conn_(std::move(conn)), store_(std::move(store)) {}

  void Get(std::string key, int64_t now_ms, GetCallback done) override {
    store_->Get(std::move(key), now_ms, std::move(done));
  }
  void Put(std::string key, std::string value, WriteOptions options, WriteCallback done) override {
    store_->Put(std::move(key), std::move(value), options, std::move(done));
  }
  void CompareAndSet(std::string key, std::string value, uint64_t expected_revision, int64_t now_ms,
                     WriteOptions options, WriteCallback done) override {
    store_->CompareAndSet(std::move(key), std::move(value), expected_revision, now_ms, options,
                          std::move(done));
  }
  void Delete(std::string key, uint64_t expected_revision, DeleteCallback done) override {
    store_->Delete(std::move(key), expected_revision, std::move(done));
  }
  void List(std::string prefix, int64_t now_ms, ListCallback done) override {
    store_->List(std::move(prefix), now_ms, std::move(done));
  }

 private:
  NatsConnPtr conn_;  // declared first: destroyed after the store
  std::unique_ptr<JetStreamKvStateStore> store_;
};

}  // namespace

PortHarness::StoreMaker KvStoreMaker() {
  return [](event::Dispatcher& dispatcher) -> std::unique_ptr<StateStore> {
    NatsConnPtr conn = Connect();
    if (conn == nullptr) return nullptr;
    JetStreamKvStateStore::Options options;
    options.bucket = FreshBucket();
    options.file_storage = false;
    auto store = JetStreamKvStateStore::Create(conn.get(), dispatcher, options);
    if (!store.ok()) {
      ADD_FAILURE() << store.status();
      return nullptr;
    }
    return std::make_unique<OwnedKvStore>(std::move(conn), *std::move(store));
  };
}

}  // namespace sidecar::services::testing
