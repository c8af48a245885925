#include "sidecar/http/path_template.h"

#include <algorithm>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sidecar::http {
namespace {

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsUnreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 pchar minus pct-encoded: unreserved / sub-delims / ":" / "@".
bool IsLiteralChar(char c) {
  if (IsUnreserved(c)) return true;
  switch (c) {
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@': return true;
    default: return false;
  }
}

bool IsValidVariableName(std::string_view name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string Printable(char c) {
  if (c > 0x20 && c < 0x7f) return std::string(1, c);
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02X", static_cast<unsigned char>(c));
  return buf;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends `text` with its %XX escapes decoded to `out`; false on a truncated or non-hex escape.
bool AppendPercentDecoded(std::string_view text, bool plus_as_space, std::string& out) {
  const std::string_view special = plus_as_space ? "%+" : "%";
  size_t i = 0;
  while (i < text.size()) {
    // Runs without escapes (most of a path) are appended whole, not byte by byte.
    const size_t next = std::min(text.find_first_of(special, i), text.size());
    out.append(text.data() + i, next - i);
    if (next == text.size()) break;
    if (text[next] == '+') {
      out.push_back(' ');
      i = next + 1;
      continue;
    }
    if (next + 2 >= text.size()) return false;
    const int hi = HexValue(text[next + 1]);
    const int lo = HexValue(text[next + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i = next + 3;
  }
  return true;
}

// Splits "/a/b/" into {"a", "b", ""}. `path` starts with '/'.
std::vector<std::string_view> SplitSegments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 1;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (IsUnreserved(c)) {
      out.push_back(c);
    } else {
      auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
    }
  }
  return out;
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  if (!AppendPercentDecoded(text, plus_as_space, out)) return std::nullopt;
  return out;
}

absl::StatusOr<PathTemplate> PathTemplate::Parse(std::string_view text) {
  auto error = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("path template \"", AbslView(text), "\": ", AbslView(why)));
  };
  if (text.empty()) return absl::InvalidArgumentError("path template is empty");
  if (text[0] != '/') return error("must start with '/'");
  if (text.find('?') != std::string_view::npos) return error("must not contain a query ('?')");
  if (text.find('#') != std::string_view::npos) return error("must not contain a fragment ('#')");

  PathTemplate tmpl;
  tmpl.text_ = std::string(text);
  std::vector<std::string_view> parts = SplitSegments(text);
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view seg = parts[i];
    std::string quoted = absl::StrCat("segment \"", AbslView(seg), "\"");
    size_t opens = std::count(seg.begin(), seg.end(), '{');
    size_t closes = std::count(seg.begin(), seg.end(), '}');
    if (opens == 0 && closes == 0) {
      // A trailing '/' (or the root template "/") yields one final empty segment; elsewhere an
      // empty segment is almost certainly a typo ("//").
      if (seg.empty() && i + 1 != parts.size()) return error("empty segment ('//')");
      for (char c : seg) {
        if (c == '%')
          return error(absl::StrCat(quoted, ": percent-escapes are not supported in literals"));
        if (!IsLiteralChar(c)) {
          return error(absl::StrCat(quoted, ": character '", Printable(c), "' is not allowed"));
        }
      }
      tmpl.segments_.push_back(Segment{false, std::string(seg)});
      ++tmpl.literal_count_;
      continue;
    }
    size_t first_open = seg.find('{');
    size_t first_close = seg.find('}');
    if (opens != closes || first_close < first_open) {
      return error(absl::StrCat(quoted, ": unbalanced braces"));
    }
    if (opens > 1 || seg.front() != '{' || seg.back() != '}') {
      return error(absl::StrCat(quoted, ": a variable must be a whole segment"));
    }
    std::string_view name = seg.substr(1, seg.size() - 2);
    if (name.empty()) return error(absl::StrCat(quoted, ": empty variable name"));
    if (!IsValidVariableName(name)) {
      return error(absl::StrCat(quoted, ": variable name \"", AbslView(name),
                                "\" must match [a-z][a-z0-9_]*"));
    }
    if (tmpl.HasVariable(name))
      return error(absl::StrCat("duplicate variable \"", AbslView(name), "\""));
    tmpl.segments_.push_back(Segment{true, std::string(name)});
    tmpl.variables_.emplace_back(name);
  }
  return tmpl;
}

bool PathTemplate::HasVariable(std::string_view name) const {
  return std::find(variables_.begin(), variables_.end(), name) != variables_.end();
}

absl::StatusOr<std::string> PathTemplate::Expand(
    const std::map<std::string, std::string>& vars) const {
  std::string out;
  for (const Segment& seg : segments_) {
    out.push_back('/');
    if (!seg.is_variable) {
      out += seg.text;
      continue;
    }
    auto it = vars.find(seg.text);
    if (it == vars.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("path template \"", text_, "\": no value for variable \"", seg.text, "\""));
    }
    if (it->second.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "path template \"", text_, "\": empty value for variable \"", seg.text, "\""));
    }
    out += PercentEncode(it->second);
  }
  return out;
}

std::optional<RequestPath> RequestPath::Parse(std::string_view path) {
  path = path.substr(0, std::min(path.find('?'), path.find('#')));
  if (path.empty() || path[0] != '/') return std::nullopt;
  RequestPath out;
  out.decoded_.reserve(path.size());  // decoding never lengthens the text
  size_t start = 1;
  while (true) {
    const size_t slash = std::min(path.find('/', start), path.size());
    const size_t offset = out.decoded_.size();
    if (!AppendPercentDecoded(path.substr(start, slash - start), /*plus_as_space=*/false, out.decoded_)) {
      return std::nullopt;
    }
    out.bounds_.emplace_back(offset, out.decoded_.size() - offset);
    if (slash == path.size()) return out;
    start = slash + 1;
  }
}

std::optional<std::map<std::string, std::string>> PathTemplate::Match(std::string_view path) const {
  std::optional<RequestPath> parsed = RequestPath::Parse(path);
  if (!parsed) return std::nullopt;
  return Match(*parsed);
}

std::optional<std::map<std::string, std::string>> PathTemplate::Match(const RequestPath& path) const {
  if (path.size() != segments_.size()) return std::nullopt;
  for (size_t i = 0; i < segments_.size(); ++i) {
    const Segment& seg = segments_[i];
    if (seg.is_variable ? path.segment(i).empty() : path.segment(i) != seg.text) return std::nullopt;
  }
  std::map<std::string, std::string> vars;
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i].is_variable) vars.emplace(segments_[i].text, std::string(path.segment(i)));
  }
  return vars;
}

bool PathTemplate::MoreSpecific(const PathTemplate& a, const PathTemplate& b) {
  // Lexicographic order of the segment kinds with literal < variable: a strict weak order even
  // across templates of different lengths (which never match the same path, so their relative rank
  // is moot).
  return std::lexicographical_compare(
      a.segments_.begin(), a.segments_.end(), b.segments_.begin(), b.segments_.end(),
      [](const Segment& x, const Segment& y) { return !x.is_variable && y.is_variable; });
}

bool PathTemplate::SameShape(const PathTemplate& a, const PathTemplate& b) {
  if (a.segments_.size() != b.segments_.size()) return false;
  for (size_t i = 0; i < a.segments_.size(); ++i) {
    const Segment& x = a.segments_[i];
    const Segment& y = b.segments_[i];
    if (x.is_variable != y.is_variable) return false;
    if (!x.is_variable && x.text != y.text) return false;
  }
  return true;
}

}  // namespace sidecar::http
