// JSON <-> protobuf by reflection over nlohmann::json; the rules are in json_codec.h.

#include "adapters/transcoding/json_codec.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "adapters/common/errors.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "sidecar/api/v1/http.pb.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::adapters::transcoding {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

// §0.2: int64 values travel as JSON numbers, exact only within +-(2^53-1).
constexpr int64_t kMaxSafeInteger = 9007199254740991;
constexpr double kMaxSafeDouble = 9007199254740991.0;
// JSON nesting below a Struct/Value field. Each JSON level costs two protobuf levels
// (Value -> Struct -> Value), and protobuf refuses to parse messages nested deeper than 100, so
// deeper JSON would give bytes no receiver can read. 32 leaves room above the spec's own limits
// (state-manager documents: depth 16), so the service, not the transcoder, reports those.
constexpr int kMaxStructDepth = 32;
// Printing an unset record as its zero value recurses into the default instance; a recursive
// message type would never end, so stop (print {}) this deep.
constexpr int kMaxZeroDepth = 16;

constexpr int64_t kMillisPerDay = 86400000;

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Child(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : absl::StrCat(path, ".", AbslView(name));
}
std::string Element(const std::string& path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

absl::Status TypeError(const std::string& field, std::string_view expected) {
  return InvalidArgument(field, "type",
                         absl::StrCat("field ", field, " must be ", AbslView(expected)));
}

bool IsWellKnown(const Descriptor& d, std::string_view name) { return d.full_name() == name; }
bool IsStruct(const Descriptor& d) { return IsWellKnown(d, "google.protobuf.Struct"); }
bool IsValue(const Descriptor& d) { return IsWellKnown(d, "google.protobuf.Value"); }
bool IsListValue(const Descriptor& d) { return IsWellKnown(d, "google.protobuf.ListValue"); }

// A field whose JSON value may be null (a JSON null, not "absent"): Value, alone or in a map/list.
bool TakesJsonNull(const FieldDescriptor& f) {
  return f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && IsValue(*f.message_type());
}

// ---- Timestamps ----------------------------------------------------------------------------

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, any year).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += (m <= 2);
}

// RFC 3339 has four-digit years only.
const int64_t kMinTimestampMillis = DaysFromCivil(0, 1, 1) * kMillisPerDay;
const int64_t kMaxTimestampMillis = DaysFromCivil(10000, 1, 1) * kMillisPerDay - 1;

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// ---- JSON -> message ---------------------------------------------------------------------------

// An integer from JSON per §0.2, range-checked for the field's type.
absl::StatusOr<int64_t> ParseInteger(const Json& v, const FieldDescriptor& f,
                                     const std::string& path) {
  bool overflow = false;
  int64_t value = 0;
  switch (v.type()) {
    case Json::value_t::number_integer:
      value = v.get<int64_t>();
      break;
    case Json::value_t::number_unsigned: {
      const uint64_t u = v.get<uint64_t>();
      overflow = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      value = overflow ? 0 : static_cast<int64_t>(u);
      break;
    }
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      if (!std::isfinite(d) || std::floor(d) != d) return TypeError(path, "an integer");
      overflow = std::fabs(d) >= 9.2e18;
      value = overflow ? 0 : static_cast<int64_t>(d);
      break;
    }
    case Json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      const size_t start = !s.empty() && s[0] == '-' ? 1 : 0;
      if (s.size() == start ||
          !std::all_of(s.begin() + start, s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return TypeError(path, "an integer (a JSON number or a decimal string)");
      }
      // Only digits left, so a failure is an overflow.
      overflow = !absl::SimpleAtoi(s, &value);
      break;
    }
    default:
      return TypeError(path, "an integer");
  }
  int64_t min = -kMaxSafeInteger;
  int64_t max = kMaxSafeInteger;
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      min = std::numeric_limits<int32_t>::min();
      max = std::numeric_limits<int32_t>::max();
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      min = 0;
      max = std::numeric_limits<uint32_t>::max();
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      min = 0;
      break;
    default:
      break;
  }
  if (overflow || value < min || value > max) {
    return InvalidArgument(path, "out_of_range",
                           absl::StrCat("field ", path, " must be within ", min, "..", max));
  }
  return value;
}

