#pragma once
// RFC 8785 canonical JSON (JCS), SERVICES.md §0.2: the byte form behind request fingerprints
// (§0.5), payload size limits (state-manager, event-bus, time-manager) and anything two
// implementations must agree on byte for byte.
//
// Numbers follow ECMAScript Number::toString (shortest round-trip digits; 1e21 and above and
// below 1e-6 in exponent form), keys are sorted by UTF-16 code units, strings escape only what
// JSON requires (\" \\ \b \f \n \r \t, other controls as \u00xx) and keep all other UTF-8 as is.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"

namespace sidecar::services {

// JCS of a JSON value. Fails only for NaN/Infinity, which JSON cannot carry.
absl::StatusOr<std::string> Jcs(const nlohmann::json& value);

// google.protobuf.Struct/Value <-> JSON (obj/val of §0.2). Numbers are doubles, as in Struct.
nlohmann::json StructToJson(const google::protobuf::Struct& s);
nlohmann::json ValueToJson(const google::protobuf::Value& v);
// JCS byte size of an `obj` (state-manager size_bytes, payload limits).
absl::StatusOr<size_t> JcsSize(const google::protobuf::Struct& s);

// The §0.5 normalised request as JSON: every declared field except `excluded`, absent fields at
// their zero value ("" / 0 / false / [] / {} / null for val / a sub-message with its own zero
// fields), proto3 `optional` (T?) fields only when present, integers as integers, ts fields
// (option sidecar.api.v1.ts) in their JSON form (RFC 3339 ms "Z", "" when 0), unknown fields
// dropped, nothing else normalised.
nlohmann::json NormalisedRequestJson(const google::protobuf::Message& request,
                                     const std::vector<std::string_view>& excluded = {
                                         "idempotency_key"});

// Fingerprint = lowercase hex SHA-256 of the JCS of NormalisedRequestJson (§0.5, R10).
absl::StatusOr<std::string> RequestFingerprint(
    const google::protobuf::Message& request,
    const std::vector<std::string_view>& excluded = {"idempotency_key"});

// ECMAScript Number::toString of a finite double ("1e+21", "0.000001", "1e-7", "57").
std::string FormatJcsNumber(double v);

}  // namespace sidecar::services
