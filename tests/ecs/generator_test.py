#!/usr/bin/python3
"""The committed ecs/ files are exactly what the generator writes, and drift is caught.

1. generate.py --out <tmp> writes the full set into an empty temp dir; every file there must be
   byte-identical to the committed one, and no committed generated file may be missing there.
2. generate.py --check passes on the repo.
3. --check fails on a tree where one file was edited by hand and one stale file was added.
"""
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testutil import ROOT  # noqa: E402

GEN = [sys.executable, os.path.join(ROOT, "ecs", "generator", "generate.py")]
failures = []
tmp = tempfile.mkdtemp(prefix="ecs-gen-")
try:
    subprocess.run(GEN + ["--out", tmp], check=True, stdout=subprocess.DEVNULL)
    written = []
    for dirpath, _, names in os.walk(tmp):
        for name in names:
            written.append(os.path.relpath(os.path.join(dirpath, name), tmp))
    for rel in sorted(written):
        committed = os.path.join(ROOT, rel)
        if not os.path.exists(committed):
            failures.append(f"{rel}: generated but not committed")
        elif not filecmp.cmp(os.path.join(tmp, rel), committed, shallow=False):
            failures.append(f"{rel}: committed file differs from the generator's output")
    for sub in ("ecs/task-definitions", "ecs/task-definitions/native", "ecs/autoscaling", "ecs/monitoring/cloudwatch"):
        for name in os.listdir(os.path.join(ROOT, sub)):
            rel = f"{sub}/{name}"
            if name.endswith(".json") and rel not in written and not name.startswith("cwagent"):
                failures.append(f"{rel}: committed but no longer generated")
    print(f"regenerated {len(written)} files into {tmp}: "
          f"{'identical to the committed ones' if not failures else 'DRIFT'}")

    r = subprocess.run(GEN + ["--check"], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append("generate.py --check fails on the repo:\n" + r.stdout[-3000:])

    # A tree with a hand edit and a stale file must fail --check, naming both.
    edited = os.path.join(tmp, "ecs", "task-definitions", "auth.json")
    with open(edited, "a") as f:
        f.write(" ")
    shutil.copy(edited, os.path.join(tmp, "ecs", "task-definitions", "retired-service.json"))
    r = subprocess.run(GEN + ["--check", "--out", tmp], capture_output=True, text=True)
    if r.returncode == 0 or "auth.json" not in r.stdout or "retired-service.json" not in r.stdout:
        failures.append(f"--check did not catch a hand edit and a stale file (exit {r.returncode}):\n{r.stdout[-2000:]}")
    else:
        print("--check catches a hand-edited file and a stale file")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
for f in failures:
    print("FAIL:", f)
print(f"generator drift: {len(failures)} failures")
sys.exit(1 if failures else 0)
