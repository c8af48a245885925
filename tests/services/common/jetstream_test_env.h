#pragma once
// One real nats-server with JetStream for the whole integration binary (starting it takes longer
// than most tests), and plain nats.c connections to it.

#include <nats/nats.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sidecar/common/c_handle.h"
#include "tests/test_common/nats_server.h"

namespace sidecar::services::testing {

using NatsConnPtr = CHandle<natsConnection, natsConnection_Destroy>;

// Started on first use; stopped (and its JetStream store removed) by a GoogleTest environment
// after the last test, so no server or store directory outlives the binary.
test_common::NatsServer& Server();

inline NatsConnPtr Connect() {
  natsConnection* raw = nullptr;
  natsStatus s = natsConnection_ConnectTo(&raw, Server().url().c_str());
  EXPECT_EQ(s, NATS_OK) << natsStatus_GetText(s);
  return NatsConnPtr(raw);
}

inline std::string FreshBucket() {
  static std::atomic<int> n{0};
  return absl::StrCat("conf-", ::getpid(), "-", n++);
}

}  // namespace sidecar::services::testing
