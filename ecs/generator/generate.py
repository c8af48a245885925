#!/usr/bin/python3
"""Writes everything in ecs/ that is per service, from one template and one table.

    /usr/bin/python3 ecs/generator/generate.py            # rewrite the committed files
    /usr/bin/python3 ecs/generator/generate.py --check    # exit 1 (with a diff) if they drifted
    /usr/bin/python3 ecs/generator/generate.py --params ecs/generator/params/prod.json --out /tmp/prod

Inputs (all in ecs/generator/):
    template.json       the task definition: nats-sidecar + the legacy app
    services.tsv        one row per service (SERVICES.md §2): size, ports, scaling, config, cut-over
    params/<env>.json   one AWS environment: account, region, registry, ARN prefixes

Outputs (relative to --out, default the repository root):
    ecs/task-definitions/<service>.json          app + sidecar (RegisterTaskDefinition input)
    ecs/task-definitions/native/<service>.json   the end state: the sidecar hosts the native port
    ecs/autoscaling/<service>.json               scalable target + CPU and in-flight policies
    ecs/monitoring/cloudwatch/<service>.json     log metric filters + CloudWatch alarms
    ecs/monitoring/grafana/nats-sidecar.json     the dashboard

Standard library only; output is deterministic (sorted where order carries no meaning, 2-space
JSON, trailing newline) so --check can compare bytes.
"""
import argparse
import copy
import difflib
import json
import math
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Fixed sidecar sizing inside a task: a C++ event loop needs little; the app gets the rest.
SIDECAR_CPU = 64
SIDECAR_MEMORY = 128            # hard limit, MiB: the sidecar is killed before it starves the app
SIDECAR_MEMORY_RESERVATION = 64
# ECS stopTimeout = drain + this margin, so SIGKILL never lands mid-drain (log flush, process exit).
STOP_MARGIN_S = 15
APP_STOP_TIMEOUT_S = 20

# Configs a task definition may select that do not exist yet, with the drain timeout they will
# have; lint.py reports them as pending rather than failing. None today.
PENDING_CONFIGS = {}

COLUMNS = ["service", "cpu", "memory", "app_port", "min", "max", "cpu_target", "inflight",
           "config", "cutover", "native_issue", "app_secrets"]
INT_COLUMNS = {"cpu", "memory", "app_port", "min", "max", "cpu_target", "inflight", "native_issue"}


