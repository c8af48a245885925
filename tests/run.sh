#!/usr/bin/env bash
# The project's test command: installs dependencies (no apt at all when everything is present),
# configures and builds everything, then runs every test with ctest. Exits non-zero on any failure.
#
#   tests/run.sh
#   SIDECAR_TEST_LABELS=unit tests/run.sh           only tests whose label matches (ctest -L regex:
#                                                   unit, integration, "unit|integration")
#   SIDECAR_TEST_REGEX=NatsServerTest tests/run.sh  only tests whose name matches (ctest -R)
#   SIDECAR_BUILD_DIR=/tmp/b tests/run.sh           build directory (default: <repo>/build-tests)
#   SIDECAR_JOBS=4 tests/run.sh                     build parallelism (default: nproc)
#   SIDECAR_SKIP_DEPS=1 tests/run.sh                skip ecs/local/install-deps.sh
#   SIDECAR_TEST_IMAGE=1 tests/run.sh               also run the `image` label (ecs/image's build stage
#                                                   as a script: a second, Release build, ~4 min)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Its own build tree: tests build at -O1 without debug info (about half the compile time of the
# demo's optimised build/, and CI builds from scratch), so the two never rebuild each other.
build_dir="${SIDECAR_BUILD_DIR:-$root/build-tests}"
jobs="${SIDECAR_JOBS:-$(nproc)}"

step() { printf '\n=== %s\n' "$*"; }

if [[ "${SIDECAR_SKIP_DEPS:-0}" != "1" ]]; then
  step "dependencies"
  bash "$root/ecs/local/install-deps.sh"
fi

step "configure ($build_dir)"
# The top-level CMakeLists.txt picks up ccache by itself when it is installed.
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG"

step "build (-j$jobs)"
start=$SECONDS
cmake --build "$build_dir" -j "$jobs"
echo "build took $((SECONDS - start)) s"

step "test"
ctest_args=(--test-dir "$build_dir" --output-on-failure -j2 --timeout 300 --no-tests=error)
if [[ -n "${SIDECAR_TEST_LABELS:-}" ]]; then
  ctest_args+=(-L "$SIDECAR_TEST_LABELS")
fi
if [[ "${SIDECAR_TEST_IMAGE:-0}" != "1" && -z "${SIDECAR_TEST_LABELS:-}" ]]; then
  ctest_args+=(-LE image)
fi
if [[ -n "${SIDECAR_TEST_REGEX:-}" ]]; then
  ctest_args+=(-R "$SIDECAR_TEST_REGEX")
fi
start=$SECONDS
ctest "${ctest_args[@]}"
echo "tests took $((SECONDS - start)) s"
