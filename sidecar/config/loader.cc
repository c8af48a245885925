#include "sidecar/config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "sidecar/common/status_macros.h"

namespace sidecar::config {
namespace {

constexpr char kRedacted[] = "<redacted>";
constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();

// ------------------------------------------------------------------------------------------------
// Environment expansion.

bool IsVarNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsVarNameChar(char c) { return IsVarNameStart(c) || (c >= '0' && c <= '9'); }

bool IsVarName(absl::string_view name) {
  if (name.empty() || !IsVarNameStart(name[0])) return false;
  return std::all_of(name.begin(), name.end(), IsVarNameChar);
}

// Appends the expansion of `text` to `out`. Recursive only through defaults, which are shorter than
// the text containing them, so depth is bounded by the scalar's length.
absl::Status ExpandInto(absl::string_view text, const EnvLookup& env, std::string* out) {
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c != '$' || (next != '$' && next != '{')) {
      out->push_back(c);
      ++i;
      continue;
    }
    if (next == '$') {
      out->push_back('$');
      i += 2;
      continue;
    }
    // "${": find the matching '}', skipping "$$" and counting nested "${".
    size_t j = i + 2;
    int depth = 1;
    while (j < text.size()) {
      if (text[j] == '$' && j + 1 < text.size() && (text[j + 1] == '$' || text[j + 1] == '{')) {
        if (text[j + 1] == '{') ++depth;
        j += 2;
        continue;
      }
      if (text[j] == '}' && --depth == 0) break;
      ++j;
    }
    if (j >= text.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unterminated reference '", text.substr(i), "': missing '}'"));
    }
    const absl::string_view reference = text.substr(i, j + 1 - i);
    absl::string_view body = text.substr(i + 2, j - i - 2);
    if (!absl::ConsumePrefix(&body, "env:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unsupported reference '", reference, "': expected ${env:NAME} ($$ is a literal $)"));
    }
    absl::string_view name = body;
    std::optional<absl::string_view> fallback;
    if (const size_t sep = body.find(":-"); sep != absl::string_view::npos) {
      name = body.substr(0, sep);
      fallback = body.substr(sep + 2);
    }
    if (!IsVarName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid environment variable name '", name, "' in '", reference, "'"));
    }
    const std::optional<std::string> value = env(std::string(name));
    if (value.has_value() && !(fallback.has_value() && value->empty())) {
      out->append(*value);  // verbatim: values are never re-scanned
    } else if (fallback.has_value()) {
      RETURN_IF_ERROR(ExpandInto(*fallback, env, out));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("undefined environment variable '", name, "'"));
    }
    i = j + 1;
  }
  return absl::OkStatus();
}

// Whether `text` consists only of ${env:...} references whose defaults are empty or themselves only
// references: a secret written so is never in the config file, nor in a copy of it that is shared,
// committed or shown. `${env:NATS_PASSWORD:-}` (optional, empty when unset) passes;
// `${env:NATS_PASSWORD:-hunter2}` and `hunter2` do not.
bool OnlyEnvReferences(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (!absl::StartsWith(text.substr(i), "${env:")) return false;
    size_t j = i + 2;
    int depth = 1;
    while (j < text.size()) {  // the matching '}', as ExpandInto finds it
      if (text[j] == '$' && j + 1 < text.size() && (text[j + 1] == '$' || text[j + 1] == '{')) {
        if (text[j + 1] == '{') ++depth;
        j += 2;
        continue;
      }
      if (text[j] == '}' && --depth == 0) break;
      ++j;
    }
    if (j >= text.size()) return false;
    const absl::string_view body = text.substr(i + 6, j - i - 6);
    if (const size_t sep = body.find(":-"); sep != absl::string_view::npos) {
      const absl::string_view fallback = body.substr(sep + 2);
      if (!fallback.empty() && !OnlyEnvReferences(fallback)) return false;
    }
    i = j + 1;
  }
  return true;
}

// nats://user:pass@host -> nats://user:<redacted>@host; nats://token@host ->
// nats://<redacted>@host.
std::string RedactUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const size_t authority = scheme_end + 3;
  const size_t authority_end = url.find('/', authority);
  const size_t at = url.rfind('@', authority_end == std::string::npos ? url.size() : authority_end);
  if (at == std::string::npos || at < authority) return url;
  const std::string userinfo = url.substr(authority, at - authority);
  const size_t colon = userinfo.find(':');
  const std::string kept = colon == std::string::npos ? "" : userinfo.substr(0, colon + 1);
  return absl::StrCat(url.substr(0, authority), kept, kRedacted, url.substr(at));
}

bool HasUserInfo(absl::string_view url) { return RedactUrl(std::string(url)) != url; }

