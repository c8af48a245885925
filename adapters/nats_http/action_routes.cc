// Action routes: action + JSON object <-> "METHOD /path/{field}?query" + JSON body.

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "adapters/common/errors.h"
#include "adapters/nats_http/nats_http.h"
#include "nlohmann/json.hpp"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::nats_http {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kQueryMethods[] = {"GET", "HEAD", "DELETE"};
constexpr std::string_view kBodyMethods[] = {"POST", "PUT", "PATCH"};
// Largest integer a double (and a JSON number in §0.2) holds exactly.
constexpr double kMaxSafeInteger = 9007199254740991.0;

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsQueryMethod(std::string_view method) {
  return std::find(std::begin(kQueryMethods), std::end(kQueryMethods), method) !=
         std::end(kQueryMethods);
}

bool IsSupportedMethod(std::string_view method) {
  return IsQueryMethod(method) || std::find(std::begin(kBodyMethods), std::end(kBodyMethods),
                                            method) != std::end(kBodyMethods);
}

// `_fixture` and other framework actions start with one underscore (SERVICES.md actions never do).
bool IsValidActionName(std::string_view name) {
  if (!name.empty() && name[0] == '_') name.remove_prefix(1);
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Never throws: strings came out of the parser or through Utf8 (valid UTF-8 both).
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// RFC 3629 UTF-8, as nlohmann's parser accepts it: no overlong forms, no surrogates, nothing
// above U+10FFFF.
bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    unsigned char second_lo = 0x80, second_hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) second_lo = 0xA0;  // overlong
      if (c == 0xED) second_hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) second_lo = 0x90;  // overlong
      if (c == 0xF4) second_hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < second_lo || second > second_hi) return false;
    for (size_t k = 2; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

// Percent-decoded text as a JSON string can carry it: each invalid UTF-8 sequence becomes U+FFFD,
// exactly as nlohmann's dump replaces it (it does the replacing, on this rare path).
std::string Utf8(std::string text) {
  if (IsValidUtf8(text)) return text;
  return Json::parse(Dump(Json(std::move(text)))).get<std::string>();
}

// A JSON scalar as it travels in a path segment or a query value. nullopt for null, arrays,
// objects. Integral floats within ±2^53 print as integers so that `5.0` reaches an i32 field as "5"
// (§0.2 accepts both forms in JSON but only decimal digits in a query).
std::optional<std::string> ScalarText(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string: return v.get<std::string>();
    case Json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer: return std::to_string(v.get<int64_t>());
    case Json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (std::floor(d) == d && std::fabs(d) <= kMaxSafeInteger) {
        return std::to_string(static_cast<int64_t>(d));
      }
      return Dump(v);
    }
    default: return std::nullopt;
  }
}

bool IsFractional(const Json& v) {
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return !(std::floor(d) == d && std::fabs(d) <= kMaxSafeInteger);
}

// "" is {}; anything but a JSON object is the §0.4 envelope error field=body malformed.
absl::StatusOr<Json> ParseObject(std::string_view text, std::string_view what) {
  if (text.empty()) return Json::object();
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return InvalidArgument("body", "malformed", absl::StrCat(AbslView(what), " is not valid JSON"));
  }
  if (!j.is_object()) {
    return InvalidArgument("body", "malformed",
                           absl::StrCat(AbslView(what), " must be a JSON object"));
  }
  return j;
}

void AppendQuery(std::string& query, std::string_view key, std::string_view value) {
  query.push_back(query.empty() ? '?' : '&');
  query += http::PercentEncode(key);
  query.push_back('=');
  query += http::PercentEncode(value);
}

// "a=1&b=x&b=y" -> {a:[1], b:[x,y]}; empty values are absent (§0.2).
absl::StatusOr<std::map<std::string, std::vector<std::string>>> ParseQuery(std::string_view query) {
  std::map<std::string, std::vector<std::string>> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::optional<std::string> key =
        http::PercentDecode(pair.substr(0, eq), /*plus_as_space=*/true);
    if (!key) return InvalidArgument("query", "malformed", "malformed percent-escape in query key");
    std::optional<std::string> value =
        eq == std::string_view::npos
            ? std::string()
            : http::PercentDecode(pair.substr(eq + 1), /*plus_as_space=*/true);
    if (!value) {
      return InvalidArgument(*key, "malformed",
                             absl::StrCat("malformed percent-escape in query parameter ", *key));
    }
    if (key->empty() || value->empty()) continue;
    out[Utf8(*std::move(key))].push_back(Utf8(*std::move(value)));
  }
  return out;
}

}  // namespace

bool ActionRoute::FieldsInQuery() const { return IsQueryMethod(method); }

absl::StatusOr<ActionRouteTable> ActionRouteTable::Create(const config::ServiceConfig& service,
                                                          size_t index) {
  ActionRouteTable table;
  table.service_ = service.name;
  for (size_t j = 0; j < service.actions.size(); ++j) {
    const config::ActionRouteConfig& cfg = service.actions[j];
    if (cfg.action.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("services[", index, "].actions[", j, "]: action name is empty"));
    }
    std::string where = absl::StrCat("services[", index, "].actions.", cfg.action, ": ");
    if (!IsValidActionName(cfg.action)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "action name must match _?[a-z][a-z0-9_]*"));
    }
    if (table.Find(cfg.action) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, "duplicate action"));
    }
    if (!IsSupportedMethod(cfg.method)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "method \"", cfg.method, "\" is not one of GET, HEAD, POST, PUT, PATCH, DELETE"));
    }
    absl::StatusOr<http::PathTemplate> path = http::PathTemplate::Parse(cfg.path_template);
    if (!path.ok()) return absl::InvalidArgumentError(absl::StrCat(where, path.status().message()));
    for (const ActionRoute& other : table.routes_) {
      if (other.method == cfg.method && http::PathTemplate::SameShape(other.path, *path)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, cfg.method, " ", cfg.path_template, " is ambiguous with action ",
                         other.action, " (", other.method, " ", other.path.text(), ")"));
      }
    }
    table.routes_.push_back(ActionRoute{cfg.action, cfg.method, *std::move(path)});
  }
  std::sort(table.routes_.begin(), table.routes_.end(),
            [](const ActionRoute& a, const ActionRoute& b) { return a.action < b.action; });
  return table;
}

