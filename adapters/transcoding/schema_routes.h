#pragma once
// Action routes from the service protos: each rpc's (sidecar.api.v1.http) rule becomes the same
// config::ServiceConfig the YAML `services:` section produces, so ActionRouteTable::Create works
// unchanged and a service with a schema needs no hand-written route table (issue 4). The YAML
// routes stay for services without a schema; where both exist, which one wins is the config
// loader's decision, not this file's.

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "sidecar/config/config.h"

namespace sidecar::adapters::transcoding {

// The routes of one service descriptor: name = its (sidecar.api.v1.service_name), one
// ActionRouteConfig per rpc {ActionName(rpc), method, path template}, sorted by action.
// INVALID_ARGUMENT naming the rpc when the schema cannot give a usable route: no service_name, an
// rpc without an http rule, `body` other than "*" for POST/PUT/PATCH or other than "" for
// GET/DELETE, a template that does not parse, or a template variable that is not a top-level
// singular scalar field of the request message.
absl::StatusOr<config::ServiceConfig> ServiceConfigFromSchema(
    const google::protobuf::ServiceDescriptor& service);

// The same by spec service name ("state-manager"), from services::ServiceDescriptorPool();
// NOT_FOUND when no service proto has that name.
absl::StatusOr<config::ServiceConfig> ServiceConfigFromSchema(std::string_view spec_service_name);

// All 22 services, in SERVICES.md §2 order.
absl::StatusOr<std::vector<config::ServiceConfig>> ServiceConfigsFromSchemas();

}  // namespace sidecar::adapters::transcoding
