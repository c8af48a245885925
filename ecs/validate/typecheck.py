#!/usr/bin/python3
"""Type-checks ecs/ against the AWS SDK's own input types, offline.

Each generated JSON file is wrapped in a .ts file as `(<json>) satisfies <AWS input type>` and the
lot is compiled once with `tsc --noEmit --strict`. Object-literal checks catch misspelled keys,
wrong value types and wrong enum values (e.g. condition "HEALTHY" vs "HEALTH").

    /usr/bin/python3 ecs/validate/typecheck.py [--node-modules DIR] [--expect-fail FILE...]

--node-modules: a directory holding node_modules/ from `npm ci` of this folder's package.json and
package-lock.json. Without it, ecs/validate/node_modules is used, installed with `npm ci` when
missing (needs the npm registry once; later runs use npm's cache).
--expect-fail: broken fixtures (task definitions) that must each produce at least one tsc error.

What is checked:
    ecs/task-definitions/**.json       RegisterTaskDefinitionCommandInput   (@aws-sdk/client-ecs)
    ecs/autoscaling/*.json             RegisterScalableTargetCommandInput,
                                       PutScalingPolicyCommandInput         (client-application-auto-scaling)
    ecs/monitoring/cloudwatch/*.json   PutMetricAlarmCommandInput           (client-cloudwatch),
                                       PutMetricFilterCommandInput          (client-cloudwatch-logs)
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def ensure_node_modules(prefix):
    if os.path.exists(os.path.join(prefix, "node_modules", ".bin", "tsc")):
        return
    os.makedirs(prefix, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        if os.path.abspath(prefix) != HERE:
            shutil.copy(os.path.join(HERE, f), os.path.join(prefix, f))
    print(f"typecheck: npm ci in {prefix}", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=prefix, check=True,
                   stdout=sys.stderr, timeout=600)


def strip_private(node):
    """Drops keys starting with _ (comments in fixtures), as the generator does."""
    if isinstance(node, dict):
        return {k: strip_private(v) for k, v in node.items() if not k.startswith("_")}
    if isinstance(node, list):
        return [strip_private(v) for v in node]
    return node


def lit(obj):
    return json.dumps(strip_private(obj), indent=2)


def wrap(path):
    """The .ts text for one JSON file, chosen by where the file lives."""
    data = json.load(open(path, encoding="utf-8"))
    rel = os.path.relpath(path, ROOT)
    if "/autoscaling/" in "/" + rel:
        parts = ['import type { RegisterScalableTargetCommandInput, PutScalingPolicyCommandInput } '
                 'from "@aws-sdk/client-application-auto-scaling";',
                 f"export const target = ({lit(data['scalableTarget'])}) satisfies RegisterScalableTargetCommandInput;"]
        parts += [f"export const policy{i} = ({lit(p)}) satisfies PutScalingPolicyCommandInput;"
                  for i, p in enumerate(data["scalingPolicies"])]
        return "\n".join(parts) + "\n"
    if "/monitoring/cloudwatch/" in "/" + rel:
        parts = ['import type { PutMetricAlarmCommandInput } from "@aws-sdk/client-cloudwatch";',
                 'import type { PutMetricFilterCommandInput } from "@aws-sdk/client-cloudwatch-logs";']
        parts += [f"export const alarm{i} = ({lit(a)}) satisfies PutMetricAlarmCommandInput;"
                  for i, a in enumerate(data["alarms"])]
        parts += [f"export const filter{i} = ({lit(f)}) satisfies PutMetricFilterCommandInput;"
                  for i, f in enumerate(data["metricFilters"])]
        return "\n".join(parts) + "\n"
    return ('import type { RegisterTaskDefinitionCommandInput } from "@aws-sdk/client-ecs";\n'
            f"export const taskDefinition = ({lit(data)}) satisfies RegisterTaskDefinitionCommandInput;\n")


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--node-modules", default=HERE)
    ap.add_argument("--expect-fail", nargs="*", default=[])
    args = ap.parse_args(argv)
    ensure_node_modules(args.node_modules)
    tsc = os.path.join(args.node_modules, "node_modules", ".bin", "tsc")

    good = sorted(glob.glob(os.path.join(ROOT, "ecs", "task-definitions", "*.json")) +
                  glob.glob(os.path.join(ROOT, "ecs", "task-definitions", "native", "*.json")) +
                  glob.glob(os.path.join(ROOT, "ecs", "autoscaling", "*.json")) +
                  [p for p in glob.glob(os.path.join(ROOT, "ecs", "monitoring", "cloudwatch", "*.json"))
                   if not os.path.basename(p).startswith("cwagent")])
    bad = [os.path.abspath(p) for p in args.expect_fail]
    # The .ts files live inside the node_modules prefix so that imports resolve from there.
    work = tempfile.mkdtemp(prefix="ecs-typecheck-", dir=args.node_modules)
    try:
        ts_of = {}
        for i, path in enumerate(good + bad):
            name = re.sub(r"[^A-Za-z0-9]+", "_", os.path.relpath(path, ROOT)) + f"_{i}.ts"
            with open(os.path.join(work, name), "w", encoding="utf-8") as f:
                f.write(wrap(path))
            ts_of[name] = path
        with open(os.path.join(work, "tsconfig.json"), "w") as f:
            cfg = json.load(open(os.path.join(HERE, "tsconfig.json")))
            cfg["include"] = ["*.ts"]
            json.dump(cfg, f)
        proc = subprocess.run([tsc, "-p", work, "--pretty", "false"], cwd=work, capture_output=True,
                              text=True, timeout=600)
        errors = {}
        for line in proc.stdout.splitlines():
            m = re.match(r"^([^(]+\.ts)\(\d+,\d+\): error (TS\d+: .*)$", line)
            if m:
                errors.setdefault(os.path.basename(m.group(1)), []).append(line)
            elif line.strip():
                errors.setdefault("(tsc)", []).append(line)
        failed = 0
        for name, path in sorted(ts_of.items(), key=lambda kv: kv[1]):
            rel = os.path.relpath(path, ROOT)
            errs = errors.pop(name, [])
            if path in bad:
                if errs:
                    print(f"ok (fails as it should): {rel}: {errs[0].split(': error ', 1)[1][:160]}")
                else:
                    print(f"FAIL: {rel}: broken fixture type-checks; tsc should have rejected it")
                    failed += 1
            elif errs:
                print(f"FAIL: {rel}:")
                for e in errs:
                    print("   ", e.split(": error ", 1)[-1])
                failed += 1
        for name, errs in errors.items():
            print(f"FAIL: {name}: {errs}")
            failed += 1
        print(f"typecheck: {len(good)} files checked with tsc --strict "
              f"({subprocess.run([tsc, '--version'], capture_output=True, text=True).stdout.strip()}), "
              f"{len(bad)} broken fixtures, {failed} failures")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
