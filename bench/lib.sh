# Shared by the bench scripts (source it): a work directory removed at exit with every process the
# script started (append PIDs to `pids`; stopped newest first), a free loopback port, and an
# event-driven wait for a log line (tail -f, bounded), never a sleep loop. Set `work_prefix` before
# sourcing.
work="$(mktemp -d -t "${work_prefix:-sidecar-bench}.XXXXXX")"
pids=()
cleanup() {
  # Newest first: a sidecar stops before the nats-server it drains through (else it waits out its
  # drain timeout).
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for_log() {
  local found=0 fd
  exec {fd}< <(exec timeout 20 tail -n +1 -f "$1")
  local tail_pid=$!
  grep -q -m1 -- "$2" <&"$fd" && found=1
  kill "$tail_pid" 2>/dev/null || true
  exec {fd}<&-
  ((found == 1)) || { echo "timed out waiting for '$2' in $1" >&2; tail -n 20 "$1" >&2; exit 1; }
}
# The sidecar as an HTTP pass-through (d): 127.0.0.1:$3 -> one legacy cluster at 127.0.0.1:$4, with
# nats-server at 127.0.0.1:$2; config to file $1.
write_pass_through_conf() {
  cat >"$1" <<CONF
server: {drain_timeout_ms: 2000}
admin: {address: "127.0.0.1:0"}
nats: {servers: "nats://127.0.0.1:$2"}
listeners: [{name: edge, http: {address: "127.0.0.1:$3"}}]
clusters: [{name: origin, legacy_http: {address: "127.0.0.1:$4", max_connections: 64}}]
routes: [{name: all, prefix: /, cluster: origin}]
CONF
}
# nginx as a keep-alive reverse proxy, one worker, 127.0.0.1:$2 -> 127.0.0.1:$3, config to file $1
# (its logs and temp paths under $work).
write_nginx_proxy_conf() {
  cat >"$1" <<CONF
worker_processes 1;
error_log $work/nginx-error.log;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body; proxy_temp_path $work/nginx-proxy;
  fastcgi_temp_path $work/nginx-fcgi; uwsgi_temp_path $work/nginx-uwsgi; scgi_temp_path $work/nginx-scgi;
  upstream origin { server 127.0.0.1:$3; keepalive 64; }
  server {
    listen 127.0.0.1:$2;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
}