// The admin port is reachable only from this host (the task's own containers) on these.
bool IsLoopbackHost(absl::string_view host) {
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

// ------------------------------------------------------------------------------------------------
// Small syntax checks.

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// [a-z][a-z0-9<extra>]*
bool MatchesName(absl::string_view s, absl::string_view extra) {
  if (s.empty() || !IsLower(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [extra](char c) {
    return IsLower(c) || IsDigit(c) || extra.find(c) != absl::string_view::npos;
  });
}
bool IsServiceName(absl::string_view s) { return MatchesName(s, "-"); }
bool IsActionName(absl::string_view s) { return MatchesName(s, "_"); }
// Route names appear in admin URLs (/routes/<name>/weights) and metric labels.
bool IsRouteName(absl::string_view s) {
  if (s.empty() || !(absl::ascii_islower(s[0]) || absl::ascii_isdigit(s[0]) || s[0] == '/')) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '.' || c == '/' || c == '*' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

// "10", "10.5", "0.01" -> basis points (1000, 1050, 1); 0-100 with at most two decimals.
bool ParsePercentBp(absl::string_view text, int64_t* out) {
  size_t dot = text.find('.');
  absl::string_view whole = text.substr(0, dot);
  absl::string_view frac = dot == absl::string_view::npos ? absl::string_view() : text.substr(dot + 1);
  if (whole.empty() || whole.size() > 3 || frac.size() > 2 || (dot != absl::string_view::npos && frac.empty())) {
    return false;
  }
  int64_t value = 0;
  for (char c : whole) {
    if (!absl::ascii_isdigit(c)) return false;
    value = value * 10 + (c - '0');
  }
  int64_t bp = value * 100;
  int64_t scale = 10;
  for (char c : frac) {
    if (!absl::ascii_isdigit(c)) return false;
    bp += (c - '0') * scale;
    scale /= 10;
  }
  if (bp > 10000) return false;
  *out = bp;
  return true;
}
bool IsResourceName(absl::string_view s) { return MatchesName(s, "-_"); }

bool HasSpace(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  });
}

// A NATS subject: non-empty '.'-separated tokens without whitespace; '*' and '>' only as whole
// tokens, '>' only last.
bool IsSubject(absl::string_view s, bool allow_wildcards) {
  if (s.empty() || HasSpace(s)) return false;
  const std::vector<absl::string_view> tokens = absl::StrSplit(s, '.');
  for (size_t i = 0; i < tokens.size(); ++i) {
    const absl::string_view t = tokens[i];
    if (t.empty()) return false;
    const bool wildcard = t == "*" || (t == ">" && i + 1 == tokens.size());
    if (wildcard && allow_wildcards) continue;
    if (t.find_first_of("*>") != absl::string_view::npos) return false;
  }
  return true;
}

bool IsHostNameChar(char c) {
  return IsLower(c) || (c >= 'A' && c <= 'Z') || IsDigit(c) || c == '.' || c == '-' || c == '_';
}
bool IsIpv6Char(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.' ||
         c == '%' || IsHostNameChar(c);  // '%' and a name for a zone id (fe80::1%eth0)
}

bool ParseInt64(absl::string_view text, int64_t* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// ------------------------------------------------------------------------------------------------
// The loader: walks the YAML tree once, fills a Config and collects every error with its path.

std::string Child(const std::string& path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}
std::string Item(const std::string& path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

class Loader;

// One YAML mapping whose keys were checked against the schema: unknown and duplicate keys are
// reported on construction. An empty `known` accepts any key (maps keyed by user names, like
// actions). A null value (`key:` or `key: ~`) reads as absent.
class MapView {
 public:
  MapView(Loader& loader, const YAML::Node& node, std::string path,
          std::initializer_list<absl::string_view> known);

  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  std::string PathOf(absl::string_view key) const { return Child(path_, key); }
  // nullptr when absent or null.
  const YAML::Node* Get(absl::string_view key) const {
    for (const auto& [k, v] : entries_) {
      if (k == key) return v.IsNull() ? nullptr : &v;
    }
    return nullptr;
  }
  const std::vector<std::pair<std::string, YAML::Node>>& entries() const { return entries_; }

 private:
  bool ok_ = false;
  std::string path_;
  std::vector<std::pair<std::string, YAML::Node>> entries_;
};

// Inclusive integer bounds and how to say them.
struct Range {
  int64_t min;
  int64_t max = kNoMax;
};
constexpr Range kPositive{1};

class Loader {
 public:
  explicit Loader(const EnvLookup& env) : env_(env) {}

  void Error(const std::string& path, absl::string_view message) {
    errors_.push_back(absl::StrCat(path.empty() ? "document" : path, ": ", message));
  }
  const std::vector<std::string>& errors() const { return errors_; }

  Config Load(const YAML::Node& root) {
    Config config;
    if (!root.IsDefined() || root.IsNull()) {
      Error("nats", "required");
      return config;
    }
    MapView top(*this, root, "",
                {"server", "admin", "nats", "services", "clusters", "listeners", "routes", "events",
                 "cutover"});
    if (!top.ok()) return config;
    if (const YAML::Node* n = top.Get("server")) {
      ReadServer(*n, top.PathOf("server"), &config.server);
    }
    if (const YAML::Node* n = top.Get("admin")) {
      ReadAdmin(*n, top.PathOf("admin"), &config.admin);
    }
    if (const YAML::Node* n = top.Get("nats")) {
      ReadNats(*n, top.PathOf("nats"), &config.nats);
    } else {
      Error("nats", "required");
    }
    ReadList(top, "services", &config.services, &Loader::ReadService);
    ReadList(top, "clusters", &config.clusters, &Loader::ReadCluster);
    ReadList(top, "listeners", &config.listeners, &Loader::ReadListener);
    ReadList(top, "routes", &config.routes, &Loader::ReadRoute);
    CheckReferences(config);
    if (const YAML::Node* n = top.Get("events")) ReadEvents(*n, top.PathOf("events"), &config);
    if (const YAML::Node* n = top.Get("cutover")) ReadCutover(*n, top.PathOf("cutover"), &config);
    // A nats cluster's replies come under the connection's inbox prefix unless it names its own:
    // with per-service NATS permissions (_INBOX.<service>.>) a mux on the bare _INBOX would never
    // receive a reply.
    for (ClusterConfig& cluster : config.clusters) {
      if (cluster.nats.has_value() && cluster.nats->inbox_prefix.empty()) {
        cluster.nats->inbox_prefix = config.nats.inbox_prefix;
      }
    }
    return config;
  }

  // --- Scalars. Each returns whether `out` was set; a problem is recorded, never thrown.

  std::optional<std::string> Scalar(const YAML::Node& node, const std::string& path,
                                    absl::string_view expected) {
    if (!node.IsScalar()) {
      Error(path, absl::StrCat("expected ", expected));
      return std::nullopt;
    }
    absl::StatusOr<std::string> expanded = ExpandEnv(node.Scalar(), env_);
    if (!expanded.ok()) {
      Error(path, expanded.status().message());
      return std::nullopt;
    }
    return *std::move(expanded);
  }

  bool String(const MapView& map, absl::string_view key, std::string* out, bool required = false) {
    const YAML::Node* node = map.Get(key);
    if (node == nullptr) {
      if (required) Error(map.PathOf(key), "required");
      return false;
    }
    std::optional<std::string> value = Scalar(*node, map.PathOf(key), "string");
    if (!value.has_value()) return false;
    if (required && value->empty()) {
      Error(map.PathOf(key), "required");
      return false;
    }
    *out = *std::move(value);
    return true;
  }

  bool Int(const MapView& map, absl::string_view key, Range range, int64_t* out) {
    const YAML::Node* node = map.Get(key);
    if (node == nullptr) return false;
    const std::string path = map.PathOf(key);
    std::optional<std::string> text = Scalar(*node, path, "integer");
    if (!text.has_value()) return false;
    int64_t value = 0;
    if (!ParseInt64(*text, &value)) {
      Error(path, absl::StrCat("expected integer, got '", *text, "'"));
      return false;
    }
    if (value < range.min || value > range.max) {
      if (range.max != kNoMax) {
        Error(path, absl::StrCat("must be ", range.min, "-", range.max));
      } else if (range.min == 1) {
        Error(path, "must be > 0");
      } else {
        Error(path, absl::StrCat("must be >= ", range.min));
      }
      return false;
    }
    *out = value;
    return true;
  }

  // No config.h field is a boolean yet; kept so the first one is a one-line read with the same
  // rules (only true/false: YAML 1.1's yes/no/on/off are a classic source of surprises).
  bool Bool(const MapView& map, absl::string_view key, bool* out) {
    const YAML::Node* node = map.Get(key);
    if (node == nullptr) return false;
    std::optional<std::string> text = Scalar(*node, map.PathOf(key), "boolean");
    if (!text.has_value()) return false;
    if (*text != "true" && *text != "false") {
      Error(map.PathOf(key), absl::StrCat("expected boolean (true|false), got '", *text, "'"));
      return false;
    }
    *out = *text == "true";
    return true;
  }

  // A secret value: as String(), but the YAML text must be only ${env:...} references (see
  // OnlyEnvReferences). The message never repeats the value.
  bool Secret(const MapView& map, absl::string_view key, std::string* out) {
    const YAML::Node* node = map.Get(key);
    if (node == nullptr) return false;
    // A malformed reference (`${PASSWORD}`) is reported as such by String() below.
    if (node->IsScalar() && !OnlyEnvReferences(node->Scalar()) && ExpandEnv(node->Scalar(), env_).ok()) {
      Error(map.PathOf(key),
            absl::StrCat("a secret must not be written inline: use \"${env:VAR}\"", SecretFileHint(map, key),
                         " (the config file is shared, committed and shown by /config_dump)"));
      return false;
    }
    return String(map, key, out);
  }
  static std::string SecretFileHint(const MapView& map, absl::string_view key) {
    if (key == "password" || key == "token") return absl::StrCat(" or ", key, "_file");
    return "";
  }

  // A path that must name a readable regular file now, so a typo fails `validate`, not the first
  // connect. The contents are not read here.
  bool FilePath(const MapView& map, absl::string_view key, std::string* out) {
    if (!String(map, key, out) || out->empty()) return false;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*out, ec)) {
      Error(map.PathOf(key), absl::StrCat("cannot read '", *out, "': not a file"));
      return false;
    }
    std::ifstream file(*out, std::ios::binary);
    if (!file) {
      Error(map.PathOf(key), absl::StrCat("cannot read '", *out, "': ", std::strerror(errno)));
      return false;
    }
    return true;
  }

  // Reads a one-line secret (password, token) from the file named by `key`; trailing whitespace
  // (the newline editors and `echo` add) is dropped. Errors name the file, never its contents.
  bool SecretFile(const MapView& map, absl::string_view key, std::string* path, std::string* secret) {
    if (!FilePath(map, key, path)) return false;
    std::ifstream file(*path, std::ios::binary);
    std::ostringstream content;
    content << file.rdbuf();
    std::string value = content.str();
    while (!value.empty() && absl::ascii_isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
    if (value.empty()) {
      Error(map.PathOf(key), absl::StrCat("'", *path, "' is empty"));
      return false;
    }
    *secret = std::move(value);
    return true;
  }

  bool Address(const MapView& map, absl::string_view key, bool required, bool allow_port_zero,
               HostPort* out) {
    std::string text;
    if (!String(map, key, &text, required)) return false;
    absl::StatusOr<HostPort> parsed = ParseHostPort(text);
    if (!parsed.ok()) {
      Error(map.PathOf(key), parsed.status().message());
      return false;
    }
    if (parsed->port == 0 && !allow_port_zero) {
      Error(map.PathOf(key), "port must be 1-65535");
      return false;
    }
    *out = *std::move(parsed);
    return true;
  }

  // --- Sections.

  void ReadServer(const YAML::Node& node, const std::string& path, ServerConfig* out) {
    MapView map(*this, node, path, {"drain_timeout_ms", "log_level"});
    if (!map.ok()) return;
    Int(map, "drain_timeout_ms", kPositive, &out->drain_timeout_ms);
    std::string level;
    if (String(map, "log_level", &level)) {
      if (level == "debug" || level == "info" || level == "warn" || level == "error") {
        out->log_level = level;
      } else {
        Error(map.PathOf("log_level"),
              absl::StrCat("must be one of debug|info|warn|error, got '", level, "'"));
      }
    }
  }

  void ReadAdmin(const YAML::Node& node, const std::string& path, AdminConfig* out) {
    MapView map(*this, node, path, {"address", "token", "token_file"});
    if (!map.ok()) return;
    Address(map, "address", /*required=*/false, /*allow_port_zero=*/true, &out->address);
    Secret(map, "token", &out->token);
    if (map.Get("token_file") != nullptr && !out->token.empty()) {
      Error(map.PathOf("token_file"), "cannot be combined with token");
    } else {
      SecretFile(map, "token_file", &out->token_file, &out->token);
    }
    // Anyone who can reach a non-loopback admin port could change route weights; refuse to start
    // that way rather than rely on a security group being right.
    // (A token_file that failed to load has reported its own error.)
    if (!IsLoopbackHost(out->address.host) && out->token.empty() && map.Get("token_file") == nullptr) {
      Error(map.PathOf("token"),
            absl::StrCat("required when admin.address is not loopback (", out->address.ToString(),
                         "): mutating endpoints need a bearer token; set token: \"${env:ADMIN_TOKEN}\" or "
                         "token_file"));
    }
  }

  void ReadNats(const YAML::Node& node, const std::string& path, NatsConfig* out) {
    MapView map(
        *this, node, path,
        {"servers", "name", "connect_timeout_ms", "reconnect_wait_ms", "reconnect_jitter_ms", "max_reconnect_attempts",
         "ping_interval_ms", "max_pings_out", "inbox_prefix", "tls", "user", "password", "password_file", "token",
         "token_file", "nkey_seed_file", "credentials_file"});
    if (!map.ok()) return;
    ReadServers(map, &out->servers);
    if (String(map, "name", &out->name) && out->name.empty()) {
      Error(map.PathOf("name"), "must not be empty");
    }
    Int(map, "connect_timeout_ms", kPositive, &out->connect_timeout_ms);
    Int(map, "reconnect_wait_ms", kPositive, &out->reconnect_wait_ms);
    Int(map, "reconnect_jitter_ms", Range{0}, &out->reconnect_jitter_ms);
    Int(map, "max_reconnect_attempts", Range{-1}, &out->max_reconnect_attempts);
    Int(map, "ping_interval_ms", kPositive, &out->ping_interval_ms);
    Int(map, "max_pings_out", kPositive, &out->max_pings_out);
    if (String(map, "inbox_prefix", &out->inbox_prefix) && !out->inbox_prefix.empty() &&
        !IsSubject(out->inbox_prefix, /*allow_wildcards=*/false)) {
      Error(map.PathOf("inbox_prefix"), "expected a NATS subject without wildcards");
    }
    if (const YAML::Node* n = map.Get("tls")) ReadNatsTls(*n, map.PathOf("tls"), &out->tls.emplace());
    String(map, "user", &out->user);
    Secret(map, "password", &out->password);
    Secret(map, "token", &out->token);
    if (map.Get("password_file") != nullptr && !out->password.empty()) {
      Error(map.PathOf("password_file"), "cannot be combined with password");
    } else {
      SecretFile(map, "password_file", &out->password_file, &out->password);
    }
    if (map.Get("token_file") != nullptr && !out->token.empty()) {
      Error(map.PathOf("token_file"), "cannot be combined with token");
    } else {
      SecretFile(map, "token_file", &out->token_file, &out->token);
    }
    FilePath(map, "nkey_seed_file", &out->nkey_seed_file);
    FilePath(map, "credentials_file", &out->credentials_file);
    // Empty credentials are how an optional ${env:NATS_PASSWORD:-} says "none", so only non-empty
    // combinations that nats.c cannot honour are errors.
    if (!out->password.empty() && out->user.empty()) {
      Error(map.PathOf("password"), "requires user");
    }
    // One way to authenticate: nats.c would send several and the server would pick one, so a
    // config naming two says something other than what happens.
    std::vector<std::string> methods;
    if (!out->user.empty()) methods.push_back("user/password");
    if (!out->token.empty()) methods.push_back("token");
    if (!out->nkey_seed_file.empty()) methods.push_back("nkey_seed_file");
    if (!out->credentials_file.empty()) methods.push_back("credentials_file");
    if (methods.size() > 1) {
      if (!out->token.empty() && !out->user.empty() && methods.size() == 2) {
        Error(map.PathOf("token"), "cannot be combined with user/password");
      } else {
        Error(path, absl::StrCat("choose one way to authenticate, got ", absl::StrJoin(methods, " and ")));
      }
    }
    for (const std::string& url : out->servers) {
      if (HasUserInfo(url) && !methods.empty()) {
        Error(map.PathOf("servers"), "credentials in a server URL cannot be combined with nats.user/token/nkey/creds");
        break;
      }
    }
  }

  void ReadNatsTls(const YAML::Node& node, const std::string& path, NatsTlsConfig* out) {
    MapView map(*this, node, path,
                {"ca_file", "ca_pem", "cert_file", "cert_pem", "key_file", "key_pem", "server_name",
                 "insecure_skip_verify_dangerous"});
    if (!map.ok()) return;
    FilePath(map, "ca_file", &out->ca_file);
    FilePath(map, "cert_file", &out->cert_file);
    FilePath(map, "key_file", &out->key_file);
    String(map, "ca_pem", &out->ca_pem);  // public material: inline is fine
    String(map, "cert_pem", &out->cert_pem);
    Secret(map, "key_pem", &out->key_pem);
    String(map, "server_name", &out->server_name);
    Bool(map, "insecure_skip_verify_dangerous", &out->insecure_skip_verify_dangerous);
    for (const char* item : {"ca", "cert", "key"}) {
      if (map.Get(absl::StrCat(item, "_file")) != nullptr && map.Get(absl::StrCat(item, "_pem")) != nullptr) {
        Error(map.PathOf(absl::StrCat(item, "_pem")), absl::StrCat("cannot be combined with ", item, "_file"));
      }
    }
    const bool cert = !out->cert_file.empty() || !out->cert_pem.empty();
    const bool key = !out->key_file.empty() || !out->key_pem.empty();
    if (cert != key) {
      Error(map.PathOf(cert ? "key_file" : "cert_file"),
            "a client certificate needs its key and a key its certificate (mutual TLS uses both)");
    }
    if (out->insecure_skip_verify_dangerous && !out->server_name.empty()) {
      Error(map.PathOf("server_name"), "has no effect with insecure_skip_verify_dangerous");
    }
  }

  // A list of URLs or a single string; each entry may itself be comma-separated (the NATS_URL
  // convention), so `servers: ${env:NATS_URL}` works for a cluster URL list.
  void ReadServers(const MapView& map, std::vector<std::string>* out) {
    const std::string path = map.PathOf("servers");
    const YAML::Node* node = map.Get("servers");
    if (node == nullptr) {
      Error(path, "required");
      return;
    }
    std::vector<std::pair<std::string, YAML::Node>> items;
    if (node->IsScalar()) {
      items.emplace_back(path, *node);
    } else if (node->IsSequence()) {
      for (size_t i = 0; i < node->size(); ++i) items.emplace_back(Item(path, i), (*node)[i]);
    } else {
      Error(path, "expected list of nats:// URLs");
      return;
    }
    bool any = false;
    for (const auto& [item_path, item] : items) {
      std::optional<std::string> text = Scalar(item, item_path, "string");
      if (!text.has_value()) {
        any = true;  // reported; do not add "must not be empty" on top
        continue;
      }
      for (absl::string_view url : absl::StrSplit(*text, ',', absl::SkipWhitespace())) {
        url = absl::StripAsciiWhitespace(url);
        any = true;
        const bool scheme_ok = absl::StartsWith(url, "nats://") || absl::StartsWith(url, "tls://");
        if (!scheme_ok || url.size() == url.find("://") + 3) {
          Error(item_path, absl::StrCat("expected nats://host:port or tls://host:port, got '",
                                        RedactUrl(std::string(url)), "'"));
          continue;
        }
        if (HasUserInfo(url) && item.IsScalar() && !OnlyEnvReferences(item.Scalar())) {
          Error(item_path, "credentials must not be written inline in a server URL: use nats.user with "
                           "password: \"${env:VAR}\", or take the whole URL from ${env:NATS_URL}");
          continue;
        }
        out->emplace_back(url);
      }
    }
    if (!any) Error(path, "must not be empty");
  }

  void ReadService(const YAML::Node& node, const std::string& path, ServiceConfig* out) {
    MapView map(*this, node, path, {"name", "actions"});
    if (!map.ok()) return;
    if (String(map, "name", &out->name, /*required=*/true) && !IsServiceName(out->name)) {
      Error(map.PathOf("name"), absl::StrCat("expected [a-z][a-z0-9-]*, got '", out->name, "'"));
    }
    const YAML::Node* actions = map.Get("actions");
    if (actions == nullptr) return;
    MapView action_map(*this, *actions, map.PathOf("actions"), {});  // any key: checked below
    for (const auto& [action, value] : action_map.entries()) {
      const std::string action_path = action_map.PathOf(action);
      if (!IsActionName(action)) {
        Error(action_path, "action name: expected [a-z][a-z0-9_]*");
      }
      std::optional<std::string> text = Scalar(value, action_path, "\"METHOD /path\"");
      if (!text.has_value()) continue;
      ActionRouteConfig route;
      route.action = action;
      const std::vector<absl::string_view> parts =
          absl::StrSplit(*text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (parts.size() != 2) {
        Error(action_path, absl::StrCat("expected \"METHOD /path\", got '", *text, "'"));
        continue;
      }
      route.method = std::string(parts[0]);
      route.path_template = std::string(parts[1]);
      static constexpr absl::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
      if (std::find(std::begin(kMethods), std::end(kMethods), parts[0]) == std::end(kMethods)) {
        Error(action_path, absl::StrCat("method must be one of GET|POST|PUT|PATCH|DELETE, got '",
                                        parts[0], "'"));
        continue;
      }
      if (route.path_template[0] != '/') {
        Error(action_path, absl::StrCat("path must start with '/', got '", parts[1], "'"));
        continue;
      }
      out->actions.push_back(std::move(route));
    }
    std::sort(
        out->actions.begin(), out->actions.end(),
        [](const ActionRouteConfig& a, const ActionRouteConfig& b) { return a.action < b.action; });
  }

  // Exactly one kind key. The kinds are a table so adding one (nats, native) is one entry here.
  template <typename Kinds>
  void CheckOneKind(const MapView& map, const Kinds& kinds) {
    std::vector<std::string> present;
    std::string names;
    for (absl::string_view kind : kinds) {
      if (map.Get(kind) != nullptr) present.emplace_back(kind);
      absl::StrAppend(&names, names.empty() ? "" : "|", kind);
    }
    if (present.empty()) {
      Error(map.path(), absl::StrCat("exactly one of ", names, " required"));
    } else if (present.size() > 1) {
      Error(map.path(), absl::StrCat("exactly one of ", names, " allowed, got ",
                                     absl::StrJoin(present, " and ")));
    }
  }

  void ReadCluster(const YAML::Node& node, const std::string& path, ClusterConfig* out) {
    static constexpr absl::string_view kKinds[] = {"legacy_http", "nats", "native"};
    MapView map(*this, node, path,
                {"name", "legacy_http", "nats", "native", "circuit_breakers", "retry_budget"});
    if (!map.ok()) return;
    if (String(map, "name", &out->name, /*required=*/true) && !IsResourceName(out->name)) {
      Error(map.PathOf("name"), absl::StrCat("expected [a-z][a-z0-9_-]*, got '", out->name, "'"));
    }
    CheckOneKind(map, kKinds);
    if (const YAML::Node* n = map.Get("circuit_breakers")) {
      ReadCircuitBreakers(*n, map.PathOf("circuit_breakers"), &out->circuit_breakers);
    }
    if (const YAML::Node* n = map.Get("retry_budget")) {
      MapView budget(*this, *n, map.PathOf("retry_budget"), {"budget_percent", "min_retries_per_second"});
      if (budget.ok()) {
        Int(budget, "budget_percent", Range{0, 100}, &out->retry_budget.budget_percent);
        Int(budget, "min_retries_per_second", Range{0}, &out->retry_budget.min_retries_per_second);
      }
    }
    if (const YAML::Node* n = map.Get("legacy_http")) {
      ReadLegacyHttp(*n, map.PathOf("legacy_http"), &out->legacy_http.emplace());
    }
    if (const YAML::Node* n = map.Get("nats")) {
      ReadNatsCluster(*n, map.PathOf("nats"), &out->nats.emplace());
    }
    if (const YAML::Node* n = map.Get("native")) {
      ReadNativeCluster(*n, map.PathOf("native"), &out->native.emplace());
    }
  }

  void ReadNativeCluster(const YAML::Node& node, const std::string& path, NativeClusterConfig* out) {
    MapView map(*this, node, path,
                {"services", "store", "kv_bucket", "kv_replicas", "events", "fixtures", "serve",
                 "dependencies"});
    if (!map.ok()) return;
    // A list, or one string with commas ("auth,settings" or "all"), so an env var can choose.
    if (const YAML::Node* n = map.Get("services")) {
      std::vector<std::string> items;
      if (n->IsSequence()) {
        for (size_t i = 0; i < n->size(); ++i) {
          if (auto v = Scalar((*n)[i], Item(map.PathOf("services"), i), "string")) items.push_back(*v);
        }
      } else if (auto v = Scalar(*n, map.PathOf("services"), "list or comma-separated string")) {
        for (absl::string_view part : absl::StrSplit(*v, ',', absl::SkipWhitespace())) {
          items.emplace_back(absl::StripAsciiWhitespace(part));
        }
      }
      for (const std::string& item : items) {
        if (item != "all" && !IsServiceName(item)) {
          Error(map.PathOf("services"), absl::StrCat("expected service names or all, got '", item, "'"));
        }
      }
      out->services = std::move(items);
    }
    if (out->services.empty()) Error(map.PathOf("services"), "required");
    if (String(map, "store", &out->store) && out->store != "memory" && out->store != "jetstream") {
      Error(map.PathOf("store"), absl::StrCat("expected memory|jetstream, got '", out->store, "'"));
    }
    String(map, "kv_bucket", &out->kv_bucket);
    Int(map, "kv_replicas", Range{1, 5}, &out->kv_replicas);
    if (String(map, "events", &out->events) && out->events != "memory" && out->events != "jetstream") {
      Error(map.PathOf("events"), absl::StrCat("expected memory|jetstream, got '", out->events, "'"));
    }
    Bool(map, "fixtures", &out->fixtures);
    Bool(map, "serve", &out->serve);
    String(map, "dependencies", &out->dependencies);  // checked against the clusters in CheckReferences
  }

  void ReadNatsCluster(const YAML::Node& node, const std::string& path, NatsClusterConfig* out) {
    MapView map(*this, node, path, {"mode", "subject", "timeout_ms", "inbox_prefix", "health_check"});
    if (!map.ok()) return;
    if (const YAML::Node* n = map.Get("health_check")) {
      ReadHealthCheck(*n, map.PathOf("health_check"), &out->health_check.emplace(), /*nats=*/true);
    }
    if (String(map, "mode", &out->mode) && out->mode != "action" && out->mode != "passthrough") {
      Error(map.PathOf("mode"), absl::StrCat("expected action|passthrough, got '", out->mode, "'"));
    }
    if (String(map, "subject", &out->subject) && !out->subject.empty() &&
        !IsSubject(out->subject, /*allow_wildcards=*/false)) {
      Error(map.PathOf("subject"), absl::StrCat("expected a NATS subject without wildcards, got '",
                                                out->subject, "'"));
    }
    if (out->mode == "passthrough" && out->subject.empty()) {
      Error(map.PathOf("subject"), "required in passthrough mode");
    }
    if (out->mode == "action" && !out->subject.empty()) {
      Error(map.PathOf("subject"), "not allowed in action mode (the subject is svc.<service>.v1.<action>)");
    }
    Int(map, "timeout_ms", kPositive, &out->timeout_ms);
    if (String(map, "inbox_prefix", &out->inbox_prefix) && !out->inbox_prefix.empty() &&
        !IsSubject(out->inbox_prefix, /*allow_wildcards=*/false)) {
      Error(map.PathOf("inbox_prefix"),
            absl::StrCat("expected a subject prefix such as _INBOX.settings, got '", out->inbox_prefix, "'"));
    }
  }

  void ReadLegacyHttp(const YAML::Node& node, const std::string& path,
                      LegacyHttpClusterConfig* out) {
    MapView map(*this, node, path,
                {"address", "connect_timeout_ms", "request_timeout_ms", "max_connections",
                 "max_pending_requests", "max_response_headers_bytes", "max_response_body_bytes",
                 "health_check"});
    if (!map.ok()) return;
    Address(map, "address", /*required=*/true, /*allow_port_zero=*/false, &out->address);
    Int(map, "connect_timeout_ms", kPositive, &out->connect_timeout_ms);
    Int(map, "request_timeout_ms", kPositive, &out->request_timeout_ms);
    Int(map, "max_connections", kPositive, &out->max_connections);
    Int(map, "max_pending_requests", kPositive, &out->max_pending_requests);
    Int(map, "max_response_headers_bytes", kPositive, &out->max_response_headers_bytes);
    Int(map, "max_response_body_bytes", kPositive, &out->max_response_body_bytes);
    if (const YAML::Node* n = map.Get("health_check")) {
      ReadHealthCheck(*n, map.PathOf("health_check"), &out->health_check.emplace());
    }
  }

  void ReadCircuitBreakers(const YAML::Node& node, const std::string& path, CircuitBreakersConfig* out) {
    MapView map(*this, node, path, {"max_requests", "max_retries", "consecutive_failures", "open_interval_ms"});
    if (!map.ok()) return;
    Int(map, "max_requests", kPositive, &out->max_requests);
    Int(map, "max_retries", Range{0}, &out->max_retries);
    Int(map, "consecutive_failures", Range{0}, &out->consecutive_failures);
    Int(map, "open_interval_ms", kPositive, &out->open_interval_ms);
  }

  void ReadRetryPolicy(const YAML::Node& node, const std::string& path, RetryPolicyConfig* out) {
    static constexpr absl::string_view kOutcomes[] = {"connect_failure", "reset", "timeout", "unavailable",
                                                      "no_responders"};
    MapView map(*this, node, path,
                {"retry_on", "max_attempts", "backoff_base_ms", "backoff_max_ms", "per_try_timeout_ms",
                 "retry_non_idempotent"});
    if (!map.ok()) return;
    if (const YAML::Node* n = map.Get("retry_on")) {
      const std::string list_path = map.PathOf("retry_on");
      if (!n->IsSequence()) {
        Error(list_path, "expected list");
      } else {
        out->retry_on.clear();
        for (size_t i = 0; i < n->size(); ++i) {
          std::optional<std::string> v = Scalar((*n)[i], Item(list_path, i), "string");
          if (!v.has_value()) continue;
          if (std::find(std::begin(kOutcomes), std::end(kOutcomes), *v) == std::end(kOutcomes)) {
            Error(Item(list_path, i), absl::StrCat("unknown outcome '", *v,
                                                   "' (expected connect_failure, reset, timeout, unavailable "
                                                   "or no_responders)"));
            continue;
          }
          out->retry_on.push_back(*v);
        }
      }
    }
    Int(map, "max_attempts", Range{1, 10}, &out->max_attempts);
    Int(map, "backoff_base_ms", kPositive, &out->backoff_base_ms);
    Int(map, "backoff_max_ms", kPositive, &out->backoff_max_ms);
    Int(map, "per_try_timeout_ms", Range{0}, &out->per_try_timeout_ms);
    Bool(map, "retry_non_idempotent", &out->retry_non_idempotent);
    if (out->backoff_max_ms < out->backoff_base_ms) {
      Error(map.PathOf("backoff_max_ms"), "must be at least backoff_base_ms");
    }
  }

  // An HTTP check (`path`) for legacy_http clusters, a NATS request (`subject`) for nats ones.
  void ReadHealthCheck(const YAML::Node& node, const std::string& path, HealthCheckConfig* out,
                       bool nats = false) {
    MapView map(*this, node, path,
                {nats ? "subject" : "path", "interval_ms", "timeout_ms", "healthy_threshold", "unhealthy_threshold"});
    if (!map.ok()) return;
    if (nats) {
      if (String(map, "subject", &out->subject, /*required=*/true) &&
          !IsSubject(out->subject, /*allow_wildcards=*/false)) {
        Error(map.PathOf("subject"),
              absl::StrCat("expected a NATS subject without wildcards, got '", out->subject, "'"));
      }
    } else if (String(map, "path", &out->path, /*required=*/true) &&
               (out->path[0] != '/' || HasSpace(out->path))) {
      Error(map.PathOf("path"),
            absl::StrCat("expected a path starting with '/', got '", out->path, "'"));
    }
    Int(map, "interval_ms", kPositive, &out->interval_ms);
    Int(map, "timeout_ms", kPositive, &out->timeout_ms);
    Int(map, "healthy_threshold", kPositive, &out->healthy_threshold);
    Int(map, "unhealthy_threshold", kPositive, &out->unhealthy_threshold);
  }

  void ReadListener(const YAML::Node& node, const std::string& path, ListenerConfig* out) {
    static constexpr absl::string_view kKinds[] = {"nats", "http"};
    MapView map(*this, node, path, {"name", "nats", "http"});
    if (!map.ok()) return;
    if (String(map, "name", &out->name, /*required=*/true) && !IsResourceName(out->name)) {
      Error(map.PathOf("name"), absl::StrCat("expected [a-z][a-z0-9_-]*, got '", out->name, "'"));
    }
    CheckOneKind(map, kKinds);
    if (const YAML::Node* n = map.Get("nats")) {
      ReadNatsListener(*n, map.PathOf("nats"), &out->nats.emplace());
    }
    if (const YAML::Node* n = map.Get("http")) {
      ReadHttpListener(*n, map.PathOf("http"), &out->http.emplace());
    }
  }

  void ReadHttpListener(const YAML::Node& node, const std::string& path, HttpListenerConfig* out) {
    MapView map(*this, node, path,
                {"address", "max_header_bytes", "max_headers", "max_body_bytes", "header_timeout_ms",
                 "idle_timeout_ms", "body_timeout_ms", "request_timeout_ms", "max_connections",
                 "max_in_flight"});
    if (!map.ok()) return;
    Address(map, "address", /*required=*/true, /*allow_port_zero=*/true, &out->address);
    Int(map, "max_header_bytes", Range{256, 1024 * 1024}, &out->max_header_bytes);
    Int(map, "max_headers", Range{1, 10000}, &out->max_headers);
    Int(map, "max_body_bytes", kPositive, &out->max_body_bytes);
    Int(map, "header_timeout_ms", kPositive, &out->header_timeout_ms);
    Int(map, "idle_timeout_ms", kPositive, &out->idle_timeout_ms);
    Int(map, "body_timeout_ms", kPositive, &out->body_timeout_ms);
    Int(map, "request_timeout_ms", kPositive, &out->request_timeout_ms);
    Int(map, "max_connections", kPositive, &out->max_connections);
    Int(map, "max_in_flight", kPositive, &out->max_in_flight);
  }

  void ReadNatsListener(const YAML::Node& node, const std::string& path, NatsListenerConfig* out) {
    MapView map(*this, node, path,
                {"service", "subject", "queue", "max_payload_bytes", "max_in_flight", "stream_window"});
    if (!map.ok()) return;
    const bool has_service = String(map, "service", &out->service, /*required=*/true);
    if (has_service && !IsServiceName(out->service)) {
      Error(map.PathOf("service"),
            absl::StrCat("expected [a-z][a-z0-9-]*, got '", out->service, "'"));
    }
    if (String(map, "subject", &out->subject) && !out->subject.empty() &&
        !IsSubject(out->subject, /*allow_wildcards=*/true)) {
      Error(map.PathOf("subject"),
            absl::StrCat("expected a NATS subject, got '", out->subject, "'"));
    }
    if (String(map, "queue", &out->queue) && HasSpace(out->queue)) {
      Error(map.PathOf("queue"),
            absl::StrCat("must not contain whitespace, got '", out->queue, "'"));
    }
    if (has_service) {
      if (out->subject.empty()) out->subject = absl::StrCat("svc.", out->service, ".v1.>");
      if (out->queue.empty()) out->queue = absl::StrCat("svc-", out->service, "-workers");
    }
    Int(map, "max_payload_bytes", kPositive, &out->max_payload_bytes);
    Int(map, "max_in_flight", kPositive, &out->max_in_flight);
    Int(map, "stream_window", kPositive, &out->stream_window);
  }

  // --- shadow: (issue 7, sidecar/shadow). Percentages like split weights; the cluster is checked
  // in CheckReferences.
  std::vector<std::string> StringList(const MapView& map, absl::string_view key, bool* present) {
    std::vector<std::string> out;
    *present = false;
    const YAML::Node* n = map.Get(key);
    if (n == nullptr) return out;
    if (!n->IsSequence()) {
      Error(map.PathOf(key), "expected list of strings");
      return out;
    }
    *present = true;
    for (size_t i = 0; i < n->size(); ++i) {
      if (auto v = Scalar((*n)[i], Item(map.PathOf(key), i), "string")) out.push_back(*v);
    }
    return out;
  }

  bool ShadowPercent(const MapView& map, absl::string_view key, int64_t min_bp, int64_t* out) {
    const YAML::Node* n = map.Get(key);
    if (n == nullptr) return false;
    std::optional<std::string> text = Scalar(*n, map.PathOf(key), "percentage");
    if (!text.has_value()) return false;
    int64_t bp = 0;
    if (!ParsePercentBp(*text, &bp) || bp < min_bp) {
      Error(map.PathOf(key), absl::StrCat("expected a percentage ", min_bp == 0 ? "0" : "0.01",
                                          "-100 (up to 2 decimals), got '", *text, "'"));
      return false;
    }
    *out = bp;
    return true;
  }

  void ReadShadow(const YAML::Node& node, const std::string& path, ShadowConfig* out) {
    MapView map(*this, node, path,
                {"cluster", "percent", "methods", "header", "allow_credentials", "strip_headers", "timeout_ms",
                 "max_concurrent", "ignore_paths", "tolerances", "volatile_defaults", "noise_percent",
                 "pause_above_cpu_pressure"});
    if (!map.ok()) return;
    String(map, "cluster", &out->cluster, /*required=*/true);
    ShadowPercent(map, "percent", 1, &out->percent_bp);
    bool present = false;
    std::vector<std::string> methods = StringList(map, "methods", &present);
    if (present) {
      out->methods.clear();
      for (size_t i = 0; i < methods.size(); ++i) {
        const std::string& m = methods[i];
        const bool token = m == "*" || (!m.empty() && std::all_of(m.begin(), m.end(), [](char c) {
                                          return c >= 'A' && c <= 'Z';
                                        }));
        if (!token) {
          Error(Item(map.PathOf("methods"), i), absl::StrCat("expected an upper-case HTTP method or \"*\", got '", m, "'"));
        } else {
          out->methods.push_back(m);
        }
      }
      if (out->methods.empty()) Error(map.PathOf("methods"), "must not be empty");
    }
    if (String(map, "header", &out->header) && (out->header.empty() || HasSpace(out->header))) {
      Error(map.PathOf("header"), "expected a header name");
    }
    out->allow_credentials = StringList(map, "allow_credentials", &present);
    out->strip_headers = StringList(map, "strip_headers", &present);
    Int(map, "timeout_ms", kPositive, &out->timeout_ms);
    Int(map, "max_concurrent", kPositive, &out->max_concurrent);
    out->ignore_paths = StringList(map, "ignore_paths", &present);
    if (const YAML::Node* n = map.Get("tolerances")) {
      MapView tol(*this, *n, map.PathOf("tolerances"), {});
      if (tol.ok()) {
        for (const auto& [key, value] : tol.entries()) {
          std::optional<std::string> text = Scalar(value, tol.PathOf(key), "number");
          double abs = 0;
          if (!text.has_value()) continue;
          if (!absl::SimpleAtod(*text, &abs) || !(abs >= 0)) {
            Error(tol.PathOf(key), absl::StrCat("expected a non-negative number, got '", *text, "'"));
            continue;
          }
          out->tolerances[key] = abs;
        }
      }
    }
    Bool(map, "volatile_defaults", &out->volatile_defaults);
    ShadowPercent(map, "noise_percent", 0, &out->noise_percent_bp);
    ShadowPercent(map, "pause_above_cpu_pressure", 0, &out->pause_above_cpu_pressure_bp);
  }

  void ReadRoute(const YAML::Node& node, const std::string& path, RouteConfig* out) {
    MapView map(*this, node, path,
                {"name", "service", "action", "prefix", "cluster", "split", "sticky", "override",
                 "fallback", "timeout_ms", "retry", "shadow"});
    if (!map.ok()) return;
    if (const YAML::Node* n = map.Get("retry")) {
      ReadRetryPolicy(*n, map.PathOf("retry"), &out->retry.emplace());
    }
    if (const YAML::Node* n = map.Get("shadow")) {
      ReadShadow(*n, map.PathOf("shadow"), &out->shadow.emplace());
    }
    if (String(map, "name", &out->name) && !out->name.empty() && !IsRouteName(out->name)) {
      Error(map.PathOf("name"), absl::StrCat("expected [a-z0-9][a-z0-9_./*-]*, got '", out->name, "'"));
    }
    if (String(map, "service", &out->service) && !out->service.empty() && !IsServiceName(out->service)) {
      Error(map.PathOf("service"),
            absl::StrCat("expected [a-z][a-z0-9-]*, got '", out->service, "'"));
    }
    if (String(map, "action", &out->action) && !out->action.empty() && !IsActionName(out->action)) {
      Error(
          map.PathOf("action"),
          absl::StrCat("expected [a-z][a-z0-9_]* or \"\" (every action), got '", out->action, "'"));
    }
    if (String(map, "prefix", &out->prefix) && !out->prefix.empty() &&
        (out->prefix[0] != '/' || HasSpace(out->prefix))) {
      Error(map.PathOf("prefix"), absl::StrCat("expected a path starting with '/', got '", out->prefix, "'"));
    }
    if (out->service.empty() && out->prefix.empty()) {
      Error(path, "one of service (NATS requests) or prefix (HTTP requests) required");
    }
    if (!out->action.empty() && out->service.empty() && !out->prefix.empty()) {
      Error(map.PathOf("action"), "needs service");
    }
    const bool has_cluster = String(map, "cluster", &out->cluster) && !out->cluster.empty();
    const YAML::Node* split = map.Get("split");
    if (has_cluster == (split != nullptr)) {
      Error(path, "exactly one of cluster or split required");
    }
    if (has_cluster) out->split.push_back(WeightedClusterConfig{out->cluster, 10000});
    if (split != nullptr) ReadSplit(*split, map.PathOf("split"), &out->split);
    if (const YAML::Node* n = map.Get("sticky")) {
      MapView sticky(*this, *n, map.PathOf("sticky"), {"header", "json_field"});
      if (sticky.ok()) {
        StickyConfig& cfg = out->sticky.emplace();
        String(sticky, "header", &cfg.header);
        String(sticky, "json_field", &cfg.json_field);
        if (cfg.header.empty() == cfg.json_field.empty()) {
          Error(sticky.path(), "exactly one of header or json_field required");
        }
      }
    }
    if (const YAML::Node* n = map.Get("override")) {
      MapView ov(*this, *n, map.PathOf("override"), {"header", "principals"});
      if (ov.ok()) {
        RouteOverrideConfig& cfg = out->override_header.emplace();
        String(ov, "header", &cfg.header);
        if (const YAML::Node* p = ov.Get("principals")) {
          if (!p->IsSequence()) {
            Error(ov.PathOf("principals"), "expected list");
          } else {
            for (size_t i = 0; i < p->size(); ++i) {
              if (auto v = Scalar((*p)[i], Item(ov.PathOf("principals"), i), "string")) {
                cfg.principals.push_back(*v);
              }
            }
          }
        }
        if (cfg.principals.empty()) {
          Error(ov.PathOf("principals"), "required (list the X-Principal values allowed, or \"*\")");
        }
      }
    }
    String(map, "fallback", &out->fallback);
    Int(map, "timeout_ms", Range{0}, &out->timeout_ms);  // 0: no route-level bound
    if (out->name.empty()) {
      out->name = !out->prefix.empty() ? out->prefix
                                       : absl::StrCat(out->service, "/", out->action.empty() ? "*" : out->action);
    }
  }

  // --- events: (adapters/events). Read after clusters and listeners so references are checked here.

  bool SubjectList(const MapView& map, absl::string_view key, std::vector<std::string>* out) {
    const YAML::Node* n = map.Get(key);
    if (n == nullptr) return false;
    if (!n->IsSequence()) {
      Error(map.PathOf(key), "expected list of NATS subjects");
      return false;
    }
    for (size_t i = 0; i < n->size(); ++i) {
      const std::string item_path = Item(map.PathOf(key), i);
      if (auto v = Scalar((*n)[i], item_path, "string")) {
        if (!IsSubject(*v, /*allow_wildcards=*/true)) {
          Error(item_path, absl::StrCat("expected a NATS subject, got '", *v, "'"));
        } else {
          out->push_back(*v);
        }
      }
    }
    return true;
  }

  // JetStream names (stream, durable) may not contain '.', '*', '>' or whitespace.
  bool IsJetStreamName(absl::string_view s) {
    return !s.empty() && !HasSpace(s) && s.find_first_of(".*>/\\") == absl::string_view::npos;
  }

  void ReadEvents(const YAML::Node& node, const std::string& path, Config* config) {
    MapView map(*this, node, path, {"consumers", "publish"});
    if (!map.ok()) return;
    EventsConfig& out = config->events;
    std::map<std::string, const ClusterConfig*> clusters;
    for (const ClusterConfig& c : config->clusters) clusters.emplace(c.name, &c);
    if (const YAML::Node* list = map.Get("consumers")) {
      const std::string list_path = map.PathOf("consumers");
      if (!list->IsSequence()) {
        Error(list_path, "expected list");
      } else {
        std::map<std::string, size_t> names, durables;
        for (size_t i = 0; i < list->size(); ++i) {
          EventConsumerConfig c;
          const std::string item_path = Item(list_path, i);
          ReadEventConsumer((*list)[i], item_path, clusters, &c);
          if (!c.name.empty() && !names.emplace(c.name, i).second) {
            Error(Child(item_path, "name"), absl::StrCat("duplicate consumer name '", c.name, "'"));
          }
          if (!c.durable.empty() && !durables.emplace(c.stream + "/" + c.durable, i).second) {
            Error(Child(item_path, "durable"),
                  absl::StrCat("durable '", c.durable, "' on stream '", c.stream, "' used twice"));
          }
          out.consumers.push_back(std::move(c));
        }
      }
    }
    if (const YAML::Node* n = map.Get("publish")) {
      MapView pub(*this, *n, map.PathOf("publish"), {"listener", "prefix", "allowed_subjects", "timeout_ms"});
      if (!pub.ok()) return;
      EventPublishConfig& p = out.publish.emplace();
      if (String(pub, "listener", &p.listener, /*required=*/true)) {
        const auto it = std::find_if(config->listeners.begin(), config->listeners.end(),
                                     [&p](const ListenerConfig& l) { return l.name == p.listener; });
        if (it == config->listeners.end()) {
          Error(pub.PathOf("listener"), absl::StrCat("undefined listener '", p.listener, "'"));
        } else if (!it->http.has_value()) {
          Error(pub.PathOf("listener"), absl::StrCat("listener '", p.listener, "' is not an http listener"));
        }
      }
      if (String(pub, "prefix", &p.prefix) &&
          (p.prefix.size() < 2 || p.prefix.front() != '/' || p.prefix.back() != '/' || HasSpace(p.prefix))) {
        Error(pub.PathOf("prefix"), absl::StrCat("expected a path like /events/, got '", p.prefix, "'"));
      }
      if (!SubjectList(pub, "allowed_subjects", &p.allowed_subjects) || p.allowed_subjects.empty()) {
        Error(pub.PathOf("allowed_subjects"), "required (the subjects the legacy service may publish)");
      }
      Int(pub, "timeout_ms", kPositive, &p.timeout_ms);
    }
  }

  void ReadEventConsumer(const YAML::Node& node, const std::string& path,
                         const std::map<std::string, const ClusterConfig*>& clusters, EventConsumerConfig* out) {
    MapView map(*this, node, path,
                {"name", "stream", "filter_subject", "durable", "cluster", "path", "max_deliver", "backoff_ms",
                 "timeout_ms", "ack_wait_ms", "max_ack_pending", "dlq_stream"});
    if (!map.ok()) return;
    if (String(map, "name", &out->name, /*required=*/true) && !IsResourceName(out->name)) {
      Error(map.PathOf("name"), absl::StrCat("expected [a-z][a-z0-9_-]*, got '", out->name, "'"));
    }
    if (String(map, "stream", &out->stream, /*required=*/true) && !IsJetStreamName(out->stream)) {
      Error(map.PathOf("stream"), absl::StrCat("expected a stream name without . * > or spaces, got '",
                                               out->stream, "'"));
    }
    if (String(map, "filter_subject", &out->filter_subject, /*required=*/true) &&
        !IsSubject(out->filter_subject, /*allow_wildcards=*/true)) {
      Error(map.PathOf("filter_subject"), absl::StrCat("expected a NATS subject, got '", out->filter_subject, "'"));
    }
    if (String(map, "durable", &out->durable) && !IsJetStreamName(out->durable)) {
      Error(map.PathOf("durable"), absl::StrCat("expected a consumer name without . * > or spaces, got '",
                                                out->durable, "'"));
    }
    if (out->durable.empty() && !out->name.empty()) out->durable = absl::StrCat("sidecar-", out->name);
    if (String(map, "cluster", &out->cluster, /*required=*/true)) {
      const auto it = clusters.find(out->cluster);
      if (it == clusters.end()) {
        Error(map.PathOf("cluster"), absl::StrCat("undefined cluster '", out->cluster, "'"));
      } else if (it->second->nats.has_value()) {
        Error(map.PathOf("cluster"), absl::StrCat("cluster '", out->cluster,
                                                  "' is a nats cluster; events go to a legacy_http or native one"));
      }
    }
    if (String(map, "path", &out->path, /*required=*/true) && (out->path[0] != '/' || HasSpace(out->path))) {
      Error(map.PathOf("path"), absl::StrCat("expected a path starting with '/', got '", out->path, "'"));
    }
    Int(map, "max_deliver", Range{1, 1000}, &out->max_deliver);
    if (const YAML::Node* n = map.Get("backoff_ms")) {
      std::vector<int64_t> backoff;
      if (!n->IsSequence() || n->size() == 0) {
        Error(map.PathOf("backoff_ms"), "expected a non-empty list of milliseconds");
      } else {
        for (size_t i = 0; i < n->size(); ++i) {
          const std::string item_path = Item(map.PathOf("backoff_ms"), i);
          auto text = Scalar((*n)[i], item_path, "integer");
          int64_t v = 0;
          if (!text.has_value()) continue;
          if (!ParseInt64(*text, &v) || v < 0) {
            Error(item_path, absl::StrCat("expected milliseconds >= 0, got '", *text, "'"));
            continue;
          }
          backoff.push_back(v);
        }
        out->backoff_ms = std::move(backoff);
      }
    }
    Int(map, "timeout_ms", kPositive, &out->timeout_ms);
    Int(map, "ack_wait_ms", Range{1000}, &out->ack_wait_ms);
    // A delivery still running when ack_wait expires would be redelivered while in flight.
    if (out->timeout_ms >= out->ack_wait_ms) {
      Error(map.PathOf("timeout_ms"), absl::StrCat("must be less than ack_wait_ms (", out->ack_wait_ms,
                                                   "), or the event is redelivered while still in flight"));
    }
    Int(map, "max_ack_pending", Range{1, 100000}, &out->max_ack_pending);
    if (String(map, "dlq_stream", &out->dlq_stream, /*required=*/false) && !IsJetStreamName(out->dlq_stream)) {
      Error(map.PathOf("dlq_stream"), absl::StrCat("expected a stream name, got '", out->dlq_stream, "'"));
    }
    if (!out->stream.empty() && out->stream == out->dlq_stream) {
      Error(map.PathOf("dlq_stream"), "must differ from stream");
    }
  }

  // --- cutover: (sidecar/cutover). Read after routes and clusters so references are checked here.

  // A percentage ("5", "0.5") as basis points.
  bool Percent(const MapView& map, absl::string_view key, int64_t* out) {
    const YAML::Node* n = map.Get(key);
    if (n == nullptr) return false;
    auto text = Scalar(*n, map.PathOf(key), "percentage");
    if (!text.has_value()) return false;
    if (!ParsePercentBp(*text, out)) {
      Error(map.PathOf(key), absl::StrCat("expected a percentage 0-100 (up to 2 decimals), got '", *text, "'"));
      return false;
    }
    return true;
  }

  // error_rate / mismatch_rate: {max_percent, min_requests, window_ms}; p99_latency: {max_ms, ...}.
  void ReadGuardRule(const MapView& parent, absl::string_view key, bool latency,
                     std::optional<GuardRuleConfig>* out) {
    const YAML::Node* n = parent.Get(key);
    if (n == nullptr) return;
    const char* max_key = latency ? "max_ms" : "max_percent";
    MapView map(*this, *n, parent.PathOf(key), {max_key, "min_requests", "window_ms"});
    if (!map.ok()) return;
    GuardRuleConfig& rule = out->emplace();
    const bool has_max = latency ? Int(map, max_key, kPositive, &rule.max) : Percent(map, max_key, &rule.max);
    if (!has_max && map.Get(max_key) == nullptr) Error(map.PathOf(max_key), "required");
    Int(map, "min_requests", kPositive, &rule.min_requests);
    Int(map, "window_ms", Range{100, 24 * 3600 * 1000}, &rule.window_ms);
  }

  void ReadCutover(const YAML::Node& node, const std::string& path, Config* config) {
    MapView map(*this, node, path, {"kv_bucket", "kv_replicas", "evaluate_interval_ms", "routes"});
    if (!map.ok()) return;
    CutoverConfig& out = config->cutover.emplace();
    if (String(map, "kv_bucket", &out.kv_bucket) &&
        (out.kv_bucket.empty() || !std::all_of(out.kv_bucket.begin(), out.kv_bucket.end(), [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
        }))) {
      Error(map.PathOf("kv_bucket"), absl::StrCat("expected [A-Za-z0-9_-]+, got '", out.kv_bucket, "'"));
    }
    Int(map, "kv_replicas", Range{1, 5}, &out.kv_replicas);
    Int(map, "evaluate_interval_ms", Range{10, 60000}, &out.evaluate_interval_ms);
    const YAML::Node* list = map.Get("routes");
    if (list == nullptr) return;
    const std::string list_path = map.PathOf("routes");
    if (!list->IsSequence()) {
      Error(list_path, "expected list");
      return;
    }
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string item_path = Item(list_path, i);
      MapView entry(*this, (*list)[i], item_path,
                    {"route", "side", "error_rate", "p99_latency", "mismatch_rate", "ramp"});
      CutoverRouteConfig& rc = out.routes.emplace_back();
      if (!entry.ok()) continue;
      const RouteConfig* route = nullptr;
      if (String(entry, "route", &rc.route, /*required=*/true)) {
        for (const RouteConfig& r : config->routes) {
          if (r.name == rc.route) route = &r;
        }
        if (route == nullptr) {
          Error(entry.PathOf("route"), absl::StrCat("undefined route '", rc.route, "'"));
        } else if (route->split.size() < 2) {
          Error(entry.PathOf("route"), absl::StrCat("route '", rc.route, "' has one cluster; a cut-over needs a split"));
        }
        auto [it, inserted] = seen.emplace(rc.route, i);
        if (!inserted) {
          Error(entry.PathOf("route"), absl::StrCat("route '", rc.route, "' listed twice (first at ", list_path, "[",
                                                    it->second, "])"));
        }
      }
      String(entry, "side", &rc.side);
      if (route != nullptr && route->split.size() >= 2) {
        bool found = false;
        for (const WeightedClusterConfig& w : route->split) {
          if (w.cluster == rc.side) found = true;
          for (const ClusterConfig& c : config->clusters) {
            if (c.name != w.cluster) continue;
            const char* kind = c.legacy_http ? "legacy" : c.nats ? "nats" : c.native ? "native" : "";
            if (rc.side == kind) found = true;
          }
        }
        if (!found) {
          Error(entry.PathOf("side"), absl::StrCat("'", rc.side, "' is neither a cluster nor a cluster kind of route '",
                                                   rc.route, "'s split"));
        }
      }
      ReadGuardRule(entry, "error_rate", /*latency=*/false, &rc.error_rate);
      ReadGuardRule(entry, "p99_latency", /*latency=*/true, &rc.p99_latency);
      ReadGuardRule(entry, "mismatch_rate", /*latency=*/false, &rc.mismatch_rate);
      if (const YAML::Node* n = entry.Get("ramp")) {
        MapView ramp(*this, *n, entry.PathOf("ramp"), {"steps", "hold_ms"});
        if (!ramp.ok()) continue;
        RampConfig& rp = rc.ramp.emplace();
        if (const YAML::Node* steps = ramp.Get("steps")) {
          const std::string steps_path = ramp.PathOf("steps");
          if (!steps->IsSequence() || steps->size() == 0) {
            Error(steps_path, "expected a non-empty list of percentages");
          } else {
            rp.steps_bp.clear();
            for (size_t j = 0; j < steps->size(); ++j) {
              const std::string step_path = Item(steps_path, j);
              auto text = Scalar((*steps)[j], step_path, "percentage");
              int64_t bp = 0;
              if (!text.has_value()) continue;
              if (!ParsePercentBp(*text, &bp) || bp == 0) {
                Error(step_path, absl::StrCat("expected a percentage above 0, up to 100, got '", *text, "'"));
                continue;
              }
              if (!rp.steps_bp.empty() && bp <= rp.steps_bp.back()) {
                Error(step_path, "steps must increase");
                continue;
              }
              rp.steps_bp.push_back(bp);
            }
          }
        }
        Int(ramp, "hold_ms", kPositive, &rp.hold_ms);
      }
    }
  }

  // Weights are percentages with up to two decimals ("10", "0.5"); one entry may omit its weight
  // and take the rest of 100%. Without such an entry the weights must add up to exactly 100.
  void ReadSplit(const YAML::Node& node, const std::string& path, std::vector<WeightedClusterConfig>* out) {
    if (!node.IsSequence() || node.size() == 0) {
      Error(path, "expected a non-empty list of {cluster, weight}");
      return;
    }
    int64_t total = 0;
    int rest = 0;
    for (size_t i = 0; i < node.size(); ++i) {
      MapView entry(*this, node[i], Item(path, i), {"cluster", "weight"});
      if (!entry.ok()) continue;
      WeightedClusterConfig& w = out->emplace_back();
      String(entry, "cluster", &w.cluster, /*required=*/true);
      if (const YAML::Node* weight = entry.Get("weight")) {
        if (auto text = Scalar(*weight, entry.PathOf("weight"), "percentage")) {
          if (!ParsePercentBp(*text, &w.weight_bp)) {
            Error(entry.PathOf("weight"), absl::StrCat("expected a percentage 0-100 (up to 2 decimals), got '",
                                                       *text, "'"));
          } else {
            total += w.weight_bp;
          }
        }
      } else {
        ++rest;
      }
    }
    if (rest > 1) Error(path, "at most one entry may omit its weight (it takes the rest of 100%)");
    if (total > 10000) Error(path, absl::StrCat("weights add up to ", total / 100.0, "%, more than 100%"));
    if (rest == 0 && total != 10000 && total <= 10000) {
      Error(path, absl::StrCat("weights add up to ", total / 100.0, "%; make them 100% or omit one weight"));
    }
    if (rest == 1 && total <= 10000) {
      for (auto& w : *out) {
        if (w.weight_bp < 0) w.weight_bp = 10000 - total;
      }
    }
  }

  // Elements are appended even when broken, so index i in the Config is always path [i] in the
  // document; the Config is discarded whenever there is any error.
  template <typename T>
  void ReadList(const MapView& top, absl::string_view key, std::vector<T>* out,
                void (Loader::*read)(const YAML::Node&, const std::string&, T*)) {
    const YAML::Node* node = top.Get(key);
    if (node == nullptr) return;
    const std::string path = top.PathOf(key);
    if (!node->IsSequence()) {
      Error(path, "expected list");
      return;
    }
    for (size_t i = 0; i < node->size(); ++i) {
      (this->*read)((*node)[i], Item(path, i), &out->emplace_back());
    }
  }

  // --- Cross references. Empty names were already reported as required, so they are skipped here
  // rather than reported twice.

  template <typename T, typename NameOf>
  std::map<std::string, size_t> CheckUnique(const std::vector<T>& items, absl::string_view list,
                                            absl::string_view what, NameOf name_of) {
    std::map<std::string, size_t> first;
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string& name = name_of(items[i]);
      if (name.empty()) continue;
      auto [it, inserted] = first.emplace(name, i);
      if (!inserted) {
        Error(Child(Item(std::string(list), i), "name"),
              absl::StrCat("duplicate ", what, " name '", name, "' (first at ", list, "[",
                           it->second, "])"));
      }
    }
    return first;
  }

  void CheckReferences(const Config& config) {
    CheckUnique(config.services, "services", "service",
                [](const ServiceConfig& s) -> const std::string& { return s.name; });
    const std::map<std::string, size_t> clusters =
        CheckUnique(config.clusters, "clusters", "cluster",
                    [](const ClusterConfig& c) -> const std::string& { return c.name; });
    CheckUnique(config.listeners, "listeners", "listener",
                [](const ListenerConfig& l) -> const std::string& { return l.name; });
    for (size_t i = 0; i < config.clusters.size(); ++i) {
      const ClusterConfig& c = config.clusters[i];
      if (!c.native.has_value() || c.native->dependencies.empty()) continue;
      const std::string where = Child(Child(Item("clusters", i), "native"), "dependencies");
      const auto it = clusters.find(c.native->dependencies);
      if (it == clusters.end()) {
        Error(where, absl::StrCat("undefined cluster '", c.native->dependencies, "'"));
      } else if (!config.clusters[it->second].nats.has_value() ||
                 config.clusters[it->second].nats->mode != "action" ||
                 !config.clusters[it->second].nats->subject.empty()) {
        Error(where, absl::StrCat("cluster '", c.native->dependencies,
                                  "' must be a nats cluster in action mode without a fixed subject: ports call "
                                  "svc.<service>.v1.<action>"));
      }
    }

    std::map<std::pair<std::string, std::string>, size_t> routes;
    std::map<std::string, size_t> prefixes, names;
    std::set<std::string> routed_services;
    for (size_t i = 0; i < config.routes.size(); ++i) {
      const RouteConfig& route = config.routes[i];
      const std::string path = Item("routes", i);
      std::set<std::string> seen;
      for (size_t j = 0; j < route.split.size(); ++j) {
        const std::string& name = route.split[j].cluster;
        const std::string where = route.cluster.empty() ? Child(Item(Child(path, "split"), j), "cluster")
                                                        : Child(path, "cluster");
        if (!name.empty() && clusters.count(name) == 0) {
          Error(where, absl::StrCat("undefined cluster '", name, "'"));
        }
        if (!name.empty() && !seen.insert(name).second) {
          Error(where, absl::StrCat("cluster '", name, "' listed twice"));
        }
      }
      if (route.shadow.has_value() && !route.shadow->cluster.empty() && clusters.count(route.shadow->cluster) == 0) {
        Error(Child(path, "shadow.cluster"), absl::StrCat("undefined cluster '", route.shadow->cluster, "'"));
      }
      if (!route.fallback.empty() && clusters.count(route.fallback) == 0) {
        Error(Child(path, "fallback"), absl::StrCat("undefined cluster '", route.fallback, "'"));
      }
      // A duplicate match is reported once; its (default) name would only repeat it.
      bool duplicate = false;
      if (!route.prefix.empty()) {
        auto [it, inserted] = prefixes.emplace(route.prefix, i);
        if (!inserted) {
          duplicate = true;
          Error(Child(path, "prefix"), absl::StrCat("duplicate prefix '", route.prefix, "' (first at routes[",
                                                    it->second, "])"));
        }
      } else if (!route.service.empty()) {  // a NATS route; an HTTP route's service only names its requests
        routed_services.insert(route.service);
        auto [it, inserted] = routes.emplace(std::make_pair(route.service, route.action), i);
        if (!inserted) {
          duplicate = true;
          Error(path, absl::StrCat("duplicate route for service '", route.service, "' action '",
                                   route.action, "' (first at routes[", it->second, "])"));
        }
      }
      if (!duplicate && !route.name.empty()) {
        auto [it, inserted] = names.emplace(route.name, i);
        if (!inserted) {
          Error(Child(path, "name"), absl::StrCat("duplicate route name '", route.name, "' (first at routes[",
                                                  it->second, "])"));
        }
      }
    }
    for (size_t i = 0; i < config.listeners.size(); ++i) {
      const std::optional<NatsListenerConfig>& nats = config.listeners[i].nats;
      if (!nats.has_value() || !IsServiceName(nats->service)) continue;  // already reported
      if (routed_services.count(nats->service) == 0) {
        Error(Child(Item("listeners", i), "nats.service"),
              absl::StrCat("no route for service '", nats->service, "'"));
      }
    }
  }

 private:
  const EnvLookup& env_;
  std::vector<std::string> errors_;
};

MapView::MapView(Loader& loader, const YAML::Node& node, std::string path,
                 std::initializer_list<absl::string_view> known)
    : path_(std::move(path)) {
  if (!node.IsMap()) {
    loader.Error(path_, "expected map");
    return;
  }
  ok_ = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      loader.Error(path_, "keys must be strings");
      continue;
    }
    const std::string key = it->first.Scalar();
    const std::string key_path = Child(path_, key);
    const bool duplicate = std::any_of(entries_.begin(), entries_.end(),
                                       [&key](const auto& entry) { return entry.first == key; });
    if (duplicate) {
      loader.Error(key_path, "duplicate key");
      continue;
    }
    if (known.size() != 0 && std::find(known.begin(), known.end(), key) == known.end()) {
      // A near miss is almost always a typo; name the key that was meant.
      std::string message = "unknown key";
      for (absl::string_view candidate : known) {
        if (EditDistance(key, candidate) <= 2) {
          absl::StrAppend(&message, " (did you mean '", candidate, "'?)");
          break;
        }
      }
      loader.Error(key_path, message);
      continue;
    }
    entries_.emplace_back(key, it->second);
  }
}

