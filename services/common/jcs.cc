#include "services/common/jcs.h"

#include "services/common/strings_internal.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "services/common/call_context.h"
#include "services/common/determinism.h"
#include "sidecar/api/v1/http.pb.h"

namespace sidecar::services {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// UTF-8 -> UTF-16 code units, for JCS key order. Invalid sequences (which protobuf and the JSON
// parser never let through) are taken byte by byte so the order stays total.
std::u16string ToUtf16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c >> 5) == 0x6 && i + 1 < s.size()) {
      cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F), len = 2;
    } else if ((c >> 4) == 0xE && i + 2 < s.size()) {
      cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F), len = 3;
    } else if ((c >> 3) == 0x1E && i + 3 < s.size()) {
      cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) |
           (s[i + 3] & 0x3F);
      len = 4;
    } else {
      cp = c, len = 1;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
    i += len;
  }
  return out;
}

void AppendString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

absl::Status Append(std::string& out, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: out += "null"; return absl::OkStatus();
    case nlohmann::json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return absl::OkStatus();
    case nlohmann::json::value_t::number_integer: out += std::to_string(v.get<int64_t>()); return absl::OkStatus();
    case nlohmann::json::value_t::number_unsigned: out += std::to_string(v.get<uint64_t>()); return absl::OkStatus();
    case nlohmann::json::value_t::number_float: {
      double d = v.get<double>();
      if (!std::isfinite(d)) return absl::InvalidArgumentError("JCS cannot represent NaN or Infinity");
      out += FormatJcsNumber(d);
      return absl::OkStatus();
    }
    case nlohmann::json::value_t::string: AppendString(out, v.get_ref<const std::string&>()); return absl::OkStatus();
    case nlohmann::json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v) {
        if (!first) out.push_back(',');
        first = false;
        absl::Status s = Append(out, item);
        if (!s.ok()) return s;
      }
      out.push_back(']');
      return absl::OkStatus();
    }
    case nlohmann::json::value_t::object: {
      std::vector<std::pair<std::u16string, const std::string*>> keys;
      keys.reserve(v.size());
      for (auto it = v.begin(); it != v.end(); ++it) keys.emplace_back(ToUtf16(it.key()), &it.key());
      std::sort(keys.begin(), keys.end());
      out.push_back('{');
      bool first = true;
      for (const auto& [unused, key] : keys) {
        if (!first) out.push_back(',');
        first = false;
        AppendString(out, *key);
        out.push_back(':');
        absl::Status s = Append(out, v.at(*key));
        if (!s.ok()) return s;
      }
      out.push_back('}');
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("JCS: unsupported JSON value (binary/discarded)");
  }
}

