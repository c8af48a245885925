#include "tests/test_common/paths.h"

#include <stdlib.h>

#if !defined(SIDECAR_TEST_SOURCE_DIR) || !defined(SIDECAR_TEST_BINARY_DIR)
#error \
    "tests/test_common/CMakeLists.txt defines SIDECAR_TEST_SOURCE_DIR and SIDECAR_TEST_BINARY_DIR"
#endif

namespace sidecar::test_common {
namespace {

std::string FromEnv(const char* name, const char* fallback) {
  const char* value = getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

std::string SourceDir() { return FromEnv("SIDECAR_SOURCE_DIR", SIDECAR_TEST_SOURCE_DIR); }

std::string BinaryDir() { return FromEnv("SIDECAR_BINARY_DIR", SIDECAR_TEST_BINARY_DIR); }

std::string BinaryPath(const std::string& name) { return BinaryDir() + "/bin/" + name; }

}  // namespace sidecar::test_common