absl::Status ParseMessage(const Json& v, Message& m, const std::string& path);

void ValueFromJson(const Json& v, google::protobuf::Value& out);

// Depth check for free-form JSON (Struct/Value content); see kMaxStructDepth.
bool WithinDepth(const Json& v, int depth) {
  if (depth > kMaxStructDepth) return false;
  if (v.is_object()) {
    for (const auto& [key, child] : v.items()) {
      if (!WithinDepth(child, depth + 1)) return false;
    }
  } else if (v.is_array()) {
    for (const Json& child : v) {
      if (!WithinDepth(child, depth + 1)) return false;
    }
  }
  return true;
}

void StructFromJson(const Json& v, google::protobuf::Struct& out) {
  auto& fields = *out.mutable_fields();
  for (const auto& [key, child] : v.items()) ValueFromJson(child, fields[key]);
}

void ValueFromJson(const Json& v, google::protobuf::Value& out) {
  switch (v.type()) {
    case Json::value_t::null:
      out.set_null_value(google::protobuf::NULL_VALUE);
      break;
    case Json::value_t::boolean:
      out.set_bool_value(v.get<bool>());
      break;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      out.set_number_value(v.get<double>());
      break;
    case Json::value_t::string:
      out.set_string_value(v.get<std::string>());
      break;
    case Json::value_t::array: {
      google::protobuf::ListValue* list = out.mutable_list_value();
      for (const Json& child : v) ValueFromJson(child, *list->add_values());
      break;
    }
    case Json::value_t::object:
      StructFromJson(v, *out.mutable_struct_value());
      break;
    default:  // binary, discarded: the parser never yields them
      out.set_null_value(google::protobuf::NULL_VALUE);
      break;
  }
}

// Fills `m` (a Struct, Value or ListValue) through its generated class; a dynamic message of the
// same type gets a copy through the wire form.
template <typename Wkt>
void AssignWellKnown(const Wkt& built, Message& m) {
  if (auto* typed = dynamic_cast<Wkt*>(&m)) {
    typed->MergeFrom(built);
  } else {
    m.MergeFromString(built.SerializeAsString());
  }
}

absl::Status ParseWellKnown(const Json& v, Message& m, const std::string& path, bool& handled) {
  const Descriptor& d = *m.GetDescriptor();
  handled = true;
  if (IsStruct(d) || IsValue(d) || IsListValue(d)) {
    if (!WithinDepth(v, 1)) {
      return InvalidArgument(
          path, "out_of_range",
          absl::StrCat("field ", path, " is nested deeper than ", kMaxStructDepth, " levels"));
    }
  }
  if (IsStruct(d)) {
    if (!v.is_object()) return TypeError(path, "a JSON object");
    google::protobuf::Struct built;
    StructFromJson(v, built);
    AssignWellKnown(built, m);
    return absl::OkStatus();
  }
  if (IsValue(d)) {
    google::protobuf::Value built;
    ValueFromJson(v, built);
    AssignWellKnown(built, m);
    return absl::OkStatus();
  }
  if (IsListValue(d)) {
    if (!v.is_array()) return TypeError(path, "a JSON array");
    google::protobuf::Value built;
    ValueFromJson(v, built);
    AssignWellKnown(built.list_value(), m);
    return absl::OkStatus();
  }
  handled = false;
  return absl::OkStatus();
}

