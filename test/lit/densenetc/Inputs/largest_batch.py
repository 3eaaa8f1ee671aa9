"""Checks the largest batch densenetc advises: it fits the budget and one
more does not, by asking densenetc --min-budget at both batch sizes.

    largest_batch.py DENSENETC infeasible|report ARGS...

`infeasible`: ARGS give a budget the batch does not fit; the error names the
largest batch that does. `report`: ARGS give a budget it fits, with --emit
report; both batches of the report are checked (no recompute, the policy).
Prints one line per checked answer.
"""
import re
import subprocess
import sys


def min_budget(densenetc, args, batch, policy):
    args = strip(args, "--batch-size") + ["--batch-size", str(batch)]
    args = strip(strip(args, "--policy"), "--emit")
    out = subprocess.run([densenetc, *args, "--policy", policy, "--min-budget"],
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r"\((\d+) bytes\)", out).group(1))


def strip(args, flag):
    result, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == flag:
            skip = True
        elif not arg.startswith(flag + "="):
            result.append(arg)
    return result


def check(densenetc, args, budget, batch, policy):
    fits = min_budget(densenetc, args, batch, policy) <= budget
    next_fits = min_budget(densenetc, args, batch + 1, policy) <= budget
    verdict = "ok" if fits and not next_fits else "WRONG"
    print(f"{policy}: largest batch {batch}: fits {fits}, "
          f"{batch + 1} fits {next_fits}: {verdict}")
    return verdict == "ok"


def main():
    densenetc, mode, *args = sys.argv[1:]
    run = subprocess.run([densenetc, *args, "-o", "/dev/null"],
                         capture_output=True, text=True)
    text = run.stdout + run.stderr
    budget = int(re.search(r"budget\s.*?\((\d+) bytes\)", text).group(1))
    policy = args[args.index("--policy") + 1] if "--policy" in args else "optimal"
    good = True
    if mode == "infeasible":
        assert run.returncode == 1, text
        batch = int(re.search(r"largest batch that fits is (\d+)", text).group(1))
        good &= check(densenetc, args, budget, batch, policy)
    else:
        assert run.returncode == 0, text
        keep, planned = map(int, re.search(
            r"largest batch\s+(\d+) with no recompute, (\d+) with this policy",
            text).groups())
        good &= check(densenetc, args, budget, keep, "keep")
        good &= check(densenetc, args, budget, planned, policy)
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
