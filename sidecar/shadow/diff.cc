#include "sidecar/shadow/diff.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "sidecar/common/redact.h"

namespace sidecar::shadow {
namespace {

using Json = nlohmann::json;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// "-12", "0", "9223372036854775807"; not "012", "+1", "1e3", "" (those stay strings).
std::optional<int64_t> CanonicalInt(const std::string& s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  size_t digits = s[0] == '-' ? 1 : 0;
  if (digits == s.size()) return std::nullopt;
  if (s[digits] == '0' && s.size() > digits + 1) return std::nullopt;
  if (s == "-0") return std::nullopt;
  for (size_t i = digits; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;  // out of int64 range
  return value;
}

void NormalizeInts(Json& j) {
  if (j.is_string()) {
    if (auto v = CanonicalInt(j.get_ref<const std::string&>())) j = *v;
  } else if (j.is_object() || j.is_array()) {
    for (auto& item : j) NormalizeInts(item);
  }
}

// '*' matches any run of characters (including none); everything else literally.
bool Glob(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool MatchFrom(const std::vector<std::string>& pattern, size_t pi, const std::vector<std::string>& path, size_t si) {
  if (pi == pattern.size()) return true;  // the rest of `path` lies below what matched
  if (pattern[pi] == "**") {
    return MatchFrom(pattern, pi + 1, path, si) || (si < path.size() && MatchFrom(pattern, pi, path, si + 1));
  }
  if (si == path.size()) return false;
  return Glob(pattern[pi], path[si]) && MatchFrom(pattern, pi + 1, path, si + 1);
}

bool AnyCovers(const std::vector<PathPattern>& patterns, const std::vector<std::string>& path) {
  for (const PathPattern& p : patterns) {
    if (p.Covers(path)) return true;
  }
  return false;
}

std::string Escape(std::string_view segment) {
  std::string out;
  for (char c : segment) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string PathText(const std::vector<std::string>& path) {
  if (path.empty()) return std::string(kBodyPath);
  std::string out;
  for (const std::string& s : path) absl::StrAppend(&out, "/", Escape(s));
  return out;
}

// §0.2: absent, null and the zero value are the same.
bool IsZero(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return true;
    case Json::value_t::string: return j.get_ref<const std::string&>().empty();
    case Json::value_t::boolean: return !j.get<bool>();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return j.get<double>() == 0;
    case Json::value_t::array:
    case Json::value_t::object: return j.empty();
    default: return false;
  }
}

bool HasOpenAiProvider(const Json& j, int depth = 0) {
  if (depth > 4) return false;
  if (j.is_object()) {
    auto it = j.find("provider");
    if (it != j.end() && it->is_string() && it->get_ref<const std::string&>() == "openai_compatible") return true;
    for (const auto& item : j) {
      if (HasOpenAiProvider(item, depth + 1)) return true;
    }
  } else if (j.is_array()) {
    for (const auto& item : j) {
      if (HasOpenAiProvider(item, depth + 1)) return true;
    }
  }
  return false;
}

class Differ {
 public:
  Differ(const DiffOptions& options, bool time_pinned, bool provider_volatile)
      : options_(options), time_pinned_(time_pinned), provider_volatile_(provider_volatile) {}

  void Compare(const Json* a, const Json* b) {
    if (Ignored()) return;
    const Json kNull;
    const Json& x = a != nullptr ? *a : kNull;
    const Json& y = b != nullptr ? *b : kNull;
    if (x.is_object() && y.is_object()) {
      for (auto it = x.begin(); it != x.end(); ++it) {
        auto other = y.find(it.key());
        Descend(it.key(), &it.value(), other == y.end() ? nullptr : &*other);
      }
      for (auto it = y.begin(); it != y.end(); ++it) {
        if (!x.contains(it.key())) Descend(it.key(), nullptr, &it.value());
      }
      return;
    }
    if (x.is_array() && y.is_array()) {
      const size_t n = std::max(x.size(), y.size());
      for (size_t i = 0; i < n; ++i) {
        if (i >= x.size() || i >= y.size()) {
          // A missing element is a length difference, not a zero value.
          path_.push_back(std::to_string(i));
          if (!Ignored()) Report();
          path_.pop_back();
          continue;
        }
        Descend(std::to_string(i), &x[i], &y[i]);
      }
      return;
    }
    if (IsZero(x) && IsZero(y) && (x.is_null() || y.is_null() || x.type() == y.type() ||
                                   (x.is_number() && y.is_number()))) {
      return;
    }
    if (!Equal(x, y)) Report();
  }

  DiffResult Take() { return std::move(result_); }

 private:
  void Descend(const std::string& key, const Json* a, const Json* b) {
    path_.push_back(key);
    Compare(a, b);
    path_.pop_back();
  }

  bool Ignored() const {
    if (path_.empty()) return false;
    if (AnyCovers(options_.ignore, path_)) return true;
    if (!time_pinned_ && AnyCovers(options_.ts_fields, path_)) return true;
    return provider_volatile_ && AnyCovers(options_.provider_volatile, path_);
  }

  double ToleranceHere() const {
    for (const Tolerance& t : options_.tolerances) {
      if (t.path.Covers(path_)) return t.abs;
    }
    return 0;
  }

  bool Equal(const Json& x, const Json& y) const {
    if (x.is_number() && y.is_number()) {
      const double tol = ToleranceHere();
      if (tol == 0 && x.is_number_integer() && y.is_number_integer()) return x == y;
      return std::fabs(x.get<double>() - y.get<double>()) <= tol;
    }
    // A timestamp: RFC 3339 text on one side, unix ms (protobuf's int64) on the other.
    if (x.is_string() && y.is_number_integer()) {
      auto ms = ParseRfc3339Millis(x.get_ref<const std::string&>());
      return ms.has_value() && *ms == y.get<int64_t>();
    }
    if (y.is_string() && x.is_number_integer()) return Equal(y, x);
    return x == y;
  }

  void Report() {
    if (result_.paths.size() < options_.max_paths) {
      result_.paths.push_back(PathText(path_));
    } else {
      ++result_.truncated;
    }
  }

  const DiffOptions& options_;
  const bool time_pinned_;
  const bool provider_volatile_;
  std::vector<std::string> path_;
  DiffResult result_;
};

}  // namespace

int ComparedStatus(const http::Response& response) {
  if (auto code = response.headers.Get(http::headers::kServiceErrorCode); code.has_value()) {
    int value = 0;
    auto [ptr, ec] = std::from_chars(code->data(), code->data() + code->size(), value);
    if (ec == std::errc() && ptr == code->data() + code->size() && value >= 100 && value <= 599) return value;
  }
  return response.status;
}

Normalized Normalize(const http::Response& response, const std::string* json_body) {
  Normalized out;
  out.status = ComparedStatus(response);
  const std::string& body = json_body != nullptr ? *json_body : response.body;
  if (body.empty()) {
    out.json = true;  // null: equal to {} and to any zero value
    return out;
  }
  out.body = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out.body.is_discarded()) {
    out.body = nullptr;
    out.raw = body;
    return out;
  }
  out.json = true;
  NormalizeInts(out.body);
  return out;
}

PathPattern PathPattern::Parse(std::string_view pattern) {
  PathPattern out;
  out.text_ = std::string(pattern);
  absl::string_view p = AV(pattern);
  if (absl::StartsWith(p, "/")) p.remove_prefix(1);
  if (p.empty()) return out;
  for (absl::string_view segment : absl::StrSplit(p, '/')) {
    // JSON pointer escapes, so a pattern can name a key containing '/' or '~'.
    std::string s = absl::StrReplaceAll(segment, {{"~1", "/"}, {"~0", "~"}});
    out.segments_.push_back(std::move(s));
  }
  return out;
}

bool PathPattern::Covers(const std::vector<std::string>& path) const { return MatchFrom(segments_, 0, path, 0); }

DiffOptions BuildDiffOptions(std::string_view service, const std::vector<std::string>& user_ignore,
                             const std::vector<std::pair<std::string, double>>& user_tolerances,
                             bool volatile_defaults) {
  DiffOptions out;
  for (const std::string& p : user_ignore) out.ignore.push_back(PathPattern::Parse(p));
  for (const auto& [path, abs] : user_tolerances) out.tolerances.push_back({PathPattern::Parse(path), abs});
  if (!volatile_defaults) return out;
  // SERVICES.md §0.7.
  out.ignore.push_back(PathPattern::Parse("**/event_id"));
  out.ignore.push_back(PathPattern::Parse("/error/message"));
  if (service == "auth") out.ignore.push_back(PathPattern::Parse("**/token"));
  // "every ts field": §0.2 types every *_at field as ts; locked_until is the one other.
  out.ts_fields.push_back(PathPattern::Parse("**/*_at"));
  out.ts_fields.push_back(PathPattern::Parse("**/locked_until"));
  if (service == "ai-integration" || service == "ai-router") {
    for (const char* p : {"**/text", "**/finish_reason", "**/*_tokens", "**/tokens", "**/tokens_in", "**/tokens_out",
                          "**/cost_micro", "**/budget_remaining_tokens"}) {
      out.provider_volatile.push_back(PathPattern::Parse(p));
    }
  }
  if (service == "knowledge-base") out.tolerances.push_back({PathPattern::Parse("**/score"), 1e-6});
  if (service == "weather-manager") out.tolerances.push_back({PathPattern::Parse("**/probabilities_bp"), 1});
  return out;
}

DiffResult Diff(const Normalized& a, const Normalized& b, const DiffOptions& options, bool time_pinned) {
  DiffResult result;
  if (a.status != b.status) result.paths.push_back(std::string(kStatusPath));
  if (!a.json || !b.json) {
    const bool same = a.json == b.json && a.raw == b.raw;
    if (!same) result.paths.push_back(std::string(kBodyPath));
    return result;
  }
  const bool provider = !options.provider_volatile.empty() && (HasOpenAiProvider(a.body) || HasOpenAiProvider(b.body));
  Differ differ(options, time_pinned, provider);
  differ.Compare(&a.body, &b.body);
  DiffResult body = differ.Take();
  result.paths.insert(result.paths.end(), body.paths.begin(), body.paths.end());
  result.truncated = body.truncated;
  return result;
}

std::string FoldIndices(std::string_view path) {
  if (path.empty() || path[0] != '/') return std::string(path);  // "$status", "$body"
  std::string out;
  for (absl::string_view segment : absl::StrSplit(AV(path.substr(1)), '/')) {
    const bool index = !segment.empty() && std::all_of(segment.begin(), segment.end(), absl::ascii_isdigit);
    absl::StrAppend(&out, "/", index ? absl::string_view("*") : segment);
  }
  return out;
}

std::optional<int64_t> ParseRfc3339Millis(std::string_view text) {
  if (text.size() < 20 || text.size() > 40) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, AV(text), &t, &err)) return std::nullopt;
  return absl::ToUnixMillis(t);
}