def read_table(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cells = line.split("\t")
            if len(cells) != len(COLUMNS):
                raise SystemExit(f"{path}:{lineno}: {len(cells)} columns, want {len(COLUMNS)}")
            row = dict(zip(COLUMNS, cells))
            for c in INT_COLUMNS:
                row[c] = int(row[c])
            if row["cutover"] not in ("legacy", "native"):
                raise SystemExit(f"{path}:{lineno}: cutover must be legacy or native")
            rows.append(row)
    return rows


def drain_timeout_ms(config_name, root=ROOT):
    """server.drain_timeout_ms of config/examples/<config_name> (or of a pending config)."""
    path = os.path.join(root, "config", "examples", config_name)
    if not os.path.exists(path):
        if config_name in PENDING_CONFIGS:
            return PENDING_CONFIGS[config_name]["drain_timeout_ms"]
        raise SystemExit(f"config/examples/{config_name} does not exist")
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^server:\s*\n(?:[ \t]+.*\n|\s*\n)*?[ \t]+drain_timeout_ms:\s*(\d+)", text, re.M)
    if not m:
        raise SystemExit(f"config/examples/{config_name}: no server.drain_timeout_ms")
    return int(m.group(1))


def env_list(pairs):
    return [{"name": k, "value": str(v)} for k, v in sorted(pairs.items())]


def secret_list(pairs):
    return [{"name": k, "valueFrom": v} for k, v in sorted(pairs.items())]


def sidecar_secrets(p, service):
    sm, ssm = p["secretsmanager_arn_prefix"], p["ssm_arn_prefix"]
    return {
        # One Secrets Manager secret per service: {"user": ..., "password": ...}.
        "NATS_USER": f"{sm}nats/{service}:user::",
        "NATS_PASSWORD": f"{sm}nats/{service}:password::",
        # TLS material as SSM SecureString parameters (PEM text): the shared CA, the service's pair.
        "NATS_TLS_CA": f"{ssm}nats/tls/ca",
        "NATS_TLS_CERT": f"{ssm}nats/tls/{service}/cert",
        "NATS_TLS_KEY": f"{ssm}nats/tls/{service}/key",
        # The admin port listens on all interfaces (metrics scraping), so its mutating endpoints
        # need a bearer token; the sidecar refuses to start without one (docs/SECURITY.md).
        "ADMIN_TOKEN": f"{sm}sidecar/admin-token",
    }


def app_secrets(p, row):
    if row["app_secrets"] == "-":
        return {}
    out = {}
    for item in row["app_secrets"].split(","):
        name, suffix = item.split("=", 1)
        out[name] = p["secretsmanager_arn_prefix"] + suffix
    return out


def substitute(node, values):
    if isinstance(node, dict):
        return {k: substitute(v, values) for k, v in node.items() if not k.startswith("_")}
    if isinstance(node, list):
        return [substitute(v, values) for v in node]
    if isinstance(node, str):
        whole = re.fullmatch(r"\{\{(\w+)\}\}", node)
        if whole:
            return copy.deepcopy(values[whole.group(1)])
        return re.sub(r"\{\{(\w+)\}\}", lambda m: str(values[m.group(1)]), node)
    return node


def values_for(row, p, root=ROOT):
    service = row["service"]
    drain_s = math.ceil(drain_timeout_ms(row["config"], root) / 1000)
    return {
        "service": service,
        "cutover": row["cutover"],
        "cpu": str(row["cpu"]),
        "memory": str(row["memory"]),
        "config": row["config"],
        "app_port": row["app_port"],
        "region": p["region"],
        "registry": p["registry"],
        "sidecar_image_tag": p["sidecar_image_tag"],
        "app_image_tag": p["app_image_tag"],
        "log_group_prefix": p["log_group_prefix"],
        "execution_role_arn": p["execution_role_arn"],
        "task_role_arn": p["task_role_arn_prefix"] + service,
        "sidecar_cpu": SIDECAR_CPU,
        "sidecar_memory": SIDECAR_MEMORY,
        "sidecar_memory_reservation": SIDECAR_MEMORY_RESERVATION,
        "sidecar_stop_timeout_s": drain_s + STOP_MARGIN_S,
        "app_cpu": row["cpu"] - SIDECAR_CPU,
        "app_memory_reservation": row["memory"] - SIDECAR_MEMORY,
        "app_stop_timeout_s": APP_STOP_TIMEOUT_S,
        "sidecar_environment": env_list({
            "SERVICE": service,
            "NATS_URL": p["nats_url"],
            "UPSTREAM": f"127.0.0.1:{row['app_port']}",
            # All interfaces so Prometheus / the CloudWatch agent can scrape /metrics; the task's
            # security group admits 9901 from the monitoring security group only.
            "ADMIN": "0.0.0.0:9901",
        }),
        "sidecar_secrets": secret_list(sidecar_secrets(p, service)),
        "app_environment": env_list({"LEGACY_SERVICE_NAME": service, "PORT": row["app_port"]}),
        "app_secrets": secret_list(app_secrets(p, row)),
    }


def task_definition(template, row, p, root=ROOT):
    return substitute(template, values_for(row, p, root))


def native_variant(template, row, p, root=ROOT):
    """The end state after cut-over: no legacy container; the sidecar hosts the native port and
    gets the whole task, plus the secrets the legacy app had (the port needs them now)."""
    native_row = dict(row, config="native-host.yaml", cutover="native")
    td = task_definition(template, native_row, p, root)
    td["containerDefinitions"] = [c for c in td["containerDefinitions"] if c["name"] != "app"]
    sidecar = td["containerDefinitions"][0]
    sidecar["cpu"] = row["cpu"]
    sidecar["memory"] = row["memory"]
    sidecar.pop("memoryReservation", None)
    sidecar["environment"] = [e for e in sidecar["environment"] if e["name"] != "UPSTREAM"]
    # native-host.yaml: this task's port only, with state and events shared by every task of the
    # service (JetStream KV bucket and the EVENTS stream).
    sidecar["environment"] += [{"name": "SERVICES", "value": row["service"]},
                               {"name": "STORE", "value": "jetstream"},
                               {"name": "EVENTS", "value": "jetstream"}]
    sidecar["environment"].sort(key=lambda e: e["name"])
    sidecar["secrets"] = secret_list({**sidecar_secrets(p, row["service"]), **app_secrets(p, row)})
    return td


def autoscaling(row, p):
    service = row["service"]
    resource = {
        "ServiceNamespace": "ecs",
        "ResourceId": f"service/{p['ecs_cluster']}/{service}",
        "ScalableDimension": "ecs:service:DesiredCount",
    }
    return {
        "scalableTarget": {**resource, "MinCapacity": row["min"], "MaxCapacity": row["max"]},
        "scalingPolicies": [
            {
                "PolicyName": f"{service}-cpu",
                **resource,
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": float(row["cpu_target"]),
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                    "ScaleOutCooldown": 60,
                    "ScaleInCooldown": 300,
                },
            },
            {
                # sidecar_requests_active reaches CloudWatch through the CloudWatch agent's
                # Prometheus scrape (ecs/monitoring/cloudwatch/cwagent-prometheus.json); one
                # datapoint per task, so Average is "requests in flight per task".
                "PolicyName": f"{service}-requests-in-flight",
                **resource,
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": float(row["inflight"]),
                    "CustomizedMetricSpecification": {
                        "MetricName": "sidecar_requests_active",
                        "Namespace": p["metric_namespace"],
                        "Dimensions": [
                            {"Name": "ClusterName", "Value": p["ecs_cluster"]},
                            {"Name": "TaskDefinitionFamily", "Value": f"bodybroker-{service}"},
                        ],
                        "Statistic": "Average",
                    },
                    "ScaleOutCooldown": 60,
                    "ScaleInCooldown": 300,
                },
            },
        ],
    }


