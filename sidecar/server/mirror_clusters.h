#pragma once
// The shadow worker's own cluster instances (sidecar/shadow/mirror_worker.h), built from the
// config.

#include <memory>

#include "absl/status/statusor.h"
#include "sidecar/config/config.h"
#include "sidecar/shadow/mirror_worker.h"
#include "sidecar/stats/metrics.h"

namespace sidecar::server {

// Starts the shadow's thread with an instance of every legacy_http and nats cluster a mirror can go
// to: each route's shadow cluster, and for routes that sample noise, the route's own clusters too.
// nullptr when no route mirrors to such a cluster (native clusters hold the task's state and are
// never duplicated: mirrors to them stay on the request loop).
//
// The instances run no health checks and report their upstream metrics as cluster="<name>.shadow",
// so the request loop's instances alone own health, readiness and the primary's figures. A nats
// instance gets its own NATS connection, named "<nats.name>-shadow".
absl::StatusOr<std::unique_ptr<shadow::MirrorWorker>> StartMirrorWorker(
    const config::Config& config, stats::Metrics& metrics, shadow::BodyDecoder decoder);

}  // namespace sidecar::server
