#!/usr/bin/env python3
"""Times PyTorch's torchvision DenseNet-121 training steps on the GPU.

    torch_step.py --batch-size 64 --steps 30 [--json FILE]

The peers densenet-run is measured against in scripts/gpu-check.sh: for
each configuration (memory_efficient False and True, each in NCHW f32, in
channels-last f32, and with AMP bf16 autocast), SGD steps (momentum 0.9,
weight decay 1e-4) on random 224x224 data, and one line with the median step
time after 5 warm-up steps, images/s, and the peak device memory PyTorch's
allocator held (torch.cuda.max_memory_allocated) and reserved.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json")
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
    if args.json:
        json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
                   "results": results}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
