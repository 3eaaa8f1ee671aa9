#!/usr/bin/python3
"""Compares two safetensors state dicts written by densenet-run --save-weights.

    compare_weights.py A.safetensors B.safetensors

Prints whether the parameters (every tensor but batch norm's running
statistics and counters) are bitwise identical, and the largest relative
difference of the running statistics; exits 1 when a parameter differs or a
tensor is missing.
"""

import os
import sys

import numpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runtime_step_check as stepcheck  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = (stepcheck.read_safetensors(path) for path in sys.argv[1:])
    if set(a) != set(b):
        print(f"different tensors: {sorted(set(a) ^ set(b))[:5]}")
        sys.exit(1)
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    differing = [k for k in a if not k.endswith(statistics) and a[k].tobytes() != b[k].tobytes()]
    worst = 0.0
    for k in a:
        if k.endswith(("running_mean", "running_var")):
            scale = float(numpy.abs(a[k]).max()) or 1.0
            worst = max(worst, float(numpy.abs(a[k].astype(numpy.float64) - b[k]).max()) / scale)
    print(f"parameters: {'bitwise identical' if not differing else 'DIFFER: ' + ', '.join(differing[:5])}; "
          f"running statistics: max relative difference {worst:.1e}")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
