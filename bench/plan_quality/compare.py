#!/usr/bin/env python3
"""Two densenetc binaries side by side: compile time and plan quality.

    python3 bench/plan_quality/compare.py OLD NEW [--model densenet264]
        [--batches 16,32,64,128] [--budgets 21] [--repeats 3] [--out FILE]

For each batch size, the budgets run in equal steps from the larger of the
two binaries' smallest feasible budgets to NEW's keep-everything one. At each budget both binaries
plan the same model, alternating run by run so that a slow spell of a shared
machine hits both alike; the median wall time of each is kept. Reported per
batch: the slowest and the median budget's time for each binary and their
ratio, and how the plans compare (predicted step time, proof). Writes a
markdown table to --out (default: stdout only).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from run import MINB_RE  # the same line run.py reads


def run(binary, args):
    start = time.perf_counter()
    done = subprocess.run([binary] + args, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit("%s %s failed (exit %d):\n%s" % (
            binary, " ".join(args), done.returncode, done.stderr.strip()))
    return elapsed, done.stdout


def min_budget(binary, model, batch, policy):
    _, out = run(binary, ["--model", model, "--batch-size", str(batch),
                          "--policy", policy, "--min-budget"])
    match = MINB_RE.search(out)
    if not match:
        sys.exit("%s printed no smallest budget: %s" % (binary, out.strip()))
    return int(match.group(1))


def plan(binary, model, batch, budget, path):
    elapsed, _ = run(binary, ["--model", model, "--batch-size", str(batch),
                              "--mem-budget", str(budget), "-o", path])
    with open(path) as f:
        p = json.load(f)
    return elapsed, p["cost"]["predicted_step_seconds"], p["solver"]["proven_optimal"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--model", default="densenet264")
    ap.add_argument("--batches", default="16,32,64,128")
    ap.add_argument("--budgets", type=int, default=21)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    for binary in (args.old, args.new):
        if not os.access(binary, os.X_OK):
            sys.exit("not an executable: %s" % binary)
    if args.budgets < 2 or args.repeats < 1:
        sys.exit("--budgets must be at least 2 and --repeats at least 1")
    tmp = tempfile.mkdtemp(prefix="compare.")
    lines = [
        "| batch | budgets | old: slowest (s) | new: slowest (s) | slowest, new/old "
        "| old: median (s) | new: median (s) | median, new/old "
        "| new plan faster / equal / slower | proven old / new |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for batch in [int(b) for b in args.batches.split(",")]:
        # Both must fit the smallest: the larger of their smallest budgets.
        lo = max(min_budget(b, args.model, batch, "optimal")
                 for b in (args.old, args.new))
        hi = min_budget(args.new, args.model, batch, "keep")
        budgets = [lo + (hi - lo) * i // (args.budgets - 1)
                   for i in range(args.budgets)]
        times = {"old": [], "new": []}
        faster = equal = slower = 0
        proven = {"old": 0, "new": 0}
        for budget in budgets:
            runs = {"old": [], "new": []}
            steps, proofs = {}, {}
            for _ in range(args.repeats):
                for name, binary in (("old", args.old), ("new", args.new)):
                    path = os.path.join(tmp, name + ".json")
                    elapsed, steps[name], proofs[name] = plan(
                        binary, args.model, batch, budget, path)
                    runs[name].append(elapsed)
            for name in runs:
                times[name].append(statistics.median(runs[name]))
                proven[name] += bool(proofs[name])
            if steps["new"] < steps["old"] * (1 - 1e-12):
                faster += 1
            elif steps["new"] > steps["old"] * (1 + 1e-12):
                slower += 1
            else:
                equal += 1
            print("batch %d budget %d: old %.3f s, new %.3f s" % (
                batch, budget, times["old"][-1], times["new"][-1]),
                file=sys.stderr)
        so, sn = max(times["old"]), max(times["new"])
        mo, mn = statistics.median(times["old"]), statistics.median(times["new"])
        lines.append("| %d | %d | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f | %d / %d / %d | %d / %d |" % (
            batch, len(budgets), so, sn, sn / so, mo, mn, mn / mo,
            faster, equal, slower, proven["old"], proven["new"]))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
