#pragma once
// JSON-lines logging: one object per line with ts, level, msg, and any fields (trace_id when known).
// Logs are for humans reading an incident; counters belong in stats.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sidecar::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using Field = std::pair<std::string_view, std::string_view>;

void SetLevel(Level level);
// Parses "debug|info|warn|error"; returns false on anything else.
bool ParseLevel(std::string_view text, Level* out);
bool Enabled(Level level);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kDebug, msg, f); }
inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kInfo, msg, f); }
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kWarn, msg, f); }
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kError, msg, f); }

}  // namespace sidecar::log
