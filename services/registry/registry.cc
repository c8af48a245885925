#include "services/registry/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sidecar::services {
namespace {

using Factory = ServicePtr (*)(const ServiceDeps&);

struct Port {
  const char* name;
  Factory make;
};

// Ports register here as they land (SERVICES.md §2 order).
const std::vector<Port>& Ports() {
  static const std::vector<Port> ports = {};
  return ports;
}

}  // namespace

std::vector<std::string> HostableServices() {
  std::vector<std::string> names;
  for (const Port& port : Ports()) names.emplace_back(port.name);
  return names;
}

absl::StatusOr<ServicePtr> MakeService(std::string_view name, const ServiceDeps& deps) {
  for (const Port& port : Ports()) {
    if (name == port.name) return port.make(deps);
  }
  return absl::NotFoundError(absl::StrCat("no native port for service '", std::string(name), "' (hostable: ",
                                          absl::StrJoin(HostableServices(), ", "), ")"));
}

}  // namespace sidecar::services