// ------------------------------------------------------------------------------------------------
// Redaction for ToJson.

bool IsSecretName(absl::string_view key) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // A *_file key holds a path, which operators need to see; the file's contents never appear.
  if (absl::EndsWith(lower, "_file")) return false;
  static constexpr absl::string_view kMarkers[] = {"password",    "passwd",  "secret",  "token", "credential",
                                                   "private_key", "api_key", "key_pem", "seed"};
  return std::any_of(std::begin(kMarkers), std::end(kMarkers), [&lower](absl::string_view marker) {
    return lower.find(std::string(marker)) != std::string::npos;
  });
}

void RedactSecrets(nlohmann::json& node) {
  if (node.is_array()) {
    for (nlohmann::json& item : node) RedactSecrets(item);
    return;
  }
  if (!node.is_object()) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (IsSecretName(it.key()) && !it.value().is_object() && !it.value().is_array()) {
      const bool empty = it.value().is_null() || (it.value().is_string() &&
                                                  it.value().get_ref<const std::string&>().empty());
      if (!empty) it.value() = kRedacted;
      continue;
    }
    RedactSecrets(it.value());
  }
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<std::string> ExpandEnv(const std::string& text, const EnvLookup& env) {
  std::string out;
  out.reserve(text.size());
  RETURN_IF_ERROR(ExpandInto(text, env, &out));
  return out;
}

