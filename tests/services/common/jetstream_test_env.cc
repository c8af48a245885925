#include "tests/services/common/jetstream_test_env.h"

#include <memory>
#include <mutex>

namespace sidecar::services::testing {
namespace {

class JetStreamEnvironment : public ::testing::Environment {
 public:
  test_common::NatsServer& Get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (server_ == nullptr) {
      test_common::NatsServerOptions o;
      o.jetstream = true;
      auto s = test_common::NatsServer::Start(o);
      if (!s.ok()) {
        ADD_FAILURE() << s.status();
        std::abort();
      }
      server_ = std::move(*s);
    }
    return *server_;
  }
  void TearDown() override {
    std::lock_guard<std::mutex> lock(mu_);
    server_.reset();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<test_common::NatsServer> server_;
};

// GoogleTest owns registered environments and calls TearDown after the last test.
JetStreamEnvironment* const kEnvironment = static_cast<JetStreamEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new JetStreamEnvironment));

}  // namespace

test_common::NatsServer& Server() { return kEnvironment->Get(); }

}  // namespace sidecar::services::testing
