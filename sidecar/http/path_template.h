#pragma once
// Path templates of legacy HTTP routes: "/api/settings/players/{player_id}/keys/{key}".
//
// A template is a sequence of '/'-separated segments; each segment is either literal text or one
// whole variable `{name}` with name `[a-z][a-z0-9_]*`. Used by config validation (is the template
// well formed?), by action routes (action + fields -> path) and by the gateway direction (path ->
// action + fields).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"

namespace sidecar::http {

// A request path split at '/' and percent-decoded once, so that matching it against every route
// of a service splits and decodes it once instead of once per route. Segments are split before
// they are decoded: "%2F" stays inside its segment.
class RequestPath {
 public:
  // A query string and fragment are ignored. Returns nullopt when the path is empty, does not
  // start with '/' or holds a malformed %-escape (no template matches such a path).
  static std::optional<RequestPath> Parse(std::string_view path);

  size_t size() const { return bounds_.size(); }
  std::string_view segment(size_t i) const {
    return std::string_view(decoded_).substr(bounds_[i].first, bounds_[i].second);
  }

 private:
  RequestPath() = default;

  std::string decoded_;  // every segment, decoded, back to back
  // Offset and length of each segment in decoded_: offsets, unlike views, survive a move of a
  // short (inline) string.
  absl::InlinedVector<std::pair<size_t, size_t>, 8> bounds_;
};

class PathTemplate {
 public:
  struct Segment {
    bool is_variable = false;
    std::string text;  // literal text, or the variable's name without braces
  };

  // Rejects: empty text, no leading '/', '?' or '#', unbalanced braces, empty or malformed variable
  // names, a variable sharing its segment with other text, duplicate variables, empty segments
  // other than a trailing '/', '%' and characters outside RFC 3986 pchar in literals. Messages
  // quote the offending part.
  static absl::StatusOr<PathTemplate> Parse(std::string_view text);

  // Builds the path. Each value is percent-encoded (RFC 3986 unreserved characters kept, so '/'
  // inside a value becomes %2F and stays one segment). Fails when a variable has no value or an
  // empty value (the result would name another route). Extra entries in `vars` are ignored.
  absl::StatusOr<std::string> Expand(const std::map<std::string, std::string>& vars) const;

  // Matches `path` (a query string and fragment are ignored) segment by segment. Segments are
  // percent-decoded before comparison, so literals compare against decoded text and variables
  // receive decoded values. Returns nullopt on no match, on a malformed %-escape or on an empty
  // variable segment.
  std::optional<std::map<std::string, std::string>> Match(std::string_view path) const;
  // The same for a path parsed once; allocates only for a match.
  std::optional<std::map<std::string, std::string>> Match(const RequestPath& path) const;

  // Ranking between templates that match the same path (both have as many segments): the one whose
  // first differing segment is a literal is more specific, so "/a/schema" beats "/a/{key}" and
  // "/a/b/{x}" beats
  // "/a/{y}/c". A strict weak order (usable with std::sort); templates with literals and variables
  // at the same places compare equivalent.
  static bool MoreSpecific(const PathTemplate& a, const PathTemplate& b);
  // True when both templates match exactly the same set of paths (same literals, variables in the
  // same places, names aside). Two such routes for the same method would be ambiguous.
  static bool SameShape(const PathTemplate& a, const PathTemplate& b);

  const std::string& text() const { return text_; }
  const std::vector<Segment>& segments() const { return segments_; }
  // Variable names in order of appearance.
  const std::vector<std::string>& variables() const { return variables_; }
  bool HasVariable(std::string_view name) const;
  // Number of literal segments; a coarse specificity score (MoreSpecific is the exact ranking).
  int literal_count() const { return literal_count_; }

 private:
  PathTemplate() = default;

  std::string text_;
  std::vector<Segment> segments_;
  std::vector<std::string> variables_;
  int literal_count_ = 0;
};

// RFC 3986 percent-encoding: every byte outside ALPHA / DIGIT / "-" / "." / "_" / "~" becomes %XX
// (uppercase hex). Suitable for one path segment and for query keys and values.
std::string PercentEncode(std::string_view text);
// Decodes %XX escapes; with `plus_as_space` (query strings, HTML-form convention) '+' becomes ' '.
// Returns nullopt on a truncated or non-hex escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_as_space = false);

}  // namespace sidecar::http
