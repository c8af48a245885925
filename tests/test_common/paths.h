#pragma once
// Where the repository and the build tree are, for tests that start project files or binaries.
// ctest sets SIDECAR_SOURCE_DIR and SIDECAR_BINARY_DIR (tests/CMakeLists.txt); a test binary run
// by hand falls back to the directories CMake configured this library with.

#include <string>

namespace sidecar::test_common {

// The repository root.
std::string SourceDir();
// The CMake build directory.
std::string BinaryDir();
// An executable built by this project: <build dir>/bin/<name>.
std::string BinaryPath(const std::string& name);

}  // namespace sidecar::test_common
