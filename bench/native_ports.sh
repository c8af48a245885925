#!/usr/bin/env bash
# NATS -> nats-sidecar -> native port, next to the raw nats.c floor, in one run on this machine:
#   raw echo             sidecar-load responder (nats.c, SendAsap) — the floor
#   settings.get         get_effective, a read, on the in-memory store and on JetStream KV
#   payment.purchase     a CAS write with a fresh idempotency key per request ({seq}), both stores
# Each at 1 and 16 requests in flight; rounds alternate the contenders so drift hits all alike.
# Everything binds 127.0.0.1 and stops by itself.
#
#   bash bench/native_ports.sh
#   ROUNDS=3 COUNT=20000 bash bench/native_ports.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${SIDECAR_BUILD_DIR:-$root/build}"
rounds="${ROUNDS:-2}"
count="${COUNT:-5000}"
work_prefix=sidecar-native-bench
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target nats-sidecar sidecar-load >/dev/null
sidecar="$build_dir/bin/nats-sidecar"
load="$build_dir/bin/sidecar-load"

# Two nats-servers, so the in-memory and the KV hosts can both join svc-<service>-workers without
# sharing each other's requests.
start_nats() {  # name -> echoes the url
  local port; port="$(free_port)"
  nats-server -a 127.0.0.1 -p "$port" -js -sd "$work/$1-js" >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_for_log "$work/$1.log" "Server is ready"
  echo "nats://127.0.0.1:$port"
}
mem_url="$(start_nats mem)"
kv_url="$(start_nats kv)"

start_host() {  # name url store
  SERVICES=settings,payment STORE="$3" FIXTURES=true NATS_URL="$2" ADMIN=127.0.0.1:0 LISTEN=127.0.0.1:0 \
    "$sidecar" run --config "$root/config/examples/native-host.yaml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_for_log "$work/$1.log" '"ready":"true"'
}
start_host host-mem "$mem_url" memory
start_host host-kv "$kv_url" jetstream
"$load" --url "$mem_url" responder --subject bench.echo --data '{"ok":true}' --max-seconds 1800 >"$work/echo.log" 2>&1 &
pids+=($!)
wait_for_log "$work/echo.log" "responder ready"

headers=(-H "Content-Type: application/json" -H "X-Principal: admin:test" -H "X-Request-Time: 2025-11-20T12:00:00.000Z")
player=pl_a8694c9d17e9b948
for url in "$mem_url" "$kv_url"; do
  fixture="$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["fixture"]))' \
             "$root/tests/golden/settings/01-layered-read.json")"
  "$load" --url "$url" request --subject svc.settings.v1._fixture "${headers[@]}" --data "$fixture" >/dev/null
  "$load" --url "$url" request --subject svc.payment.v1._fixture "${headers[@]}" \
    --data "{\"wallets\":[{\"account_id\":\"$player\",\"currency\":\"GLD\",\"balance_minor\":1000000000000}]}" >/dev/null
done

run() {  # label url subject data concurrency
  "$load" --url "$2" load --subject "$3" "${headers[@]}" --data "$4" -n "$count" -c "$5" --max-seconds 60 \
    --label "$1" | tail -n 1
}
get='{"player_id":"'$player'","platform":"mobile"}'
printf '%-30s %-11s %5s %8s %9s %10s %8s %8s %8s %8s %8s %7s %8s\n' run mode conc rate requests rq/s \
  p50_ms p90_ms p99_ms p999_ms max_ms errors timeouts
for round in $(seq 1 "$rounds"); do
  for c in 1 16; do
    run "raw echo c=$c" "$mem_url" bench.echo '{}' "$c"
    run "settings.get mem c=$c" "$mem_url" svc.settings.v1.get_effective "$get" "$c"
    run "settings.get kv c=$c" "$kv_url" svc.settings.v1.get_effective "$get" "$c"
    buy='{"idempotency_key":"r'$round'c'$c'-{seq}","account_id":"'$player'","currency":"GLD","amount_minor":1,"sku":"x"}'
    run "payment.purchase mem c=$c" "$mem_url" svc.payment.v1.purchase "$buy" "$c"
    run "payment.purchase kv c=$c" "$kv_url" svc.payment.v1.purchase "$buy" "$c"
  done
done