def cloudwatch(row, p):
    """The seed's alarm list, per service: CPU > 80 %, memory > 80 %, running < desired, error
    log lines, NATS connection failures."""
    service = row["service"]
    cluster = p["ecs_cluster"]
    log_group = f"{p['log_group_prefix']}/{service}"
    logs_ns = "BodyBroker/Logs"
    svc_dims = [{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service}]
    actions = {"AlarmActions": [p["alarm_topic_arn"]], "OKActions": [p["alarm_topic_arn"]]}

    def simple(name, desc, ns, metric, dims, stat, threshold, op, periods, missing, to_alarm=None):
        alarm = {
            "AlarmName": f"{service}-{name}",
            "AlarmDescription": desc,
            "Namespace": ns,
            "MetricName": metric,
            "Statistic": stat,
            "Period": 60,
            "EvaluationPeriods": periods,
            "DatapointsToAlarm": to_alarm or periods,
            "Threshold": float(threshold),
            "ComparisonOperator": op,
            "TreatMissingData": missing,
            **actions,
        }
        if dims:
            alarm["Dimensions"] = dims
        return alarm

    filters = [
        {
            # Every JSON log line at level error, from the sidecar and from the app if it logs JSON.
            "logGroupName": log_group,
            "filterName": f"{service}-error-log-lines",
            "filterPattern": '{ $.level = "error" }',
            "metricTransformations": [{
                "metricName": f"{service}.error_log_lines", "metricNamespace": logs_ns,
                "metricValue": "1", "defaultValue": 0, "unit": "Count"}],
        },
        {
            # The sidecar logs these when it loses or cannot reach NATS (sidecar/nats/).
            "logGroupName": log_group,
            "filterName": f"{service}-nats-connection-failures",
            "filterPattern": '{ ($.msg = "nats disconnected") || ($.msg = "nats not reachable yet*") }',
            "metricTransformations": [{
                "metricName": f"{service}.nats_connection_failures", "metricNamespace": logs_ns,
                "metricValue": "1", "defaultValue": 0, "unit": "Count"}],
        },
    ]
    alarms = [
        simple("cpu-high", f"{service}: service CPU above 80 % for 5 minutes", "AWS/ECS",
               "CPUUtilization", svc_dims, "Average", 80, "GreaterThanThreshold", 5, "notBreaching"),
        simple("memory-high", f"{service}: service memory above 80 % for 5 minutes", "AWS/ECS",
               "MemoryUtilization", svc_dims, "Average", 80, "GreaterThanThreshold", 5,
               "notBreaching"),
        {
            "AlarmName": f"{service}-running-below-desired",
            "AlarmDescription": f"{service}: fewer tasks running than desired for 5 minutes "
                                "(crash loop, failed health checks, capacity)",
            "Metrics": [
                {"Id": "running", "ReturnData": False, "MetricStat": {
                    "Metric": {"Namespace": "ECS/ContainerInsights", "MetricName": "RunningTaskCount",
                               "Dimensions": svc_dims},
                    "Period": 60, "Stat": "Minimum"}},
                {"Id": "desired", "ReturnData": False, "MetricStat": {
                    "Metric": {"Namespace": "ECS/ContainerInsights", "MetricName": "DesiredTaskCount",
                               "Dimensions": svc_dims},
                    "Period": 60, "Stat": "Maximum"}},
                {"Id": "missing", "Expression": "desired - running",
                 "Label": "tasks missing", "ReturnData": True},
            ],
            "EvaluationPeriods": 5,
            "DatapointsToAlarm": 5,
            "Threshold": 0.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "breaching",
            **actions,
        },
        simple("error-log-rate", f"{service}: more than 10 error log lines a minute for 3 minutes",
               logs_ns, f"{service}.error_log_lines", None, "Sum", 10, "GreaterThanThreshold", 3,
               "notBreaching"),
        simple("nats-connection-failures",
               f"{service}: sidecars lost or could not reach NATS 3+ times in 5 minutes",
               logs_ns, f"{service}.nats_connection_failures", None, "Sum", 3,
               "GreaterThanOrEqualToThreshold", 5, "notBreaching", to_alarm=1),
    ]
    # The alarm is on a 5-minute window: re-express as one 300 s period.
    alarms[-1]["Period"] = 300
    alarms[-1]["EvaluationPeriods"] = 1
    alarms[-1]["DatapointsToAlarm"] = 1
    return {"metricFilters": filters, "alarms": alarms}


