#!/usr/bin/python3
"""Boots config/nats/cluster-3.conf as three nats-server processes on loopback (free ports, given
through the environment exactly as in production), checks that they form one cluster, and creates
the EVENTS, DLQ and sidecar-routes definitions of config/nats/jetstream/ with R3 replication.

    /usr/bin/python3 tests/ecs/nats_cluster_test.py [--nodes 3|5]

The only change made to the shipped config: on a nats-server older than 2.10 (Debian bookworm has
2.9.10) the `sync_interval: always` line is removed, because that option did not exist yet.
"""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testutil import ROOT, NatsClient, Process, free_ports, http_get  # noqa: E402

CONF_DIR = os.path.join(ROOT, "config", "nats")


def server_version():
    out = subprocess.run(["nats-server", "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups())


def render_config(work, nodes):
    """Copies the shipped config into work/; returns the path of cluster-<nodes>.conf."""
    for name in (f"cluster-{nodes}.conf", "cluster-common.conf"):
        shutil.copy(os.path.join(CONF_DIR, name), os.path.join(work, name))
    path = os.path.join(work, f"cluster-{nodes}.conf")
    text = open(path).read()
    if "\n  sync_interval: always\n" not in text:
        raise AssertionError("cluster config lost its sync_interval: always")
    if server_version() < (2, 10, 0):
        text = text.replace("\n  sync_interval: always\n", "\n", 1)
        print(f"nats-server {'.'.join(map(str, server_version()))} < 2.10: "
              "running without the sync_interval line (production needs >= 2.10)")
    open(path, "w").write(text)
    return path


def retry_js(client, api, body, deadline_s=20):
    """A JetStream API call, retried only while the cluster is still forming: electing (10008), or a
    just-elected leader that does not know every peer's JetStream yet (10005, no suitable peers)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return client.jetstream(api, body)
        except RuntimeError as e:
            transient = any(t in str(e) for t in ("10008", "10005", "temporarily unavailable", "no responders"))
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the one back-off: an election has no event we can wait on over this API


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    args = ap.parse_args(argv)
    n = args.nodes
    work = tempfile.mkdtemp(prefix="ecs-nats-cluster-")
    conf = render_config(work, n)
    ports = free_ports(3 * n)
    client_ports, cluster_ports, monitor_ports = ports[:n], ports[n:2 * n], ports[2 * n:]
    routes = {f"NATS_ROUTE_{i + 1}": f"nats-route://127.0.0.1:{cluster_ports[i]}" for i in range(n)}
    servers = []
    failures = []
    try:
        for i in range(n):
            env = {"NATS_SERVER_NAME": f"nats-{i + 1}", "NATS_HOST": "127.0.0.1",
                   "NATS_CLIENT_PORT": str(client_ports[i]), "NATS_CLUSTER_PORT": str(cluster_ports[i]),
                   "NATS_MONITOR_LISTEN": f"127.0.0.1:{monitor_ports[i]}",
                   "NATS_STORE_DIR": os.path.join(work, f"store-{i + 1}"), **routes}
            servers.append(Process(f"nats-{i + 1}", ["nats-server", "-c", conf], env=env, cwd=work))
        for s in servers:
            s.wait_for(lambda l: "Server is ready" in l, 30)
        servers[0].wait_for(lambda l: "metadata leader" in l, 30)
        # A leader needs only a quorum, so the full mesh may still be forming: give every node a
        # bounded time to reach n - 1 routes (polled: /routez has no event to wait on).
        routez_of = {}
        deadline = time.monotonic() + 15
        while True:
            routez_of = {i: json.loads(http_get(monitor_ports[i], "/routez")[1]) for i in range(n)}
            if all(r["num_routes"] >= n - 1 for r in routez_of.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for i, s in enumerate(servers):
            routez = routez_of[i]
            peers = sorted({r.get("remote_name", r.get("remote_id")) for r in routez["routes"]})
            print(f"nats-{i + 1}: {routez['num_routes']} routes to {peers}")
            if routez["num_routes"] < n - 1:
                failures.append(f"nats-{i + 1} has {routez['num_routes']} routes, want {n - 1}")
            varz = json.loads(http_get(monitor_ports[i], "/varz")[1])
            if varz.get("server_name") != f"nats-{i + 1}" or varz.get("cluster", {}).get("name") != "bodybroker-nats":
                failures.append(f"nats-{i + 1}: /varz server_name/cluster wrong: {varz.get('server_name')}")

        client = NatsClient(client_ports[0])
        try:
            for name in ("events.json", "dlq.json", "kv-sidecar-routes.json"):
                cfg = json.load(open(os.path.join(CONF_DIR, "jetstream", name)))
                reply = retry_js(client, f"STREAM.CREATE.{cfg['name']}", cfg)
                info = retry_js(client, f"STREAM.INFO.{cfg['name']}", None)
                replicas = info.get("cluster", {}).get("replicas", [])
                peers = [info["cluster"].get("leader")] + [r["name"] for r in replicas]
                print(f"{cfg['name']}: R{info['config']['num_replicas']}, leader {peers[0]}, "
                      f"replicas {peers[1:]}, subjects {info['config']['subjects']}")
                if info["config"]["num_replicas"] != 3 or len(set(peers)) != 3:
                    failures.append(f"{cfg['name']}: not on 3 peers: {peers}")
                for key in ("subjects", "storage", "max_age", "duplicate_window"):
                    if reply["config"].get(key) != cfg[key]:
                        failures.append(f"{cfg['name']}: {key} is {reply['config'].get(key)}, want {cfg[key]}")
            # EVENTS de-duplicates by Nats-Msg-Id: the same event published twice is stored once.
            acks = []
            for _ in range(2):
                _, _, body = client.request("evt.settings.v1.schema_changed", b'{"key":"a.b"}',
                                            {"Nats-Msg-Id": "ev_0123456789abcdef"})
                acks.append(json.loads(body))
            print(f"EVENTS publish acks: {acks}")
            if acks[0].get("stream") != "EVENTS" or acks[0].get("duplicate") or not acks[1].get("duplicate"):
                failures.append(f"EVENTS de-duplication: {acks}")
            # The KV bucket takes a put (a sidecar-routes record) and returns it by subject.
            _, _, body = client.request("$KV.sidecar-routes.settings.get_effective", b'{"native":10,"legacy":90}')
            ack = json.loads(body)
            if ack.get("stream") != "KV_sidecar-routes":
                failures.append(f"KV put not acked by KV_sidecar-routes: {ack}")
            msg = client.jetstream("STREAM.MSG.GET.KV_sidecar-routes",
                                   {"last_by_subj": "$KV.sidecar-routes.settings.get_effective"})
            value = base64.b64decode(msg["message"]["data"])
            print(f"sidecar-routes settings.get_effective = {value.decode()}")
            if value != b'{"native":10,"legacy":90}':
                failures.append(f"KV value read back as {value!r}")
        finally:
            client.close()
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    print(f"{n}-node cluster: {'OK' if not failures else f'{len(failures)} failures'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
