#!/usr/bin/env bash
# The build stage of ecs/image/Dockerfile, as a script, so that it also runs (and is tested) on a
# machine without a Docker engine: tests/ecs/image_build_test.py runs it exactly as the Dockerfile does.
#
#   bash ecs/image/build.sh SRC OUT [BUILD_DIR]
#
# Builds the nats-sidecar target (Release) from SRC and lays out the image's files under OUT:
#   OUT/usr/local/bin/nats-sidecar      stripped binary
#   OUT/etc/nats-sidecar/*.yaml         the shipped example configs (selected by the task definitions)
# then checks that the binary runs and every shipped config validates.
set -euo pipefail
src="$(cd "$1" && pwd)"
out="$2"
build="${3:-$src/build-image}"
jobs="${SIDECAR_JOBS:-$(nproc)}"

# GIT_SHA (env): the commit to report when SRC has no .git (the Dockerfile passes its build arg).
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGIT_SHA="${GIT_SHA:-}" >/dev/null
cmake --build "$build" --target nats-sidecar -j "$jobs"

install -d "$out/usr/local/bin" "$out/etc/nats-sidecar"
install -m 0755 "$build/bin/nats-sidecar" "$out/usr/local/bin/nats-sidecar"
strip --strip-unneeded "$out/usr/local/bin/nats-sidecar"
install -m 0644 "$src"/config/examples/*.yaml "$out/etc/nats-sidecar/"

"$out/usr/local/bin/nats-sidecar" --version
for config in "$out"/etc/nats-sidecar/*.yaml; do
  SERVICE=example "$out/usr/local/bin/nats-sidecar" validate --config "$config" >/dev/null
done
echo "build.sh: image files under $out"
