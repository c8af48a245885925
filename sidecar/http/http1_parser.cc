#include "sidecar/http/http1_parser.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "sidecar/http/header_chars.h"

namespace sidecar::http {
namespace {

// A chunk-size line with extensions; nobody legitimate needs more, and the bytes are not counted
// against the head budget, so they need their own bound.
constexpr size_t kMaxChunkLineBytes = 4096;
// 15 hex digits: 2^60, far above any body limit and safe from overflow.
constexpr size_t kMaxChunkSizeDigits = 15;
// Body bytes reserved up front from Content-Length; larger bodies grow as they arrive.
constexpr uint64_t kMaxBodyReserve = 64 * 1024;
// 19 decimal digits always fit in uint64_t.
constexpr size_t kMaxContentLengthDigits = 19;
// Chunk extensions are ignored, but a client could send a 1-byte chunk with a 4 KiB extension a
// million times: the body limit would never trigger while we parse gigabytes (the Node.js
// CVE-2024-22019 pattern). All extensions of one request share this budget.
constexpr size_t kMaxChunkExtensionBytes = 16 * 1024;

constexpr std::string_view kMalformed = "malformed";

bool IsOws(char c) { return c == ' ' || c == '\t'; }

// The methods RFC 9110 §9 and RFC 5789 (PATCH) define. Anything else is refused with 400, as
// Envoy's and Node's parsers do: a lower-case "get" or an invented method is at best a client
// bug and at worst a probe for a hop that upper-cases or ignores what it does not know.
bool IsKnownMethod(std::string_view m) {
  for (std::string_view known :
       {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"}) {
    if (m == known) return true;
  }
  return false;
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Request-target checks beyond "visible ASCII" (RFC 3986 / RFC 9112 §3.2). Each rejected form is
// read differently by different hops, so a route or filter check on one reading can be bypassed
// through another:
//   '#'       a fragment is never sent (RFC 9110 §7.1); a hop may cut the path there, or not;
//   backslash not a URI character, and Windows-style servers treat it as '/';
//   "%" not followed by two hex digits in the path: undecodable, so decoders disagree.
// Returns the message to reject with, or "" when the target is acceptable.
std::string_view CheckTarget(std::string_view target) {
  bool in_query = false;
  for (size_t i = 0; i < target.size(); ++i) {
    const char c = target[i];
    if (c == '#') return "fragment in request target";
    if (c == '?') in_query = true;
    if (in_query) continue;
    if (c == '\\') return "backslash in request path";
    if (c == '%' && (i + 2 >= target.size() || !IsHexDigit(target[i + 1]) ||
                     !IsHexDigit(target[i + 2]))) {
      return "invalid percent-encoding in request path";
    }
  }
  return "";
}

// Host = uri-host [ ":" port ] (RFC 9110 §7.2): an IP-literal in brackets or a reg-name/IPv4 of
// unreserved, sub-delims and pct-encoded characters. '@', '/', '\\', spaces and the like let a
// Host header name one authority to a router and another to a URL parser behind it (and it is
// echoed into X-Forwarded-Host). Empty is allowed (RFC 9112 §3.2: no authority).
bool IsValidHost(std::string_view host) {
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (char c : host.substr(1, close - 1)) {
      if (!(IsHexDigit(c) || c == ':' || c == '.')) return false;
    }
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    const size_t colon = host.rfind(':');
    std::string_view name = host;
    if (colon != std::string_view::npos) {
      name = host.substr(0, colon);
      port = host.substr(colon + 1);
    }
    for (size_t i = 0; i < name.size(); ++i) {
      const char c = name[i];
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
      if (ok) continue;
      if (c == '%' && i + 2 < name.size() && IsHexDigit(name[i + 1]) && IsHexDigit(name[i + 2])) {
        i += 2;
        continue;
      }
      return false;
    }
  }
  if (port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// quoted-string (RFC 9110 §5.6.4) at the front of `s`: its length, or 0 when malformed.
size_t QuotedStringLength(std::string_view s) {
  if (s.empty() || s.front() != '"') return 0;
  for (size_t i = 1; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u == '"') return i + 1;
    if (u == '\\') {
      if (++i == s.size()) return 0;
      const auto q = static_cast<unsigned char>(s[i]);
      if (!(q == '\t' || (q >= 0x20 && q != 0x7f))) return 0;
      continue;
    }
    if (!(u == '\t' || (u >= 0x20 && u != 0x7f))) return 0;
  }
  return 0;
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112 §7.1.1),
// name a token, value a token or quoted-string. Whitespace only where BWS is.
bool ValidChunkExtensions(std::string_view ext) {
  auto skip_bws = [&ext] {
    while (!ext.empty() && IsOws(ext.front())) ext.remove_prefix(1);
  };
  auto take_token = [&ext] {
    size_t n = 0;
    while (n < ext.size() && IsTchar(ext[n])) ++n;
    ext.remove_prefix(n);
    return n > 0;
  };
  while (!ext.empty()) {
    skip_bws();
    if (ext.empty() || ext.front() != ';') return false;
    ext.remove_prefix(1);
    skip_bws();
    if (!take_token()) return false;
    skip_bws();
    if (ext.empty()) return true;
    if (ext.front() != '=') continue;  // the next ';' (checked at the top of the loop)
    ext.remove_prefix(1);
    skip_bws();
    if (!ext.empty() && ext.front() == '"') {
      const size_t n = QuotedStringLength(ext);
      if (n == 0) return false;
      ext.remove_prefix(n);
    } else if (!take_token()) {
      return false;
    }
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls f(token) for every non-empty element of a comma-separated list.
template <typename F>
void ForEachListToken(std::string_view list, F f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = TrimOws(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

enum class LineResult { kLine, kNeedMore, kTooLong, kBareLf };

}  // namespace

Http1Parser::Http1Parser(Http1Limits limits) : limits_(limits) {}

bool Http1Parser::in_body() const {
  switch (state_) {
    case State::kBodyLength:
    case State::kChunkSize:
    case State::kChunkData:
    case State::kChunkDataEnd:
    case State::kTrailers:
      return true;
    default:
      return false;
  }
}

void Http1Parser::Reset() {
  state_ = State::kStart;
  request_ = Request{};
  partial_.clear();
  head_bytes_ = 0;
  minor_ = 1;
  keep_alive_ = true;
  expects_continue_ = false;
  chunked_ = false;
  saw_content_length_ = false;
  saw_transfer_encoding_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
  host_count_ = 0;
  content_length_ = 0;
  remaining_ = 0;
  chunk_extension_bytes_ = 0;
}

Request Http1Parser::TakeRequest() {
  Request out = std::move(request_);
  Reset();
  return out;
}

Http1Parser::Event Http1Parser::Fail(int status, std::string_view reason, std::string_view message) {
  state_ = State::kError;
  error_ = Http1Error{status, reason, message};
  partial_.clear();
  return Event::kError;
}

bool Http1Parser::NextLine(std::string_view data, size_t* pos, size_t budget, std::string_view* line) {
  // Returns through *line only complete lines; the caller clears partial_ once it used the line.
  std::string_view rest = data.substr(*pos);
  const void* found = std::memchr(rest.data(), '\n', rest.size());
  LineResult result;
  if (found == nullptr) {
    if (partial_.size() + rest.size() > budget) {
      result = LineResult::kTooLong;
    } else {
      partial_.append(rest.data(), rest.size());
      *pos = data.size();
      result = LineResult::kNeedMore;
    }
  } else {
    const size_t lf = static_cast<const char*>(found) - rest.data();
    const size_t total = partial_.size() + lf + 1;
    if (total > budget) {
      result = LineResult::kTooLong;
    } else {
      std::string_view raw;
      if (partial_.empty()) {
        raw = rest.substr(0, lf);
      } else {
        partial_.append(rest.data(), lf);
        raw = partial_;
      }
      *pos += lf + 1;
      if (raw.empty() || raw.back() != '\r') {
        result = LineResult::kBareLf;
      } else {
        *line = raw.substr(0, raw.size() - 1);
        if (state_ == State::kStart || state_ == State::kHeaders || state_ == State::kTrailers) {
          head_bytes_ += total;
        }
        return true;
      }
    }
  }
  switch (result) {
    case LineResult::kNeedMore:
      return false;
    case LineResult::kTooLong:
      if (state_ == State::kChunkSize || state_ == State::kChunkDataEnd) {
        Fail(400, kMalformed, "malformed chunked body");
      } else {
        Fail(431, "header_too_large", "request header section too large");
      }
      return false;
    case LineResult::kBareLf:
    default:
      Fail(400, kMalformed, "line not terminated by CRLF");
      return false;
  }
}

Http1Parser::Event Http1Parser::Feed(std::string_view data, size_t* consumed) {
  size_t pos = 0;
  Event event = Event::kNeedMore;
  while (event == Event::kNeedMore) {
    if (state_ == State::kComplete) {
      event = Event::kComplete;
      break;
    }
    if (state_ == State::kError) {
      event = Event::kError;
      break;
    }
    if (pos == data.size()) break;

    switch (state_) {
      case State::kBodyLength:
      case State::kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - pos));
        request_.body.append(data.data() + pos, take);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          state_ = state_ == State::kBodyLength ? State::kComplete : State::kChunkDataEnd;
        }
        break;
      }
      case State::kStart:
      case State::kHeaders:
      case State::kTrailers:
      case State::kChunkSize:
      case State::kChunkDataEnd: {
        size_t budget;
        if (state_ == State::kChunkSize) {
          budget = kMaxChunkLineBytes;
        } else if (state_ == State::kChunkDataEnd) {
          budget = 2;
        } else {
          budget = limits_.max_header_bytes - std::min(head_bytes_, limits_.max_header_bytes);
        }
        std::string_view line;
        if (!NextLine(data, &pos, budget, &line)) break;  // need more, or failed
        switch (state_) {
          case State::kStart:
            // RFC 9112 §2.2: ignore blank lines before the request line (clients that send CRLF
            // after a POST body). They still count against the head budget.
            event = line.empty() ? Event::kNeedMore : OnRequestLine(line);
            break;
          case State::kHeaders:
            event = OnHeaderLine(line);
            break;
          case State::kTrailers:
            event = OnTrailerLine(line);
            break;
          case State::kChunkSize:
            event = OnChunkSizeLine(line);
            break;
          case State::kChunkDataEnd:
            if (line.empty()) {
              state_ = State::kChunkSize;
            } else {
              event = Fail(400, kMalformed, "chunk data not followed by CRLF");
            }
            break;
          default:
            break;
        }
        partial_.clear();  // `line` may have pointed into it: cleared only after use
        break;
      }
      default:
        break;
    }
  }
  if (event == Event::kError) pos = 0;  // nothing of a rejected request counts as consumed
  *consumed = pos;
  return event;
}

Http1Parser::Event Http1Parser::OnRequestLine(std::string_view line) {
  // request-line = method SP request-target SP HTTP-version: exactly two single spaces.
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Fail(400, kMalformed, "malformed request line");
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(400, kMalformed, "malformed request line");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);

  if (!IsToken(method)) return Fail(400, kMalformed, "invalid method");
  if (!IsKnownMethod(method)) return Fail(400, kMalformed, "unknown method");
  if (target.empty()) return Fail(400, kMalformed, "empty request target");
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Fail(400, kMalformed, "invalid character in request target");
  }
  if (target.front() != '/' && !(target == "*" && method == "OPTIONS")) {
    return Fail(400, kMalformed, "request target must be origin-form");
  }
  if (std::string_view why = CheckTarget(target); !why.empty()) return Fail(400, kMalformed, why);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Fail(400, kMalformed, "malformed HTTP version");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return Fail(505, "version_not_supported", "HTTP version not supported");
  }
  minor_ = version[7] - '0';
  request_.method.assign(method.data(), method.size());
  request_.path.assign(target.data(), target.size());
  state_ = State::kHeaders;
  return Event::kNeedMore;
}

