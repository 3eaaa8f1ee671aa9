#!/usr/bin/env python3
"""Break a valid data-parallel plan's all-reduce buckets, for checker-buckets.test.

    break_bucket_plan.py KIND in.json out.json

Writes a copy of the plan with one defect of the given KIND in its contiguous
views (the gradients of a bucket, `view_of` + `byte_offset`) or all-reduce
steps, and prints what it changed. Standard library only; it shares no code
with scripts/check_plan.py, so reverting the checker leaves these plans as
they are.
"""

import json
import sys


def buckets(p):
    """Bucket roots in the order their all-reduces run."""
    B = p["buffers"]
    return [B[B[s["updates"][0]]["view_of"]] for s in p["steps"] if s["op"] == "tg.all_reduce"]


def grads(p, bucket):
    """The contiguous views of a bucket, by byte offset."""
    vs = [b for b in p["buffers"] if "byte_offset" in b and b["view_of"] == bucket["id"]]
    return sorted(vs, key=lambda b: b["byte_offset"])


def first_with(p, n):
    """The first bucket with at least n gradients."""
    return next(b for b in buckets(p) if len(grads(p, b)) >= n)


def steps_touching(p, ids):
    ids = set(ids)
    return [si for si, s in enumerate(p["steps"])
            if ids & set(s["reads"] + s["writes"] + s["updates"])]


def outside(p):
    """The last gradient of a bucket one alignment past its end."""
    b = first_with(p, 1)
    g = grads(p, b)[-1]
    g["byte_offset"] += p["target"]["alignment"]
    return "moved buffer %d (the last gradient of %s) to byte_offset %d" % (g["id"], b["name"], g["byte_offset"])


def misalign(p):
    """A gradient 64 bytes off its aligned offset (aligned for the cpu target, not for h200's 256)."""
    b = first_with(p, 2)
    g = grads(p, b)[1]
    g["byte_offset"] += 64
    return "added 64 to the byte_offset of buffer %d" % g["id"]


def negative(p):
    g = grads(p, first_with(p, 1))[0]
    g["byte_offset"] = -p["target"]["alignment"]
    return "byte_offset of buffer %d = %d" % (g["id"], g["byte_offset"])


def overlap(p):
    """Two gradients of one bucket at the same bytes while both are live."""
    b = first_with(p, 2)
    g0, g1 = grads(p, b)[:2]
    g1["byte_offset"] = g0["byte_offset"]
    return "moved buffer %d onto buffer %d in %s" % (g1["id"], g0["id"], b["name"])


def both_kinds(p):
    """A view with both byte_offset and channel_offset/channels."""
    g = grads(p, first_with(p, 1))[0]
    g["channel_offset"], g["channels"] = 0, 1
    return "gave buffer %d channel_offset and channels too" % g["id"]


def string_offset(p):
    g = grads(p, first_with(p, 1))[0]
    g["byte_offset"] = str(g["byte_offset"])
    return "byte_offset of buffer %d is a string" % g["id"]


def dtype(p):
    """A gradient whose dtype differs from its bucket's (same element size, same bytes)."""
    g = grads(p, first_with(p, 1))[0]
    g["dtype"] = "i32"
    return "dtype of buffer %d = i32" % g["id"]


def unwritten(p):
    """A gradient in a bucket that no step writes."""
    g = grads(p, first_with(p, 2))[1]
    for s in p["steps"]:
        if g["id"] in s["writes"]:
            s["writes"].remove(g["id"])
    return "removed buffer %d from the writes of its step" % g["id"]


def persistent(p):
    """A gradient that is a view of its parameter instead of its bucket: its writer writes the parameter."""
    B = p["buffers"]
    for s in p["steps"]:
        if s["op"] != "tg.sgd_update":
            continue
        w = s["updates"][0]
        g = next(r for r in s["reads"] if r != p["inputs"]["learning_rate"])
        if "byte_offset" in B[g]:
            B[g]["view_of"], B[g]["byte_offset"] = w, 0
            return "buffer %d (gradient of '%s') is a view of buffer %d" % (g, B[w]["name"], w)
    raise SystemExit("no bucket gradient")


def bucket_overlap(p):
    """A bucket moved onto a root that is live at the same time. The bucket is used only through its
    views, so its live range comes from theirs."""
    B = p["buffers"]
    b = first_with(p, 2)
    live = steps_touching(p, [g["id"] for g in grads(p, b)])
    lo, hi = live[0], live[-1]
    for r in B:
        if "offset" not in r or r["persistent"] or r is b or r["category"] == "input" or r["bytes"] < b["bytes"]:
            continue
        mine = steps_touching(p, [r["id"]] + [v["id"] for v in B if v.get("view_of") == r["id"]])
        if mine and lo < mine[0] and mine[-1] < hi:
            b["offset"] = r["offset"]
            return "moved %s (live steps %d-%d) onto buffer %d (steps %d-%d)" % (
                b["name"], lo, hi, r["id"], mine[0], mine[-1])
    raise SystemExit("no root live inside the bucket's range")


def missing_update(p):
    """An all-reduce that leaves out one gradient of its bucket."""
    s = next(s for s in p["steps"] if s["op"] == "tg.all_reduce" and len(s["updates"]) >= 2)
    g = s["updates"].pop()
    return "removed buffer %d from the updates of all-reduce %s" % (g, s["layer"])


def late(p):
    """The first all-reduce moved to the end: its gradients are read by updates before it."""
    S = p["steps"]
    i = next(i for i, s in enumerate(S) if s["op"] == "tg.all_reduce")
    S.append(S.pop(i))
    return "moved step %d (all-reduce %s) to the end" % (i, S[-1]["layer"])


def world(p):
    s = next(s for s in p["steps"] if s["op"] == "tg.all_reduce")
    s["attributes"]["world_size"] = p["data_parallel"]["world_size"] + 1
    return "world_size of all-reduce %s = %d" % (s["layer"], s["attributes"]["world_size"])


def small_bucket(p):
    """bucket_bytes raised above every bucket: all but the last are too small for it."""
    p["data_parallel"]["bucket_bytes"] = 1 << 40
    return "data_parallel.bucket_bytes = 2^40"


KINDS = {f.__name__.replace("_", "-"): f for f in (
    outside, misalign, negative, overlap, both_kinds, string_offset, dtype, unwritten, persistent,
    bucket_overlap, missing_update, late, world, small_bucket)}


def main(argv):
    if len(argv) != 4 or argv[1] not in KINDS:
        sys.stderr.write("usage: break_bucket_plan.py {%s} in.json out.json\n" % ",".join(KINDS))
        return 2
    with open(argv[2]) as f:
        p = json.load(f)
    what = KINDS[argv[1]](p)
    with open(argv[3], "w") as f:
        json.dump(p, f)
    print("broken: %s" % what)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
