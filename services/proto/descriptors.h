#pragma once
// The service protos at run time: the descriptor pool holding all 22 service files of SERVICES.md
// plus common.v1 and the sidecar.api.v1 annotations, lookup by spec service name, and the
// serialized FileDescriptorSet.
//
// Generated message classes are in the proto packages' namespaces (state_manager::v1::GetRequest,
// common::v1::Error) and their headers are included by proto path:
//   #include "state_manager/v1/state_manager.pb.h"
// From inside namespace sidecar, spell them with a leading "::" (::router::v1::...), since
// sidecar::router and friends would otherwise be found first.

#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace sidecar::services {

inline constexpr std::string_view kHttpProtoFile = "sidecar/api/v1/http.proto";
inline constexpr std::string_view kCommonProtoFile = "common/v1/common.proto";

// The generated pool (DescriptorPool::generated_pool()) after making sure every file of the
// service_protos library is linked in and built; the first call does that, later calls are cheap.
// Thread-safe.
const google::protobuf::DescriptorPool& ServiceDescriptorPool();

// The proto files of the library: the annotations, common.v1, then the 22 services in SERVICES.md
// §2 order ("auth/v1/auth.proto", ...).
const std::vector<std::string>& ServiceProtoFiles();

// The 22 service descriptors, in SERVICES.md §2 order.
const std::vector<const google::protobuf::ServiceDescriptor*>& ServiceDescriptors();

// The service whose option (sidecar.api.v1.service_name) is `service_name` ("state-manager"), or
// nullptr.
const google::protobuf::ServiceDescriptor* FindServiceDescriptor(std::string_view service_name);

// The spec name of a service: its (sidecar.api.v1.service_name) option ("" when absent).
std::string SpecServiceName(const google::protobuf::ServiceDescriptor& service);

// The spec action of an rpc: its name in snake_case (GetWallet -> "get_wallet"), as used in
// subjects svc.<service>.v1.<action>.
std::string ActionName(const google::protobuf::MethodDescriptor& method);

// The serialized google.protobuf.FileDescriptorSet of all the library's files and their imports
// (descriptor.proto, struct.proto), embedded at build time. The same bytes are written to
// <build>/services/proto/service_protos.desc.
std::string_view ServiceDescriptorSet();

}  // namespace sidecar::services
