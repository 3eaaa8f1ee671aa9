#!/usr/bin/env python3
"""Counts the batch norms whose output a ReLU reads, and how many of those
ReLUs are not the very next step (a backend fuses only adjacent pairs).

    norm_relu_order.py plan.json
"""

import json
import sys

steps = json.load(open(sys.argv[1]))["steps"]
pairs = apart = 0
for i, step in enumerate(steps):
    if step["op"] != "tg.batch_norm":
        continue
    output = step["writes"][0]
    readers = [j for j in range(i + 1, len(steps))
               if steps[j]["op"] == "tg.relu" and output in steps[j]["reads"]]
    if not readers:
        continue
    pairs += 1
    if readers[0] != i + 1:
        apart += 1
        print(f"apart: step {i} ({step['layer']}) and its relu at step {readers[0]}")
print(f"batch norm -> relu pairs: {pairs}, apart: {apart}")