const ActionRoute* ActionRouteTable::Find(std::string_view action) const {
  for (const ActionRoute& route : routes_) {
    if (route.action == action) return &route;
  }
  return nullptr;
}

absl::StatusOr<HttpForm> EncodeAction(const ActionRoute& route, std::string_view payload) {
  ASSIGN_OR_RETURN(Json fields, ParseObject(payload, "request payload"));

  std::map<std::string, std::string> vars;
  for (const std::string& name : route.path.variables()) {
    auto it = fields.find(name);
    if (it == fields.end() || it->is_null() ||
        (it->is_string() && it->get_ref<const std::string&>().empty())) {
      return InvalidArgument(name, "required", absl::StrCat("path field ", name, " is required"));
    }
    std::optional<std::string> text = IsFractional(*it) ? std::nullopt : ScalarText(*it);
    if (!text) {
      return InvalidArgument(
          name, "type", absl::StrCat("path field ", name, " must be a string, integer or bool"));
    }
    vars.emplace(name, std::move(*text));
    fields.erase(it);
  }

  HttpForm form;
  form.method = route.method;
  ASSIGN_OR_RETURN(form.path, route.path.Expand(vars));

  if (!route.FieldsInQuery()) {
    form.content_type = "application/json";
    form.body = Dump(fields);
    return form;
  }
  std::string query;
  for (const auto& [name, value] : fields.items()) {  // std::map order: sorted by name
    if (value.is_null()) continue;
    if (value.is_object()) {
      return InvalidArgument(
          name, "type",
          absl::StrCat("field ", name, " is an object; ", route.method,
                       " sends fields in the query string, which has no objects"));
    }
    if (!value.is_array()) {
      AppendQuery(query, name, *ScalarText(value));
      continue;
    }
    for (size_t i = 0; i < value.size(); ++i) {
      std::optional<std::string> text = ScalarText(value[i]);
      if (!text) {
        std::string field = absl::StrCat(name, "[", i, "]");
        return InvalidArgument(
            field, "type", absl::StrCat("field ", field, " must be a scalar in a query string"));
      }
      AppendQuery(query, name, *text);
    }
  }
  form.path += query;
  return form;
}

absl::StatusOr<DecodedRequest> ActionRouteTable::Decode(std::string_view method,
                                                        std::string_view path_with_query,
                                                        std::string_view body) const {
  std::string_view path = path_with_query.substr(0, path_with_query.find('#'));
  std::string_view query;
  if (size_t q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }

  const ActionRoute* best = nullptr;
  std::map<std::string, std::string> params;
  bool other_method = false;
  // Parsed once for every route; nullopt (a malformed %-escape) matches no route.
  if (const std::optional<http::RequestPath> request_path = http::RequestPath::Parse(path)) {
    for (const ActionRoute& route : routes_) {
      std::optional<std::map<std::string, std::string>> vars = route.path.Match(*request_path);
      if (!vars) continue;
      if (route.method != method) {
        other_method = true;
        continue;
      }
      if (best == nullptr || http::PathTemplate::MoreSpecific(route.path, best->path)) {
        best = &route;
        params = std::move(*vars);
      }
    }
  }
  if (best == nullptr) {
    return ErrorStatus(
        absl::StatusCode::kNotFound,
        absl::StrCat("no action of service ", service_, " for ", AbslView(method), " ",
                     AbslView(path), other_method ? " (the path exists for another method)" : ""),
        {{"field", "path"}});
  }

  Json fields = Json::object();
  if (best->FieldsInQuery()) {
    ASSIGN_OR_RETURN(auto parsed, ParseQuery(query));
    for (auto& [key, values] : parsed) {
      fields[key] = values.size() == 1 ? Json(values[0]) : Json(values);
    }
  } else {
    ASSIGN_OR_RETURN(fields, ParseObject(body, "request body"));
  }
  // Path fields last, in template order, so that conflicts are reported in §0.4 envelope order.
  for (const std::string& name : best->path.variables()) {
    const std::string& value = params[name];
    auto it = fields.find(name);
    if (it != fields.end() && !it->is_null()) {
      std::optional<std::string> text = ScalarText(*it);
      if (!text || *text != value) {
        return InvalidArgument(name, "malformed",
                               absl::StrCat("field ", name, " differs from its value in the path"));
      }
      continue;  // equal: keep the sender's JSON type
    }
    fields[name] = Utf8(value);
  }

  DecodedRequest decoded;
  decoded.action = best->action;
  decoded.path_params = std::move(params);
  decoded.fields = std::move(fields);
  return decoded;
}

std::string DecodedRequest::Payload() const { return Dump(fields); }

}  // namespace sidecar::adapters::nats_http
