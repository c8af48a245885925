#pragma once
// The shadow differ: pure functions that normalise two responses into one comparable form and list
// the paths where they differ. No I/O, no clocks, no threads: unit-tested on its own
// (tests/sidecar/shadow/diff_test.cc).
//
// Why normalise: the primary and the shadow may speak different wire forms (legacy HTTP/JSON vs a
// NATS reply in JSON or protobuf). By the time a cluster hands us a Response, the NATS side has
// become an HTTP-shaped response, but small differences remain that are not behaviour:
//   status       Nats-Service-Error-Code (ADR-32) wins over a default 200
//   int64        protobuf's JSON prints int64 as "123"; legacy prints 123
//   timestamps   protobuf carries unix ms; legacy JSON carries RFC 3339 (SERVICES.md §0.2)
//   absence      an absent field, null and the zero value are the same (§0.2)
// Everything else must match exactly, except paths the route ignores, the spec's volatile fields
// (§0.7) and numeric tolerances.
//
// Paths are JSON-pointer-like: "/items/0/price". Patterns (ignore lists, tolerances, noise) use the
// same syntax with globs: a segment `*` matches any one key or index, `*_at` any key ending in
// "_at", and `**` any number of segments (including none). A pattern also covers everything below
// what it matches ("/meta" ignores "/meta/x/y"). Two pseudo-paths name what is not a body field:
// "$status" (the HTTP status) and "$body" (a body that is not JSON, or of another JSON type).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "sidecar/http/message.h"

namespace sidecar::shadow {

inline constexpr std::string_view kStatusPath = "$status";
inline constexpr std::string_view kBodyPath = "$body";

// One comparable side.
struct Normalized {
  int status = 0;
  bool json = false;   // body parsed as JSON (else `raw` is compared byte for byte)
  nlohmann::json body;  // normalised: canonical integer strings became numbers
  std::string raw;
};

// The status a side is compared by: Nats-Service-Error-Code when present and valid (a NATS reply's
// error), else response.status.
int ComparedStatus(const http::Response& response);

// Status: ComparedStatus. Body: JSON when it
// parses (an empty body is JSON null), with integer strings ("-12", not "012" or "1e3") that fit
// int64 turned into numbers, recursively. `json_body`, when given, replaces response.body (the
// caller's protobuf -> JSON rendering of a binary reply).
Normalized Normalize(const http::Response& response, const std::string* json_body = nullptr);

// A compiled path pattern (see above).
class PathPattern {
 public:
  // "/a/*/b", "**/event_id"; a leading '/' is optional. "" or "/" matches the root (everything).
  static PathPattern Parse(std::string_view pattern);
  // Whether the pattern matches `path` or one of its ancestors.
  bool Covers(const std::vector<std::string>& path) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::vector<std::string> segments_;
};

struct Tolerance {
  PathPattern path;
  double abs = 0;  // |a - b| <= abs is equal
};

// What a route compares and ignores. Built once per route (BuildDiffOptions) and shared read-only.
struct DiffOptions {
  std::vector<PathPattern> ignore;      // always ignored
  std::vector<PathPattern> ts_fields;   // ignored unless the request pinned X-Request-Time
  std::vector<Tolerance> tolerances;    // first match wins
  // ai-integration / ai-router: ignored only when a side says provider = openai_compatible.
  std::vector<PathPattern> provider_volatile;
  size_t max_paths = 32;  // reported per comparison; the rest is counted in `truncated`
};

// `user_ignore` and `user_tolerances` come from the route's shadow config. With `volatile_defaults`
// the §0.7 rules for `service` are added: event_id, error.message, every ts field (*_at,
// locked_until) unless pinned, auth's token, the ai services' provider-dependent fields, and the
// knowledge-base score / weather probabilities_bp tolerances.
DiffOptions BuildDiffOptions(std::string_view service, const std::vector<std::string>& user_ignore,
                             const std::vector<std::pair<std::string, double>>& user_tolerances,
                             bool volatile_defaults);

struct DiffResult {
  std::vector<std::string> paths;  // differing paths, in document order, at most max_paths
  size_t truncated = 0;            // differing paths beyond max_paths
  bool matched() const { return paths.empty() && truncated == 0; }
};

// Compares two normalised sides. `time_pinned`: the request carried X-Request-Time, so ts fields are
// compared too.
DiffResult Diff(const Normalized& a, const Normalized& b, const DiffOptions& options, bool time_pinned);

// "/items/3/price" -> "/items/*/price": array indices folded, for bounded metric labels.
std::string FoldIndices(std::string_view path);

// RFC 3339 ("2025-11-20T12:00:00.000Z", any offset) -> unix ms; nullopt when it is not one.
std::optional<int64_t> ParseRfc3339Millis(std::string_view text);

// A copy of `body` (JSON text) with the values of secret-looking keys (password, token, secret,
// api_key, authorization, cookie, credential...) replaced by "<redacted>", cut to `max_bytes`.
// Non-JSON text is only cut.
std::string RedactBody(std::string_view body, size_t max_bytes);
// Whether a header carries credentials by default (Authorization, Cookie, X-Api-Key, ...).
bool IsCredentialHeader(std::string_view name);

}  // namespace sidecar::shadow
