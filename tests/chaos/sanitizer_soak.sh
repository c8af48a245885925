#!/usr/bin/env bash
# On-demand sanitizer soak (issue 12, test 6): builds nats-sidecar and chaos_test with
# -fsanitize=address,undefined, runs the ChaosSoak test against that sidecar with every sanitizer
# report written to a file, and exits non-zero on any report: ASan, UBSan (halt_on_error, so the
# first one also kills the sidecar and fails the test) and LeakSanitizer at the sidecar's exit (the
# test ends it with SIGTERM, so LSan runs).
#
#   tests/chaos/sanitizer_soak.sh [minutes]     # default 10; the figures land in tests/chaos/RESULTS.md
#
# Environment: SANITIZER_BUILD_DIR (default <source>/../build-asan), JOBS (default 2),
# SANITIZER_LOG_DIR (default a new /tmp/sanitizer-soak-XXXXXX; kept, its path is printed),
# DRIVER_BUILD_DIR (optional: take chaos_test from this, e.g. an -O1 tree, and build only the
# sidecar with sanitizers; an uninstrumented driver loads the sidecar more like production does).
# Otherwise the driver comes from the sanitizer tree too; a report from its own process counts as
# well, and the summary says which process wrote each report.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
minutes=${1:-10}
build=${SANITIZER_BUILD_DIR:-$(dirname "$root")/build-asan}
jobs=${JOBS:-2}
flags="-fsanitize=address,undefined -fno-omit-frame-pointer"

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG"
fi
driver=${DRIVER_BUILD_DIR:-$build}
if [[ "$driver" == "$build" ]]; then
  cmake --build "$build" -j "$jobs" --target nats-sidecar chaos_test
else
  cmake --build "$build" -j "$jobs" --target nats-sidecar
  [[ -x "$driver/bin/chaos_test" ]] || { echo "no $driver/bin/chaos_test" >&2; exit 2; }
fi

logs=${SANITIZER_LOG_DIR:-$(mktemp -d /tmp/sanitizer-soak-XXXXXX)}
mkdir -p "$logs"
# One file per process and sanitizer: <dir>/asan.<pid>, ubsan.<pid>, lsan.<pid>. The test reads the
# same options to find the sidecar's files (tests/chaos/chaos_util.h, SanitizerLogFiles).
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="log_path=$logs/lsan"
echo "sanitizer soak: $minutes min, sidecar from $build, driver from $driver, reports in $logs"

set +e
SIDECAR_SOURCE_DIR=$root SIDECAR_BINARY_DIR=$build SIDECAR_CHAOS_SOAK_MINUTES=$minutes \
  "$driver/bin/chaos_test" --gtest_filter='ChaosSoak.*' 2>&1 | tee "$logs/soak.log"
test_rc=${PIPESTATUS[0]}
set -e

reports=$(find "$logs" -maxdepth 1 -type f \( -name 'asan.*' -o -name 'ubsan.*' -o -name 'lsan.*' \) | sort)
status=0
if [[ -n "$reports" ]]; then
  status=1
  for f in $reports; do
    pid=${f##*.}
    echo "=== sanitizer report $f (pid $pid: $(grep -ho 'sidecar pid | [0-9]*' "$logs/soak.log" | grep -qw "$pid" && echo nats-sidecar || echo 'test driver or other'))"
    grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY' "$f" || true
  done
fi
echo "sanitizer soak: test exit $test_rc, $(echo -n "$reports" | grep -c . || true) report file(s) in $logs"
[[ $test_rc -ne 0 ]] && status=1
exit $status