// One value of field `f` (singular, a list element or a map value) into `m`: Set for singular
// fields, Add for repeated ones (map entries are messages whose value field is singular).
absl::Status SetValue(const Json& v, Message& m, const FieldDescriptor& f,
                      const std::string& path) {
  const Reflection& r = *m.GetReflection();
  const bool add = f.is_repeated();
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      int64_t value = 0;
      if (f.cpp_type() == FieldDescriptor::CPPTYPE_INT64 && IsTimestampField(f)) {
        if (!v.is_string()) return TypeError(path, "an RFC 3339 timestamp string");
        std::string reason;
        if (!ParseTimestampMillis(v.get_ref<const std::string&>(), value, reason)) {
          return InvalidArgument(
              path, reason,
              absl::StrCat("field ", path,
                           " must be an RFC 3339 UTC timestamp like 2025-11-20T12:00:00.000Z"));
        }
      } else {
        ASSIGN_OR_RETURN(value, ParseInteger(v, f, path));
      }
      switch (f.cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          add ? r.AddInt32(&m, &f, static_cast<int32_t>(value))
              : r.SetInt32(&m, &f, static_cast<int32_t>(value));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          add ? r.AddInt64(&m, &f, value) : r.SetInt64(&m, &f, value);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          add ? r.AddUInt32(&m, &f, static_cast<uint32_t>(value))
              : r.SetUInt32(&m, &f, static_cast<uint32_t>(value));
          break;
        default:
          add ? r.AddUInt64(&m, &f, static_cast<uint64_t>(value))
              : r.SetUInt64(&m, &f, static_cast<uint64_t>(value));
          break;
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      if (!v.is_number()) return TypeError(path, "a number");
      const double d = v.get<double>();
      if (f.cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
        add ? r.AddDouble(&m, &f, d) : r.SetDouble(&m, &f, d);
      } else {
        if (std::fabs(d) > std::numeric_limits<float>::max()) {
          return InvalidArgument(path, "out_of_range",
                                 absl::StrCat("field ", path, " is too large for a float"));
        }
        add ? r.AddFloat(&m, &f, static_cast<float>(d)) : r.SetFloat(&m, &f, static_cast<float>(d));
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      if (!v.is_boolean()) return TypeError(path, "true or false");
      add ? r.AddBool(&m, &f, v.get<bool>()) : r.SetBool(&m, &f, v.get<bool>());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_STRING: {
      if (!v.is_string()) return TypeError(path, "a string");
      std::string s = v.get<std::string>();
      if (f.type() == FieldDescriptor::TYPE_BYTES) {
        std::string decoded;
        if (!absl::Base64Unescape(s, &decoded) && !absl::WebSafeBase64Unescape(s, &decoded)) {
          return InvalidArgument(path, "malformed",
                                 absl::StrCat("field ", path, " must be base64"));
        }
        s = std::move(decoded);
      }
      add ? r.AddString(&m, &f, std::move(s)) : r.SetString(&m, &f, std::move(s));
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      // The spec's protos have no enums (closed sets are strings); names are accepted for
      // completeness.
      const google::protobuf::EnumValueDescriptor* value = nullptr;
      if (v.is_string()) value = f.enum_type()->FindValueByName(v.get<std::string>());
      if (value == nullptr) {
        return InvalidArgument(
            path, v.is_string() ? "unknown_value" : "type",
            absl::StrCat("field ", path, " must name a value of ", f.enum_type()->full_name()));
      }
      add ? r.AddEnum(&m, &f, value) : r.SetEnum(&m, &f, value);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* sub = add ? r.AddMessage(&m, &f) : r.MutableMessage(&m, &f);
      return ParseMessage(v, *sub, path);
    }
  }
  return absl::InternalError(absl::StrCat("unsupported field type at ", path));
}

absl::Status ParseMapField(const Json& v, Message& m, const FieldDescriptor& f,
                           const std::string& path) {
  if (!v.is_object()) return TypeError(path, "a JSON object");
  const Descriptor& entry_type = *f.message_type();
  const FieldDescriptor& key_field = *entry_type.map_key();
  const FieldDescriptor& value_field = *entry_type.map_value();
  const Reflection& r = *m.GetReflection();
  for (const auto& [key, value] : v.items()) {  // code-point order: "entries by key" (§0.4)
    const std::string entry_path = Child(path, key);
    if (value.is_null() && !TakesJsonNull(value_field)) {
      return TypeError(entry_path, "a value, not null");
    }
    Message* entry = r.AddMessage(&m, &f);
    const Reflection& er = *entry->GetReflection();
    switch (key_field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        er.SetString(entry, &key_field, key);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        if (key != "true" && key != "false") return TypeError(entry_path, "keyed true or false");
        er.SetBool(entry, &key_field, key == "true");
        break;
      default: {
        ASSIGN_OR_RETURN(int64_t k, ParseInteger(Json(key), key_field, entry_path));
        switch (key_field.cpp_type()) {
          case FieldDescriptor::CPPTYPE_INT32:
            er.SetInt32(entry, &key_field, int32_t(k));
            break;
          case FieldDescriptor::CPPTYPE_UINT32:
            er.SetUInt32(entry, &key_field, uint32_t(k));
            break;
          case FieldDescriptor::CPPTYPE_UINT64:
            er.SetUInt64(entry, &key_field, uint64_t(k));
            break;
          default:
            er.SetInt64(entry, &key_field, k);
            break;
        }
      }
    }
    RETURN_IF_ERROR(SetValue(value, *entry, value_field, entry_path));
  }
  return absl::OkStatus();
}

absl::Status ParseFields(const Json& v, Message& m, const std::string& path) {
  if (!v.is_object()) return TypeError(path, "a JSON object");
  const Descriptor& d = *m.GetDescriptor();
  // Declaration order = the spec table's field order, so the first failure is the one §0.4 names.
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& f = *d.field(i);
    auto it = v.find(f.name());  // exact proto name; lowerCamel spellings stay unknown
    if (it == v.end() || it->is_null()) continue;  // null = absent (§0.2, N5)
    const std::string field_path = Child(path, f.name());
    if (f.is_map()) {
      RETURN_IF_ERROR(ParseMapField(*it, m, f, field_path));
    } else if (f.is_repeated()) {
      if (!it->is_array()) return TypeError(field_path, "a JSON array");
      for (size_t j = 0; j < it->size(); ++j) {
        const Json& element = (*it)[j];
        const std::string element_path = Element(field_path, j);
        if (element.is_null() && !TakesJsonNull(f)) {
          return TypeError(element_path, "a value, not null");
        }
        RETURN_IF_ERROR(SetValue(element, m, f, element_path));
      }
    } else {
      RETURN_IF_ERROR(SetValue(*it, m, f, field_path));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseMessage(const Json& v, Message& m, const std::string& path) {
  bool handled = false;
  RETURN_IF_ERROR(ParseWellKnown(v, m, path, handled));
  if (handled) return absl::OkStatus();
  return ParseFields(v, m, path);
}

// ---- message -> JSON ---------------------------------------------------------------------------
//
// Printed straight to text: the reply of every native request comes through here, and building an
// ordered_json tree to dump it cost an allocation per node and per key (17k of the host's 104k
// instructions per request). The text is byte for byte what `ordered_json::dump(-1, ' ', false,
// replace)` printed of that tree (json_codec_test holds the two side by side).

// Where the value being printed sits, as a chain of stack frames: the dotted path an error names
// is only rendered when an error needs it, instead of a string built per field.
struct PathFrame {
  const PathFrame* parent = nullptr;
  std::string_view name;  // a field name or map key, or empty for a list element
  int index = -1;         // the element's index, or -1
};

std::string PathText(const PathFrame* frame) {
  if (frame == nullptr) return "";
  const std::string parent = PathText(frame->parent);
  if (frame->index >= 0) return Element(parent, static_cast<size_t>(frame->index));
  return Child(parent, frame->name);
}

// A JSON string as nlohmann prints it. Plain ASCII is copied; anything to escape or any byte past
// ASCII goes through nlohmann's own serializer, so escapes and the U+FFFD replacement of invalid
// UTF-8 stay exactly its own.
void AppendString(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  });
  if (!plain) {
    out += OJson(std::string(s)).dump(-1, ' ', false, OJson::error_handler_t::replace);
    return;
  }
  out += '"';
  out.append(s.data(), s.size());
  out += '"';
}

class TextPrinter {
 public:
  TextPrinter(const PrintOptions& options, std::string& out) : options_(options), out_(out) {}

  absl::Status PrintMessage(const google::protobuf::Message& m, bool top, int zero_depth,
                            const PathFrame* path);

 private:
  absl::Status PrintDouble(double d, const PathFrame* path);
  absl::Status PrintValue(const google::protobuf::Value& v, const PathFrame* path);
  absl::Status PrintStruct(const google::protobuf::Struct& s, const PathFrame* path);
  absl::Status PrintList(const google::protobuf::ListValue& list, const PathFrame* path);
  absl::Status PrintFieldValue(const google::protobuf::Message& m, const FieldDescriptor& f,
                               int index, int zero_depth, const PathFrame* path);
  absl::Status PrintMap(const google::protobuf::Message& m, const FieldDescriptor& f,
                        int zero_depth, const PathFrame* path);
  void WriteKey(bool& first, std::string_view key) {
    if (!first) out_ += ',';
    first = false;
    AppendString(out_, key);
    out_ += ':';
  }

  const PrintOptions& options_;
  std::string& out_;
};

absl::Status TextPrinter::PrintDouble(double d, const PathFrame* path) {
  if (!std::isfinite(d)) {
    const std::string field = PathText(path);
    return InvalidArgument(field, "out_of_range",
                           absl::StrCat("field ", field, " is not a finite number"));
  }
  // Integral values print without ".0", as JCS (and JavaScript) print them.
  if (std::floor(d) == d && std::fabs(d) <= kMaxSafeDouble) {
    absl::StrAppend(&out_, static_cast<int64_t>(d));
  } else {
    out_ += OJson(d).dump();  // nlohmann's shortest round-trip form
  }
  return absl::OkStatus();
}

absl::Status TextPrinter::PrintStruct(const google::protobuf::Struct& s, const PathFrame* path) {
  std::vector<const std::string*> keys;
  keys.reserve(s.fields_size());
  for (const auto& [key, value] : s.fields()) keys.push_back(&key);
  std::sort(keys.begin(), keys.end(), [](const auto* a, const auto* b) { return *a < *b; });
  out_ += '{';
  bool first = true;
  for (const std::string* key : keys) {
    WriteKey(first, *key);
    const PathFrame child{path, *key};
    RETURN_IF_ERROR(PrintValue(s.fields().at(*key), &child));
  }
  out_ += '}';
  return absl::OkStatus();
}

absl::Status TextPrinter::PrintList(const google::protobuf::ListValue& list, const PathFrame* path) {
  out_ += '[';
  for (int i = 0; i < list.values_size(); ++i) {
    if (i > 0) out_ += ',';
    const PathFrame element{path, {}, i};
    RETURN_IF_ERROR(PrintValue(list.values(i), &element));
  }
  out_ += ']';
  return absl::OkStatus();
}

absl::Status TextPrinter::PrintValue(const google::protobuf::Value& v, const PathFrame* path) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return PrintDouble(v.number_value(), path);
    case google::protobuf::Value::kStringValue:
      AppendString(out_, v.string_value());
      return absl::OkStatus();
    case google::protobuf::Value::kBoolValue:
      out_ += v.bool_value() ? "true" : "false";
      return absl::OkStatus();
    case google::protobuf::Value::kStructValue:
      return PrintStruct(v.struct_value(), path);
    case google::protobuf::Value::kListValue:
      return PrintList(v.list_value(), path);
    default:
      out_ += "null";  // null, or unset
      return absl::OkStatus();
  }
}

