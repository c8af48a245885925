#!/usr/bin/python3
"""Checks on ECS task definitions that the AWS SDK's types cannot express.

    /usr/bin/python3 ecs/generator/lint.py                 # every file in ecs/task-definitions/
    /usr/bin/python3 ecs/generator/lint.py FILE...         # just these (fixtures, a rendered env)

Each problem is printed as `FILE: [check-id] message`; exit status 1 when there is any.
tests/ecs/fixtures/lint/<check-id>.json holds one broken task definition per check, and the test
asserts that each one fails with exactly its check id.

The type-level checks (key names, value types, enum values) are tsc's job: ecs/validate/.
"""
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import generate  # noqa: E402  (the same drain-timeout reader and pending configs as the generator)

SIDECAR = "nats-sidecar"
SIDECAR_BIN = "/usr/local/bin/nats-sidecar"
CONFIG_DIR_IN_IMAGE = "/etc/nats-sidecar/"
# Anything that needs a shell or a tool a slim image may lack: the seed's thrash (pgrep, wget).
SHELL_TOOLS = {"sh", "bash", "/bin/sh", "/bin/bash", "curl", "wget", "pgrep", "pidof", "nc",
               "netcat", "ps", "test", "grep", "cat", "python", "python3", "||", "&&", "|", ";"}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE|CREDENTIAL|_KEY$|^KEY$", re.I)
SECRET_VALUE = re.compile(r"-----BEGIN|AKIA[0-9A-Z]{16}|^nkey|^SU[A-Z2-7]{50,}")
ARN = re.compile(r"^arn:aws[a-z-]*:(secretsmanager|ssm):[a-z0-9-]+:\d{12}:(secret:|parameter/)\S+$")
# Fargate task sizes: cpu -> allowed memory (MiB).
FARGATE = {
    "256": {512, 1024, 2048},
    "512": set(range(1024, 4097, 1024)),
    "1024": set(range(2048, 8193, 1024)),
    "2048": set(range(4096, 16385, 1024)),
    "4096": set(range(8192, 30721, 1024)),
}
# SERVICES.md §2, in its order: every one must have a task definition.
SERVICES = ["auth", "settings", "payment", "state-manager", "event-bus", "router",
            "capability-registry", "performance-mode", "model-management", "knowledge-base",
            "language-system", "time-manager", "weather-manager", "world-state", "quest-system",
            "npc-behavior", "ai-integration", "environmental-narrative", "orchestration", "ai-router",
            "body-broker-integration", "story-teller"]


def services_from_spec():
    """The §2 headings of SERVICES.md when shared/ is beside the repo, else the list above."""
    spec = os.path.join(os.path.dirname(ROOT), "shared", "design", "SERVICES.md")
    if not os.path.exists(spec):
        return SERVICES, False
    names = re.findall(r"^### 2\.\d+ (\S+)", open(spec, encoding="utf-8").read(), re.M)
    return names, True


def env_map(container):
    return {e.get("name"): e.get("value") for e in container.get("environment") or []}


