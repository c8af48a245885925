#pragma once
// Replays tests/golden/<service>/*.json (tests/golden/README.md) against running sidecars: over a
// gateway's HTTP routes, or over NATS (svc.<service>.v1.<action>, JSON payloads, the action and
// payload derived from the schema's HTTP routes). Comparison per SERVICES.md §0.7: status, error
// code and details, and the body, with the volatile fields dropped. Used by the conformance runner
// (every port in one process) and the dependency-chain test (callers and their dependencies in
// separate processes).

#include <functional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/test_common/http_client.h"
#include "tests/test_common/nats_client.h"

namespace sidecar::test_common {

// Every tests/golden/**/*.json, sorted; only those of `services` when it is not empty.
std::vector<std::string> GoldenFiles(const std::vector<std::string>& services = {});
// A gtest parameter name for a golden file: "<service>_<stem>" with non-alphanumerics as '_'.
std::string GoldenTestName(const std::string& path);

// §0.7: event_id, error.message and auth tokens are volatile; ts fields are compared because every
// step pins X-Request-Time.
void DropVolatile(nlohmann::json& j);

struct GoldenObserved {
  int status = 0;
  nlohmann::json body;
};

class GoldenReplayer {
 public:
  // `gateway_for(service)`: host:port of an HTTP listener routing /api/<service>/ (for over_nats =
  // false). `nats` sends the NATS form.
  GoldenReplayer(NatsTestClient* nats, std::function<std::string(const std::string& service)> gateway_for)
      : nats_(nats), gateway_for_(std::move(gateway_for)) {}

  // Loads the file's dependency_fixtures (over NATS, whichever form is tested: the dependency is
  // another process's) and fixture, then runs and checks every step with gtest expectations.
  void Replay(const std::string& path, bool over_nats);

  GoldenObserved OverHttp(const std::string& service, const std::string& method, const std::string& path,
                          const HttpHeaders& headers, const std::string& body);
  GoldenObserved OverNats(const std::string& service, const std::string& method, const std::string& path,
                          const HttpHeaders& headers, const std::string& body);

 private:
  NatsTestClient* nats_;
  std::function<std::string(const std::string&)> gateway_for_;
};

}  // namespace sidecar::test_common