absl::StatusOr<HostPort> ParseHostPort(const std::string& text) {
  const auto fail = [&text](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected host:port, got '", text, "'", why.empty() ? "" : ": ", why));
  };
  HostPort result;
  absl::string_view port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return fail("missing ']'");
    result.host = text.substr(1, close - 1);
    if (result.host.find(':') == std::string::npos ||
        !std::all_of(result.host.begin(), result.host.end(), IsIpv6Char)) {
      return fail("invalid IPv6 address");
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("missing port");
    port = absl::string_view(text).substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return fail("missing port");
    result.host = text.substr(0, colon);
    if (result.host.find(':') != std::string::npos) return fail("IPv6 addresses need [brackets]");
    if (result.host.empty() ||
        !std::all_of(result.host.begin(), result.host.end(), IsHostNameChar)) {
      return fail("invalid host");
    }
    port = absl::string_view(text).substr(colon + 1);
  }
  int64_t value = 0;
  if (port.empty() || !std::all_of(port.begin(), port.end(), IsDigit) || port.size() > 5 ||
      !ParseInt64(port, &value) || value > 65535) {
    return fail("port must be 0-65535");
  }
  result.port = static_cast<uint16_t>(value);
  return result;
}

// yaml-cpp 0.7 (Debian) never returns on a flow-entry ',' that starts a line outside any flow
// collection (a document that is just "," allocates until the process dies; found by
// tests/fuzz config_loader_fuzz). Such a line is invalid YAML anyway, so it is refused before
// yaml-cpp sees it. Flow brackets are counted outside quotes and comments; a block scalar whose
// line starts with ',' is refused too (no sidecar setting needs one).
static absl::Status RejectLeadingFlowComma(const std::string& yaml) {
  int flow_depth = 0;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(yaml, '\n')) {
    ++line_number;
    const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(line);
    if (!trimmed.empty() && trimmed[0] == ',' && flow_depth <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "yaml: line ", line_number, ", column ", line.size() - trimmed.size() + 1,
          ": ',' outside a flow collection ([...] or {...})"));
    }
    char quote = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quote != 0) {
        if (c == '\\' && quote == '"') ++i;
        else if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        break;
      } else if (c == '[' || c == '{') {
        ++flow_depth;
      } else if (c == ']' || c == '}') {
        --flow_depth;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> LoadFromString(const std::string& yaml, const EnvLookup& env) {
  if (absl::Status s = RejectLeadingFlowComma(yaml); !s.ok()) return s;
  Loader loader(env);
  Config config;
  // yaml-cpp reports malformed input, and in rare paths misuse, by throwing; nothing past this
  // function sees an exception.
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(yaml);
    if (documents.size() > 1) {
      loader.Error("document",
                   "expected a single YAML document, got " + std::to_string(documents.size()));
    } else {
      config = loader.Load(documents.empty() ? YAML::Node() : documents[0]);
    }
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return absl::InvalidArgumentError(absl::StrCat("yaml: ", e.msg));
    return absl::InvalidArgumentError(
        absl::StrCat("yaml: line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("yaml: ", e.what()));
  }
  if (!loader.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(loader.errors(), "\n"));
  }
  return config;
}

absl::StatusOr<Config> LoadFromFile(const std::string& path, const EnvLookup& env) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read config file '", path, "': is a directory"));
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int error = errno;
    const std::string message =
        absl::StrCat("cannot open config file '", path, "': ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(message) : absl::InvalidArgumentError(message);
  }
  std::ostringstream content;
  content << file.rdbuf();
  if (file.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read config file '", path, "'"));
  }
  absl::StatusOr<Config> config = LoadFromString(content.str(), env);
  if (!config.ok()) {
    std::vector<std::string> lines = absl::StrSplit(config.status().message(), '\n');
    for (std::string& line : lines) line = absl::StrCat(path, ": ", line);
    return absl::Status(config.status().code(), absl::StrJoin(lines, "\n"));
  }
  return config;
}