def lint_task_definition(td, root=ROOT):
    """Returns [(check_id, message)] for one task definition."""
    out = []

    def err(check, msg):
        out.append((check, msg))

    containers = td.get("containerDefinitions") or []
    by_name = {c.get("name"): c for c in containers}
    if len(by_name) != len(containers):
        err("container-names", "container names are not unique")
    sidecar = by_name.get(SIDECAR)
    if sidecar is None:
        err("sidecar-present", f"no container named {SIDECAR}")

    # Task size.
    cpu, mem = str(td.get("cpu")), td.get("memory")
    if "FARGATE" in (td.get("requiresCompatibilities") or []):
        if td.get("networkMode") != "awsvpc":
            err("fargate-size", "Fargate needs networkMode awsvpc")
        if cpu not in FARGATE or not str(mem).isdigit() or int(mem) not in FARGATE[cpu]:
            err("fargate-size", f"cpu {cpu} / memory {mem} is not a Fargate task size")
    if str(mem).isdigit():
        reserved = sum(c.get("memory") or c.get("memoryReservation") or 0 for c in containers)
        if reserved > int(mem):
            err("fargate-size", f"containers reserve {reserved} MiB, the task has {mem}")
    if cpu.isdigit() and sum(c.get("cpu") or 0 for c in containers) > int(cpu):
        err("fargate-size", "container cpu adds up to more than the task's")

    ports, port_names = {}, {}
    for c in containers:
        name = c.get("name")
        where = f"container {name}"
        if c.get("essential") is not True:
            err("essential", f"{where}: essential must be true (a task without either half is useless)")
        image = c.get("image", "")
        if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]:
            err("image-tag", f"{where}: image {image!r} needs a pinned tag, not latest")

        # Health check: exec form, the sidecar's own subcommand, sane ranges.
        hc = c.get("healthCheck")
        if hc is not None:
            cmd = hc.get("command") or []
            if not cmd or cmd[0] != "CMD":
                err("healthcheck-exec", f"{where}: health check must be exec form [\"CMD\", ...], got {cmd[:1]}")
            tools = [t for t in cmd[1:] if t in SHELL_TOOLS or os.path.basename(t) in SHELL_TOOLS]
            if tools or any(re.search(r"[|;&$`]", t) for t in cmd[1:]):
                err("healthcheck-no-shell", f"{where}: health check uses shell tools {tools or cmd}")
            for key, lo, hi in (("interval", 5, 300), ("timeout", 2, 60), ("retries", 1, 10),
                                ("startPeriod", 0, 300)):
                v = hc.get(key)
                if not isinstance(v, int) or not lo <= v <= hi:
                    err("healthcheck-range", f"{where}: healthCheck.{key}={v!r}, want {lo}..{hi}")
            if isinstance(hc.get("timeout"), int) and isinstance(hc.get("interval"), int):
                if hc["timeout"] >= hc["interval"]:
                    err("healthcheck-range", f"{where}: healthCheck.timeout must be below interval")
                if name == SIDECAR and hc["timeout"] < 3:
                    err("healthcheck-range", f"{where}: healthcheck may take 2 s; timeout must be >= 3")
        if name == SIDECAR:
            cmd = (hc or {}).get("command") or []
            if cmd[1:3] != [SIDECAR_BIN, "healthcheck"]:
                err("healthcheck-exec", f"{where}: health check must run {SIDECAR_BIN} healthcheck")
            dependents = [d.get("name") for d in containers for dep in d.get("dependsOn") or []
                          if dep.get("containerName") == SIDECAR and dep.get("condition") == "HEALTHY"]
            if "--ready" in cmd and dependents:
                err("healthcheck-deadlock", f"{where}: --ready needs the app healthy, and "
                    f"{dependents} wait for the sidecar to be HEALTHY: the task never starts")

        # dependsOn.
        for dep in c.get("dependsOn") or []:
            target = dep.get("containerName")
            if target not in by_name:
                err("depends-on-target", f"{where}: dependsOn {target!r}, which is not in this task")
            elif target == name:
                err("depends-on-target", f"{where}: depends on itself")
            elif dep.get("condition") == "HEALTHY" and not by_name[target].get("healthCheck"):
                err("depends-on-target", f"{where}: HEALTHY on {target}, which has no healthCheck")
        if sidecar is not None and name != SIDECAR and len(containers) > 1:
            conds = [d.get("condition") for d in c.get("dependsOn") or [] if d.get("containerName") == SIDECAR]
            if conds != ["HEALTHY"]:
                err("depends-on-healthy", f"{where}: must depend on {SIDECAR} with condition HEALTHY, got {conds}")

        # Ports: named, unique per task.
        for pm in c.get("portMappings") or []:
            pname, port = pm.get("name"), pm.get("containerPort")
            if not pname:
                err("port-mappings", f"{where}: port {port} has no name")
            if port in ports:
                err("port-mappings", f"{where}: port {port} also mapped by {ports[port]}")
            if pname and pname in port_names:
                err("port-mappings", f"{where}: port name {pname!r} also used by {port_names[pname]}")
            ports.setdefault(port, name)
            if pname:
                port_names.setdefault(pname, name)

        # stopTimeout, ulimits, logs.
        st = c.get("stopTimeout")
        if not isinstance(st, int) or not 2 <= st <= 120:
            err("stop-timeout", f"{where}: stopTimeout {st!r}, want 2..120 s")
        nofile = [u for u in c.get("ulimits") or [] if u.get("name") == "nofile"]
        if not nofile or nofile[0].get("softLimit", 0) < 4096 or \
                nofile[0].get("softLimit", 0) > nofile[0].get("hardLimit", 0):
            err("ulimits", f"{where}: needs a nofile ulimit, soft >= 4096 and <= hard")
        lc = c.get("logConfiguration") or {}
        opts = lc.get("options") or {}
        if lc.get("logDriver") != "awslogs":
            err("awslogs", f"{where}: logDriver must be awslogs")
        elif opts.get("mode") != "non-blocking" or not opts.get("max-buffer-size"):
            err("awslogs", f"{where}: awslogs must be mode non-blocking with a max-buffer-size "
                "(a CloudWatch hiccup must not block stdout and stall the process)")
        elif not all(opts.get(k) for k in ("awslogs-group", "awslogs-region", "awslogs-stream-prefix")):
            err("awslogs", f"{where}: awslogs needs group, region and stream-prefix")

        # Secrets: only by reference.
        for e in c.get("environment") or []:
            n, v = e.get("name", ""), str(e.get("value", ""))
            if SECRET_NAME.search(n) or SECRET_VALUE.search(v):
                err("inline-secret", f"{where}: environment {n} looks like a secret; use secrets[].valueFrom")
        for s in c.get("secrets") or []:
            if not ARN.match(s.get("valueFrom", "")):
                err("secret-arn", f"{where}: secret {s.get('name')} must come from a Secrets Manager "
                    f"or SSM ARN, got {s.get('valueFrom')!r}")

    # The sidecar's config: selected by path, its env vars provided, drain < stopTimeout.
    if sidecar is not None:
        cmd = sidecar.get("command") or []
        env = env_map(sidecar)
        provided = set(env) | {s.get("name") for s in sidecar.get("secrets") or []}
        config = None
        if len(cmd) >= 3 and cmd[0] == "run" and cmd[1] == "--config" and cmd[2].startswith(CONFIG_DIR_IN_IMAGE):
            config = cmd[2][len(CONFIG_DIR_IN_IMAGE):]
        else:
            err("config-selected", f"{SIDECAR}: command must be run --config {CONFIG_DIR_IN_IMAGE}<example>, got {cmd}")
        family = td.get("family", "")
        service = env.get("SERVICE")
        if not service or not family.endswith("-" + service):
            err("config-selected", f"{SIDECAR}: SERVICE={service!r} does not match family {family!r}")
        if config:
            path = os.path.join(root, "config", "examples", config)
            if os.path.exists(path):
                text = open(path, encoding="utf-8").read()
                required = set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", text))
                missing = sorted(required - provided)
                if missing:
                    err("config-selected", f"{SIDECAR}: {config} requires env {missing}, not set")
            elif config not in generate.PENDING_CONFIGS:
                err("config-selected", f"{SIDECAR}: config/examples/{config} does not exist")
            try:
                drain = generate.drain_timeout_ms(config, root)
            except SystemExit as e:
                drain = None
                err("config-selected", str(e))
            st = sidecar.get("stopTimeout")
            if drain is not None and isinstance(st, int) and st * 1000 <= drain:
                err("stop-timeout", f"{SIDECAR}: stopTimeout {st} s is not longer than "
                    f"server.drain_timeout_ms {drain} of {config}: ECS would SIGKILL mid-drain")
        admin = env.get("ADMIN", "127.0.0.1:9901")
        admin_port = int(admin.rsplit(":", 1)[1])
        if admin_port in ports and ports[admin_port] != SIDECAR:
            err("port-mappings", f"admin port {admin_port} is mapped by {ports[admin_port]}")
        upstream = env.get("UPSTREAM")
        app_ports = [p for p, owner in ports.items() if owner != SIDECAR]
        if upstream and app_ports and int(upstream.rsplit(":", 1)[1]) not in app_ports:
            err("port-mappings", f"UPSTREAM {upstream} is not a port of the app {app_ports}")
    return out


