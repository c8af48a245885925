#pragma once
// The effective configuration: the YAML as loaded, plus what follows from it, so /config_dump shows
// exactly what runs:
//   - a native cluster's `services: all` becomes the list of ports this build can host;
//   - `serve: true` adds, per hosted service, a NATS listener (svc.<svc>.v1.>, queue
//     svc-<svc>-workers), a NATS route to the cluster, and a /api/<svc>/ route on HTTP listeners,
//     unless the YAML already has them;
//   - a service with a schema (services/proto) and no YAML action table gets its action routes from
//     the schema's HTTP rules; hosted services also get `_fixture: POST /api/<svc>/_fixture`.

#include "absl/status/status.h"
#include "sidecar/config/config.h"

namespace sidecar::server {

absl::Status ExpandConfig(config::Config& config);

}  // namespace sidecar::server
