#pragma once
// JSON <-> protobuf message by reflection, with the JSON conventions of SERVICES.md §0.2 (and
// services/proto/README.md, common/v1/common.proto). protobuf's own JSON util is not used because
// almost every rule differs from proto3 JSON:
//
//   field names   exactly the proto (snake_case) names. A lowerCamel key ("playerId"), which
//                 protobuf's parser would bind, is an unknown key here. Unknown keys are ignored
//                 (§0.4 "Unknown request fields are ignored"), at every nesting level.
//   null          a field whose JSON value is null is absent (§0.2, §4 N5); inside a Struct, a
//                 Value or a map of Value it is a JSON null; anywhere else (list element, map
//                 value) it is a wrong type.
//   integers      i32/i64 take a JSON number with an integral value (5, 5.0, 5e0) or a decimal
//                 string -?[0-9]+; a fraction, any other string, a bool... -> `type`; i32 outside
//                 -2^31..2^31-1 and i64 outside +-(2^53-1) -> `out_of_range`. Printed as JSON
//                 numbers (proto3 JSON prints int64 as strings).
//   ts            int64 fields with [(sidecar.api.v1.ts) = true]: unix ms in protobuf, RFC 3339 in
//                 JSON. Parsed: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), extra fraction
//                 digits truncated to ms, "" = 0; a non-string -> `type`, wrong syntax ->
//                 `pattern`, an impossible date or time (02-30, 24:00) -> `malformed` (as §6 AI12
//                 for dates). Printed UTC with exactly 3 fraction digits and Z
//                 ("2025-11-20T12:00:00.000Z"), 0 as "".
//   bool          JSON true/false only. string: JSON strings only. double: JSON numbers only,
//                 printed as integers when integral (so 58.0 prints 58, as JCS does).
//   obj / val     google.protobuf.Struct (a JSON object) / Value (any JSON); ListValue = array.
//                 Numbers inside them are doubles (protobuf's own model); integral ones print as
//                 integers.
//   lists, maps   JSON arrays / objects (string keys); maps print with keys in code-point order.
//   presence      proto3 `optional` fields print only when set (even when zero); with
//                 emit_zero_values every other field prints, unset messages as their zero value
//                 (Struct {}, Value null, ListValue [], a record with all its zero fields).
//
// Errors are INVALID_ARGUMENT made with adapters::InvalidArgument, details `field` (a dotted path:
// `tags[2]`, `values.<key>`, `steps[0].params.amount_minor`) and `reason`. Fields are checked in
// declaration order (the spec table order of the protos), first failure wins, matching the
// "fields in table order" rule of §0.4 as far as a schema-only check can. Text that is not JSON
// (or not a JSON object at the top) is field=body reason=malformed, the §0.4 envelope error.
// Nothing here throws.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace sidecar::adapters::transcoding {

struct PrintOptions {
  // true: every non-`optional` field prints, zero or not ("Responses emit every field", §0.2).
  // false: zero values and empty lists/maps are left out, as proto3 JSON does; §0.2 makes absent
  // equal to zero, and this keeps legacy query strings free of `page_token=` noise.
  bool emit_zero_values = true;
  // Top-level fields printed even when zero and emit_zero_values is false (path template
  // variables, which EncodeAction needs).
  std::vector<std::string> always_emit;
};

// `json` (text) -> `message`, which is cleared first.
absl::Status JsonTextToMessage(std::string_view json, google::protobuf::Message& message);
// The same from parsed JSON; `json` must be an object (else field=body malformed).
absl::Status JsonToMessage(const nlohmann::json& json, google::protobuf::Message& message);

// `message` -> compact JSON, fields in declaration order. Fails (INVALID_ARGUMENT out_of_range)
// only on values JSON cannot carry: a ts outside years 0000-9999, a NaN or infinite double.
absl::StatusOr<std::string> MessageToJsonText(const google::protobuf::Message& message,
                                              const PrintOptions& options = {});
absl::StatusOr<nlohmann::ordered_json> MessageToJson(const google::protobuf::Message& message,
                                                     const PrintOptions& options = {});

// The RFC 3339 helpers of `ts` fields, exposed for callers and tests.
std::string FormatTimestampMillis(int64_t unix_ms);  // "" for values outside years 0000-9999
// Returns the §0.4 reason on failure in `reason` ("pattern" or "malformed").
bool ParseTimestampMillis(std::string_view text, int64_t& unix_ms, std::string& reason);

// True for an int64 field carrying [(sidecar.api.v1.ts) = true].
bool IsTimestampField(const google::protobuf::FieldDescriptor& field);

}  // namespace sidecar::adapters::transcoding