namespace {

void RedactJson(Json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (redact::IsSecretKey(it.key()) && !it.value().is_object() && !it.value().is_array()) {
        it.value() = "<redacted>";
      } else {
        RedactJson(it.value());
      }
    }
  } else if (j.is_array()) {
    for (auto& item : j) RedactJson(item);
  } else if (j.is_string()) {
    // A JWT, seed or "Bearer ..." inside an ordinary field (an echoed header, a message).
    j = redact::Text(j.get_ref<const std::string&>());
  }
}

std::string Cut(std::string text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // UTF-8 boundary
  text.resize(end);
  text += "...(truncated)";
  return text;
}

}  // namespace

std::string RedactBody(std::string_view body, size_t max_bytes) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Cut(redact::Text(body), max_bytes);
  RedactJson(j);
  return Cut(j.dump(-1, ' ', false, Json::error_handler_t::replace), max_bytes);
}

bool IsCredentialHeader(std::string_view name) {
  if (redact::IsSensitiveHeader(name)) return true;
  for (std::string_view h : {"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "Api-Key",
                             "X-Auth-Token", "X-Amz-Security-Token", "X-Csrf-Token"}) {
    if (http::HeaderMap::NameEquals(name, h)) return true;
  }
  return false;
}

}  // namespace sidecar::shadow
