#!/usr/bin/env bash
# The main job, on one machine: installs dependencies, builds, starts a local nats-server, the
# legacy FastAPI settings stand-in and nats-sidecar in front of it, sends NATS requests through,
# measures, and prints what happened. Everything binds 127.0.0.1 on free ports and stops by itself.
#
#   bash ecs/local/demo.sh
#   SIDECAR_BUILD_DIR=/tmp/b DEMO_LOAD_COUNT=20000 bash ecs/local/demo.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${SIDECAR_BUILD_DIR:-$root/build}"
load_count="${DEMO_LOAD_COUNT:-5000}"
work="$(mktemp -d -t nats-sidecar-demo.XXXXXX)"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m=== %s\033[0m\n' "$*"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits (bounded) for a line matching $2 in log $1: an event, not a poll of the service.
wait_for_log() {
  local found=0 fd
  # A process substitution, not a pipe: grep returns at the first match without waiting for tail.
  exec {fd}< <(exec timeout "${3:-20}" tail -n +1 -f "$1")
  local tail_pid=$!
  grep -q -m1 -- "$2" <&"$fd" && found=1
  kill "$tail_pid" 2>/dev/null || true
  exec {fd}<&-
  if ((found == 0)); then
    echo "demo: timed out waiting for '$2' in $1:" >&2
    tail -n 20 "$1" >&2
    exit 1
  fi
}

step "dependencies"
bash "$root/ecs/local/install-deps.sh"

step "build"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target nats-sidecar sidecar-load
sidecar="$build_dir/bin/nats-sidecar"
load="$build_dir/bin/sidecar-load"

nats_port="$(free_port)"
legacy_port="$(free_port)"
admin_port="$(free_port)"
nats_url="nats://127.0.0.1:$nats_port"

step "nats-server on 127.0.0.1:$nats_port"
nats-server -a 127.0.0.1 -p "$nats_port" >"$work/nats.log" 2>&1 &
pids+=($!)
wait_for_log "$work/nats.log" "Server is ready"

step "legacy FastAPI settings service on 127.0.0.1:$legacy_port (seeded with the SERVICES.md §2.2 example)"
LEGACY_SERVICE_NAME=settings LEGACY_SETTINGS_PRESET=spec_example \
  /usr/bin/python3 -m uvicorn --app-dir "$root/tests/legacy" --host 127.0.0.1 --port "$legacy_port" \
  --no-access-log app:app >"$work/legacy.log" 2>&1 &
pids+=($!)
wait_for_log "$work/legacy.log" "Uvicorn running"

step "nats-sidecar (config/examples/settings-legacy.yaml), admin on 127.0.0.1:$admin_port"
NATS_URL="$nats_url" UPSTREAM="127.0.0.1:$legacy_port" ADMIN="127.0.0.1:$admin_port" \
  "$sidecar" run --config "$root/config/examples/settings-legacy.yaml" >"$work/sidecar.log" 2>&1 &
sidecar_pid=$!
pids+=($sidecar_pid)
wait_for_log "$work/sidecar.log" '"ready":"true"'
"$sidecar" healthcheck --admin "127.0.0.1:$admin_port" --ready

principal=(-H "X-Principal: player:pl_a8694c9d17e9b948" -H "X-Request-Time: 2026-03-01T12:00:00Z"
           -H "Content-Type: application/json")  # action payloads are protobuf unless they say JSON
call() { "$load" --url "$nats_url" request "$@"; echo; }

step "NATS -> sidecar -> legacy HTTP: four calls"
echo "# get_effective (action route -> GET /api/settings/players/{player_id}?platform=mobile)"
call --subject svc.settings.v1.get_effective "${principal[@]}" \
  --data '{"player_id":"pl_a8694c9d17e9b948","platform":"mobile"}'
echo "# set_values (action route -> POST .../values with a JSON body)"
call --subject svc.settings.v1.set_values "${principal[@]}" \
  --data '{"player_id":"pl_a8694c9d17e9b948","platform":"pc","expected_revision":3,"values":{"audio.master_volume":80,"gameplay.subtitles":true}}'
echo "# the same again: stale revision -> the legacy 422 becomes Nats-Service-Error headers"
call --subject svc.settings.v1.set_values "${principal[@]}" \
  --data '{"player_id":"pl_a8694c9d17e9b948","platform":"pc","expected_revision":3,"values":{"gameplay.subtitles":true}}'
echo "# passthrough: any HTTP route, no schema (X-Http-Method / X-Http-Path)"
call --subject svc.settings.v1.http -H "X-Http-Method: GET" -H "X-Http-Path: /echo/hello?x=1"

step "measure: the sidecar's own cost, against a trivial evhttp origin and a raw nats.c responder"
# A second sidecar (config/examples/legacy-forward.yaml, SERVICE=bench) in front of an evhttp origin,
# so the numbers show the sidecar rather than Python. The FastAPI row shows the stand-in's cost.
"$load" origin --max-seconds 120 >"$work/origin.log" 2>&1 &
pids+=($!)
wait_for_log "$work/origin.log" "origin ready"
origin_addr="$(grep -o '127.0.0.1:[0-9]*' "$work/origin.log" | head -n 1)"
bench_admin="$(free_port)"
SERVICE=bench NATS_URL="$nats_url" UPSTREAM="$origin_addr" ADMIN="127.0.0.1:$bench_admin" \
  "$sidecar" run --config "$root/config/examples/legacy-forward.yaml" >"$work/sidecar-bench.log" 2>&1 &
bench_pid=$!
pids+=($bench_pid)
wait_for_log "$work/sidecar-bench.log" '"ready":"true"'
"$load" --url "$nats_url" responder --subject bench.floor --data '{"ok":true}' --max-seconds 120 \
  >"$work/responder.log" 2>&1 &
pids+=($!)
wait_for_log "$work/responder.log" "responder ready"
echo "idle RSS of the bench sidecar: $(awk '/VmRSS/ {print $2, $3}' "/proc/$bench_pid/status")"

passthrough=(-H "X-Http-Method: GET" -H "X-Http-Path: /echo")
run_load() { "$load" --url "$nats_url" load --max-seconds 60 "$@"; }
run_load --subject bench.floor -n 3000 -c 1 --label "raw nats.c, c=1"
run_load --subject svc.bench.v1.http "${passthrough[@]}" -n 3000 -c 1 --label "sidecar->evhttp, c=1" | tail -n 1
run_load --subject svc.settings.v1.http "${passthrough[@]}" -n 2000 -c 1 --label "sidecar->FastAPI, c=1" | tail -n 1
run_load --subject bench.floor -n "$load_count" -c 64 --label "raw nats.c, c=64" | tail -n 1
run_load --subject svc.bench.v1.http "${passthrough[@]}" -n "$load_count" -c 64 --label "sidecar->evhttp, c=64" \
  | tail -n 1
run_load --subject svc.settings.v1.http "${passthrough[@]}" -n "$load_count" -c 64 --label "sidecar->FastAPI, c=64" \
  | tail -n 1
echo "RSS after load: bench sidecar $(awk '/VmRSS/ {print $2, $3}' "/proc/$bench_pid/status")," \
  "settings sidecar $(awk '/VmRSS/ {print $2, $3}' "/proc/$sidecar_pid/status")"

step "admin: /ready and a few /metrics lines"
/usr/bin/python3 - "$admin_port" <<'EOF'
import sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
print(urllib.request.urlopen(base + "/ready", timeout=2).read().decode().strip())
for line in urllib.request.urlopen(base + "/metrics", timeout=2).read().decode().splitlines():
    if line.startswith(("sidecar_requests_total", "sidecar_upstream_rq_total", "sidecar_nats_connected",
                        "sidecar_upstream_cx_active", "sidecar_build_info")):
        print(line)
EOF

step "SIGTERM: /ready fails, in-flight requests finish, exit 0"
kill -TERM "$sidecar_pid"
set +e
wait "$sidecar_pid"
code=$?
set -e
grep -E '"msg":"(signal received; draining|drained; exiting|stopped)"' "$work/sidecar.log" || true
echo "nats-sidecar exit code: $code"
[[ "$code" -eq 0 ]]
echo
echo "demo: OK"