def dashboard():
    """Grafana dashboard: only metric names the sidecar exports (tests/ecs checks this)."""
    sel = 'ecs_service=~"$service"'
    panels_spec = [
        ("Requests / s by outcome", "reqps",
         [f'sum by (outcome) (rate(sidecar_requests_total{{{sel}}}[$__rate_interval]))']),
        ("Server-side error ratio", "percentunit",
         [f'sum(rate(sidecar_requests_total{{{sel},outcome=~"unavailable|deadline_exceeded|internal"}}[$__rate_interval]))'
          f' / sum(rate(sidecar_requests_total{{{sel}}}[$__rate_interval]))']),
        ("Request latency p50 / p99", "s",
         [f'histogram_quantile({q}, sum by (le) (rate(sidecar_request_duration_seconds_bucket{{{sel}}}[$__rate_interval])))'
          for q in ("0.5", "0.99")]),
        ("Requests in flight per task", "short", [f'sidecar_requests_active{{{sel}}}']),
        ("NATS connected (per task)", "short", [f'sidecar_nats_connected{{{sel}}}']),
        ("NATS disconnects / reconnects", "short",
         [f'sum(increase(sidecar_nats_disconnects_total{{{sel}}}[$__rate_interval]))',
          f'sum(increase(sidecar_nats_reconnects_total{{{sel}}}[$__rate_interval]))']),
        ("Upstream healthy (per task)", "short", [f'sidecar_upstream_healthy{{{sel}}}']),
        ("Upstream requests / s by outcome", "reqps",
         [f'sum by (outcome) (rate(sidecar_upstream_rq_total{{{sel}}}[$__rate_interval]))']),
        ("Upstream latency p99", "s",
         [f'histogram_quantile(0.99, sum by (le) (rate(sidecar_upstream_rq_duration_seconds_bucket{{{sel}}}[$__rate_interval])))']),
        ("Upstream pool", "short",
         [f'sum(sidecar_upstream_cx_active{{{sel}}})', f'sum(sidecar_upstream_cx_busy{{{sel}}})',
          f'sum(sidecar_upstream_rq_pending{{{sel}}})',
          f'sum(rate(sidecar_upstream_cx_total{{{sel}}}[$__rate_interval]))']),
        ("Health checks / s by result", "short",
         [f'sum by (result) (rate(sidecar_health_checks_total{{{sel}}}[$__rate_interval]))']),
        ("Fire-and-forget messages / s", "short",
         [f'sum(rate(sidecar_fire_and_forget_total{{{sel}}}[$__rate_interval]))']),
        ("Lifecycle state (tasks per state)", "short",
         [f'sum by (state) (sidecar_server_state{{{sel}}})']),
        ("Versions running", "short", [f'count by (version, git_sha) (sidecar_build_info{{{sel}}})']),
    ]
    panels = []
    for i, (title, unit, exprs) in enumerate(panels_spec):
        panels.append({
            "id": i + 1,
            "type": "timeseries",
            "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + j), "expr": e} for j, e in enumerate(exprs)],
        })
    return {
        "title": "nats-sidecar",
        "uid": "nats-sidecar",
        "description": "Generated by ecs/generator/generate.py from the metric names in "
                       "sidecar/stats/metrics.cc. ecs_service is the scrape's target label "
                       "(ecs/monitoring/prometheus/prometheus.yml).",
        "tags": ["nats-sidecar", "generated"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "service", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": "label_values(sidecar_build_info, ecs_service)", "includeAll": True,
             "multi": True, "refresh": 2},
        ]},
        "panels": panels,
    }


