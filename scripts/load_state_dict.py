#!/usr/bin/python3
"""Loads a densenet-run weights file into torchvision's model, strictly.

    load_state_dict.py weights.safetensors densenet121

Exits 1 when torchvision's load_state_dict(strict=True) refuses the file
(a missing, unexpected or misshapen tensor), else prints what was loaded and
the model's prediction on a zero image, which must be finite.
"""

import os
import sys

import numpy
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runtime_step_check import read_safetensors  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, name = sys.argv[1], sys.argv[2]
    tensors = {k: torch.from_numpy(numpy.array(v)) for k, v in read_safetensors(path).items()}
    model = getattr(torchvision.models, name)()
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        sys.exit(f"{path}: torchvision {name} refuses it: {error}")
    model.eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 224, 224))
    if not torch.isfinite(logits).all():
        sys.exit(f"{path}: non-finite logits")
    print(f"{name}: load_state_dict(strict=True) accepted {len(tensors)} tensors; "
          f"logits finite, shape {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
