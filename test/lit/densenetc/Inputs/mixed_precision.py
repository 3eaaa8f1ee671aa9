"""Prints the facts of a low-precision plan that mixed-precision.test checks:
its loss scaling, whether every update follows the backward pass, and
whether each convolution and classifier step's workspace holds its weight in
the plan's dtype (format/WeightCopy.h)."""

import json
import sys

plan = json.load(open(sys.argv[1]))
buffers = plan["buffers"]
steps = plan["steps"]
element = {"f32": 4, "bf16": 2, "f16": 2}[plan["dtype"]]

print("loss_scale", json.dumps(plan["loss_scale"], sort_keys=True))
last_gradient = max(i for i, s in enumerate(steps)
                    if s["phase"] in ("backward", "recompute"))
first_update = min(i for i, s in enumerate(steps) if s["op"] == "tg.sgd_update")
print("updates after backward:", first_update > last_gradient)

WEIGHT = {"tg.conv2d": ("reads", 1), "tg.conv2d_grad_input": ("reads", 1),
          "tg.conv2d_grad_filter": ("writes", 0), "tg.linear": ("reads", 1),
          "tg.linear_grad": ("reads", 2)}
short = 0
steps_with_weights = 0
for s in steps:
    if s["op"] not in WEIGHT:
        continue
    steps_with_weights += 1
    field, index = WEIGHT[s["op"]]
    weight = buffers[s[field][index]]
    copy = 0
    if element < 4:
        copy = -(-weight["bytes"] // 4 * element // 256) * 256
    extra = s["workspace_bytes"] - copy
    # f32 plans give the classifier no workspace; low precision plans give
    # each step at least the copy.
    if extra < 0 or (s["op"].startswith("tg.linear") and extra != 0):
        short += 1
print("steps with weights:", steps_with_weights, "short of their copy:", short)
