#!/usr/bin/python3
"""Training-step time and memory on this CPU: densenet-run against PyTorch.

    bench/cpu_step/run.py [--build build] [--threads 2] [--steps 5]

For DenseNet-BC-100 (CIFAR shape, batch 64) and DenseNet-121 (224x224,
batch 8), in one run with the same thread count:
  - densenet-run with a plan without a budget (nothing recomputed), with
    the smallest feasible budget (most recomputation), and in bf16 without
    a budget (emulated on the CPU: f32 kernels on converted copies, the
    arena halved, scratch outside it);
  - Debian's PyTorch with torchvision's DenseNet, memory_efficient False
    and True (bench/cpu_step/torch_step.py).
Reports the median step time (ours: over all steps; PyTorch: after a warm-up
step), the ratio to PyTorch's default, the process's maximum resident set
and, for ours, the plan's arena and predicted peak. Writes
results/cpu_step.csv and results/cpu_step.md. Run it on an idle machine.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = [("densenet-bc-100", ["--dataset", "cifar10", "--batch-size", "64"]),
          ("densenet121", ["--batch-size", "8"])]


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    densenetc = os.path.join(args.build, "bin", "densenetc")
    densenet_run = os.path.join(args.build, "bin", "densenet-run")
    work = tempfile.mkdtemp(prefix="cpu-step-")
    rows = []
    for name, flags in MODELS:
        model = ["--model", name, *flags, "--target", "cpu"]
        spec = json.loads(run([densenetc, *model, "--emit", "stats"]))["model"]
        spec_path = os.path.join(work, f"{name}.json")
        json.dump(spec, open(spec_path, "w"))
        minimum = re.search(r"\((\d+) bytes\)", run([densenetc, *model, "--min-budget"])).group(1)
        baseline = None
        variants = (("densenet-run, no budget", []),
                    ("densenet-run, smallest budget", ["--mem-budget", minimum]),
                    # Mixed precision halves the activations; the CPU
                    # emulates it (f32 kernels on converted copies).
                    ("densenet-run, no budget, bf16 (emulated)", ["--dtype", "bf16"]))
        for number, (label, budget) in enumerate(variants):
            plan_path = os.path.join(work, f"{name}-{number}.json")
            run([densenetc, *model, *budget, "-o", plan_path])
            plan = json.load(open(plan_path))
            metrics_path = plan_path + ".metrics"
            run([densenet_run, plan_path, "--data", "synthetic", "--steps", str(args.steps),
                 "--threads", str(args.threads), "--no-eval", "--progress", "none",
                 "--metrics", metrics_path])
            metrics = json.loads(open(metrics_path).read().splitlines()[-1])
            rows.append({"model": name, "batch": spec["batch_size"], "runner": label,
                         "median_step_seconds": metrics["median_step_seconds"],
                         "max_rss_bytes": metrics["max_rss_bytes"],
                         "arena_bytes": plan["arena_bytes"],
                         "predicted_peak_bytes": plan["predicted_peak_bytes"],
                         "measured_peak_bytes": metrics["measured_peak_bytes"],
                         "recomputed_segments": len(plan["recomputed_layers"])})
        for efficient in (False, True):
            command = ["/usr/bin/python3", os.path.join(HERE, "torch_step.py"), spec_path,
                       "--threads", str(args.threads), "--steps", str(args.steps)]
            if efficient:
                command.append("--memory-efficient")
            result = json.loads(run(command))
            row = {"model": name, "batch": spec["batch_size"],
                   "runner": f"PyTorch, memory_efficient={efficient}",
                   "median_step_seconds": result["median_step_seconds"],
                   "max_rss_bytes": result["max_rss_bytes"], "arena_bytes": "",
                   "predicted_peak_bytes": "", "measured_peak_bytes": "",
                   "recomputed_segments": ""}
            rows.append(row)
            if not efficient:
                baseline = row["median_step_seconds"]
        for row in rows:
            if row["model"] == name:
                row["time_vs_pytorch"] = row["median_step_seconds"] / baseline
        print(f"{name}: done", file=sys.stderr)

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    fields = list(rows[0].keys())
    with open(os.path.join(HERE, "results", "cpu_step.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    mib = lambda b: f"{b / 2**20:.0f}" if b != "" else ""
    lines = [f"# Training step on the CPU: densenet-run vs PyTorch",
             "",
             f"{datetime.date.today()}, {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, {args.threads} threads, median of {args.steps} steps. "
             f"Regenerate: `bench/cpu_step/run.py`.",
             "",
             "| model | batch | runner | step (s) | time vs PyTorch | max RSS (MiB) | arena (MiB) | predicted peak (MiB) | measured peak (MiB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['batch']} | {row['runner']} | "
                     f"{row['median_step_seconds']:.2f} | {row['time_vs_pytorch']:.2f} | "
                     f"{mib(row['max_rss_bytes'])} | {mib(row['arena_bytes'])} | "
                     f"{mib(row['predicted_peak_bytes'])} | {mib(row['measured_peak_bytes'])} |")
    lines += ["", "Time vs PyTorch is the step time divided by PyTorch's with "
              "memory_efficient=False (lower is faster). Predicted and measured "
              "peaks include the cpu target's 64 MiB reserve; max RSS is the whole "
              "process (code, libraries, datasets; for bf16 also the emulation's "
              "f32 scratch)."]
    open(os.path.join(HERE, "results", "cpu_step.md"), "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
