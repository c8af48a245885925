#!/usr/bin/env bash
# HTTP paths side by side, in one run on this machine, with wrk against 127.0.0.1:
#   a. origin direct (sidecar-load origin: evhttp, fixed JSON)
#   b. nginx reverse proxy -> origin (keep-alive upstream)
#   c. nats-sidecar HTTP -> HTTP pass-through -> origin
#   d. nats-sidecar gateway HTTP -> NATS -> nats-sidecar (legacy-forward) -> origin
# Each is measured at 64 connections (rq/s) and at 1 connection (p50/p99), rounds alternating the
# contenders so machine drift hits all alike. Everything stops by itself.
#
#   bash bench/http_compare.sh            (needs wrk and nginx: apt-get install wrk nginx-light)
#   ROUNDS=3 SECONDS_PER_RUN=10 bash bench/http_compare.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${SIDECAR_BUILD_DIR:-$root/build}"
rounds="${ROUNDS:-2}"
secs="${SECONDS_PER_RUN:-5}"
for tool in wrk nginx nats-server; do
  command -v "$tool" >/dev/null || { echo "http_compare: $tool missing (apt-get install wrk nginx-light nats-server)" >&2; exit 1; }
done
work_prefix=sidecar-http-compare
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target nats-sidecar sidecar-load >/dev/null
sidecar="$build_dir/bin/nats-sidecar"

origin_port=$(free_port); nginx_port=$(free_port); pass_port=$(free_port); gw_port=$(free_port); nats_port=$(free_port)
"$build_dir/bin/sidecar-load" origin --port "$origin_port" --max-seconds 600 >"$work/origin.log" 2>&1 &
pids+=($!)
wait_for_log "$work/origin.log" "origin ready"
nats-server -a 127.0.0.1 -p "$nats_port" >"$work/nats.log" 2>&1 &
pids+=($!)
wait_for_log "$work/nats.log" "Server is ready"

write_nginx_proxy_conf "$work/nginx.conf" "$nginx_port" "$origin_port"
nginx -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 &
pids+=($!)

write_pass_through_conf "$work/pass.yaml" "$nats_port" "$pass_port" "$origin_port"
"$sidecar" run --config "$work/pass.yaml" >"$work/pass.log" 2>&1 &
pids+=($!)
wait_for_log "$work/pass.log" '"ready":"true"'
SERVICE=bench NATS_URL="nats://127.0.0.1:$nats_port" UPSTREAM="127.0.0.1:$origin_port" ADMIN=127.0.0.1:0 \
  "$sidecar" run --config "$root/config/examples/legacy-forward.yaml" >"$work/backend.log" 2>&1 &
pids+=($!)
wait_for_log "$work/backend.log" '"ready":"true"'
SERVICE=bench NATS_URL="nats://127.0.0.1:$nats_port" LISTEN="127.0.0.1:$gw_port" ADMIN=127.0.0.1:0 \
  LEGACY="127.0.0.1:$origin_port" NATS_WEIGHT=100 \
  "$sidecar" run --config "$root/config/examples/gateway-split.yaml" >"$work/gateway.log" 2>&1 &
pids+=($!)
wait_for_log "$work/gateway.log" '"ready":"true"'

declare -A url=([a_origin]="http://127.0.0.1:$origin_port/x" [b_nginx]="http://127.0.0.1:$nginx_port/x"
                [c_sidecar_passthrough]="http://127.0.0.1:$pass_port/x"
                [d_gateway_via_nats]="http://127.0.0.1:$gw_port/api/bench/x")
names=(a_origin b_nginx c_sidecar_passthrough d_gateway_via_nats)
declare -A rps p50 p99
for ((r = 1; r <= rounds; r++)); do
  for n in "${names[@]}"; do
    out=$(wrk -t2 -c64 -d"${secs}s" "${url[$n]}")
    rps[$n]+="$(awk '/Requests\/sec/ {printf "%d ", $2}' <<<"$out")"
    out=$(wrk -t1 -c1 -d"${secs}s" --latency "${url[$n]}")
    p50[$n]+="$(awk '$1=="50%" {print $2" "}' <<<"$out")"
    p99[$n]+="$(awk '$1=="99%" {print $2" "}' <<<"$out")"
  done
done
printf '\n%-24s %-22s %-26s %-26s\n' "path" "rq/s @64 conn (rounds)" "p50 @1 conn (rounds)" "p99 @1 conn (rounds)"
for n in "${names[@]}"; do printf '%-24s %-22s %-26s %-26s\n' "$n" "${rps[$n]}" "${p50[$n]}" "${p99[$n]}"; done
echo "($(nproc) cores shared by wrk, nginx, the sidecars, nats-server and the origin; ${secs}s per run)"
