#include "sidecar/common/build_info.h"

namespace sidecar {

std::string_view BuildGitSha() {
  // A string literal written by the sidecar_git_sha target on every build.
  static constexpr std::string_view kSha =
#include "sidecar_git_sha.inc"
      ;
  return kSha;
}

}  // namespace sidecar
