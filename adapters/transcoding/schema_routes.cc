// Routes from the (sidecar.api.v1.http) rules of the service protos.

#include "adapters/transcoding/schema_routes.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/proto/descriptors.h"
#include "sidecar/api/v1/http.pb.h"
#include "sidecar/http/path_template.h"

namespace sidecar::adapters::transcoding {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;

absl::Status RouteError(const MethodDescriptor& method, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("rpc ", method.full_name(), ": ", absl::string_view(what.data(), what.size())));
}

absl::StatusOr<config::ActionRouteConfig> RouteOf(const MethodDescriptor& method) {
  if (!method.options().HasExtension(sidecar::api::v1::http)) {
    return RouteError(method, "no (sidecar.api.v1.http) option");
  }
  const sidecar::api::v1::HttpRule& rule = method.options().GetExtension(sidecar::api::v1::http);
  config::ActionRouteConfig route;
  route.action = services::ActionName(method);
  bool body_method = true;
  switch (rule.pattern_case()) {
    case sidecar::api::v1::HttpRule::kGet:
      route.method = "GET";
      route.path_template = rule.get();
      body_method = false;
      break;
    case sidecar::api::v1::HttpRule::kDelete:
      route.method = "DELETE";
      route.path_template = rule.delete_();
      body_method = false;
      break;
    case sidecar::api::v1::HttpRule::kPut:
      route.method = "PUT";
      route.path_template = rule.put();
      break;
    case sidecar::api::v1::HttpRule::kPost:
      route.method = "POST";
      route.path_template = rule.post();
      break;
    case sidecar::api::v1::HttpRule::kPatch:
      route.method = "PATCH";
      route.path_template = rule.patch();
      break;
    default:
      return RouteError(method, "the http rule names no method");
  }
  // The route model knows one shape per method kind (ActionRoute::FieldsInQuery): the whole
  // request minus path fields in the body, or in the query. Other body rules cannot be honoured.
  if (body_method && rule.body() != "*") {
    return RouteError(method, absl::StrCat(route.method, " needs body: \"*\""));
  }
  if (!body_method && !rule.body().empty()) {
    return RouteError(method, absl::StrCat(route.method, " takes no body"));
  }
  absl::StatusOr<http::PathTemplate> tmpl = http::PathTemplate::Parse(route.path_template);
  if (!tmpl.ok()) return RouteError(method, std::string(tmpl.status().message()));
  for (const std::string& variable : tmpl->variables()) {
    const FieldDescriptor* field = method.input_type()->FindFieldByName(variable);
    if (field == nullptr || field->is_repeated() ||
        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return RouteError(
          method, absl::StrCat("path variable {", variable, "} is not a singular scalar field of ",
                               method.input_type()->full_name()));
    }
  }
  return route;
}

}  // namespace

absl::StatusOr<config::ServiceConfig> ServiceConfigFromSchema(
    const google::protobuf::ServiceDescriptor& service) {
  config::ServiceConfig cfg;
  cfg.name = services::SpecServiceName(service);
  if (cfg.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service ", service.full_name(), " has no (sidecar.api.v1.service_name)"));
  }
  for (int i = 0; i < service.method_count(); ++i) {
    absl::StatusOr<config::ActionRouteConfig> route = RouteOf(*service.method(i));
    if (!route.ok()) return route.status();
    cfg.actions.push_back(*std::move(route));
  }
  std::sort(cfg.actions.begin(), cfg.actions.end(),
            [](const auto& a, const auto& b) { return a.action < b.action; });
  return cfg;
}

absl::StatusOr<config::ServiceConfig> ServiceConfigFromSchema(std::string_view spec_service_name) {
  const google::protobuf::ServiceDescriptor* service =
      services::FindServiceDescriptor(spec_service_name);
  if (service == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no service proto for service \"",
                     absl::string_view(spec_service_name.data(), spec_service_name.size()), "\""));
  }
  return ServiceConfigFromSchema(*service);
}

absl::StatusOr<std::vector<config::ServiceConfig>> ServiceConfigsFromSchemas() {
  std::vector<config::ServiceConfig> out;
  for (const google::protobuf::ServiceDescriptor* service : services::ServiceDescriptors()) {
    absl::StatusOr<config::ServiceConfig> cfg = ServiceConfigFromSchema(*service);
    if (!cfg.ok()) return cfg.status();
    out.push_back(*std::move(cfg));
  }
  return out;
}

}  // namespace sidecar::adapters::transcoding
