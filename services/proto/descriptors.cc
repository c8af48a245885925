#include "services/proto/descriptors.h"

#include <cctype>
#include <cstdlib>

#include "services/proto/descriptors_internal.h"
#include "sidecar/api/v1/http.pb.h"

namespace sidecar::services {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;
using google::protobuf::ServiceDescriptor;

struct Registry {
  std::vector<std::string> files;
  std::vector<const ServiceDescriptor*> services;
};

const Registry& GetRegistry() {
  static const Registry* const registry = [] {
    auto* r = new Registry();
    const DescriptorPool* pool = DescriptorPool::generated_pool();
    for (size_t i = 0; i < internal::kProtoFileAnchorCount; ++i) {
      const internal::ProtoFileAnchor& entry = internal::kProtoFileAnchors[i];
      // A volatile read keeps the reference to the descriptor table, hence its object file.
      const void* volatile anchor = entry.anchor;
      (void)anchor;
      const FileDescriptor* file = pool->FindFileByName(entry.file);
      if (file == nullptr) {
        // The build is broken (a file missing from the link); nothing sensible can run.
        std::abort();
      }
      r->files.emplace_back(entry.file);
      for (int s = 0; s < file->service_count(); ++s) r->services.push_back(file->service(s));
    }
    return r;
  }();
  return *registry;
}

}  // namespace

const DescriptorPool& ServiceDescriptorPool() {
  GetRegistry();
  return *DescriptorPool::generated_pool();
}

const std::vector<std::string>& ServiceProtoFiles() { return GetRegistry().files; }

const std::vector<const ServiceDescriptor*>& ServiceDescriptors() { return GetRegistry().services; }

const ServiceDescriptor* FindServiceDescriptor(std::string_view service_name) {
  for (const ServiceDescriptor* service : GetRegistry().services) {
    if (service->options().GetExtension(sidecar::api::v1::service_name) == service_name) {
      return service;
    }
  }
  return nullptr;
}

std::string SpecServiceName(const ServiceDescriptor& service) {
  return service.options().GetExtension(sidecar::api::v1::service_name);
}

std::string ActionName(const google::protobuf::MethodDescriptor& method) {
  std::string out;
  for (char c : method.name()) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (!out.empty()) out.push_back('_');
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace sidecar::services
