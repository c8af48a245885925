// Fuzz target (c): the YAML config loader (sidecar/config LoadFromString, ExpandEnv, ToJson).
//
// Input: the YAML document. Environment lookups answer FUZZ_* variables with fixed values (one of
// them empty) and everything else as undefined, so ${env:...} expansion is exercised too.
// Invariants: no crash, no exception escaping (yaml-cpp throws; the loader must catch), and a
// loaded config dumps to JSON (ToJson) without throwing.

#include <optional>
#include <string>

#include "sidecar/config/loader.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::optional<std::string> FuzzEnv(const std::string& name) {
  if (name == "FUZZ_PORT") return "8080";
  if (name == "FUZZ_EMPTY") return "";
  if (name == "FUZZ_HOST") return "127.0.0.1";
  if (name == "FUZZ_SECRET") return "s3cr3t-${env:FUZZ_PORT}";  // values are not re-scanned
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)sidecar::config::ExpandEnv(text, FuzzEnv);
  auto config = sidecar::config::LoadFromString(text, FuzzEnv);
  if (config.ok()) {
    // As /config_dump renders it (sidecar/server JsonResponse). A config string need not be UTF-8
    // (a byte from an env var, a Latin-1 file): the strict dump() throws on it, which is what this
    // target first found; the admin response replaces such bytes instead.
    const std::string dump = sidecar::config::ToJson(*config).dump(
        2, ' ', false, nlohmann::json::error_handler_t::replace);
    FUZZ_CHECK(!dump.empty(), "empty dump");
  }
  return 0;
}