def pending_notes(td):
    sidecar = {c.get("name"): c for c in td.get("containerDefinitions") or []}.get(SIDECAR) or {}
    cmd = sidecar.get("command") or []
    config = cmd[2][len(CONFIG_DIR_IN_IMAGE):] if len(cmd) >= 3 else ""
    if config in generate.PENDING_CONFIGS and \
            not os.path.exists(os.path.join(ROOT, "config", "examples", config)):
        info = generate.PENDING_CONFIGS[config]
        return [f"config/examples/{config} arrives with issue {info['issue']}; checked against its "
                f"planned drain_timeout_ms {info['drain_timeout_ms']}"]
    return []


def main(argv):
    all_mode = not argv
    files = argv or sorted(glob.glob(os.path.join(ROOT, "ecs", "task-definitions", "*.json")) +
                           glob.glob(os.path.join(ROOT, "ecs", "task-definitions", "native", "*.json")))
    problems, notes = 0, set()
    for path in files:
        td = json.load(open(path, encoding="utf-8"))
        for check, msg in lint_task_definition(td):
            print(f"{os.path.relpath(path, ROOT)}: [{check}] {msg}")
            problems += 1
        notes.update(pending_notes(td))
    if all_mode:
        names, from_spec = services_from_spec()
        for sub in ("", "native/"):
            have = {os.path.basename(f)[:-5] for f in glob.glob(os.path.join(ROOT, "ecs", "task-definitions", sub + "*.json"))}
            for s in names:
                if s not in have:
                    print(f"ecs/task-definitions/{sub}{s}.json: [service-present] missing")
                    problems += 1
            for s in sorted(have - set(names)):
                print(f"ecs/task-definitions/{sub}{s}.json: [service-present] not a service of SERVICES.md §2")
                problems += 1
        if len(names) != 22:
            print(f"SERVICES.md: [service-present] {len(names)} services, want 22")
            problems += 1
        print(f"services checked against {'SERVICES.md §2' if from_spec else 'the built-in list'}: {len(names)}")
    for n in sorted(notes):
        print(f"note: {n}")
    print(f"{len(files)} task definitions, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
