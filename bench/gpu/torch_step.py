#!/usr/bin/env python3
"""Times PyTorch's torchvision DenseNet-121 training steps on the GPU.

    torch_step.py --batch-size 64 --steps 20 [--json FILE]
    torch_step.py --batch-size 64 --largest-in 12e9 --largest-only --json FILE

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
running out of memory (cuDNN's benchmark mode off, so that each probe does
not tune anew). --largest-only skips the timings and adds to the --json
file a previous run wrote. The JSON is written after every configuration
and every largest batch, so a run cut off keeps what it measured. It also
records whether PyTorch let cuDNN and cuBLAS use TF32 for f32 (its default
for convolutions; densenet-run's f32 plans compute in f32).
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


def out_of_memory(error):
    """cuDNN's and cuBLAS's allocation failures under the cap are not always
    torch.cuda.OutOfMemoryError."""
    return isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError)
        and any(text in str(error) for text in ("out of memory", "ALLOC")))


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
    except RuntimeError as error:  # OutOfMemoryError is one
        if not out_of_memory(error):
            raise
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
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json")
    parser.add_argument("--largest-in", type=float, metavar="BYTES")
    parser.add_argument("--largest-only", action="store_true",
                        help="skip the timings; add to the --json file")
    args = parser.parse_args()
    if args.largest_only and not (args.largest_in and args.json):
        parser.error("--largest-only needs --largest-in and --json")

    data = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "results": [], "largest_batch": {}, "largest_in_bytes": args.largest_in}
    if args.largest_only:
        try:
            with open(args.json) as f:
                previous = json.load(f)
            data["results"] = previous.get("results", [])
        except (OSError, ValueError):
            pass

    def save():
        if args.json:
            with open(args.json, "w") as f:
                json.dump(data, f, indent=1)

    if not args.largest_only:
        torch.backends.cudnn.benchmark = True
        for memory_efficient in (False, True):
            for channels_last, amp in ((False, False), (True, False), (True, True)):
                r = measure(args.batch_size, args.steps, memory_efficient, channels_last, amp)
                data["results"].append(r)
                save()
                print(f"torch densenet121 b{r['batch']} memory_efficient={memory_efficient} "
                      f"channels_last={channels_last} amp={amp}: "
                      f"{r['images_per_second']:.0f} img/s, "
                      f"peak {r['peak_allocated_bytes'] / 2**20:.0f} MiB allocated, "
                      f"{r['peak_reserved_bytes'] / 2**20:.0f} MiB reserved", flush=True)
    if args.largest_in:
        torch.backends.cudnn.benchmark = False
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.largest_in / total))
        for memory_efficient in (False, True):
            key = f"memory_efficient={memory_efficient}"
            data["largest_batch"][key] = largest_batch(args.batch_size, memory_efficient)
            save()
            print(f"torch densenet121 largest batch in {args.largest_in / 1e9:g} GB, "
                  f"{key}: {data['largest_batch'][key]}", flush=True)
    save()


if __name__ == "__main__":
    main()
