#!/usr/bin/python3
"""The table of bad inputs in docs/errors.md, and the test that it is true.

    errors_table.py --bin build/bin --check docs/errors.md   # run every row, compare
    errors_table.py --bin build/bin --write docs/errors.md   # run every row, rewrite the table

Every row of the table is one case below: a bad model file, flag, plan,
dataset or environment, the command that feeds it to densenetc or
densenet-run, the exit code, and the message the user gets. `--check` runs
them all in a fresh directory (the fixtures are made by `make_fixtures`)
and fails, naming the rows, when an exit code or a message differs from
the table; `--write` regenerates the table between the markers
`<!-- errors:begin -->` and `<!-- errors:end -->` from what the tools print
now. Parts of a message that depend on the machine or the build (free
memory, checksums) are shown as `…`.
"""

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fnv1a import fnv1a64  # noqa: E402

BEGIN, END = "<!-- errors:begin -->", "<!-- errors:end -->"
FASHION = "/usr/share/datasets/fashion-mnist"

# (area, what is wrong, shell command run in the fixture directory, masks).
# Masks are regular expressions whose matches become "…" in the table.
HASH = [r"(?<=fnv1a64:)[0-9a-f]+"]
MEMORY = [r"[0-9.]+(?= MiB)", r"(?<=\()[0-9]+(?= bytes)", r"(?<=--mem-budget )[0-9]+"]
CASES = [
    # The model description.
    ("model", "model file missing", "densenetc missing.json", []),
    ("model", "not JSON", "densenetc syntax.json", []),
    ("model", "a key misspelled", "densenetc typo.json", []),
    ("model", "a key from another tool", "densenetc unrelated.json", []),
    ("model", "a key twice", "densenetc duplicate.json", []),
    ("model", "a number as a string", "densenetc type.json", []),
    ("model", "a value out of range", "densenetc range.json", []),
    ("model", "an empty block", "densenetc empty-block.json", []),
    ("model", "input too small for the stem", "densenetc small-input.json", []),
    ("model", "a model too large to represent", "densenetc huge.json", []),
    ("model", "unknown preset", "densenetc --model densnet121", []),
    ("model", "no model at all", "densenetc", []),
    # densenetc flags.
    ("densenetc flags", "budget without a unit", "densenetc --model densenet-bc-100 --mem-budget 12XB", []),
    ("densenetc flags", "budget below the minimum", "densenetc --model densenet-bc-100 --mem-budget 10MB -o out.json", []),
    ("densenetc flags", "unknown target", "densenetc --model densenet-bc-100 --target h100", []),
    ("densenetc flags", "unknown policy", "densenetc --model densenet-bc-100 --policy some", []),
    ("densenetc flags", "batch size 0", "densenetc --model densenet-bc-100 --batch-size 0", []),
    ("densenetc flags", "bad input shape", "densenetc --model densenet121 --input 3x32", []),
    ("densenetc flags", "unknown dataset", "densenetc --model densenet121 --dataset cifar", []),
    ("densenetc flags", "output directory missing", "densenetc --model densenet-bc-100 -o nowhere/out.json", []),
    ("densenetc flags", "--loss-scale on an f32 plan", "densenetc --model densenet-bc-100 --loss-scale 1024", []),
    ("densenetc flags", "more planner threads than any machine has", "densenetc --model densenet-bc-100 -j 5000", []),
    # Plans.
    ("plan", "plan file missing", "densenet-run missing.json", []),
    ("plan", "not JSON", "densenet-run text.json", []),
    ("plan", "edited by hand (checksum)", "densenet-run edited.json", HASH),
    ("plan", "another format version", "densenet-run version.json", []),
    ("plan", "a field removed, checksum updated", "densenet-run no-arena.json", []),
    ("plan", "a buffer outside the arena, checksum updated", "densenet-run outside.json", []),
    ("plan", "f16 plan without loss scaling, checksum updated", "densenet-run f16-no-scale.json --data fashion-mnist", []),
    ("plan", "GPU plan, --device cpu", "densenet-run gpu.json --data fashion-mnist --device cpu", []),
    ("plan", "CPU plan, --device cuda", "densenet-run plan.json --data fashion-mnist --device cuda", []),
    ("plan", "plan for other images than the dataset's", "densenet-run cifar.json --data fashion-mnist", []),
    # Data.
    ("data", "CIFAR-10 absent", "DENSENET_DATA=nowhere densenet-run cifar.json --data cifar10", []),
    ("data", "IDX file truncated", "densenet-run plan.json --data fashion-mnist --data-dir truncated", []),
    ("data", "IDX file with a wrong magic number", "densenet-run plan.json --data fashion-mnist --data-dir magic", []),
    ("data", "CIFAR-10 batch of the wrong size", "densenet-run cifar.json --data cifar10 --data-dir short-cifar", []),
    ("data", "unknown dataset", "densenet-run plan.json --data imagenet", []),
    # densenet-run flags.
    ("densenet-run flags", "--epochs and --steps", "densenet-run plan.json --epochs 1 --steps 2", []),
    ("densenet-run flags", "negative learning rate", "densenet-run plan.json --lr -1", []),
    ("densenet-run flags", "unknown device", "densenet-run plan.json --device gpu", []),
    ("densenet-run flags", "--resume without a directory", "densenet-run plan.json --resume", []),
    ("densenet-run flags", "--resume with no checkpoint", "densenet-run plan.json --data fashion-mnist --checkpoint-dir empty --resume", []),
    ("densenet-run flags", "resume with other settings", "densenet-run plan.json --data fashion-mnist --steps 4 --limit-train 32 --checkpoint-dir ck --resume", []),
    ("densenet-run flags", "weights of another model", "densenet-run plan.json --data fashion-mnist --steps 1 --load-weights other.safetensors", []),
    ("plan", "plan for 2 ranks run without mpirun", "densenet-run dp.json --data fashion-mnist", []),
    ("plan", "a bucket's gradient past its end, checksum updated", "densenet-run dp-outside.json --data fashion-mnist", []),
    ("plan", "an all-reduce over other ranks than the plan's, checksum updated", "densenet-run dp-ranks.json --data fashion-mnist", []),
    ("plan", "plan for 2 ranks run with 3", "mpirun --allow-run-as-root --oversubscribe -np 3 densenet-run dp.json --data fashion-mnist --threads 1", []),
    # The environment.
    # (Not `ulimit -v`: AddressSanitizer reserves terabytes of address space
    # at start, so the sanitizer build could not run that row.)
    ("environment", "arena larger than the machine's memory", "densenet-run big.json --data fashion-mnist --steps 1",
     [r"(?<=available memory of )[^;]*(?=; compile)"] + MEMORY),
    ("environment", "checkpoint directory is a file", "densenet-run plan.json --data fashion-mnist --steps 1 --no-eval --checkpoint-dir a-file", []),
    ("environment", "disk full while checkpointing (ulimit -f)", "ulimit -f 64; densenet-run plan.json --data fashion-mnist --steps 1 --no-eval --checkpoint-dir full", []),
    ("environment", "metrics file unwritable", "densenet-run plan.json --data fashion-mnist --steps 1 --metrics nowhere/m.jsonl", []),
    ("environment", "GPU plan without a GPU", "densenet-run gpu.json --data fashion-mnist",
     [r"(?<=no usable GPU: ).*(?=; to train)"]),
    # Training.
    ("training", "divergence (NaN loss)", "densenet-run plan.json --data fashion-mnist --steps 20 --lr 1e30 --no-eval --progress none", [r"(?<=step )[0-9]+", r"(?<=batch )[0-9]+"]),
]

