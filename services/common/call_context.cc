#include "services/common/call_context.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/errors.h"
#include "services/common/strings_internal.h"

namespace sidecar::services {
namespace {

constexpr std::string_view kRequestTimeField = "X-Request-Time";

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp + (mp < 10 ? 3 : -9);
  y += m <= 2;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Fixed-width decimal at s[pos, pos+n); false on a non-digit.
bool Digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

absl::Status Malformed() { return InvalidArgument(kRequestTimeField, reason::kMalformed); }

}  // namespace

absl::StatusOr<int64_t> ParseRequestTime(std::string_view s) {
  int year, month, day, hour, minute, second;
  // YYYY-MM-DDTHH:MM:SS
  if (!Digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, month) ||
      s[7] != '-' || !Digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, hour) || s[13] != ':' || !Digits(s, 14, 2, minute) || s[16] != ':' ||
      !Digits(s, 17, 2, second)) {
    return Malformed();
  }
  size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start) return Malformed();
    for (size_t n = pos - start; n < 3; ++n) millis *= 10;  // ".5" -> 500 ms
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return Malformed();
    }
    offset_minutes = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return Malformed();
  }
  if (pos != s.size()) return Malformed();
  if (year < 1 || month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > DaysInMonth(year, static_cast<unsigned>(month)) || hour > 23 ||
      minute > 59 || second > 59) {
    return Malformed();
  }
  const int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t local_s = days * 86400 + hour * 3600 + minute * 60 + second;
  return (local_s - offset_minutes * 60) * 1000 + millis;
}

std::string FormatTs(int64_t unix_ms) {
  if (unix_ms == 0) return "";
  int64_t days = unix_ms >= 0 ? unix_ms / 86400000 : -((-unix_ms + 86399999) / 86400000);
  int64_t ms_of_day = unix_ms - days * 86400000;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(ms_of_day / 3600000),
                static_cast<long long>(ms_of_day / 60000 % 60),
                static_cast<long long>(ms_of_day / 1000 % 60),
                static_cast<long long>(ms_of_day % 1000));
  return buf;
}

std::string Principal::ToString() const {
  switch (kind) {
    case Kind::kPlayer: return absl::StrCat("player:", id);
    case Kind::kService: return absl::StrCat("service:", id);
    case Kind::kAdmin: return absl::StrCat("admin:", id);
  }
  return "";
}

std::optional<Principal> ParsePrincipal(std::string_view header) {
  struct Prefix {
    std::string_view text;
    Principal::Kind kind;
  };
  static constexpr Prefix kPrefixes[] = {{"player:", Principal::Kind::kPlayer},
                                         {"service:", Principal::Kind::kService},
                                         {"admin:", Principal::Kind::kAdmin}};
  for (const Prefix& p : kPrefixes) {
    if (header.size() > p.text.size() && header.substr(0, p.text.size()) == p.text) {
      return Principal{p.kind, std::string(header.substr(p.text.size()))};
    }
  }
  return std::nullopt;
}

CallContext CallContext::FromHeaders(const http::HeaderMap& headers, absl::Time receipt,
                                     http::Clock::time_point deadline) {
  CallContext ctx;
  ctx.now_ms_ = absl::ToUnixMillis(receipt);
  std::string_view time_text = headers.Get(http::headers::kRequestTime).value_or("");
  if (!time_text.empty()) {
    absl::StatusOr<int64_t> parsed = ParseRequestTime(time_text);
    if (parsed.ok()) {
      ctx.now_ms_ = *parsed;
    } else {
      ctx.envelope_error_ = parsed.status();
    }
  }
  ctx.principal_ = ParsePrincipal(headers.Get(http::headers::kPrincipal).value_or(""));
  ctx.request_id_ = std::string(headers.Get(http::headers::kRequestId).value_or(""));
  if (deadline == http::Clock::time_point::max()) {
    int64_t budget_ms = kDefaultDeadlineMs;
    std::string_view text = headers.Get(http::headers::kDeadlineMs).value_or("");
    int64_t parsed_ms;
    if (!text.empty() && absl::SimpleAtoi(Av(text), &parsed_ms) && parsed_ms >= 0) budget_ms = parsed_ms;
    deadline = http::Clock::now() + std::chrono::milliseconds(budget_ms);
  }
  ctx.deadline_ = deadline;
  return ctx;
}

CallContext CallContext::Make(int64_t now_ms, std::optional<Principal> principal,
                              std::string request_id, http::Clock::time_point deadline) {
  CallContext ctx;
  ctx.now_ms_ = now_ms;
  ctx.principal_ = std::move(principal);
  ctx.request_id_ = std::move(request_id);
  ctx.deadline_ = deadline == http::Clock::time_point::max()
                      ? http::Clock::now() + std::chrono::milliseconds(kDefaultDeadlineMs)
                      : deadline;
  return ctx;
}

std::chrono::milliseconds CallContext::Remaining(http::Clock::time_point at) const {
  if (deadline_ <= at) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - at);
}

absl::Status CallContext::CheckAuthenticated(bool is_public) const {
  if (is_public || principal_.has_value()) return absl::OkStatus();
  return Unauthenticated("missing principal");
}

absl::Status CallContext::AuthorizeWrite() const {
  if (principal_ && principal_->is_privileged()) return absl::OkStatus();
  return PermissionDenied("writes need a service or admin principal");
}

absl::Status CallContext::AuthorizePlayer(std::string_view player_id, bool is_write) const {
  if (player_id.empty()) return is_write ? AuthorizeWrite() : AuthorizeRead();
  if (!principal_) return PermissionDenied("principal may not act for this player");
  if (principal_->is_privileged()) return absl::OkStatus();
  if (principal_->id == player_id) return absl::OkStatus();
  return PermissionDenied("principal may not act for this player");
}

http::HeaderMap CallContext::DownstreamHeaders(std::string_view caller_service,
                                               http::Clock::time_point at) const {
  http::HeaderMap h;
  h.Set(std::string(http::headers::kPrincipal), absl::StrCat("service:", Av(caller_service)));
  h.Set(std::string(http::headers::kRequestTime), FormatTs(now_ms_));
  if (!request_id_.empty()) h.Set(std::string(http::headers::kRequestId), request_id_);
  int64_t left = Remaining(at).count() - kDownstreamMarginMs;
  h.Set(std::string(http::headers::kDeadlineMs), std::to_string(left < 0 ? 0 : left));
  return h;
}

}  // namespace sidecar::services
