// The conformance runner: every tests/golden/<service>/*.json replayed against the native ports
// hosted by the real binary (config/examples/native-host.yaml, every port in one process), over the
// gateway's HTTP routes and over NATS (svc.<service>.v1.<action>, JSON payloads). Ports that call
// others (SERVICES.md §1) reach them over NATS here too, served by the same process; the
// dependency-chain test runs them in separate processes.

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/test_common/golden_replay.h"
#include "tests/test_common/nats_client.h"
#include "tests/test_common/nats_server.h"
#include "tests/test_common/net.h"
#include "tests/test_common/paths.h"
#include "tests/test_common/sidecar_process.h"
#include "tests/test_common/test_util.h"

namespace sidecar::test_common {
namespace {

class GoldenConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    nats_ = NatsServer::Start().value().release();
    SidecarOptions o;
    o.name = "native-host";
    o.config_yaml = ReadFile(SourceDir() + "/config/examples/native-host.yaml");
    o.env = {{"SERVICES", "all"}, {"NATS_URL", nats_->url()}, {"ADMIN", "127.0.0.1:0"},
             {"LISTEN", "127.0.0.1:0"}, {"FIXTURES", "true"}};
    host_ = SidecarProcess::Start(std::move(o)).value().release();
    gateway_ = LoopbackAddress(host_->HttpListenerPort("gateway", In(absl::Seconds(10))).value());
    client_ = NatsTestClient::Connect(nats_->url()).value().release();
  }
  static void TearDownTestSuite() {
    delete client_;
    delete host_;
    delete nats_;
  }

  void Replay(bool over_nats) {
    GoldenReplayer(client_, [](const std::string&) { return gateway_; }).Replay(GetParam(), over_nats);
  }

  static NatsServer* nats_;
  static SidecarProcess* host_;
  static std::string gateway_;
  static NatsTestClient* client_;
};

NatsServer* GoldenConformanceTest::nats_ = nullptr;
SidecarProcess* GoldenConformanceTest::host_ = nullptr;
std::string GoldenConformanceTest::gateway_;
NatsTestClient* GoldenConformanceTest::client_ = nullptr;

TEST_P(GoldenConformanceTest, OverTheGatewaysHttpRoutes) { Replay(/*over_nats=*/false); }
TEST_P(GoldenConformanceTest, OverNats) { Replay(/*over_nats=*/true); }

INSTANTIATE_TEST_SUITE_P(Golden, GoldenConformanceTest, ::testing::ValuesIn(GoldenFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return GoldenTestName(info.param);
                         });

}  // namespace
}  // namespace sidecar::test_common