nlohmann::json ToJson(const Config& config) {
  using nlohmann::json;
  json out;
  out["server"] = {{"drain_timeout_ms", config.server.drain_timeout_ms},
                   {"log_level", config.server.log_level}};
  out["admin"] = {{"address", config.admin.address.ToString()}};
  // The token read from token_file is not shown at all (not even redacted), so a dump loads back.
  if (!config.admin.token_file.empty()) {
    out["admin"]["token_file"] = config.admin.token_file;
  } else {
    out["admin"]["token"] = config.admin.token;
  }

  const NatsConfig& nats = config.nats;
  json servers = json::array();
  for (const std::string& url : nats.servers) servers.push_back(RedactUrl(url));
  out["nats"] = {{"servers", std::move(servers)},
                 {"name", nats.name},
                 {"connect_timeout_ms", nats.connect_timeout_ms},
                 {"reconnect_wait_ms", nats.reconnect_wait_ms},
                 {"reconnect_jitter_ms", nats.reconnect_jitter_ms},
                 {"max_reconnect_attempts", nats.max_reconnect_attempts},
                 {"ping_interval_ms", nats.ping_interval_ms},
                 {"max_pings_out", nats.max_pings_out},
                 {"inbox_prefix", nats.inbox_prefix},
                 {"user", nats.user}};
  // A secret read from a file is shown as its file only, as the admin token.
  if (!nats.password_file.empty()) {
    out["nats"]["password_file"] = nats.password_file;
  } else {
    out["nats"]["password"] = nats.password;
  }
  if (!nats.token_file.empty()) {
    out["nats"]["token_file"] = nats.token_file;
  } else {
    out["nats"]["token"] = nats.token;
  }
  if (!nats.nkey_seed_file.empty()) out["nats"]["nkey_seed_file"] = nats.nkey_seed_file;
  if (!nats.credentials_file.empty()) out["nats"]["credentials_file"] = nats.credentials_file;
  if (nats.tls.has_value()) {
    const NatsTlsConfig& tls = *nats.tls;
    json t = json::object();
    auto put = [&t](const char* key, const std::string& value) {
      if (!value.empty()) t[key] = value;
    };
    put("ca_file", tls.ca_file);
    put("ca_pem", tls.ca_pem);
    put("cert_file", tls.cert_file);
    put("cert_pem", tls.cert_pem);
    put("key_file", tls.key_file);
    put("key_pem", tls.key_pem);
    put("server_name", tls.server_name);
    t["insecure_skip_verify_dangerous"] = tls.insecure_skip_verify_dangerous;
    out["nats"]["tls"] = std::move(t);
  }

  json services = json::array();
  for (const ServiceConfig& service : config.services) {
    json actions = json::object();
    for (const ActionRouteConfig& action : service.actions) {
      actions[action.action] = absl::StrCat(action.method, " ", action.path_template);
    }
    services.push_back({{"name", service.name}, {"actions", std::move(actions)}});
  }
  out["services"] = std::move(services);

  json clusters = json::array();
  for (const ClusterConfig& cluster : config.clusters) {
    json entry = {{"name", cluster.name}};
    if (cluster.legacy_http.has_value()) {
      const LegacyHttpClusterConfig& http = *cluster.legacy_http;
      json legacy = {{"address", http.address.ToString()},
                     {"connect_timeout_ms", http.connect_timeout_ms},
                     {"request_timeout_ms", http.request_timeout_ms},
                     {"max_connections", http.max_connections},
                     {"max_pending_requests", http.max_pending_requests},
                     {"max_response_headers_bytes", http.max_response_headers_bytes},
                     {"max_response_body_bytes", http.max_response_body_bytes}};
      if (http.health_check.has_value()) {
        const HealthCheckConfig& hc = *http.health_check;
        legacy["health_check"] = {{"path", hc.path},
                                  {"interval_ms", hc.interval_ms},
                                  {"timeout_ms", hc.timeout_ms},
                                  {"healthy_threshold", hc.healthy_threshold},
                                  {"unhealthy_threshold", hc.unhealthy_threshold}};
      }
      entry["legacy_http"] = std::move(legacy);
    }
    if (cluster.native.has_value()) {
      const NativeClusterConfig& n = *cluster.native;
      entry["native"] = {{"services", n.services}, {"store", n.store},   {"kv_bucket", n.kv_bucket},
                         {"kv_replicas", n.kv_replicas}, {"events", n.events}, {"fixtures", n.fixtures},
                         {"serve", n.serve}, {"dependencies", n.dependencies}};
    }
    if (cluster.nats.has_value()) {
      entry["nats"] = {{"mode", cluster.nats->mode},
                       {"subject", cluster.nats->subject},
                       {"timeout_ms", cluster.nats->timeout_ms},
                       {"inbox_prefix", cluster.nats->inbox_prefix}};
      if (cluster.nats->health_check.has_value()) {
        const HealthCheckConfig& hc = *cluster.nats->health_check;
        entry["nats"]["health_check"] = {{"subject", hc.subject},
                                         {"interval_ms", hc.interval_ms},
                                         {"timeout_ms", hc.timeout_ms},
                                         {"healthy_threshold", hc.healthy_threshold},
                                         {"unhealthy_threshold", hc.unhealthy_threshold}};
      }
    }
    const CircuitBreakersConfig& cb = cluster.circuit_breakers;
    entry["circuit_breakers"] = {{"max_requests", cb.max_requests},
                                 {"max_retries", cb.max_retries},
                                 {"consecutive_failures", cb.consecutive_failures},
                                 {"open_interval_ms", cb.open_interval_ms}};
    entry["retry_budget"] = {{"budget_percent", cluster.retry_budget.budget_percent},
                             {"min_retries_per_second", cluster.retry_budget.min_retries_per_second}};
    clusters.push_back(std::move(entry));
  }
  out["clusters"] = std::move(clusters);

  json listeners = json::array();
  for (const ListenerConfig& listener : config.listeners) {
    json entry = {{"name", listener.name}};
    if (listener.nats.has_value()) {
      entry["nats"] = {{"service", listener.nats->service},
                       {"subject", listener.nats->subject},
                       {"queue", listener.nats->queue},
                       {"max_payload_bytes", listener.nats->max_payload_bytes},
                       {"max_in_flight", listener.nats->max_in_flight},
                       {"stream_window", listener.nats->stream_window}};
    }
    if (listener.http.has_value()) {
      const HttpListenerConfig& h = *listener.http;
      entry["http"] = {{"address", h.address.ToString()},
                       {"max_header_bytes", h.max_header_bytes},
                       {"max_headers", h.max_headers},
                       {"max_body_bytes", h.max_body_bytes},
                       {"header_timeout_ms", h.header_timeout_ms},
                       {"idle_timeout_ms", h.idle_timeout_ms},
                       {"body_timeout_ms", h.body_timeout_ms},
                       {"request_timeout_ms", h.request_timeout_ms},
                       {"max_connections", h.max_connections},
                       {"max_in_flight", h.max_in_flight}};
    }
    listeners.push_back(std::move(entry));
  }
  out["listeners"] = std::move(listeners);

  json routes = json::array();
  for (const RouteConfig& route : config.routes) {
    json split = json::array();
    for (const WeightedClusterConfig& w : route.split) {
      split.push_back({{"cluster", w.cluster}, {"weight", w.weight_bp / 100.0}});
    }
    json entry = {{"name", route.name},     {"service", route.service}, {"action", route.action},
                  {"prefix", route.prefix}, {"split", std::move(split)}, {"fallback", route.fallback},
                  {"timeout_ms", route.timeout_ms}};
    if (route.retry.has_value()) {
      const RetryPolicyConfig& r = *route.retry;
      entry["retry"] = {{"retry_on", r.retry_on},
                        {"max_attempts", r.max_attempts},
                        {"backoff_base_ms", r.backoff_base_ms},
                        {"backoff_max_ms", r.backoff_max_ms},
                        {"per_try_timeout_ms", r.per_try_timeout_ms},
                        {"retry_non_idempotent", r.retry_non_idempotent}};
    }
    if (route.sticky.has_value()) {
      entry["sticky"] = {{"header", route.sticky->header}, {"json_field", route.sticky->json_field}};
    }
    if (route.override_header.has_value()) {
      entry["override"] = {{"header", route.override_header->header},
                           {"principals", route.override_header->principals}};
    }
    if (route.shadow.has_value()) {
      const ShadowConfig& sh = *route.shadow;
      entry["shadow"] = {{"cluster", sh.cluster},
                         {"percent", sh.percent_bp / 100.0},
                         {"methods", sh.methods},
                         {"header", sh.header},
                         {"allow_credentials", sh.allow_credentials},
                         {"strip_headers", sh.strip_headers},
                         {"timeout_ms", sh.timeout_ms},
                         {"max_concurrent", sh.max_concurrent},
                         {"ignore_paths", sh.ignore_paths},
                         {"tolerances", sh.tolerances},
                         {"volatile_defaults", sh.volatile_defaults},
                         {"noise_percent", sh.noise_percent_bp / 100.0},
                         {"pause_above_cpu_pressure", sh.pause_above_cpu_pressure_bp / 100.0}};
    }
    routes.push_back(std::move(entry));
  }
  out["routes"] = std::move(routes);

  json consumers = json::array();
  for (const EventConsumerConfig& c : config.events.consumers) {
    consumers.push_back({{"name", c.name},
                         {"stream", c.stream},
                         {"filter_subject", c.filter_subject},
                         {"durable", c.durable},
                         {"cluster", c.cluster},
                         {"path", c.path},
                         {"max_deliver", c.max_deliver},
                         {"backoff_ms", c.backoff_ms},
                         {"timeout_ms", c.timeout_ms},
                         {"ack_wait_ms", c.ack_wait_ms},
                         {"max_ack_pending", c.max_ack_pending},
                         {"dlq_stream", c.dlq_stream}});
  }
  json events = {{"consumers", std::move(consumers)}};
  if (config.events.publish.has_value()) {
    const EventPublishConfig& p = *config.events.publish;
    events["publish"] = {{"listener", p.listener},
                         {"prefix", p.prefix},
                         {"allowed_subjects", p.allowed_subjects},
                         {"timeout_ms", p.timeout_ms}};
  }
  out["events"] = std::move(events);

  if (config.cutover.has_value()) {
    const CutoverConfig& c = *config.cutover;
    auto rule = [](const std::optional<GuardRuleConfig>& r, bool latency) -> json {
      if (!r.has_value()) return nullptr;
      return {{latency ? "max_ms" : "max_percent", latency ? static_cast<double>(r->max) : r->max / 100.0},
              {"min_requests", r->min_requests},
              {"window_ms", r->window_ms}};
    };
    json cutover_routes = json::array();
    for (const CutoverRouteConfig& r : c.routes) {
      json entry = {{"route", r.route}, {"side", r.side}};
      if (r.error_rate) entry["error_rate"] = rule(r.error_rate, false);
      if (r.p99_latency) entry["p99_latency"] = rule(r.p99_latency, true);
      if (r.mismatch_rate) entry["mismatch_rate"] = rule(r.mismatch_rate, false);
      if (r.ramp.has_value()) {
        json steps = json::array();
        for (int64_t bp : r.ramp->steps_bp) steps.push_back(bp / 100.0);
        entry["ramp"] = {{"steps", std::move(steps)}, {"hold_ms", r.ramp->hold_ms}};
      }
      cutover_routes.push_back(std::move(entry));
    }
    out["cutover"] = {{"kv_bucket", c.kv_bucket},
                      {"kv_replicas", c.kv_replicas},
                      {"evaluate_interval_ms", c.evaluate_interval_ms},
                      {"routes", std::move(cutover_routes)}};
  }

  RedactSecrets(out);
  return out;
}

}  // namespace sidecar::config
