#!/usr/bin/env bash
# Runs one libFuzzer target for a while: tests/fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
#   TARGET   http_request_fuzz | header_mapping_fuzz | config_loader_fuzz | transcoding_fuzz |
#            reply_decoder_fuzz
# Configures the `fuzz` preset (clang, ASan+UBSan, build-fuzz/) if needed and builds only TARGET.
# The seed corpus tests/fuzz/corpus/TARGET is read, never written: new inputs go to
# build-fuzz/fuzz-work/TARGET/corpus, crashes to build-fuzz/fuzz-work/TARGET/ (crash-*, leak-*,
# timeout-*). Add a crash input to the seed corpus once fixed, so ctest replays it for good.
# Runs at nice 19: other builds on the machine win. FUZZ_JOBS=N runs N workers (default 1).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
seeds=$root/tests/fuzz/corpus/$target
[[ -d $seeds ]] || { echo "no seed corpus $seeds" >&2; exit 2; }

if [[ ! -f $build/CMakeCache.txt ]]; then
  (cd "$root" && cmake --preset fuzz >/dev/null)
fi
nice -n 19 cmake --build "$build" --target "$target" -j "${FUZZ_BUILD_JOBS:-2}" >/dev/null

work=$build/fuzz-work/$target
mkdir -p "$work/corpus"
jobs=${FUZZ_JOBS:-1}
echo "fuzzing $target for ${seconds}s (${jobs} worker(s)); work dir $work"
cd "$work"
args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=8192
      -print_final_stats=1 -artifact_prefix="$work/")
if [[ $jobs -gt 1 ]]; then
  args+=(-fork="$jobs")
fi
# halt_on_error: the first sanitizer report stops the run with the reproducer saved.
ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
  nice -n 19 "$build/bin/$target" "${args[@]}" "$@" "$work/corpus" "$seeds"
