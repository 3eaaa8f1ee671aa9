#!/usr/bin/env python3
"""Prints the facts of a plan file a regression test pins down: the peak, the
smallest budget, whether it fits, and the decision per layer (run-length
encoded so a whole block fits on a line)."""

import json
import sys
from itertools import groupby


def main():
    plan = json.load(open(sys.argv[1]))
    budget = plan["budget_bytes"]
    fits = budget is None or (plan["predicted_peak_bytes"] <= budget
                              and plan["arena_bytes"] + plan["reserve_bytes"] <= budget)
    print(f"peak {plan['predicted_peak_bytes']} min {plan['min_budget_bytes']} "
          f"budget {budget} fits {fits} recomputed {len(plan['recomputed_layers'])}")
    runs = groupby(plan["decisions"], key=lambda d: d["option"])
    for option, group in runs:
        layers = [d["layer"] for d in group]
        span = layers[0] if len(layers) == 1 else f"{layers[0]} .. {layers[-1]}"
        print(f"{option} x{len(layers)}: {span}")


if __name__ == "__main__":
    main()
