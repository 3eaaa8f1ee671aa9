#!/usr/bin/python3
"""Compares densenetc's presets with torchvision's DenseNets, tensor by tensor.

For each torchvision-named preset, the tg.parameter and tg.state ops of
`densenetc --emit forward-mlir` must be exactly torchvision's state dict
(names and shapes; torchvision's int64 `num_batches_tracked` counters aside),
and the parameter count of `--emit stats` must equal torchvision's.

Needs Debian's python3-torchvision; run with /usr/bin/python3.
"""

import argparse
import json
import re
import subprocess
import sys

import torchvision.models as models

# preset -> (torchvision constructor, keyword arguments)
PRESETS = {
    "densenet121": (models.densenet121, {}),
    "densenet161": (models.densenet161, {}),
    "densenet169": (models.densenet169, {}),
    "densenet201": (models.densenet201, {}),
    # The TensorFlow memory-efficient DenseNet's CIFAR model is DenseNet-121
    # with ten classes; torchvision builds the same tensors.
    "tf-densenet121-cifar": (models.densenet121, {"num_classes": 10}),
}

DECLARATION = re.compile(
    r'tg\.(?:parameter|state) "([^"]+)" : tensor<([0-9x]+)xf32>')


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def densenetc_tensors(densenetc, preset):
    # Batch 2: tf-densenet121-cifar's last block is 1x1, and batch norm needs
    # two values per channel.
    mlir = run([densenetc, "--model", preset, "--batch-size", "2", "--emit", "forward-mlir"])
    return {name: tuple(int(d) for d in shape.split("x"))
            for name, shape in DECLARATION.findall(mlir)}


def densenetc_parameters(densenetc, preset):
    stats = run([densenetc, "--model", preset, "--emit", "stats"])
    return json.loads(stats)["parameters"]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--densenetc", default="densenetc")
    parser.add_argument("presets", nargs="*", default=list(PRESETS))
    args = parser.parse_args()

    failed = False
    for preset in args.presets:
        constructor, kwargs = PRESETS[preset]
        model = constructor(weights=None, **kwargs)
        expected = {name: tuple(t.shape) for name, t in model.state_dict().items()
                    if not name.endswith("num_batches_tracked")}
        ours = densenetc_tensors(args.densenetc, preset)
        torch_parameters = sum(p.numel() for p in model.parameters())
        our_parameters = densenetc_parameters(args.densenetc, preset)

        problems = []
        for name in sorted(expected.keys() - ours.keys()):
            problems.append(f"missing {name} {expected[name]}")
        for name in sorted(ours.keys() - expected.keys()):
            problems.append(f"extra {name} {ours[name]}")
        for name in sorted(expected.keys() & ours.keys()):
            if expected[name] != ours[name]:
                problems.append(f"shape of {name}: torchvision {expected[name]}, densenetc {ours[name]}")
        if torch_parameters != our_parameters:
            problems.append(f"parameters: torchvision {torch_parameters}, densenetc {our_parameters}")

        status = "MISMATCH" if problems else "ok"
        print(f"{preset}: {status} ({len(ours)} tensors, {our_parameters} parameters; "
              f"torchvision {len(expected)} tensors, {torch_parameters} parameters)")
        for problem in problems[:20]:
            print(f"  {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
