#!/usr/bin/python3
"""Trains a DenseNet-BC on Fashion-MNIST on this CPU and records the result.

    bench/accuracy/run.py [--build build] [--epochs 3]        # train, then plot
    bench/accuracy/run.py --from-log LOG --metrics METRICS     # plot an earlier run of the same command

Compiles bench/accuracy/densenet-bc-40-fashion.json (DenseNet-BC, depth 40,
growth 12, the CIFAR stem, batch 64) for the cpu target with no budget and
trains it with densenet-run on Debian's Fashion-MNIST (60,000 training
images, augmented with a random crop after 2-pixel padding; evaluated on the
10,000 test images after every epoch): SGD with Nesterov off, momentum 0.9,
weight decay 1e-4, lr 0.1 with a cosine schedule. Writes
results/fashion-mnist.md (command, machine, time, accuracy per epoch) and
results/fashion-mnist.svg (training loss and accuracy along the run, test
accuracy per epoch).
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench", "plan_quality"))
import svgplot  # noqa: E402

MODEL = os.path.join(HERE, "densenet-bc-40-fashion.json")
TARGET = 0.92


def command_for(build, plan, metrics, epochs):
    return [os.path.join(build, "bin", "densenet-run"), plan, "--data", "fashion-mnist",
            "--epochs", str(epochs), "--schedule", "cosine", "--lr", "0.1", "--seed", "1",
            "--metrics", metrics, "--progress", "lines"]


def progress_points(log):
    """(epochs done, running train loss, running train accuracy) per progress line."""
    points = []
    for line in log.splitlines():
        found = re.match(r"epoch (\d+)/\d+  step (\d+)/(\d+) .* loss ([\d.]+)  acc ([\d.]+)%", line)
        if found:
            epoch, step, steps = int(found[1]), int(found[2]), int(found[3])
            points.append((epoch - 1 + step / steps, float(found[4]), float(found[5]) / 100))
    return points


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--from-log")
    parser.add_argument("--metrics")
    args = parser.parse_args()
    results = os.path.join(HERE, "results")
    os.makedirs(results, exist_ok=True)
    plan = os.path.join(tempfile.mkdtemp(prefix="accuracy-"), "plan.json")
    metrics_path = args.metrics or os.path.join(results, "fashion-mnist.metrics.jsonl")
    subprocess.run([os.path.join(args.build, "bin", "densenetc"), "--target", "cpu", MODEL,
                    "--dataset", "fashion-mnist", "-o", plan], check=True)
    command = command_for(args.build, plan, metrics_path, args.epochs)
    if args.from_log:
        log = open(args.from_log).read()
    else:
        if os.path.exists(metrics_path):
            os.remove(metrics_path)
        start = time.time()
        result = subprocess.run(command, stderr=subprocess.PIPE, text=True)
        log = result.stderr
        open(os.path.join(results, "fashion-mnist.log"), "w").write(log)
        if result.returncode != 0:
            sys.exit(f"training failed:\n{log}")
        print(f"trained in {time.time() - start:.0f} s", file=sys.stderr)
    epochs = [json.loads(line) for line in open(metrics_path)]
    seconds = sum(e["seconds"] for e in epochs)
    best = max(e["test_acc"] for e in epochs)

    points = progress_points(log)
    series = [
        {"name": "train accuracy (running, per epoch)", "color": svgplot.PALETTE[0],
         "points": [(x, a) for x, _, a in points], "marker": "none"},
        {"name": "test accuracy (end of epoch)", "color": svgplot.PALETTE[1],
         "points": [(e["epoch"], e["test_acc"]) for e in epochs]},
    ]
    loss = [{"name": "train loss (running, per epoch)", "color": svgplot.PALETTE[2],
             "points": [(x, l) for x, l, _ in points], "marker": "none"}]
    body = svgplot.line_panel(0, 0, 560, 360, series, "epoch", "accuracy",
                              title="DenseNet-BC-40 on Fashion-MNIST (densenet-run, CPU)",
                              yzero=False, legend="bottom-right", xzero=True)
    body += svgplot.line_panel(560, 0, 420, 360, loss, "epoch", "loss", title="training loss",
                               legend="top-right", xzero=True)
    open(os.path.join(results, "fashion-mnist.svg"), "w").write(
        svgplot.document(980, 360, body, "DenseNet-BC-40 on Fashion-MNIST"))

    shown = " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in command)
    lines = ["# DenseNet-BC on Fashion-MNIST, trained by densenet-run on the CPU", "",
             f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores; "
             f"regenerate with `bench/accuracy/run.py`.", "",
             f"    densenetc --target cpu bench/accuracy/densenet-bc-40-fashion.json --dataset fashion-mnist -o plan.json",
             f"    {shown.replace(plan, 'plan.json')}", "",
             f"Training time {seconds / 60:.1f} min for {len(epochs)} epochs; best test accuracy "
             f"**{best * 100:.2f}%** (target {TARGET * 100:.0f}%: "
             f"{'reached' if best >= TARGET else 'NOT reached'}).", "",
             "| epoch | train loss | train acc | test loss | test acc | images/s | median step (s) | measured peak (MiB) | predicted peak (MiB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in epochs:
        lines.append(f"| {e['epoch']} | {e['train_loss']:.4f} | {e['train_acc'] * 100:.2f}% | "
                     f"{e['test_loss']:.4f} | {e['test_acc'] * 100:.2f}% | "
                     f"{e['images_per_second']:.1f} | {e.get('median_step_seconds', 0):.3f} | "
                     f"{e['measured_peak_bytes'] / 2**20:.1f} | {e['predicted_peak_bytes'] / 2**20:.1f} |")
    lines += ["", "![curve](fashion-mnist.svg)", ""]
    open(os.path.join(results, "fashion-mnist.md"), "w").write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
