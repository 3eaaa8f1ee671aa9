#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets (corpus/<target>/).

Small valid inputs for the fuzzer to mutate, and a few invalid ones that stop
at different checks. The plan seeds are compiled by densenetc from tiny
models so that every run of the plan target is fast:

    python3 test/fuzz/make_seeds.py build/bin/densenetc

Rerun it only when a format changes; the files are committed.
"""

import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(directory, name), "wb") as file:
        file.write(data)


def model_spec_seeds():
    with open(os.path.join(ROOT, "test/lit/runtime/Inputs/small.json")) as f:
        write("model-spec", "small.json", f.read())
    write("model-spec", "empty.json", "{}")
    write("model-spec", "every-field.json", json.dumps({
        "name": "every-field",
        "input": {"channels": 3, "height": 32, "width": 32},
        "num_classes": 10, "growth_rate": 12, "block_config": [16, 16, 16],
        "num_init_features": 24, "bn_size": 4, "compression": 0.5,
        "drop_rate": 0.2, "stem": "cifar", "batch_size": 64, "dtype": "bf16"}))
    write("model-spec", "imagenet.json",
          '{"input": {"channels": 3, "height": 224, "width": 224}, '
          '"block_config": [6, 12, 24, 16], "dtype": "f16"}')
    # The rejections of test/lit/densenetc/spec-errors.test.
    write("model-spec", "syntax.json", '{\n  "growth_rate": 32\n  "bn_size": 4\n}')
    write("model-spec", "typo.json", '{"growth": 32}')
    write("model-spec", "type.json", '{"growth_rate": "32"}')
    write("model-spec", "float.json", '{"block_config": [6, 12.5]}')
    write("model-spec", "duplicate.json",
          '{"growth_rate": 32, "bn_size": 4, "growth_rate": 12}')
    write("model-spec", "too-small.json",
          '{"input": {"channels": 1, "height": 28, "width": 28}}')
    write("model-spec", "huge.json",
          '{"input": {"channels": 3, "height": 16384, "width": 16384}, '
          '"batch_size": 1048576}')
    write("model-spec", "overflow.json", '{"compression": 1e400}')


def plan_seeds(densenetc):
    tiny = {"name": "tiny", "input": {"channels": 1, "height": 8, "width": 8},
            "num_classes": 2, "growth_rate": 2, "block_config": [1, 1],
            "num_init_features": 4, "bn_size": 2, "stem": "cifar",
            "batch_size": 2}
    variants = {
        # Everything kept.
        "tiny-keep.json": (tiny, ["--policy", "keep"]),
        # Everything recomputed, with dropout: recompute steps, dropout ops.
        "tiny-all-dropout.json": (dict(tiny, drop_rate=0.2), ["--policy", "all"]),
        # Data parallel: all-reduce steps over buckets of contiguous views.
        "tiny-data-parallel.json": (tiny, ["--world-size", "2", "--bucket-size", "256"]),
        # The imagenet stem (max pool) at bf16.
        "tiny-imagenet-bf16.json": (
            dict(tiny, stem="imagenet", dtype="bf16",
                 input={"channels": 3, "height": 32, "width": 32},
                 block_config=[1]), []),
    }
    with tempfile.TemporaryDirectory() as work:
        for name, (model, flags) in variants.items():
            model_path = os.path.join(work, "model.json")
            plan_path = os.path.join(work, "plan.json")
            with open(model_path, "w") as file:
                json.dump(model, file)
            subprocess.run([densenetc, "--target", "cpu", model_path,
                            "-o", plan_path] + flags, check=True)
            with open(plan_path) as file:
                plan = json.load(file)
            # Compact: the checksum is over the parsed contents, not the text.
            write("plan", name, json.dumps(plan, separators=(",", ":")))
    write("plan", "empty-object.json", "{}")
    write("plan", "wrong-format.json",
          '{"format": "densenet-model", "version": 1}')
    write("plan", "old-version.json",
          '{"format": "densenet-plan", "version": 0, "checksum": ""}')


def idx(magic, dims, values):
    return struct.pack(">I", magic) + b"".join(
        struct.pack(">I", d) for d in dims) + bytes(values)


def idx_seeds():
    image = [(row * 28 + column) % 256 for row in range(28) for column in range(28)]
    images = idx(0x803, [1, 28, 28], image)
    labels = idx(0x801, [3], [0, 9, 4])
    # mtime=0: the same bytes on every run.
    write("idx", "images-1.gz", gzip.compress(images, mtime=0))
    write("idx", "images-1-plain", images)
    write("idx", "labels-3.gz", gzip.compress(labels, mtime=0))
    write("idx", "labels-3-plain", labels)
    write("idx", "labels-bad-class", idx(0x801, [2], [3, 10]))
    write("idx", "images-7x7", idx(0x803, [1, 7, 7], [0] * 49))
    write("idx", "images-truncated.gz", gzip.compress(images, mtime=0)[:200])
    write("idx", "labels-trailing", labels + b"\x00")


def cifar10_seeds():
    def record(label, seed):
        return bytes([label]) + bytes((seed + i) % 256 for i in range(3072))
    write("cifar10", "one-record.bin", record(3, 0))
    write("cifar10", "two-records.bin", record(0, 1) + record(9, 2))
    write("cifar10", "bad-label.bin", record(1, 0) + record(10, 0))
    write("cifar10", "partial-record.bin", record(2, 0)[:1000])


def safetensors(header, data=b"", pad=True):
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    weights = struct.pack("<6f", *[0.5 * i for i in range(6)])
    step = struct.pack("<q", 7)
    write("safetensors", "two-tensors.safetensors", safetensors({
        "__metadata__": {"epoch": "3", "format": "pt"},
        "features.conv0.weight": {"dtype": "F32", "shape": [2, 3],
                                  "data_offsets": [0, 24]},
        "step": {"dtype": "I64", "shape": [], "data_offsets": [24, 32]},
    }, weights + step))
    write("safetensors", "every-dtype.safetensors", safetensors({
        "a": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]},
        "b": {"dtype": "F16", "shape": [1], "data_offsets": [3, 5]},
        "c": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [5, 7]},
        "d": {"dtype": "I32", "shape": [1], "data_offsets": [7, 11]},
        "e": {"dtype": "F64", "shape": [1], "data_offsets": [11, 19]},
        "empty": {"dtype": "F32", "shape": [0, 4], "data_offsets": [19, 19]},
    }, bytes(range(19))))
    write("safetensors", "empty.safetensors", safetensors({}))
    write("safetensors", "overlap.safetensors", safetensors({
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
    }, bytes(8)))
    write("safetensors", "header-too-long.safetensors",
          struct.pack("<Q", 1 << 40) + b"{}")


def main():
    densenetc = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "build", "bin", "densenetc")
    model_spec_seeds()
    plan_seeds(densenetc)
    idx_seeds()
    cifar10_seeds()
    safetensors_seeds()


if __name__ == "__main__":
    main()
