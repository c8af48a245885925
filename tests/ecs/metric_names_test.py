#!/usr/bin/python3
"""Every metric named in the alert rules, the dashboard, the CloudWatch agent config and the
auto-scaling policies is one the sidecar really exports.

"Really exports" means: present in a live /metrics scrape of build/bin/nats-sidecar, run against a
real nats-server with one request sent through it (so the per-request families exist), AND declared
in sidecar/stats/metrics.cc. The only exception is ecs/monitoring/pending-metrics.txt: names that a
later issue will export; the test fails when one of them shows up in metrics.cc (the list is stale).

    /usr/bin/python3 tests/ecs/metric_names_test.py [--binary build/bin/nats-sidecar]
"""
import argparse
import glob
import http.server
import json
import os
import re
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testutil import ROOT, NatsClient, Process, free_ports, http_get  # noqa: E402

NAME = re.compile(r"\bsidecar_[a-z0-9_]+")


def source_names():
    text = open(os.path.join(ROOT, "sidecar", "stats", "metrics.cc"), encoding="utf-8").read()
    return set(re.findall(r'"(sidecar_[a-z0-9_]+)"', text))


def pending_names():
    out = {}
    for line in open(os.path.join(ROOT, "ecs", "monitoring", "pending-metrics.txt"), encoding="utf-8"):
        if line.strip() and not line.startswith("#"):
            name, rest = line.split(None, 1)
            out[name] = rest.strip()
    return out


def referenced_names():
    """{metric name: [files naming it]}."""
    refs = {}

    def add(name, path):
        refs.setdefault(name, set()).add(os.path.relpath(path, ROOT))

    mon = os.path.join(ROOT, "ecs", "monitoring")
    for path in [os.path.join(mon, "prometheus", "sidecar-alerts.yml"),
                 os.path.join(mon, "grafana", "nats-sidecar.json")]:
        text = open(path, encoding="utf-8").read()
        for name in NAME.findall(text):
            add(name, path)
    # In JSON configs only values name metrics (keys such as ECS_PROMETHEUS_* do not).
    for path in ([os.path.join(mon, "cloudwatch", "cwagent-config.json")] +
                 glob.glob(os.path.join(ROOT, "ecs", "autoscaling", "*.json"))):
        def walk(node):
            if isinstance(node, dict):
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
            elif isinstance(node, str):
                for name in NAME.findall(node):
                    add(name, path)
        walk(json.load(open(path, encoding="utf-8")))
    return refs


class _OkUpstream(http.server.BaseHTTPRequestHandler):
    """The legacy service: healthy, and 200 {} for every GET."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def live_families(binary):
    """Metric family names (# TYPE lines) of a live scrape, after one request went through."""
    nats_port, admin_port, upstream_port = free_ports(3)
    work = tempfile.mkdtemp(prefix="ecs-metrics-")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", upstream_port), _OkUpstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    nats = Process("nats-server", ["nats-server", "-a", "127.0.0.1", "-p", str(nats_port)], cwd=work)
    sidecar = None
    try:
        nats.wait_for(lambda l: "Server is ready" in l, 20)
        sidecar = Process("nats-sidecar", [binary, "run", "--config",
                                           os.path.join(ROOT, "config", "examples", "legacy-forward.yaml")],
                          env={"SERVICE": "settings", "NATS_URL": f"nats://127.0.0.1:{nats_port}",
                               "UPSTREAM": f"127.0.0.1:{upstream_port}", "ADMIN": f"127.0.0.1:{admin_port}"})
        # Ready means the health check passed and the listener joined its queue group.
        sidecar.wait_for(lambda l: '"msg":"readiness changed"' in l and '"ready":"true"' in l, 20)
        client = NatsClient(nats_port)
        try:
            headers, status, body = client.request("svc.settings.v1.get_effective", b"",
                                                   {"X-Http-Method": "GET", "X-Http-Path": "/api/settings/health"})
        finally:
            client.close()
        if "Nats-Service-Error" in headers:
            raise AssertionError(f"unexpected reply {status!r} {headers} {body[:200]!r}")
        code, text = http_get(admin_port, "/metrics")
        if code != 200:
            raise AssertionError(f"/metrics answered {code}")
        return set(re.findall(r"^# TYPE (\S+) \S+$", text, re.M)), text
    finally:
        if sidecar:
            sidecar.stop()
        nats.stop()
        upstream.shutdown()


def base_name(name, families):
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            return name[: -len(suffix)]
    return name


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(os.environ.get("SIDECAR_BINARY_DIR", os.path.join(ROOT, "build")),
                                                     "bin", "nats-sidecar"))
    args = ap.parse_args(argv)
    source = source_names()
    pending = pending_names()
    live, _ = live_families(args.binary)
    refs = referenced_names()
    failures = []

    stale = sorted(set(pending) & (source | live))
    for name in stale:
        failures.append(f"{name} is exported now: remove it from ecs/monitoring/pending-metrics.txt")

    known = source | live
    checked = {}
    for name, files in sorted(refs.items()):
        base = base_name(name, known)
        checked.setdefault(base, set()).update(files)
    for name, files in sorted(checked.items()):
        if name in pending:
            print(f"pending  {name:40s} ({pending[name]})")
        elif name in live and name in source:
            names = sorted(files)
            shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
            print(f"live     {name:40s} {shown}")
        else:
            where = "declared in metrics.cc but absent from the live scrape" if name in source else \
                "not exported by the binary (not in metrics.cc, not in /metrics)"
            failures.append(f"{name}: {where}; named in {', '.join(sorted(files))}")
    unused = sorted(source - set(checked))
    if unused:
        print(f"exported but not watched anywhere (fine, for information): {', '.join(unused)}")
    if len(checked) < 10:
        failures.append(f"only {len(checked)} metric names found in rules and dashboards: parser broken?")
    for f in failures:
        print("FAIL:", f)
    print(f"metric names: {len(checked)} referenced, {len(live)} live families, "
          f"{len(pending)} pending, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
