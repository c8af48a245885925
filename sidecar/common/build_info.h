#pragma once
// What the running binary was built from. The version is a compile definition (SIDECAR_VERSION,
// from project() in CMakeLists.txt); the commit is written at build time, not configure time, so
// an incremental build names its own commit (cmake/write_git_sha.cmake).

#include <string_view>

namespace sidecar {

// The short commit hash of the build, or "unknown" when it was built without git and without a
// given GIT_SHA.
std::string_view BuildGitSha();

}  // namespace sidecar
