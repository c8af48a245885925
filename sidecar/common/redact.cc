#include "sidecar/common/redact.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"

namespace sidecar::redact {
namespace {

// std::string_view versions (absl's string_view is its own type in this build).
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}
bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == Lower(prefix);
}
bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return a.size() == b.size() && Lower(a) == Lower(b); }
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsWordChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }
bool IsBase32Char(char c) { return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'); }
bool IsJwtChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }
bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// A value ends at one of these unless it is quoted (or runs to the end of the line, see below).
bool EndsValue(char c) {
  return c == '&' || c == ',' || c == ';' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\r' ||
         c == '\n' || c == '"' || c == '\'' || c == '\\';
}

// Values of these names contain spaces and separators of their own ("Bearer x", "a=1; b=2"): they
// run to the end of the line or the closing quote.
bool ValueRunsToEndOfLine(std::string_view name) {
  const std::string lower = Lower(name);
  return lower == "authorization" || lower == "proxy-authorization" || lower == "cookie" || lower == "set-cookie";
}

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) { out_.reserve(text.size()); }

  std::string Run() {
    while (i_ < text_.size()) {
      if (PemPrivateKey() || UrlUserInfo()) continue;
      if (AtWordStart()) {
        if (AuthScheme() || Jwt() || NKeySeed() || NamedValue()) continue;
        CopyWord();
        continue;
      }
      out_.push_back(text_[i_++]);
    }
    return std::move(out_);
  }

 private:
  bool AtWordStart() const { return IsWordChar(text_[i_]) && (i_ == 0 || !IsWordChar(text_[i_ - 1])); }
  std::string_view Rest() const { return text_.substr(i_); }

  void CopyWord() {
    while (i_ < text_.size() && IsWordChar(text_[i_])) out_.push_back(text_[i_++]);
  }

  // -----BEGIN [RSA |EC |ENCRYPTED ]PRIVATE KEY----- ... -----END ...-----
  bool PemPrivateKey() {
    if (!StartsWith(Rest(), "-----BEGIN ")) return false;
    const size_t header_end = text_.find("-----", i_ + 11);
    if (header_end == std::string_view::npos) return false;
    if (text_.substr(i_, header_end - i_).find("PRIVATE KEY") == std::string_view::npos) return false;
    size_t end = text_.find("-----END ", header_end + 5);
    if (end != std::string_view::npos) end = text_.find("-----", end + 9);
    end = end == std::string_view::npos ? text_.size() : end + 5;
    out_.append(kRedacted);
    i_ = end;
    return true;
  }

  // scheme://user:password@host -> scheme://user:<redacted>@host; scheme://token@host -> <redacted>@.
  bool UrlUserInfo() {
    if (!StartsWith(Rest(), "://")) return false;
    const size_t start = i_ + 3;
    size_t end = start;
    while (end < text_.size() && text_[end] != '/' && text_[end] != '?' && text_[end] != '#' &&
           !EndsValue(text_[end])) {
      ++end;
    }
    const size_t at = text_.substr(start, end - start).rfind('@');
    if (at == std::string_view::npos) return false;
    const std::string_view userinfo = text_.substr(start, at);
    out_.append("://");
    if (const size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      out_.append(userinfo.substr(0, colon + 1));
    }
    out_.append(kRedacted);
    i_ = start + at;  // the '@' and the host are copied as they are
    return true;
  }

  // "Bearer abc", "Basic dXNlcjpwYXNz": the scheme stays, the credentials go.
  bool AuthScheme() {
    for (std::string_view scheme : {"bearer", "basic"}) {
      if (Rest().size() <= scheme.size() || !StartsWithIgnoreCase(Rest(), scheme) ||
          !IsSpace(text_[i_ + scheme.size()])) {
        continue;
      }
      size_t j = i_ + scheme.size();
      while (j < text_.size() && IsSpace(text_[j])) ++j;
      size_t end = j;
      while (end < text_.size() && !EndsValue(text_[end])) ++end;
      if (end == j) return false;
      out_.append(text_.substr(i_, j - i_));
      out_.append(kRedacted);
      i_ = end;
      return true;
    }
    return false;
  }

  // A JWT: three base64url parts, the first a JSON header ("eyJ" = '{"').
  bool Jwt() {
    if (!StartsWith(Rest(), "eyJ")) return false;
    size_t end = i_;
    while (end < text_.size() && IsJwtChar(text_[end])) ++end;
    if (std::count(text_.begin() + i_, text_.begin() + end, '.') < 2) return false;
    out_.append(kRedacted);
    i_ = end;
    return true;
  }

  // An NKey seed: 'S', a type letter, 56 more base32 characters (58 in all).
  bool NKeySeed() {
    if (text_[i_] != 'S') return false;
    size_t end = i_;
    while (end < text_.size() && IsBase32Char(text_[end])) ++end;
    if (end - i_ != 58 || std::string_view("OAUNCPX").find(text_[i_ + 1]) == std::string_view::npos) return false;
    if (end < text_.size() && IsWordChar(text_[end])) return false;
    out_.append(kRedacted);
    i_ = end;
    return true;
  }

  // password=x, "token": "x", api_key: x, Authorization: Bearer x ...
  bool NamedValue() {
    size_t j = i_;
    while (j < text_.size() && IsWordChar(text_[j])) ++j;
    const std::string_view name = text_.substr(i_, j - i_);
    if (!IsSecretKey(name)) return false;
    size_t k = j;
    if (k < text_.size() && (text_[k] == '"' || text_[k] == '\'')) ++k;  // the key's closing quote
    while (k < text_.size() && IsSpace(text_[k])) ++k;
    if (k >= text_.size() || (text_[k] != '=' && text_[k] != ':')) return false;
    ++k;
    while (k < text_.size() && IsSpace(text_[k])) ++k;
    size_t value_start = k;
    size_t value_end = k;
    if (k < text_.size() && (text_[k] == '"' || text_[k] == '\'')) {
      const char quote = text_[k];
      value_start = k + 1;
      value_end = value_start;
      while (value_end < text_.size() && text_[value_end] != quote) {
        value_end += (text_[value_end] == '\\' && value_end + 1 < text_.size()) ? 2 : 1;
      }
      value_end = std::min(value_end, text_.size());
    } else if (ValueRunsToEndOfLine(name)) {
      while (value_end < text_.size() && text_[value_end] != '\n' && text_[value_end] != '\r' &&
             text_[value_end] != '"') {
        ++value_end;
      }
    } else {
      while (value_end < text_.size() && !EndsValue(text_[value_end])) ++value_end;
    }
    if (value_end == value_start) return false;  // "token: " with nothing after: nothing to hide
    out_.append(text_.substr(i_, value_start - i_));
    out_.append(kRedacted);
    i_ = value_end;
    return true;
  }

  std::string_view text_;
  size_t i_ = 0;
  std::string out_;
};

}  // namespace

bool IsSensitiveHeader(std::string_view name) {
  for (std::string_view h : {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
                             "x-auth-token", "x-amz-security-token", "x-csrf-token"}) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

bool IsSecretKey(std::string_view name) {
  const std::string lower = Lower(name);
  if (EndsWith(lower, "_file")) return false;
  for (std::string_view word : {"password", "passwd", "secret", "token", "credential", "private_key", "api_key",
                                "api-key", "apikey", "authorization", "cookie", "jwt", "seed"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string Text(std::string_view text) { return Scanner(text).Run(); }

}  // namespace sidecar::redact
