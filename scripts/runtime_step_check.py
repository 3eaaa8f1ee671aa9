#!/usr/bin/python3
"""Checks densenet-run's training steps against PyTorch.

    runtime_step_check.py model.json --densenetc densenetc --densenet-run densenet-run
        [--steps 2] [--budget min|none|SIZE ...] [--tolerance 1e-5]

For each budget, compiles a CPU plan of model.json (`densenetc --target cpu`),
then:
  1. builds torchvision's DenseNet for the spec (scripts/torchvision_step_check.py)
     with random weights and non-trivial batch-norm parameters and running
     statistics, and writes its state dict as safetensors;
  2. runs `densenet-run --load-weights` for --steps steps on synthetic data at a
     constant learning rate, exporting the batches it fed and saving the final
     state dict;
  3. replays the same batches through the torchvision model in float64 with
     torch.optim.SGD, and compares every parameter and running statistic:
     max |ours - torch| / max |torch| per tensor must stay under --tolerance
     (densenet-run computes in float32).

With several budgets it also requires the final weights of all plans to be
bitwise identical (recomputation must not change a single bit).

--dtype bf16 or f16 compiles mixed-precision plans (densenet-run rounds every
stored feature map; f16 scales the loss) against the same float64
reference, with a tolerance to match the rounding.

Needs Debian's python3-torchvision; run with /usr/bin/python3.
"""

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchvision_step_check as reference  # noqa: E402

DTYPES = {"F32": numpy.float32, "F64": numpy.float64, "I64": numpy.int64,
          "I32": numpy.int32, "U8": numpy.uint8}


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        array = numpy.ascontiguousarray(array)
        dtype = {numpy.dtype("float32"): "F32", numpy.dtype("int64"): "I64"}[array.dtype]
        data = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    data = raw[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = numpy.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]]) \
            .reshape(entry["shape"])
    return tensors


def compare_state(model, ours, tolerance):
    """Every tensor of the PyTorch model's state dict against densenet-run's:
    (largest relative error, its tensor, the failures)."""
    worst, worst_name, failures = 0.0, None, []
    for key, theirs in model.state_dict().items():
        theirs = theirs.numpy()
        if key not in ours:
            failures.append(f"{key}: missing from densenet-run's weights")
            continue
        mine = ours[key].astype(numpy.float64)
        if key.endswith("num_batches_tracked"):
            if int(mine) != int(theirs):
                failures.append(f"{key}: {int(mine)} != {int(theirs)}")
            continue
        scale = float(numpy.abs(theirs).max()) or 1.0
        error = float(numpy.abs(mine - theirs).max()) / scale
        if error > worst:
            worst, worst_name = error, key
        if not error <= tolerance:
            failures.append(f"{key}: relative error {error:.3e}")
    return worst, worst_name, failures


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--densenetc", default="densenetc")
    parser.add_argument("--densenet-run", default="densenet-run")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", action="append",
                        help="'none' (unlimited), 'min' (the smallest feasible) or a size")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--plan", help="a plan of the model compiled elsewhere (instead of "
                        "--budget: machines without densenetc, such as the GPU machine)")
    parser.add_argument("--device", default="auto", help="densenet-run's --device")
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"],
                        help="densenetc's --dtype (with --budget)")
    args = parser.parse_args()
    budgets = args.budget or ["none"]
    if args.plan:
        budgets = ["given"]

    spec = reference.load_spec(args.model)
    name = spec["name"]
    model = reference.torch_model(spec, args.seed)
    work = tempfile.mkdtemp(prefix="runtime-step-check-")
    initial = os.path.join(work, "initial.safetensors")
    write_safetensors(initial, {k: v.float().numpy() if v.is_floating_point() else v.numpy()
                                for k, v in model.state_dict().items()})

    finals = {}
    batches = None
    for budget in budgets:
        plan = os.path.join(work, f"plan-{budget}.json")
        flags = ["--target", "cpu", "--reserve", "0", "--dtype", args.dtype]
        if budget == "given":
            plan = args.plan
        elif budget == "min":
            minimum = run([args.densenetc, args.model, *flags, "--min-budget"]).stdout
            found = re.search(r"\((\d+) bytes\)", minimum)
            if not found:
                sys.exit(f"cannot read the smallest budget from: {minimum}")
            flags += ["--mem-budget", found.group(1)]
        elif budget != "none":
            flags += ["--mem-budget", budget]
        if budget != "given":
            run([args.densenetc, args.model, *flags, "-o", plan])
        with open(plan) as f:
            recomputed = len(json.load(f)["recomputed_layers"])
        final = os.path.join(work, f"final-{budget}.safetensors")
        exported = os.path.join(work, f"batches-{budget}.safetensors")
        run([args.densenet_run, plan, "--data", "synthetic", "--steps", str(args.steps),
             "--lr", str(args.lr), "--schedule", "constant", "--seed", str(args.seed),
             "--load-weights", initial, "--save-weights", final,
             "--export-batches", exported, "--no-eval", "--progress", "none",
             "--device", args.device])
        with open(final, "rb") as f:
            finals[budget] = (f.read(), recomputed)
        if batches is None:
            batches = read_safetensors(exported)

    optimizer = reference.sgd_optimizer(model, reference.SGD_DEFAULTS)
    for step in range(args.steps):
        images = torch.from_numpy(batches[f"images.{step}"].astype(numpy.float64))
        if args.dtype != "f32":
            # The plan's input batch is stored in its dtype, rounded to nearest.
            low = torch.bfloat16 if args.dtype == "bf16" else torch.float16
            images = images.to(low).to(torch.float64)
        labels = torch.from_numpy(batches[f"labels.{step}"].astype(numpy.int64))
        reference.torch_step(model, optimizer, images, labels, args.lr)

    ours = read_safetensors(os.path.join(work, f"final-{budgets[0]}.safetensors"))
    worst, worst_name, failures = compare_state(model, ours, args.tolerance)
    for message in failures[:10]:
        print(f"{name}: MISMATCH {message}")

    identical = len({data for data, _ in finals.values()}) == 1
    plans = ", ".join(f"{b} ({r} recomputed segments)" for b, (_, r) in finals.items())
    print(f"{name}: {args.steps} {'' if args.dtype == 'f32' else args.dtype + ' '}steps, "
          f"{len(ours)} tensors vs torch: max relative error "
          f"{worst:.1e} ({worst_name}), tolerance {args.tolerance:g}")
    if len(finals) > 1:
        print(f"{name}: plans {plans}: final weights "
              f"{'bitwise identical' if identical else 'DIFFER'}")
    if failures or not identical:
        sys.exit(1)
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
