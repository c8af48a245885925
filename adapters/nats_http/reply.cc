// Response -> NATS reply, with the §0.4 error envelope and ADR-32 style error headers.

#include <algorithm>
#include <array>
#include <string>

#include "adapters/common/errors.h"
#include "adapters/nats_http/nats_http.h"
#include "nlohmann/json.hpp"

namespace sidecar::adapters::nats_http {
namespace {

using Json = nlohmann::json;

// Legacy error text copied into error.message is cut here: enough to diagnose, bounded for logs.
constexpr size_t kMaxLegacyMessageBytes = 512;

bool NameIn(std::string_view name, const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& n) { return http::HeaderMap::NameEquals(n, name); });
}

bool Dropped(std::string_view name, const std::vector<std::string>& connection_tokens) {
  if (IsHopOnlyHeader(name)) return true;
  if (http::HeaderMap::NameEquals(name, http::headers::kHttpStatus)) return true;
  if (name.size() >= 5 && http::HeaderMap::NameEquals(name.substr(0, 5), "Nats-")) return true;
  return NameIn(name, connection_tokens);
}

// Cuts at most `max` bytes without splitting a UTF-8 sequence.
std::string_view Truncate(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

struct ErrorShape {
  std::string code;  // CODE for the headers
  bool keep_body = false;
  std::string message;
  ErrorDetails details;
};

ErrorShape ShapeError(int status, std::string_view body) {
  ErrorShape shape;
  shape.code = std::string(CodeForHttpStatus(status));
  Json j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  const Json* error = nullptr;
  if (j.is_object()) {
    auto it = j.find("error");
    if (it != j.end() && it->is_object()) error = &*it;
  }
  if (error != nullptr) {
    auto code = error->find("code");
    if (code != error->end() && code->is_string() && IsKnownCode(code->get<std::string>())) {
      shape.code = code->get<std::string>();
      shape.keep_body = true;
      return shape;
    }
    auto message = error->find("message");
    if (message != error->end() && message->is_string())
      shape.message = message->get<std::string>();
    auto details = error->find("details");
    if (details != error->end() && details->is_object()) {
      for (const auto& [key, value] : details->items()) {
        if (value.is_string()) shape.details.emplace(key, value.get<std::string>());
      }
    }
  }
  if (shape.message.empty()) shape.message = std::string(Truncate(body, kMaxLegacyMessageBytes));
  if (shape.message.empty()) shape.message = std::string(ReasonPhrase(status));
  if (shape.message.empty()) shape.message = "HTTP " + std::to_string(status);
  return shape;
}

}  // namespace

NatsReply EncodeReply(const http::Response& response) {
  // A status no HTTP server may send is the upstream's protocol error, like any other garbage from
  // it.
  int status = (response.status >= 100 && response.status <= 599) ? response.status : 502;
  bool is_error = status >= 400;

  std::vector<std::string> connection_tokens = ConnectionTokens(response.headers.entries());

  NatsReply reply;
  reply.headers.emplace_back(std::string(http::headers::kHttpStatus), std::to_string(status));
  ErrorShape shape;
  if (is_error) {
    shape = ShapeError(status, response.body);
    reply.headers.emplace_back(std::string(http::headers::kServiceError), shape.code);
    reply.headers.emplace_back(std::string(http::headers::kServiceErrorCode),
                               std::to_string(status));
  }
  bool rewrap = is_error && !shape.keep_body;
  bool has_content_type = false;
  for (const auto& [name, value] : response.headers.entries()) {
    if (!IsValidHeaderName(name) || !IsValidHeaderValue(value) ||
        Dropped(name, connection_tokens)) {
      continue;
    }
    bool content_header = http::HeaderMap::NameEquals(name, "Content-Type") ||
                          http::HeaderMap::NameEquals(name, "Content-Encoding");
    if (rewrap && content_header) continue;  // they described the body we replace
    has_content_type = has_content_type || http::HeaderMap::NameEquals(name, "Content-Type");
    reply.headers.emplace_back(CanonicalHeaderName(name), value);
  }

  if (rewrap) {
    reply.headers.emplace_back("Content-Type", "application/json");
    reply.data = ErrorBody(shape.code, shape.message, shape.details);
  } else {
    if (is_error && !has_content_type)
      reply.headers.emplace_back("Content-Type", "application/json");
    reply.data = response.body;
  }
  return reply;
}

NatsReply EncodeError(const absl::Status& status) {
  return EncodeReply(ErrorResponseFromStatus(status));
}

}  // namespace sidecar::adapters::nats_http