nlohmann::json ScalarToJson(const Message& m, const Reflection& r, const FieldDescriptor& f,
                            int index) {
  const bool repeated = f.is_repeated();
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return repeated ? r.GetRepeatedInt32(m, &f, index) : r.GetInt32(m, &f);
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v = repeated ? r.GetRepeatedInt64(m, &f, index) : r.GetInt64(m, &f);
      if (f.options().GetExtension(::sidecar::api::v1::ts)) return FormatTs(v);
      return v;
    }
    case FieldDescriptor::CPPTYPE_UINT32:
      return repeated ? r.GetRepeatedUInt32(m, &f, index) : r.GetUInt32(m, &f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return repeated ? r.GetRepeatedUInt64(m, &f, index) : r.GetUInt64(m, &f);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return repeated ? r.GetRepeatedDouble(m, &f, index) : r.GetDouble(m, &f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return static_cast<double>(repeated ? r.GetRepeatedFloat(m, &f, index) : r.GetFloat(m, &f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return repeated ? r.GetRepeatedBool(m, &f, index) : r.GetBool(m, &f);
    case FieldDescriptor::CPPTYPE_ENUM:  // the spec has no proto enums; name for completeness
      return repeated ? r.GetRepeatedEnum(m, &f, index)->name() : r.GetEnum(m, &f)->name();
    case FieldDescriptor::CPPTYPE_STRING:
      return repeated ? r.GetRepeatedString(m, &f, index) : r.GetString(m, &f);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return nullptr;
}

nlohmann::json MessageToJson(const Message& m, const std::vector<std::string_view>& excluded);

nlohmann::json SubMessageToJson(const Message& sub) {
  const std::string& full = sub.GetDescriptor()->full_name();
  if (full == "google.protobuf.Struct") {
    return StructToJson(static_cast<const google::protobuf::Struct&>(sub));
  }
  if (full == "google.protobuf.Value") {
    return ValueToJson(static_cast<const google::protobuf::Value&>(sub));
  }
  return MessageToJson(sub, {});
}

nlohmann::json MessageToJson(const Message& m, const std::vector<std::string_view>& excluded) {
  nlohmann::json out = nlohmann::json::object();
  const auto* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (std::find(excluded.begin(), excluded.end(), f->name()) != excluded.end()) continue;
    // T? fields only when present; message fields are "absent = zero value" (their own zero form).
    if (f->has_optional_keyword() && !r->HasField(m, f)) continue;
    if (f->is_map()) {
      nlohmann::json obj = nlohmann::json::object();
      const FieldDescriptor* key_f = f->message_type()->map_key();
      const FieldDescriptor* val_f = f->message_type()->map_value();
      for (int j = 0; j < r->FieldSize(m, f); ++j) {
        const Message& entry = r->GetRepeatedMessage(m, f, j);
        const Reflection* er = entry.GetReflection();
        nlohmann::json key = ScalarToJson(entry, *er, *key_f, -1);
        std::string key_text = key.is_string() ? key.get<std::string>() : key.dump();
        obj[key_text] = val_f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE
                            ? SubMessageToJson(er->GetMessage(entry, val_f))
                            : ScalarToJson(entry, *er, *val_f, -1);
      }
      out[f->name()] = std::move(obj);
    } else if (f->is_repeated()) {
      nlohmann::json arr = nlohmann::json::array();
      for (int j = 0; j < r->FieldSize(m, f); ++j) {
        arr.push_back(f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE
                          ? SubMessageToJson(r->GetRepeatedMessage(m, f, j))
                          : ScalarToJson(m, *r, *f, j));
      }
      out[f->name()] = std::move(arr);
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      // GetMessage of an unset field is the default instance: exactly the zero value we want.
      out[f->name()] = SubMessageToJson(r->GetMessage(m, f));
    } else {
      out[f->name()] = ScalarToJson(m, *r, *f, -1);
    }
  }
  return out;
}

}  // namespace

std::string FormatJcsNumber(double v) {
  if (v == 0) return "0";  // also -0
  std::string out;
  if (v < 0) {
    out.push_back('-');
    v = -v;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));  // "d.ddde+XX" or "de-XX"
  size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = std::atoi(std::string(sci.substr(e_pos + 1)).c_str());
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // value = 0.digits × 10^n
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n));
    out.push_back('.');
    out += digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out += digits.substr(1);
    }
    out.push_back('e');
    out.push_back(n - 1 >= 0 ? '+' : '-');
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

absl::StatusOr<std::string> Jcs(const nlohmann::json& value) {
  std::string out;
  absl::Status s = Append(out, value);
  if (!s.ok()) return s;
  return out;
}

nlohmann::json ValueToJson(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kNumberValue: return v.number_value();
    case google::protobuf::Value::kStringValue: return v.string_value();
    case google::protobuf::Value::kBoolValue: return v.bool_value();
    case google::protobuf::Value::kStructValue: return StructToJson(v.struct_value());
    case google::protobuf::Value::kListValue: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : v.list_value().values()) arr.push_back(ValueToJson(item));
      return arr;
    }
    default: return nullptr;
  }
}

nlohmann::json StructToJson(const google::protobuf::Struct& s) {
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& [key, value] : s.fields()) obj[key] = ValueToJson(value);
  return obj;
}

absl::StatusOr<size_t> JcsSize(const google::protobuf::Struct& s) {
  absl::StatusOr<std::string> text = Jcs(StructToJson(s));
  if (!text.ok()) return text.status();
  return text->size();
}

nlohmann::json NormalisedRequestJson(const google::protobuf::Message& request,
                                     const std::vector<std::string_view>& excluded) {
  return MessageToJson(request, excluded);
}

absl::StatusOr<std::string> RequestFingerprint(const google::protobuf::Message& request,
                                               const std::vector<std::string_view>& excluded) {
  absl::StatusOr<std::string> text = Jcs(NormalisedRequestJson(request, excluded));
  if (!text.ok()) return text.status();
  return Sha256Hex(*text);
}

}  // namespace sidecar::services
