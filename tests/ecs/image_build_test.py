#!/usr/bin/python3
"""The container image, without a Docker engine (there is none on these machines or in CI).

1. The Dockerfile is what the rest of ecs/ assumes: two stages from debian:bookworm-slim, the build
   stage runs ecs/image/build.sh, the final stage runs as the non-root uid 10001 that the task
   definitions name, its HEALTHCHECK and ENTRYPOINT are exec form with the binary itself, and it
   installs no shell health tools (curl, wget, procps).
2. The build stage runs here as a script, exactly as the Dockerfile's RUN line calls it, into a
   temp OUT directory (build.sh itself checks --version and validates every shipped config).
3. The runtime stage would work: every shared library of the built binary belongs to a Debian
   package listed in runtime-packages.txt (ldd + dpkg -S), and every config the task definitions
   select (run --config /etc/nats-sidecar/X) is in OUT/etc/nats-sidecar/ (or pending, see
   ecs/generator/generate.py).
4. The built binary's `healthcheck` (the image's only health tool) answers 0 against a running
   sidecar and 1 when nothing listens.

    /usr/bin/python3 tests/ecs/image_build_test.py [--build-dir DIR] [--skip-build OUT]
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testutil import ROOT, Process, free_ports  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "ecs", "generator"))
import generate  # noqa: E402

IMAGE = os.path.join(ROOT, "ecs", "image")


def check_dockerfile(failures):
    text = open(os.path.join(IMAGE, "Dockerfile")).read()
    joined = re.sub(r"\\\n", " ", text)
    froms = re.findall(r"^FROM\s+(\S+)", joined, re.M)
    if len(froms) != 2 or any(f != "debian:bookworm-slim" for f in froms):
        failures.append(f"Dockerfile: want two stages FROM debian:bookworm-slim, got {froms}")
    final = joined.split("\nFROM ")[-1]
    if not re.search(r"^RUN bash ecs/image/build\.sh /src /out \S+$", joined, re.M):
        failures.append("Dockerfile: build stage must RUN bash ecs/image/build.sh /src /out <dir>")
    if not re.search(r"^USER 10001:10001$", final, re.M):
        failures.append("Dockerfile: final stage must run as USER 10001:10001 (task definitions use it)")
    if "useradd --system --uid 10001" not in final:
        failures.append("Dockerfile: final stage must create the system user 10001")
    hc = re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", final, re.M)
    if not hc or json.loads(hc.group(1)) != ["/usr/local/bin/nats-sidecar", "healthcheck"]:
        failures.append("Dockerfile: HEALTHCHECK must be exec form [\"/usr/local/bin/nats-sidecar\", \"healthcheck\"]")
    ep = re.search(r"^ENTRYPOINT (\[.*\])$", final, re.M)
    if not ep or json.loads(ep.group(1)) != ["/usr/local/bin/nats-sidecar"]:
        failures.append("Dockerfile: ENTRYPOINT must be exec form [\"/usr/local/bin/nats-sidecar\"]")
    runtime = [l.split("#")[0].strip() for l in open(os.path.join(IMAGE, "runtime-packages.txt"))]
    runtime = {p for l in runtime for p in l.split()}
    for tool in ("curl", "wget", "procps", "netcat-openbsd", "busybox"):
        if tool in runtime:
            failures.append(f"runtime-packages.txt: {tool} is a shell health tool; the binary is the health check")
    return runtime


def check_libraries(binary, runtime, failures):
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    base = {"libc6", "libgcc-s1"}  # in debian:bookworm-slim already
    for line in ldd.splitlines():
        m = re.search(r"=>\s+(/\S+)", line)
        if not m:
            continue
        path = os.path.realpath(m.group(1))
        owner = None
        for candidate in (path, path.replace("/usr/lib/", "/lib/", 1)):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        if owner is None:
            failures.append(f"{m.group(1)}: no Debian package owns it")
        elif owner not in runtime and owner not in base:
            failures.append(f"{m.group(1)} comes from {owner}, missing from runtime-packages.txt")
        else:
            print(f"lib ok: {os.path.basename(path)} ({owner})")


def check_configs(out, failures):
    for path in glob.glob(os.path.join(ROOT, "ecs", "task-definitions", "**", "*.json"), recursive=True):
        for c in json.load(open(path))["containerDefinitions"]:
            cmd = c.get("command") or []
            if c["name"] == "nats-sidecar" and len(cmd) == 3:
                name = os.path.basename(cmd[2])
                if not os.path.exists(os.path.join(out, "etc", "nats-sidecar", name)) and \
                        name not in generate.PENDING_CONFIGS:
                    failures.append(f"{os.path.relpath(path, ROOT)} selects {cmd[2]}, not in the image")


def check_healthcheck(binary, failures):
    admin, dead_nats, dead_up, closed = free_ports(4)
    env = {"SERVICE": "settings", "NATS_URL": f"nats://127.0.0.1:{dead_nats}",
           "UPSTREAM": f"127.0.0.1:{dead_up}", "ADMIN": f"127.0.0.1:{admin}"}
    p = Process("nats-sidecar", [binary, "run", "--config",
                                 os.path.join(ROOT, "config", "examples", "legacy-forward.yaml")], env=env)
    try:
        p.wait_for(lambda l: '"msg":"started"' in l, 20)
        up = subprocess.run([binary, "healthcheck", "--admin", f"127.0.0.1:{admin}"], timeout=10)
        down = subprocess.run([binary, "healthcheck", "--admin", f"127.0.0.1:{closed}"], timeout=10,
                              capture_output=True)
        print(f"healthcheck: live sidecar -> {up.returncode}, nothing listening -> {down.returncode}")
        if up.returncode != 0 or down.returncode == 0:
            failures.append(f"healthcheck exit codes {up.returncode}/{down.returncode}, want 0/non-zero")
    finally:
        p.stop()


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", help="cmake build dir for the image build (default: a temp dir)")
    ap.add_argument("--skip-build", metavar="OUT", help="reuse an OUT dir from an earlier build.sh run")
    args = ap.parse_args(argv)
    failures = []
    runtime = check_dockerfile(failures)
    tmp = tempfile.mkdtemp(prefix="ecs-image-")
    try:
        out = args.skip_build or os.path.join(tmp, "out")
        if not args.skip_build:
            build = args.build_dir or os.path.join(tmp, "build")
            print(f"running the Dockerfile's build stage: bash ecs/image/build.sh {ROOT} {out} {build}", flush=True)
            subprocess.run(["bash", os.path.join(IMAGE, "build.sh"), ROOT, out, build], check=True)
        binary = os.path.join(out, "usr", "local", "bin", "nats-sidecar")
        check_libraries(binary, runtime, failures)
        check_configs(out, failures)
        check_healthcheck(binary, failures)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    print(f"image: {len(failures)} failures (no Docker engine here: build stage run as a script)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
