#!/usr/bin/python3
"""The linter passes every generated task definition and fails each broken fixture with exactly
the check it is named after; every check the linter has owns a fixture."""
import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testutil import ROOT  # noqa: E402

LINT = [sys.executable, os.path.join(ROOT, "ecs", "generator", "lint.py")]
failures = []

r = subprocess.run(LINT, capture_output=True, text=True)
print(r.stdout.strip())
if r.returncode != 0:
    failures.append("generated task definitions do not lint clean")
if "22" not in r.stdout.split("services checked")[-1]:
    failures.append("the service-present check did not see 22 services")

fixtures = sorted(glob.glob(os.path.join(ROOT, "tests", "ecs", "fixtures", "lint", "*.json")))
for path in fixtures:
    want = os.path.basename(path)[:-5]
    r = subprocess.run(LINT + [path], capture_output=True, text=True)
    got = set(re.findall(r"\[([a-z-]+)\]", r.stdout))
    if r.returncode == 0 or got != {want}:
        failures.append(f"{os.path.basename(path)}: want exactly [{want}], got {sorted(got)} (exit {r.returncode})\n{r.stdout}")
    else:
        print(f"ok: {os.path.basename(path)} fails with [{want}]")

source = open(os.path.join(ROOT, "ecs", "generator", "lint.py")).read()
checks = set(re.findall(r'err\("([a-z-]+)"', source)) | {"service-present"}
covered = {os.path.basename(p)[:-5] for p in fixtures} | {"service-present"}  # needs the whole set
for c in sorted(checks - covered):
    failures.append(f"check [{c}] has no broken fixture in tests/ecs/fixtures/lint/")

for f in failures:
    print("FAIL:", f)
print(f"lint: {len(fixtures)} broken fixtures for {len(checks)} checks, {len(failures)} failures")
sys.exit(1 if failures else 0)
