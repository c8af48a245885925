#pragma once
// §0.4 field checks with the fixed reason order, so every port reports the same first failure:
//   required -> type -> too_short/too_long -> pattern -> unknown_value -> out_of_range
// `type` is the transcoder's (it sees the JSON); everything else is here. A port checks its fields
// in table order and returns the first failure:
//
//   RETURN_IF_ERROR(CheckString("username", rq.username(),
//                               {.required = true, .min_len = 3, .max_len = 24, .pattern = &kUser}));
//   RETURN_IF_ERROR(CheckString("platform", rq.platform(), {.allowed = {"pc", "console", "mobile"}}));
//   RETURN_IF_ERROR(CheckInt("amount_minor", rq.amount_minor(), 1, 1'000'000'000'000));
//   RETURN_IF_ERROR(CheckCount("tags", rq.tags_size(), {.required = true, .max = 20}));
//   for (int i = 0; i < rq.tags_size(); ++i) RETURN_IF_ERROR(CheckString(IndexField("tags", i), ...));

#include <cstdint>
#include <limits>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace sidecar::services {

// Length in Unicode code points (§0.2: lengths count code points unless "bytes" is stated).
size_t CodePoints(std::string_view utf8);

// A pattern compiled once (ECMAScript syntax, whole-string match). Spec patterns are ASCII, so
// byte-wise matching of UTF-8 input is exact: any non-ASCII byte fails an ASCII class.
class Pattern {
 public:
  explicit Pattern(const std::string& regex) : re_(regex, std::regex::ECMAScript | std::regex::optimize) {}
  bool Matches(std::string_view s) const { return std::regex_match(s.begin(), s.end(), re_); }

 private:
  std::regex re_;
};

// Every byte of `s` is in `char_class`, written like a regex class body without brackets:
// "A-Za-z0-9_.:-" (a '-' first or last is literal). Fast path for the many `[...]{m,n}` ids.
bool AllCharsIn(std::string_view s, std::string_view char_class);

struct StringSpec {
  // Absent/"" -> `required`; when false, "" passes without further checks (§0.4: "a field that may
  // be "" is checked only when non-empty").
  bool required = false;
  // Code-point bounds (stated, or the finite pattern's shortest/longest match, R4). 0 / max: none.
  size_t min_len = 0;
  size_t max_len = std::numeric_limits<size_t>::max();
  const Pattern* pattern = nullptr;
  // Alternative to `pattern` for plain character-class ids (see AllCharsIn).
  std::string_view char_class = {};
  // Non-empty: an enumeration; a value outside -> unknown_value.
  std::vector<std::string_view> allowed = {};
};
absl::Status CheckString(std::string_view field, std::string_view value, const StringSpec& spec);

// min <= value <= max, else out_of_range (numbers are never `required`, R3).
absl::Status CheckInt(std::string_view field, int64_t value, int64_t min, int64_t max);

struct CountSpec {
  bool required = false;  // empty -> required
  size_t min = 0;         // fewer (but not zero when required) -> too_short
  size_t max = std::numeric_limits<size_t>::max();  // more -> too_long (request-list caps)
};
// A list or map checked whole, before its entries (R5).
absl::Status CheckCount(std::string_view field, size_t count, const CountSpec& spec);

// "tags[2]", "values.<key>", "steps[0].params.amount_minor" (§0.4 field paths).
std::string IndexField(std::string_view list, size_t index);
std::string KeyField(std::string_view map, std::string_view key);

// The first failure of several checks run in order, for ports that prefer a list to
// RETURN_IF_ERROR chains: FirstError({CheckString(...), CheckInt(...)}). Note that all arguments
// are evaluated; use RETURN_IF_ERROR where a later check depends on an earlier one passing.
absl::Status FirstError(std::initializer_list<absl::Status> checks);

}  // namespace sidecar::services