// A Struct/Value/ListValue message as its generated class (a copy for dynamic messages).
template <typename Wkt>
const Wkt& AsWellKnown(const Message& m, Wkt& storage) {
  if (const auto* typed = dynamic_cast<const Wkt*>(&m)) return *typed;
  storage.ParsePartialFromString(m.SerializePartialAsString());
  return storage;
}

// One value of field `f`: element `index` when repeated, else the singular value.
absl::Status TextPrinter::PrintFieldValue(const google::protobuf::Message& m, const FieldDescriptor& f,
                                     int index, int zero_depth, const PathFrame* path) {
  const Reflection& r = *m.GetReflection();
  const bool rep = f.is_repeated();
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(&out_, rep ? r.GetRepeatedInt32(m, &f, index) : r.GetInt32(m, &f));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT64: {
      const int64_t value = rep ? r.GetRepeatedInt64(m, &f, index) : r.GetInt64(m, &f);
      if (!IsTimestampField(f)) {
        absl::StrAppend(&out_, value);
        return absl::OkStatus();
      }
      if (value == 0) {  // unset ts (§0.2)
        out_ += "\"\"";
        return absl::OkStatus();
      }
      const std::string text = FormatTimestampMillis(value);
      if (text.empty()) {
        const std::string field = PathText(path);
        return InvalidArgument(field, "out_of_range",
                               absl::StrCat("field ", field, " = ", value,
                                            " ms is outside the RFC 3339 years 0000-9999"));
      }
      AppendString(out_, text);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32:
      absl::StrAppend(&out_, rep ? r.GetRepeatedUInt32(m, &f, index) : r.GetUInt32(m, &f));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(&out_, rep ? r.GetRepeatedUInt64(m, &f, index) : r.GetUInt64(m, &f));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return PrintDouble(rep ? r.GetRepeatedDouble(m, &f, index) : r.GetDouble(m, &f), path);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return PrintDouble(rep ? r.GetRepeatedFloat(m, &f, index) : r.GetFloat(m, &f), path);
    case FieldDescriptor::CPPTYPE_BOOL:
      out_ += (rep ? r.GetRepeatedBool(m, &f, index) : r.GetBool(m, &f)) ? "true" : "false";
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_ENUM:
      AppendString(out_, (rep ? r.GetRepeatedEnum(m, &f, index) : r.GetEnum(m, &f))->name());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r.GetRepeatedStringReference(m, &f, index, &scratch)
                                 : r.GetStringReference(m, &f, &scratch);
      if (f.type() == FieldDescriptor::TYPE_BYTES) {
        AppendString(out_, absl::Base64Escape(s));
      } else {
        AppendString(out_, s);
      }
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const google::protobuf::Message& sub =
          rep ? r.GetRepeatedMessage(m, &f, index) : r.GetMessage(m, &f);
      return PrintMessage(sub, /*top=*/false, zero_depth, path);
    }
  }
  return absl::InternalError(absl::StrCat("unsupported field type at ", PathText(path)));
}

