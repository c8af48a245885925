#include "tests/chaos/chaos_util.h"

#include <nats/nats.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/test_common/http_client.h"
#include "tests/test_common/test_util.h"

namespace sidecar::chaos {

const char kEchoClusterYaml[] = R"(  - name: echo
    circuit_breakers:
      open_interval_ms: 500
    nats:
      mode: passthrough
      subject: "svc.echo.v1.http"
      timeout_ms: 2000
)";

const char kEchoRouteYaml[] = R"(  - name: echo
    prefix: "/api/echo/"
    service: echo
    cluster: echo
)";

bool FullRun() {
  const char* v = std::getenv("SIDECAR_CHAOS_FULL");
  return v != nullptr && std::string(v) == "1";
}

int Scaled(int short_value, int full_value) { return FullRun() ? full_value : short_value; }

absl::StatusOr<std::unique_ptr<EchoResponder>> EchoResponder::Start(const std::string& url, const std::string& subject,
                                                                    const std::string& queue) {
  std::unique_ptr<EchoResponder> r(new EchoResponder());
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetURL(opts, url.c_str());
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, 50);
  natsOptions_SetRetryOnFailedConnect(opts, true, nullptr, nullptr);
  natsOptions_SetSendAsap(opts, true);
  natsStatus s = natsConnection_Connect(&r->conn_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return absl::UnavailableError(absl::StrCat("echo responder connect: ", natsStatus_GetText(s)));
  s = natsConnection_QueueSubscribe(&r->sub_, r->conn_, subject.c_str(), queue.c_str(), &EchoResponder::OnMsg,
                                    r.get());
  if (s == NATS_OK) natsSubscription_SetPendingLimits(r->sub_, -1, -1);
  if (s == NATS_OK) s = natsConnection_Flush(r->conn_);
  if (s != NATS_OK) return absl::UnavailableError(absl::StrCat("echo responder subscribe: ", natsStatus_GetText(s)));
  return r;
}

EchoResponder::~EchoResponder() {
  if (sub_ != nullptr) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
  if (conn_ != nullptr) {
    natsConnection_Close(conn_);
    natsConnection_Destroy(conn_);
  }
}

void EchoResponder::OnMsg(natsConnection* nc, natsSubscription*, natsMsg* msg, void* closure) noexcept {
  auto* self = static_cast<EchoResponder*>(closure);
  const char* reply = natsMsg_GetReply(msg);
  if (reply != nullptr) {
    natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    self->answered_.fetch_add(1);
  }
  natsMsg_Destroy(msg);
}

double MetricSum(const std::string& admin_address, const std::string& prefix) {
  auto r = test_common::HttpGet(admin_address, "/metrics", test_common::In(absl::Seconds(5)));
  if (!r.ok() || r->status != 200) return -1;
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(r->body, '\n')) {
    if (!absl::StartsWith(line, prefix)) continue;
    double v = 0;
    const size_t space = line.rfind(' ');
    if (space != absl::string_view::npos && absl::SimpleAtod(line.substr(space + 1), &v)) sum += v;
  }
  return sum;
}

std::string SanitizerLogFiles(pid_t pid) {
  std::set<std::string> prefixes;
  for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
    const char* value = std::getenv(var);
    if (value == nullptr) continue;
    // Options are separated by ':' (or whitespace); a log_path holds no ':' here.
    for (absl::string_view option : absl::StrSplit(value, absl::ByAnyChar(": \t"), absl::SkipEmpty())) {
      if (absl::ConsumePrefix(&option, "log_path=")) prefixes.emplace(option);
    }
  }
  std::string reports;
  for (const std::string& prefix : prefixes) {
    const std::string path = absl::StrCat(prefix, ".", pid);
    std::ifstream in(path);
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    absl::StrAppend(&reports, "=== ", path, "\n", text.str());
  }
  return reports;
}

int64_t RssKib(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, "VmRSS:")) continue;
    int64_t kib = -1;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits += c;
    }
    return absl::SimpleAtoi(digits, &kib) ? kib : -1;
  }
  return -1;
}

void Figure(const std::string& test, const std::string& name, const std::string& value) {
  std::cout << "chaos figure | " << test << " | " << name << " | " << value << std::endl;
}

}  // namespace sidecar::chaos
