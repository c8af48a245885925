#pragma once
// language-system (SERVICES.md §2.11): the native port's factory. Registers put_locale,
// put_messages, translate, get_catalog, plural_category and `_fixture` (see README.md for its
// document).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeLanguageSystemService(const ServiceDeps& deps);

}  // namespace sidecar::services
