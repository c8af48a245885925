#!/usr/bin/env bash
# CPU per request of each proxy process, nginx (b) against the nats-sidecar pass-through (d), in
# front of the same origin. Throughput on 2 shared cores (bench/run's d/b) also moves with the
# origin's and the load tool's share and with the VM's drift; this divides each process's own CPU
# time (/proc/PID/stat utime+stime, clock ticks) by the requests it served, rounds alternating.
#
#   bash bench/proxy_cpu.sh          (ROUNDS=4 SECONDS_PER_RUN=4; builds build-bench unless --no-build)
# Prints per run: rq/s, and us of CPU per request for the proxy, the origin and the whole machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${SIDECAR_BUILD_DIR:-$root/build-bench}"
rounds="${ROUNDS:-4}" secs="${SECONDS_PER_RUN:-4}" conns="${CONNS:-64}"
[[ "${1:-}" == "--no-build" ]] || {
  cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir" -j "$(nproc)" --target nats-sidecar sidecar-load >/dev/null
}
for tool in nats-server nginx curl /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "proxy_cpu: $tool missing (bash ecs/local/install-deps.sh)" >&2; exit 1; }
done
work_prefix=sidecar-proxy-cpu
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
load="$build_dir/bin/sidecar-load"

origin_port=$(free_port); nginx_port=$(free_port); pass_port=$(free_port); nats_port=$(free_port)
"$load" origin --port "$origin_port" --max-seconds 600 >"$work/origin.log" 2>&1 &
origin_pid=$!; pids+=("$origin_pid")
wait_for_log "$work/origin.log" "origin ready"
nats-server -a 127.0.0.1 -p "$nats_port" >"$work/nats.log" 2>&1 &
pids+=($!)
wait_for_log "$work/nats.log" "Server is ready"
write_nginx_proxy_conf "$work/nginx.conf" "$nginx_port" "$origin_port"
# master_process off: the one nginx process is the worker whose CPU we read.
timeout 900 nginx -c "$work/nginx.conf" -g 'daemon off; master_process off;' >"$work/nginx.log" 2>&1 &
nginx_pid=$!; pids+=("$nginx_pid")
curl -sf --retry 50 --retry-connrefused --retry-delay 1 -o /dev/null "http://127.0.0.1:$nginx_port/x"
write_pass_through_conf "$work/pass.yaml" "$nats_port" "$pass_port" "$origin_port"
timeout 900 "$build_dir/bin/nats-sidecar" run --config "$work/pass.yaml" >"$work/pass.log" 2>&1 &
pids+=($!)
wait_for_log "$work/pass.log" '"ready":"true"'
# `timeout` is the parent: the sidecar is its child.
sidecar_pid=$(pgrep -P "${pids[-1]}" | head -1)
nginx_pid=$(pgrep -P "$nginx_pid" | head -1)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $6 + $7 + $8}' /proc/stat; }
us_per_tick=$((1000000 / $(getconf CLK_TCK)))
printf '%-7s %8s %14s %14s %15s\n' proxy rq/s "proxy us/rq" "origin us/rq" "machine us/rq"
for ((r = 1; r <= rounds; r++)); do
  for contender in "nginx:$nginx_port:$nginx_pid" "sidecar:$pass_port:$sidecar_pid"; do
    IFS=: read -r name port pid <<<"$contender"
    p0=$(ticks "$pid") o0=$(ticks "$origin_pid") m0=$(machine_ticks)
    "$load" http -c "$conns" -s "$secs" -w 0 --json "http://127.0.0.1:$port/x" >"$work/run.json"
    p1=$(ticks "$pid") o1=$(ticks "$origin_pid") m1=$(machine_ticks)
    /usr/bin/python3 - "$work/run.json" "$name" $((p1 - p0)) $((o1 - o0)) $((m1 - m0)) "$us_per_tick" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
name, proxy, origin, machine, us = sys.argv[2], *map(int, sys.argv[3:])
n = run["requests"]
print(f"{name:<7} {run['rps']:8.0f} {proxy * us / n:14.2f} {origin * us / n:14.2f} {machine * us / n:15.2f}")
PY
  done
done