SMALL = ('{"name": "small", "growth_rate": 6, "block_config": [2, 2], "num_init_features": 12,'
         ' "bn_size": 4, "stem": "cifar", "batch_size": 16}')
MODEL_FILES = {
    "syntax.json": '{\n  "growth_rate": 12\n  "block_config": [6]\n}\n',
    "typo.json": '{"growth": 12, "block_config": [6]}',
    "unrelated.json": '{"optimizer": "sgd", "block_config": [6]}',
    "duplicate.json": '{"growth_rate": 12, "growth_rate": 24, "block_config": [6]}',
    "type.json": '{"growth_rate": "32", "block_config": [6]}',
    "range.json": '{"growth_rate": 0, "block_config": [6]}',
    "empty-block.json": '{"block_config": [6, 12, 0]}',
    "small-input.json": '{"input": {"channels": 1, "height": 28, "width": 28}, "block_config": [6, 12, 24, 16]}',
    "huge.json": '{"batch_size": 1048576, "input": {"channels": 3, "height": 8192, "width": 8192}, "block_config": [1]}',
    "small.json": SMALL,
}


def run(command, directory, binaries):
    env = dict(os.environ, PATH=binaries + os.pathsep + os.environ["PATH"],
               OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run(["bash", "-c", command], cwd=directory, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)


def rewrite_plan(source, target, edit):
    """A plan changed by `edit` with its checksum recomputed, as a careless
    tool would write it: only the verifier can catch what is wrong."""
    plan = json.load(open(source), object_pairs_hook=dict)
    edit(plan)
    plan.pop("checksum", None)
    compact = json.dumps(plan, separators=(",", ":"), ensure_ascii=False)
    plan["checksum"] = f"fnv1a64:{fnv1a64(compact):016x}"
    json.dump(plan, open(target, "w"), indent=1)


def make_fixtures(directory, binaries):
    def make(command):
        result = run(command, directory, binaries)
        if result.returncode != 0:
            sys.exit(f"fixture command failed: {command}\n{result.stdout}")

    for name, text in MODEL_FILES.items():
        open(os.path.join(directory, name), "w").write(text)
    open(os.path.join(directory, "text.json"), "w").write("hello\n")
    make("densenetc --target cpu small.json --dataset fashion-mnist -o plan.json")
    make("densenetc --target h200 small.json --dataset fashion-mnist -o gpu.json")
    make("densenetc --target cpu small.json --dataset cifar10 -o cifar.json")
    make("densenetc --target cpu small.json --dataset fashion-mnist --world-size 2 -o dp.json")
    make("densenetc --target cpu small.json --dataset fashion-mnist --dtype f16 -o f16.json")
    make("densenetc --target cpu --model densenet-bc-100 --dataset fashion-mnist --batch-size 65536 -o big.json")
    make("densenet-run cifar.json --data synthetic --steps 1 --no-eval --progress none"
         " --save-weights other.safetensors")
    make("densenet-run plan.json --data fashion-mnist --steps 2 --limit-train 64 --no-eval"
         " --progress none --checkpoint-dir ck")
    plan_text = open(os.path.join(directory, "plan.json")).read()
    open(os.path.join(directory, "edited.json"), "w").write(
        re.sub(r'"arena_bytes": (\d+)', r'"arena_bytes": 1\1', plan_text, count=1))
    open(os.path.join(directory, "version.json"), "w").write(
        plan_text.replace('"version": 1,', '"version": 2,', 1))
    source = os.path.join(directory, "plan.json")
    rewrite_plan(source, os.path.join(directory, "no-arena.json"),
                 lambda plan: plan.pop("arena_bytes"))

    def outside(plan):
        roots = [b for b in plan["buffers"] if "offset" in b]
        roots[-1]["offset"] = plan["arena_bytes"]
    rewrite_plan(source, os.path.join(directory, "outside.json"), outside)
    def past_end(plan):
        view = next(b for b in plan["buffers"] if "byte_offset" in b)
        view["byte_offset"] = plan["buffers"][view["view_of"]]["bytes"]
    rewrite_plan(os.path.join(directory, "dp.json"), os.path.join(directory, "dp-outside.json"),
                 past_end)

    def other_ranks(plan):
        step = next(s for s in plan["steps"] if s["op"] == "tg.all_reduce")
        step["attributes"]["world_size"] = 4
    rewrite_plan(os.path.join(directory, "dp.json"), os.path.join(directory, "dp-ranks.json"),
                 other_ranks)
    rewrite_plan(os.path.join(directory, "f16.json"),
                 os.path.join(directory, "f16-no-scale.json"),
                 lambda plan: plan.update(loss_scale=None))
    os.makedirs(os.path.join(directory, "empty"))
    shutil.copytree(os.path.join(directory, "ck"), os.path.join(directory, "full"))
    open(os.path.join(directory, "a-file"), "w").write("not a directory\n")

    # Damaged copies of Fashion-MNIST.
    for name in ("truncated", "magic"):
        os.makedirs(os.path.join(directory, name))
        for file in os.listdir(FASHION):
            shutil.copy(os.path.join(FASHION, file), os.path.join(directory, name, file))
    labels = "train-labels-idx1-ubyte.gz"
    raw = gzip.open(os.path.join(FASHION, labels)).read()
    with gzip.open(os.path.join(directory, "truncated", labels), "wb") as out:
        out.write(raw[:len(raw) // 2])
    with gzip.open(os.path.join(directory, "magic", labels), "wb") as out:
        out.write(b"\x00\x00\x08\x03" + raw[4:])
    os.makedirs(os.path.join(directory, "short-cifar"))
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        open(os.path.join(directory, "short-cifar", name), "wb").write(
            b"\x00" * (3073 * (10000 if name != "data_batch_3.bin" else 9999)))


def message_of(output):
    lines = [line for line in output.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "Error" in line:
            return line.strip()
    return lines[0].strip() if lines else "(no output)"


# Temporary file names hold the process id.
ALWAYS = [r"(?<=\.tmp\.)[0-9]+"]


def masked(text, masks):
    for mask in masks + ALWAYS:
        text = re.sub(mask, "…", text)
    return text


def cell(text):
    return text.replace("|", "\\|")


def results(binaries):
    directory = tempfile.mkdtemp(prefix="errors-table-")
    try:
        make_fixtures(directory, binaries)
        rows = []
        for number, (area, what, command, masks) in enumerate(CASES, 1):
            result = run(command, directory, binaries)
            message = masked(message_of(result.stdout).replace(directory + "/", ""), masks)
            rows.append((number, area, what, command, result.returncode, message))
        return rows
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def table(rows):
    lines = ["| # | area | bad input | command | exit | message |", "|---|---|---|---|---|---|"]
    for number, area, what, command, code, message in rows:
        lines.append(f"| {number} | {area} | {what} | `{cell(command)}` | {code} | {cell(message)} |")
    return "\n".join(lines)


def parse(document):
    inside = document.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = {}
    for line in inside.splitlines():
        found = re.match(r"\| (\d+) \| .*? \| `(.*)` \| (-?\d+) \| (.*) \|$", line)
        if found:
            rows[int(found[1])] = (found[2].replace("\\|", "|"), int(found[3]),
                                   found[4].replace("\\|", "|"))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="directory of densenetc and densenet-run")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", metavar="DOC")
    mode.add_argument("--write", metavar="DOC")
    args = parser.parse_args()
    binaries = os.path.abspath(args.bin)
    rows = results(binaries)
    for number, area, what, command, code, message in rows:
        if code in (0, 124, 137) or code < 0:
            sys.exit(f"row {number} ({what}): exit code {code}: not refused cleanly\n{message}")
    if args.write:
        document = open(args.write).read()
        head, rest = document.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        open(args.write, "w").write(f"{head}{BEGIN}\n{table(rows)}\n{END}{tail}")
        print(f"wrote {len(rows)} rows to {args.write}")
        return
    documented = parse(open(args.check).read())
    failures = 0
    for number, area, what, command, code, message in rows:
        expected = documented.get(number)
        if expected != (command, code, message):
            failures += 1
            print(f"row {number} ({what}) differs from {args.check}:")
            print(f"  documented: {expected}")
            print(f"  now:        {(command, code, message)}")
    if len(documented) != len(rows):
        failures += 1
        print(f"{args.check} has {len(documented)} rows, the cases are {len(rows)}")
    print(f"{len(rows) - failures} of {len(rows)} rows of {os.path.basename(args.check)} hold")
    if failures:
        print("fix the tool, or regenerate the table with --write if the new message is better")
        sys.exit(1)


if __name__ == "__main__":
    main()
