#!/usr/bin/python3
"""Collects what scripts/gpu-check.sh measured into one JSON and one table.

    gpu_results.py OUT_DIR --run NAME=PLAN.json [--run ...] [--torch torch.json]
                   [--largest largest.json]

For every densenet-run training run NAME, reads OUT_DIR/NAME.metrics.jsonl
(its last line: images/s, median step, peak device memory of the process as
NVML or cudaMemGetInfo measured it, the plan's predicted peak) and the plan
(batch, budget, recomputed layers); for PyTorch, the results of
bench/gpu/torch_step.py. Writes OUT_DIR/gpu-results.json and
OUT_DIR/gpu-results.md: images/s and peak device memory side by side, each
run's time relative to PyTorch's default (memory_efficient=False, NCHW, f32)
at the same batch, and the largest batch of DenseNet-121 each fits in 12 GB
(ours: densenetc's plans, from --largest; PyTorch's: measured by
torch_step.py --largest-in).

bench/readme_results.py puts gpu-results.md into the README when it is
copied to bench/gpu/results/.
"""

import argparse
import json
import os
import sys

MiB = 2 ** 20


def last_metrics(path):
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    if not lines:
        raise ValueError(f"{path}: no metrics")
    return json.loads(lines[-1])


def ours(out_dir, name, plan_path):
    with open(plan_path) as f:
        plan = json.load(f)
    m = last_metrics(os.path.join(out_dir, f"{name}.metrics.jsonl"))
    dtype = plan.get("dtype", "f32")
    return {
        "runner": f"densenet-run {name}" + ("" if dtype == "f32" else f" ({dtype})"),
        "dtype": dtype,
        "loss_scale": m.get("loss_scale"),
        "skipped_steps": m.get("skipped_steps"),
        "model": plan["model"].get("name"),
        "batch": plan["batch_size"],
        "policy": plan["policy"],
        "budget_bytes": plan["budget_bytes"],
        "recomputed_layers": len(plan["recomputed_layers"]),
        "images_per_second": m["images_per_second"],
        "median_step_seconds": m["median_step_seconds"],
        "device_peak_bytes": m.get("device_process_bytes"),
        "predicted_peak_bytes": m["predicted_peak_bytes"],
    }


def peers(torch_path):
    with open(torch_path) as f:
        data = json.load(f)
    rows = []
    for r in data["results"]:
        layout = "channels-last" if r["channels_last"] else "NCHW"
        precision = "AMP bf16" if r["amp"] else "f32"
        rows.append({
            "runner": f"PyTorch memory_efficient={r['memory_efficient']}, {layout}, {precision}",
            "model": "densenet121",
            "batch": r["batch"],
            "images_per_second": r["images_per_second"],
            "median_step_seconds": r["median_step_seconds"],
            "device_peak_bytes": r["peak_reserved_bytes"],
            "allocated_peak_bytes": r["peak_allocated_bytes"],
            "default": not r["memory_efficient"] and not r["channels_last"] and not r["amp"],
        })
    return data.get("gpu"), data.get("torch"), rows, data.get("largest_batch") or {}


def mib(value):
    return "" if value is None else f"{value / MiB:,.0f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=PLAN")
    parser.add_argument("--torch")
    parser.add_argument("--largest")
    args = parser.parse_args()

    rows, missing = [], []
    for item in args.run:
        name, _, plan = item.partition("=")
        try:
            rows.append(ours(args.out_dir, name, plan))
        except (OSError, ValueError, KeyError) as error:
            missing.append(f"{name}: {error}")
    gpu = torch_version = None
    torch_largest = {}
    if args.torch:
        try:
            gpu, torch_version, torch_rows, torch_largest = peers(args.torch)
            rows += torch_rows
        except (OSError, ValueError, KeyError) as error:
            missing.append(f"PyTorch: {error}")
    largest = None
    if args.largest:
        with open(args.largest) as f:
            largest = json.load(f)

    default = {r["batch"]: r for r in rows if r.get("default")}
    for r in rows:
        base = default.get(r["batch"]) if r.get("model") == "densenet121" else None
        r["time_vs_pytorch"] = (r["median_step_seconds"] / base["median_step_seconds"]
                                if base else None)

    result = {"gpu": gpu, "torch": torch_version, "rows": rows,
              "largest_batch_12GB": largest, "torch_largest_batch_12GB": torch_largest,
              "missing": missing}
    with open(os.path.join(args.out_dir, "gpu-results.json"), "w") as f:
        json.dump(result, f, indent=1)

    md = ["# densenet-run against PyTorch on the GPU", "",
          f"Measured by `scripts/gpu-check.sh` on {gpu or 'the GPU machine'}"
          + (f" (PyTorch {torch_version})" if torch_version else "") + ".", "",
          "| runner | model | batch | images/s | step (ms) | time vs PyTorch | "
          "peak device memory (MiB) | predicted peak (MiB) |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r["time_vs_pytorch"]
        md.append("| %s | %s | %d | %.0f | %.1f | %s | %s | %s |" % (
            r["runner"], r["model"], r["batch"], r["images_per_second"],
            1000 * r["median_step_seconds"], "" if ratio is None else f"{ratio:.2f}",
            mib(r.get("device_peak_bytes")), mib(r.get("predicted_peak_bytes"))))
    md += ["", "Time vs PyTorch: step time over PyTorch's (memory_efficient=False, "
           "NCHW, f32) at the same model and batch; lower is faster. Peak device memory: "
           "ours is the process's (NVML, else the cudaMemGetInfo difference), PyTorch's "
           "what its allocator reserved (torch.cuda.max_memory_reserved)."]
    if largest or torch_largest:
        md += ["", "Largest DenseNet-121 batch in 12 GB: " + "; ".join(
            [f"densenet-run {k} {v} (densenetc's plans, `h200` profile)"
             for k, v in (largest or {}).items()] +
            [f"PyTorch {k} {v} (allocator capped at 12 GB, measured)"
             for k, v in torch_largest.items()]) +
            ". Ours counts the profile's reserve for the CUDA context and libraries "
            "within the 12 GB; PyTorch's cap covers its allocator only, so the "
            "comparison favours PyTorch."]
    if missing:
        md += ["", "Missing: " + "; ".join(missing) + "."]
    with open(os.path.join(args.out_dir, "gpu-results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
