#!/usr/bin/python3
"""Checks data-parallel training (mpirun -np N densenet-run) against PyTorch.

    data_parallel_check.py model.json --densenetc densenetc --densenet-run densenet-run
        [--ranks 2] [--steps 3] [--bucket-size 4KB] [--tolerance 1e-5]

Compiles a CPU plan of model.json for --ranks ranks (small buckets, so that
several all-reduces overlap the backward pass), trains it with
`mpirun -np N densenet-run --load-weights` on synthetic data, each rank
exporting the batches of its shard, and replays the same steps in float64
with PyTorch the way DistributedDataParallel defines them: every rank's
forward and backward on its own batch (batch-norm statistics of that batch,
running statistics of its own), gradients averaged over the ranks, one
torch.optim.SGD step; at the end the ranks' running statistics are averaged,
as densenet-run does before evaluating or saving. Every parameter and running
statistic must agree to --tolerance relative.

It also checks that the ranks' shards are disjoint: no sample appears in the
batches of two ranks.

(With batch norm, N ranks of batch B are not one process of batch N*B: each
rank normalizes over its own B images, as in PyTorch's DDP without SyncBN.)

Needs Debian's python3-torchvision and Open MPI; run with /usr/bin/python3.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runtime_step_check as stepcheck  # noqa: E402
import torchvision_step_check as reference  # noqa: E402


def running_statistics(model):
    return {name: buffer.clone() for name, buffer in model.named_buffers()
            if not name.endswith("num_batches_tracked")}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--densenetc", default="densenetc")
    parser.add_argument("--densenet-run", default="densenet-run")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bucket-size", default="4KB")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()

    spec = reference.load_spec(args.model)
    name = spec["name"]
    model = reference.torch_model(spec, args.seed)
    work = tempfile.mkdtemp(prefix="data-parallel-check-")
    initial = os.path.join(work, "initial.safetensors")
    stepcheck.write_safetensors(initial, {
        k: v.float().numpy() if v.is_floating_point() else v.numpy()
        for k, v in model.state_dict().items()})

    plan = os.path.join(work, "plan.json")
    stepcheck.run([args.densenetc, args.model, "--target", "cpu", "--reserve", "0",
                   "--world-size", str(args.ranks), "--bucket-size", args.bucket_size,
                   "-o", plan])
    final = os.path.join(work, "final.safetensors")
    exported = os.path.join(work, "batches.safetensors")
    # One thread per rank: the ranks share this machine's cores.
    environment = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    command = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(args.ranks),
               args.densenet_run, plan, "--data", "synthetic", "--steps", str(args.steps),
               "--lr", str(args.lr), "--schedule", "constant", "--seed", str(args.seed),
               "--threads", "1", "--load-weights", initial, "--save-weights", final,
               "--export-batches", exported, "--no-eval", "--progress", "none"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    buckets = sum(1 for line in open(plan) if '"op": "tg.all_reduce"' in line)
    batches = [stepcheck.read_safetensors(os.path.join(work, f"batches.rank{r}.safetensors"))
               for r in range(args.ranks)]

    # Disjoint shards: the same synthetic sample is the same image bytes.
    seen = {}
    overlaps = 0
    for rank, exported_batches in enumerate(batches):
        for step in range(args.steps):
            for image in exported_batches[f"images.{step}"]:
                key = image.tobytes()
                if key in seen and seen[key] != rank:
                    overlaps += 1
                seen[key] = rank
    print(f"{name}: {args.ranks} ranks x {args.steps} steps, {len(seen)} distinct samples, "
          f"{overlaps} in two shards")

    optimizer = reference.sgd_optimizer(model, reference.SGD_DEFAULTS)
    for group in optimizer.param_groups:
        group["lr"] = args.lr
    statistics = [running_statistics(model) for _ in range(args.ranks)]
    model.train()
    for step in range(args.steps):
        summed = None
        for rank in range(args.ranks):
            with torch.no_grad():
                for key, buffer in model.named_buffers():
                    if key in statistics[rank]:
                        buffer.copy_(statistics[rank][key])
            optimizer.zero_grad()
            images = torch.from_numpy(batches[rank][f"images.{step}"].astype(numpy.float64))
            labels = torch.from_numpy(batches[rank][f"labels.{step}"].astype(numpy.int64))
            F.cross_entropy(model(images), labels).backward()
            statistics[rank] = running_statistics(model)
            gradients = [p.grad.clone() for p in model.parameters()]
            summed = gradients if summed is None else [a + b for a, b in zip(summed, gradients)]
        for parameter, gradient in zip(model.parameters(), summed):
            parameter.grad = gradient / args.ranks
        optimizer.step()
    with torch.no_grad():
        for key, buffer in model.named_buffers():
            if key in statistics[0]:
                buffer.copy_(sum(s[key] for s in statistics) / args.ranks)
            elif key.endswith("num_batches_tracked"):
                buffer.fill_(args.steps)

    ours = stepcheck.read_safetensors(final)
    worst, worst_name, failures = stepcheck.compare_state(model, ours, args.tolerance)
    for message in failures[:10]:
        print(f"{name}: MISMATCH {message}")
    print(f"{name}: {buckets} all-reduce buckets; {len(ours)} tensors vs PyTorch DDP semantics: "
          f"max relative error {worst:.1e} ({worst_name}), tolerance {args.tolerance:g}")
    if failures or overlaps:
        sys.exit(1)
    print(f"{name}: ok")


if __name__ == "__main__":
    main()
