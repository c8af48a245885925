#pragma once
// auth (SERVICES.md §2.1) as a native port: accounts, password login with opaque fixed-TTL session
// tokens, validation for the gateway, logout, password change and lockout.
//
// Registers register, login, validate, logout (public) and change_password (player-scoped), plus
// `_fixture` (document shape in README.md). Leaf service: no downstream calls.

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeAuthService(const ServiceDeps& deps);

}  // namespace sidecar::services
