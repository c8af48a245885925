#pragma once
// YAML -> Config. The whole document is parsed, env-expanded and validated before anything starts,
// and every problem is reported at once (one line each, prefixed by its path), so an operator fixes
// a config in one round trip instead of one error per restart.
//
// yaml-cpp throws; those exceptions are caught inside loader.cc and never cross this interface.

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "sidecar/config/config.h"

namespace sidecar::config {

// Looks up an environment variable; nullopt when undefined. Injected so tests never touch the
// process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (getenv). getenv is not safe against concurrent setenv: load config
// before starting threads.
EnvLookup ProcessEnv();

// Expands environment references inside one scalar:
//   ${env:NAME}            the value of NAME; an error naming NAME when it is undefined.
//   ${env:NAME:-default}   the value of NAME, or `default` when NAME is undefined OR empty (shell
//   `:-`).
//                          `default` may itself contain references and `$$`; it is expanded only
//                          when used.
//   $$                     a literal `$` (so `$${env:X}` is the literal text `${env:X}`).
//   $ before anything else is kept literally (`pa$word` stays as written).
//   ${...} not starting with `env:` is an error (catches the common `${NAME}` slip).
// NAME is [A-Za-z_][A-Za-z0-9_]*. Expanded values are not re-scanned, so a variable's value is used
// verbatim. A default cannot contain a literal `}`: the first unmatched `}` ends the reference.
absl::StatusOr<std::string> ExpandEnv(const std::string& text, const EnvLookup& env);

// Parses, expands env in every scalar value (never in keys), validates the WHOLE document and
// reports EVERY problem, one per line, each prefixed by its path, e.g.
//   listeners[0].nats.service: required
//   clusters[1].legacy_http.address: expected host:port, got "localhost"
//   admin.adress: unknown key
// Returns InvalidArgument whose message is those lines joined by '\n'.
//
// Typing: integers are decimal scalars (quoted or not, so `"${env:PORT}"` works); null (`key:` or
// `~`) means "absent"; unknown keys and duplicate keys are errors at every level. Defaults from
// config.h are kept for absent fields; listener subject/queue default to svc.<service>.v1.> /
// svc-<service>-workers.
absl::StatusOr<Config> LoadFromString(const std::string& yaml, const EnvLookup& env);

// As LoadFromString. Every error line is prefixed by "<path>: " so it names the file; an unreadable
// file is NotFound / InvalidArgument naming the path.
absl::StatusOr<Config> LoadFromFile(const std::string& path, const EnvLookup& env);

// The effective config as JSON for /config_dump, shaped like the YAML input (so a dump without
// secrets loads back to the same Config), defaults filled in. Secrets are replaced by "<redacted>"
// when non-empty: every field whose name contains password, passwd, secret, token, credential,
// api_key or private_key (so future fields are covered by naming alone), and the userinfo of
// nats.servers URLs.
nlohmann::json ToJson(const Config& config);

// "127.0.0.1:8000", "[::1]:80", "localhost:9901". Port 0-65535 (callers decide whether 0 is
// allowed). Unbracketed IPv6 ("::1:80") is rejected as ambiguous. Errors start with "expected
// host:port".
absl::StatusOr<HostPort> ParseHostPort(const std::string& text);

}  // namespace sidecar::config
