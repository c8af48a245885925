#pragma once
// Shared pieces of the chaos tests (issue 12): the short/full switch, a raw nats.c echo responder
// standing behind the sidecar's nats cluster, Prometheus samples and RSS from /proc.
//
// Short by default (ctest label `chaos`, run by .ci/run); SIDECAR_CHAOS_FULL=1 runs the full
// counts (10 kills, 20 node restarts, 200k events, 30-minute soak).

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsSubscription natsSubscription;
typedef struct __natsMsg natsMsg;

namespace sidecar::chaos {

// True when SIDECAR_CHAOS_FULL=1.
bool FullRun();
// `short_value` normally, `full_value` under SIDECAR_CHAOS_FULL=1.
int Scaled(int short_value, int full_value);

// Answers every request on `subject` (queue `queue`) with the request's own payload, on nats.c's
// delivery thread (no sidecar code involved): the far end of "HTTP -> sidecar -> NATS -> service".
// Reconnects forever, so it comes back with the server after a kill.
class EchoResponder {
 public:
  static absl::StatusOr<std::unique_ptr<EchoResponder>> Start(const std::string& url, const std::string& subject,
                                                              const std::string& queue);
  ~EchoResponder();
  int64_t answered() const { return answered_.load(); }

 private:
  EchoResponder() = default;
  static void OnMsg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure) noexcept;
  natsConnection* conn_ = nullptr;
  natsSubscription* sub_ = nullptr;
  std::atomic<int64_t> answered_{0};
};

// The `echo` cluster (NATS passthrough to svc.echo.v1.http, where EchoResponder answers; its breaker
// re-probes after 500 ms so a test sees recovery, not the 60 s default) and its /api/echo/ route, as
// YAML list items (with their trailing newline) for a sidecar config's `clusters:` and `routes:`.
extern const char kEchoClusterYaml[];
extern const char kEchoRouteYaml[];

// The sum of every Prometheus sample on the sidecar's admin /metrics whose line starts with
// `prefix` (a whole series "name{labels}" or a family prefix 'name{cluster="x"'); 0 when none,
// -1 when the admin does not answer.
double MetricSum(const std::string& admin_address, const std::string& prefix);

// Resident set size of `pid` in KiB (VmRSS), -1 if unreadable.
int64_t RssKib(pid_t pid);

// Sanitizer reports that process `pid` wrote to files: when ASAN_OPTIONS, UBSAN_OPTIONS or
// LSAN_OPTIONS (as the test process sees them; children inherit them) name a log_path, the
// sanitizers write "<log_path>.<pid>" instead of stderr. Their contents, "" when there are none.
std::string SanitizerLogFiles(pid_t pid);

// Prints one "chaos figure" line to stdout, the format RESULTS.md quotes.
void Figure(const std::string& test, const std::string& name, const std::string& value);

}  // namespace sidecar::chaos
