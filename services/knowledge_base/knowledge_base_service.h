#pragma once
// knowledge-base (SERVICES.md §2.10) as a native port: the public factory. Registers
// put_document, get_document, delete_document, search, list_documents and `_fixture` (document
// shape: README.md).

#include <memory>

#include "services/common/service.h"
#include "services/common/service_deps.h"

namespace sidecar::services {

std::unique_ptr<Service> MakeKnowledgeBaseService(const ServiceDeps& deps);

}  // namespace sidecar::services
