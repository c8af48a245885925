#pragma once
// Secret hygiene shared by every output the sidecar has: logs (log::Write applies Text() to every
// message and field), the shadow mismatch ring, /config_dump and error messages.
//
// Two mechanisms, because neither alone is enough:
//   - by name: a header, JSON key, log field or query parameter whose name says "secret" has its
//     value replaced whole (IsSensitiveHeader, IsSecretKey);
//   - by shape: free text is scanned for things that are secrets wherever they appear (Text): an
//     Authorization scheme and its credentials, NKey seeds, JWTs, PEM private keys, URL userinfo,
//     and `name=value` / `"name": "value"` pairs with a secret name.
// Redaction is one-way and never partial: a redacted value shows no prefix or length.

#include <string>
#include <string_view>

namespace sidecar::redact {

inline constexpr std::string_view kRedacted = "<redacted>";

// Request or response headers that carry credentials: Authorization, Proxy-Authorization, Cookie,
// Set-Cookie, X-Api-Key, Api-Key, X-Auth-Token, X-Amz-Security-Token, X-Csrf-Token (any case).
bool IsSensitiveHeader(std::string_view name);

// Names (JSON keys, log fields, query parameters, config keys) whose values are secrets: they
// contain password, passwd, secret, token, credential, private_key, api_key, apikey,
// authorization, cookie, jwt or seed (any case). Names ending in "_file" are paths, not secrets.
bool IsSecretKey(std::string_view name);

// `text` with every secret recognisable by its shape or by a secret name before it replaced by
// kRedacted. Text without any comes back unchanged.
std::string Text(std::string_view text);

}  // namespace sidecar::redact
