#!/usr/bin/python3
"""Kills a training run with SIGKILL, resumes it, and compares the weights.

    kill_resume_check.py DENSENET_RUN PLAN OUTDIR [--kills 3] [--kill-seed 1] [ARGS...]

Runs `DENSENET_RUN PLAN ARGS --save-weights OUTDIR/straight.safetensors`
uninterrupted, then the same command with `--checkpoint-dir OUTDIR/ck
--checkpoint-every 1`, killed with SIGKILL at a random moment after its
n-th progress line (so also in the middle of writing a checkpoint), and
resumed with `--resume`, `--kills` times, and finally run to the end. The
resumed run must end with weights bit-identical to the uninterrupted one.
ARGS must train by --steps (several epochs' worth makes kills land in
several epochs) and print a progress line per step (few batches per epoch).
Prints one line per kill and the verdict; exits 1 when the weights differ.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import time


def progress_lines(process):
    for line in process.stderr:
        if line.startswith("epoch ") and " step " in line:
            yield line


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("plan")
    parser.add_argument("outdir")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--kill-seed", type=int, default=1,
                        help="seed of the kill moments")
    args, rest = parser.parse_known_args()
    chooser = random.Random(args.kill_seed)
    os.makedirs(args.outdir, exist_ok=True)
    straight = os.path.join(args.outdir, "straight.safetensors")
    resumed = os.path.join(args.outdir, "resumed.safetensors")
    checkpoints = os.path.join(args.outdir, "ck")
    base = [args.run, args.plan] + rest

    subprocess.run(base + ["--progress", "none", "--save-weights", straight], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    interrupted = base + ["--progress", "lines", "--checkpoint-dir", checkpoints,
                          "--checkpoint-every", "1"]
    for kill in range(args.kills):
        resume = os.path.exists(os.path.join(checkpoints, "checkpoint.safetensors"))
        process = subprocess.Popen(interrupted + (["--resume"] if resume else []),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_lines = chooser.randint(1, 10)
        seen = None
        for count, line in enumerate(progress_lines(process), 1):
            seen = " ".join(line.split("  ")[:2])
            if count == wait_lines:
                break
        if seen is None:
            process.wait()
            sys.exit(f"kill {kill + 1}: the run ended before printing progress "
                     f"(exit code {process.returncode}); give more --steps")
        # Anywhere in the next step or its checkpoint write.
        time.sleep(chooser.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.communicate()
        print(f"kill {kill + 1}: SIGKILL after {seen} (exit code {process.returncode})")
        if process.returncode != -signal.SIGKILL:
            sys.exit(f"kill {kill + 1}: the run was not killed; give more --steps")

    final = subprocess.run(interrupted + ["--resume", "--save-weights", resumed],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if final.returncode != 0:
        sys.exit(f"the resumed run failed (exit code {final.returncode}):\n{final.stderr}")
    for line in final.stderr.splitlines():
        if line.startswith("resuming at"):
            print(f"final run: {line}")
    same = open(straight, "rb").read() == open(resumed, "rb").read()
    print("weights bit-identical to the uninterrupted run" if same
          else "weights DIFFER from the uninterrupted run")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
