#!/usr/bin/python3
"""Times PyTorch training steps of a torchvision DenseNet on the CPU.

    torch_step.py MODEL.json --threads 2 --steps 5 [--memory-efficient]

Builds torchvision's DenseNet for the spec (the CIFAR stem replaces conv0
with a 3x3/1 convolution and drops norm0, relu0 and pool0, as in
scripts/torchvision_step_check.py), runs SGD steps (momentum 0.9, weight
decay 1e-4) on random data, and prints one JSON line: the median step time
after the first (warm-up) step, and the process's maximum resident set.
"""

import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--memory-efficient", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = json.load(open(args.model))
    model = torchvision.models.DenseNet(
        growth_rate=spec["growth_rate"], block_config=tuple(spec["block_config"]),
        num_init_features=spec["num_init_features"], bn_size=spec["bn_size"],
        drop_rate=0, num_classes=spec["num_classes"], memory_efficient=args.memory_efficient)
    channels, features = spec["input"]["channels"], spec["num_init_features"]
    if spec.get("stem") == "cifar":
        model.features.conv0 = nn.Conv2d(channels, features, 3, 1, 1, bias=False)
        for name in ("norm0", "relu0", "pool0"):
            delattr(model.features, name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    batch = spec["batch_size"]
    images = torch.randn(batch, channels, spec["input"]["height"], spec["input"]["width"])
    labels = torch.randint(0, spec["num_classes"], (batch,))
    model.train()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_step_seconds": statistics.median(times[1:]),
                      "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


if __name__ == "__main__":
    main()
