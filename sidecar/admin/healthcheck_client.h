#pragma once
// The body of `nats-sidecar healthcheck`, the ECS container healthCheck command. ECS kills a check
// that overruns and counts it as failed, so every path (closed port, a peer that accepts and never
// answers, a slow write) is bounded by one overall deadline: plain non-blocking POSIX sockets and
// poll(), no event loop, no threads, no DNS (the target is always the local admin port; see
// socket_address.h).

#include <chrono>
#include <ostream>
#include <string>

namespace sidecar::admin {

// The default bound; ECS's smallest healthCheck timeout is 2 s, so stay well under it.
inline constexpr std::chrono::milliseconds kDefaultHealthcheckDeadline{1500};

// GETs /health (or /ready when `ready`) on the admin address "host:port" within `deadline`.
// Returns 0 on HTTP 200 and 1 otherwise; writes one line describing the outcome to `out`.
int RunHealthcheck(const std::string& admin_address, bool ready, std::chrono::milliseconds deadline,
                   std::ostream& out);

}  // namespace sidecar::admin