def dumps(obj):
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def render(params_path, root=ROOT):
    """Every generated file: {relative path: text}."""
    template = json.load(open(os.path.join(HERE, "template.json"), encoding="utf-8"))
    params = json.load(open(params_path, encoding="utf-8"))
    rows = read_table(os.path.join(HERE, "services.tsv"))
    files = {}
    for row in rows:
        s = row["service"]
        files[f"ecs/task-definitions/{s}.json"] = dumps(task_definition(template, row, params, root))
        files[f"ecs/task-definitions/native/{s}.json"] = dumps(native_variant(template, row, params, root))
        files[f"ecs/autoscaling/{s}.json"] = dumps(autoscaling(row, params))
        files[f"ecs/monitoring/cloudwatch/{s}.json"] = dumps(cloudwatch(row, params))
    files["ecs/monitoring/grafana/nats-sidecar.json"] = dumps(dashboard())
    return files


# Directories whose *.json files are all generated (cwagent-* in cloudwatch/ is hand-written).
GENERATED_DIRS = ["ecs/task-definitions", "ecs/task-definitions/native", "ecs/autoscaling",
                  "ecs/monitoring/cloudwatch"]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default=os.path.join(HERE, "params", "example.json"))
    ap.add_argument("--out", default=ROOT, help="write under this directory (default: the repo)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the files under --out instead of writing; exit 1 on drift")
    args = ap.parse_args(argv)
    files = render(args.params)

    if args.check:
        drift = []
        for rel, text in sorted(files.items()):
            path = os.path.join(args.out, rel)
            have = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
            if have != text:
                drift.append(rel)
                sys.stdout.writelines(difflib.unified_diff(
                    have.splitlines(True), text.splitlines(True), f"committed/{rel}", f"generated/{rel}", n=1))
        for d in GENERATED_DIRS:  # stale files the generator no longer writes
            full = os.path.join(args.out, d)
            for name in sorted(os.listdir(full)) if os.path.isdir(full) else []:
                rel = f"{d}/{name}"
                if name.endswith(".json") and rel not in files and not name.startswith("cwagent"):
                    drift.append(rel)
                    print(f"stale: {rel} is not generated any more")
        if drift:
            print(f"\n{len(drift)} generated file(s) drifted; run /usr/bin/python3 ecs/generator/generate.py")
            return 1
        print(f"OK: {len(files)} generated files match the generator")
        return 0

    for rel, text in files.items():
        path = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    print(f"wrote {len(files)} files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