bool IsZeroScalar(const Message& m, const FieldDescriptor& f) {
  const Reflection& r = *m.GetReflection();
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return r.GetInt32(m, &f) == 0;
    case FieldDescriptor::CPPTYPE_INT64:
      return r.GetInt64(m, &f) == 0;
    case FieldDescriptor::CPPTYPE_UINT32:
      return r.GetUInt32(m, &f) == 0;
    case FieldDescriptor::CPPTYPE_UINT64:
      return r.GetUInt64(m, &f) == 0;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return r.GetDouble(m, &f) == 0;
    case FieldDescriptor::CPPTYPE_FLOAT:
      return r.GetFloat(m, &f) == 0;
    case FieldDescriptor::CPPTYPE_BOOL:
      return !r.GetBool(m, &f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return r.GetEnumValue(m, &f) == 0;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      return r.GetStringReference(m, &f, &scratch).empty();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return !r.HasField(m, &f);
  }
  return false;
}

std::string MapKeyText(const Message& entry, const FieldDescriptor& key_field) {
  const Reflection& r = *entry.GetReflection();
  switch (key_field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return r.GetString(entry, &key_field);
    case FieldDescriptor::CPPTYPE_BOOL:
      return r.GetBool(entry, &key_field) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r.GetInt32(entry, &key_field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(r.GetUInt32(entry, &key_field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(r.GetUInt64(entry, &key_field));
    default:
      return absl::StrCat(r.GetInt64(entry, &key_field));
  }
}

absl::Status TextPrinter::PrintMap(const google::protobuf::Message& m, const FieldDescriptor& f,
                              int zero_depth, const PathFrame* path) {
  const Reflection& r = *m.GetReflection();
  const FieldDescriptor& key_field = *f.message_type()->map_key();
  const FieldDescriptor& value_field = *f.message_type()->map_value();
  std::vector<std::pair<std::string, const google::protobuf::Message*>> entries;
  for (int i = 0; i < r.FieldSize(m, &f); ++i) {
    const google::protobuf::Message& entry = r.GetRepeatedMessage(m, &f, i);
    entries.emplace_back(MapKeyText(entry, key_field), &entry);
  }
  // Maps are unordered (§0.6 4); code-point order makes the output deterministic.
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  out_ += '{';
  bool first = true;
  for (const auto& [key, entry] : entries) {
    WriteKey(first, key);
    const PathFrame child{path, key};
    RETURN_IF_ERROR(PrintFieldValue(*entry, value_field, -1, zero_depth, &child));
  }
  out_ += '}';
  return absl::OkStatus();
}

absl::Status TextPrinter::PrintMessage(const google::protobuf::Message& m, bool top, int zero_depth,
                                  const PathFrame* path) {
  const Descriptor& d = *m.GetDescriptor();
  if (IsStruct(d)) {
    google::protobuf::Struct storage;
    return PrintStruct(AsWellKnown(m, storage), path);
  }
  if (IsValue(d)) {
    google::protobuf::Value storage;
    return PrintValue(AsWellKnown(m, storage), path);
  }
  if (IsListValue(d)) {
    google::protobuf::ListValue storage;
    return PrintList(AsWellKnown(m, storage), path);
  }
  if (zero_depth > kMaxZeroDepth) {
    out_ += "{}";
    return absl::OkStatus();
  }

  const Reflection& r = *m.GetReflection();
  out_ += '{';
  bool first = true;
  for (int i = 0; i < d.field_count(); ++i) {
    const FieldDescriptor& f = *d.field(i);
    const PathFrame field_path{path, f.name()};
    const bool forced = top && std::find(options_.always_emit.begin(), options_.always_emit.end(),
                                         f.name()) != options_.always_emit.end();
    const bool emit_zero = options_.emit_zero_values || forced;
    if (f.is_map()) {
      if (r.FieldSize(m, &f) == 0 && !emit_zero) continue;
      WriteKey(first, f.name());
      RETURN_IF_ERROR(PrintMap(m, f, zero_depth, &field_path));
    } else if (f.is_repeated()) {
      const int n = r.FieldSize(m, &f);
      if (n == 0 && !emit_zero) continue;
      WriteKey(first, f.name());
      out_ += '[';
      for (int j = 0; j < n; ++j) {
        if (j > 0) out_ += ',';
        const PathFrame element{&field_path, {}, j};
        RETURN_IF_ERROR(PrintFieldValue(m, f, j, zero_depth, &element));
      }
      out_ += ']';
    } else if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const bool has = r.HasField(m, &f);
      if (!has && !emit_zero) continue;
      // An unset record prints as its zero value: GetMessage returns the default instance.
      WriteKey(first, f.name());
      RETURN_IF_ERROR(PrintFieldValue(m, f, -1, has ? zero_depth : zero_depth + 1, &field_path));
    } else if (f.has_presence()) {
      // proto3 `optional` (T?, §0.2): present or absent, whatever the value.
      if (!r.HasField(m, &f)) continue;
      WriteKey(first, f.name());
      RETURN_IF_ERROR(PrintFieldValue(m, f, -1, zero_depth, &field_path));
    } else {
      if (!emit_zero && IsZeroScalar(m, f)) continue;
      WriteKey(first, f.name());
      RETURN_IF_ERROR(PrintFieldValue(m, f, -1, zero_depth, &field_path));
    }
  }
  out_ += '}';
  return absl::OkStatus();
}
}  // namespace

bool IsTimestampField(const FieldDescriptor& field) {
  return field.type() == FieldDescriptor::TYPE_INT64 &&
         field.options().GetExtension(sidecar::api::v1::ts);
}

std::string FormatTimestampMillis(int64_t unix_ms) {
  if (unix_ms < kMinTimestampMillis || unix_ms > kMaxTimestampMillis) return "";
  // Floor division, so instants before 1970 land on the right day.
  int64_t days = unix_ms / kMillisPerDay;
  int64_t ms_of_day = unix_ms % kMillisPerDay;
  if (ms_of_day < 0) {
    ms_of_day += kMillisPerDay;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  CivilFromDays(days, year, month, day);
  const int64_t ms = ms_of_day % 1000;
  const int64_t seconds = ms_of_day / 1000;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(year),
                month, day, static_cast<int>(seconds / 3600), static_cast<int>(seconds / 60 % 60),
                static_cast<int>(seconds % 60), static_cast<int>(ms));
  return buf;
}

bool ParseTimestampMillis(std::string_view s, int64_t& unix_ms, std::string& reason) {
  if (s.empty()) {  // unset ts (§0.2)
    unix_ms = 0;
    return true;
  }
  reason = "pattern";
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (s.size() < 20 || !Digits(s, 0, 4, year) || s[4] != '-' || !Digits(s, 5, 2, month) ||
      s[7] != '-' || !Digits(s, 8, 2, day) || s[10] != 'T' || !Digits(s, 11, 2, hour) ||
      s[13] != ':' || !Digits(s, 14, 2, minute) || s[16] != ':' || !Digits(s, 17, 2, second)) {
    return false;
  }
  size_t pos = 19;
  int64_t fraction_ms = 0;
  if (s[pos] == '.') {
    ++pos;
    const size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      // Digits past the third are truncated (§0.3 does the same for X-Request-Time).
      if (pos - start < 3) fraction_ms = fraction_ms * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start) return false;
    for (size_t n = pos - start; n < 3; ++n) fraction_ms *= 10;
  }
  int offset_minutes = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om)) {
      return false;
    }
    if (oh > 23 || om > 59) {
      reason = "malformed";
      return false;
    }
    offset_minutes = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;

  reason = "malformed";
  if (month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > DaysInMonth(year, static_cast<unsigned>(month)) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  const int64_t ms = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) *
                         kMillisPerDay +
                     ((hour * 60 + minute) * 60 + second) * int64_t{1000} + fraction_ms -
                     offset_minutes * int64_t{60000};
  if (ms < kMinTimestampMillis || ms > kMaxTimestampMillis) {
    reason = "out_of_range";
    return false;
  }
  unix_ms = ms;
  return true;
}

absl::Status JsonToMessage(const Json& json, Message& message) {
  message.Clear();
  if (!json.is_object()) {
    return InvalidArgument("body", "malformed", "the payload must be a JSON object");
  }
  return ParseFields(json, message, "");
}

absl::Status JsonTextToMessage(std::string_view json, Message& message) {
  if (json.empty()) return JsonToMessage(Json::object(), message);
  Json parsed = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    message.Clear();
    return InvalidArgument("body", "malformed", "the payload is not valid JSON");
  }
  return JsonToMessage(parsed, message);
}

absl::StatusOr<std::string> MessageToJsonText(const Message& message, const PrintOptions& options) {
  std::string out;
  RETURN_IF_ERROR(TextPrinter(options, out).PrintMessage(message, /*top=*/true, 0, nullptr));
  return out;
}

absl::StatusOr<OJson> MessageToJson(const Message& message, const PrintOptions& options) {
  ASSIGN_OR_RETURN(std::string text, MessageToJsonText(message, options));
  return OJson::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace sidecar::adapters::transcoding
