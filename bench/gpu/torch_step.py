#!/usr/bin/env python3
"""Times PyTorch's torchvision DenseNet-121 training steps on the GPU.

    torch_step.py --batch-size 64 --steps 30 [--json FILE] [--largest-in 12e9]

The peers densenet-run is measured against in scripts/gpu-check.sh: for
each configuration (memory_efficient False and True, each in NCHW f32, in
channels-last f32, and with AMP bf16 autocast), SGD steps (momentum 0.9,
weight decay 1e-4) on random 224x224 data, and one line with the median step
time after 5 warm-up steps, images/s, and the peak device memory PyTorch's
allocator held (torch.cuda.max_memory_allocated) and reserved.

With --largest-in BYTES, also the largest batch of each memory_efficient
setting (NCHW, f32) whose training step runs with PyTorch's allocator capped
at BYTES of the device (torch.cuda.set_per_process_memory_fraction): doubling
from the batch size, then bisection; a batch fits if two steps run without
running out of memory.
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


def measure(batch, steps, memory_efficient, channels_last, amp):
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    model = torchvision.models.densenet121(memory_efficient=memory_efficient).cuda()
    images = torch.randn(batch, 3, 224, 224, device="cuda")
    labels = torch.randint(0, 1000, (batch,), device="cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model.train()
    times = []
    for _ in range(steps + 5):
        torch.cuda.synchronize()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    step = statistics.median(times[5:])
    result = {"memory_efficient": memory_efficient, "channels_last": channels_last, "amp": amp,
              "batch": batch, "median_step_seconds": step, "images_per_second": batch / step,
              "peak_allocated_bytes": torch.cuda.max_memory_allocated(),
              "peak_reserved_bytes": torch.cuda.max_memory_reserved()}
    del model, optimizer, images, labels
    return result


def fits(batch, memory_efficient):
    """Whether two training steps of `batch` run within the memory cap."""
    model = optimizer = images = labels = None
    try:
        torch.manual_seed(0)
        model = torchvision.models.densenet121(memory_efficient=memory_efficient).cuda()
        images = torch.randn(batch, 3, 224, 224, device="cuda")
        labels = torch.randint(0, 1000, (batch,), device="cuda")
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                    weight_decay=1e-4)
        for _ in range(2):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
        torch.cuda.synchronize()
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        del model, optimizer, images, labels
        torch.cuda.empty_cache()


def largest_batch(start, memory_efficient):
    low, high = 0, start
    while fits(high, memory_efficient):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle, memory_efficient):
            low = middle
        else:
            high = middle
    return low


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json")
    parser.add_argument("--largest-in", type=float, metavar="BYTES")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    results = []
    for memory_efficient in (False, True):
        for channels_last, amp in ((False, False), (True, False), (True, True)):
            r = measure(args.batch_size, args.steps, memory_efficient, channels_last, amp)
            results.append(r)
            print(f"torch densenet121 b{r['batch']} memory_efficient={memory_efficient} "
                  f"channels_last={channels_last} amp={amp}: {r['images_per_second']:.0f} img/s, "
                  f"peak {r['peak_allocated_bytes'] / 2**20:.0f} MiB allocated, "
                  f"{r['peak_reserved_bytes'] / 2**20:.0f} MiB reserved", flush=True)
    largest = {}
    if args.largest_in:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.largest_in / total))
        for memory_efficient in (False, True):
            key = f"memory_efficient={memory_efficient}"
            largest[key] = largest_batch(args.batch_size, memory_efficient)
            print(f"torch densenet121 largest batch in {args.largest_in / 1e9:g} GB, "
                  f"{key}: {largest[key]}", flush=True)
    if args.json:
        json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                   "results": results, "largest_batch": largest,
                   "largest_in_bytes": args.largest_in}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