Http1Parser::Event Http1Parser::OnHeaderLine(std::string_view line) {
  if (line.empty()) return OnHeadEnd();
  // obs-fold (RFC 9112 §5.2): a server may reject it with 400, and an edge must, because hops
  // disagree about what the folded value is.
  if (IsOws(line.front())) return Fail(400, kMalformed, "obsolete line folding");
  if (request_.headers.size() >= limits_.max_headers) {
    return Fail(431, "header_too_large", "too many header fields");
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Fail(400, kMalformed, "header line without colon");
  const std::string_view name = line.substr(0, colon);
  // No whitespace is allowed between name and colon (RFC 9112 §5.1); IsToken rejects it.
  if (!IsToken(name)) return Fail(400, kMalformed, "invalid header name");
  // '_' is a legal tchar, but CGI-style gateways (and frameworks that mimic them) map both
  // X-Forwarded_For and X-Forwarded-For to HTTP_X_FORWARDED_FOR, so a client can smuggle a
  // second copy of a header past a filter that only checks the dashed spelling.
  if (!limits_.allow_underscores_in_header_names && name.find('_') != std::string_view::npos) {
    return Fail(400, kMalformed, "underscore in header name");
  }
  const std::string_view value = TrimOws(line.substr(colon + 1));
  if (!IsFieldValue(value)) return Fail(400, kMalformed, "invalid character in header value");

  if (HeaderMap::NameEquals(name, "Content-Length")) {
    // A repeated Content-Length is rejected even when equal: the hops behind us may not agree.
    if (saw_content_length_) return Fail(400, kMalformed, "repeated Content-Length");
    saw_content_length_ = true;
    if (value.empty() || value.size() > kMaxContentLengthDigits) {
      return Fail(400, kMalformed, "invalid Content-Length");
    }
    uint64_t n = 0;
    for (char c : value) {
      if (c < '0' || c > '9') return Fail(400, kMalformed, "invalid Content-Length");
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    content_length_ = n;
  } else if (HeaderMap::NameEquals(name, "Transfer-Encoding")) {
    if (saw_transfer_encoding_) return Fail(400, kMalformed, "repeated Transfer-Encoding");
    saw_transfer_encoding_ = true;
    if (!HeaderMap::NameEquals(value, "chunked")) {
      return Fail(400, kMalformed, "unsupported Transfer-Encoding");
    }
    chunked_ = true;
  } else if (HeaderMap::NameEquals(name, "Host")) {
    ++host_count_;
    if (!IsValidHost(value)) return Fail(400, kMalformed, "invalid Host");
  } else if (HeaderMap::NameEquals(name, "Connection")) {
    ForEachListToken(value, [this](std::string_view token) {
      if (HeaderMap::NameEquals(token, "close")) connection_close_ = true;
      if (HeaderMap::NameEquals(token, "keep-alive")) connection_keep_alive_ = true;
    });
  } else if (HeaderMap::NameEquals(name, "Expect")) {
    if (!HeaderMap::NameEquals(value, "100-continue")) {
      return Fail(417, "expectation_failed", "unsupported Expect");
    }
    expects_continue_ = true;
  }
  request_.headers.Add(std::string(name), std::string(value));
  return Event::kNeedMore;
}

Http1Parser::Event Http1Parser::OnHeadEnd() {
  // RFC 9112 §3.2: a 1.1 request without exactly one Host gets 400.
  if (host_count_ > 1 || (minor_ == 1 && host_count_ == 0)) {
    return Fail(400, kMalformed, "missing or repeated Host");
  }
  // Smuggling guards (RFC 9112 §6.1, §6.3): never guess between two framings.
  if (saw_transfer_encoding_ && saw_content_length_) {
    return Fail(400, kMalformed, "both Content-Length and Transfer-Encoding");
  }
  if (saw_transfer_encoding_ && minor_ == 0) {
    return Fail(400, kMalformed, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (content_length_ > limits_.max_body_bytes) {
    return Fail(413, "body_too_large", "request body too large");
  }
  keep_alive_ = minor_ == 1 ? !connection_close_ : (connection_keep_alive_ && !connection_close_);
  // 1.0 clients do not know 100-continue (RFC 9110 §10.1.1).
  if (minor_ == 0) expects_continue_ = false;

  if (chunked_) {
    state_ = State::kChunkSize;
    return Event::kHeadComplete;
  }
  if (content_length_ > 0) {
    // Reserve what is announced, up to a bound: the announcement alone must not make every idle
    // connection cost max_body_bytes.
    request_.body.reserve(static_cast<size_t>(std::min<uint64_t>(content_length_, kMaxBodyReserve)));
    remaining_ = content_length_;
    state_ = State::kBodyLength;
    return Event::kHeadComplete;
  }
  expects_continue_ = false;  // nothing to continue to
  state_ = State::kComplete;
  return Event::kComplete;
}

Http1Parser::Event Http1Parser::OnChunkSizeLine(std::string_view line) {
  // chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
  size_t i = 0;
  uint64_t size = 0;
  while (i < line.size() && HexValue(line[i]) >= 0) {
    if (i == kMaxChunkSizeDigits) return Fail(400, kMalformed, "chunk size too large");
    size = size * 16 + static_cast<uint64_t>(HexValue(line[i]));
    ++i;
  }
  if (i == 0) return Fail(400, kMalformed, "invalid chunk size");
  std::string_view ext = line.substr(i);
  if (!ext.empty()) {
    // Extensions are ignored, but checked against the grammar: hops that parse them leniently
    // disagree about where the size line ends (quoted strings with ';' or '"', whitespace
    // without a ';', which some parsers read as the end of the size and others as garbage).
    chunk_extension_bytes_ += ext.size();
    if (chunk_extension_bytes_ > kMaxChunkExtensionBytes) {
      return Fail(400, kMalformed, "too many chunk extension bytes");
    }
    if (!ValidChunkExtensions(ext)) return Fail(400, kMalformed, "invalid chunk extension");
  }
  if (size == 0) {
    state_ = State::kTrailers;
    return Event::kNeedMore;
  }
  if (size > limits_.max_body_bytes - request_.body.size()) {
    return Fail(413, "body_too_large", "request body too large");
  }
  remaining_ = size;
  state_ = State::kChunkData;
  return Event::kNeedMore;
}

Http1Parser::Event Http1Parser::OnTrailerLine(std::string_view line) {
  if (line.empty()) {
    state_ = State::kComplete;
    return Event::kComplete;
  }
  // Trailers are checked like header fields, then dropped: nothing behind us expects them, and
  // merging them into the headers would let a client slip in fields after the filters' checks.
  if (IsOws(line.front())) return Fail(400, kMalformed, "obsolete line folding");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    return Fail(400, kMalformed, "invalid trailer field");
  }
  if (!IsFieldValue(TrimOws(line.substr(colon + 1)))) {
    return Fail(400, kMalformed, "invalid character in trailer value");
  }
  return Event::kNeedMore;
}

}  // namespace sidecar::http
