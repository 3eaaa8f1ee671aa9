#!/usr/bin/env python3
"""Independent checker of densenetc plan files (docs/plan-format.md).

    check_plan.py plan.json [more.json ...]

Prints one summary line per valid plan, or every violation found (with buffer
and step ids and names), and exits 1 if any plan is invalid (2 on bad usage).

This script deliberately shares no code with the compiler: it re-derives
everything from the plan file and the rules written in docs/plan-format.md
and docs/training-semantics.md, using only the standard library.

Each rule is one small function `check_*(ctx)` that appends violations to
`ctx.errors`; all rules run, so one invocation lists every violation.

Helper mode for tests of the checker itself (test/lit/plans/checker-rejects.test):

    check_plan.py --corrupt KIND in.json out.json

writes a copy of a (valid) plan with one defect of the given KIND (see
CORRUPTIONS below) and prints what it changed.
"""

import json
import sys

FORMAT = "densenet-plan"
VERSION = 1
DTYPE_SIZE = {"f32": 4, "bf16": 2, "f16": 2, "i32": 4, "i64": 8, "u8": 1}
ACTIVATION_DTYPES = ("f32", "bf16", "f16")
CATEGORIES = ("weights", "weight_gradients", "optimizer_state", "bn_statistics",
              "input", "activations", "activation_gradients", "workspace")
PERSISTENT_CATEGORIES = ("weights", "optimizer_state", "bn_statistics")
PHASES = ("forward", "recompute", "backward", "update")
POLICIES = ("optimal", "keep", "none", "all", "sqrt")
OPTIONS = ("keep", "recompute-norm-relu", "recompute-layer", "recompute")
TARGET_KINDS = ("cpu", "cuda")
FORWARD_OPS = {"tg.conv2d", "tg.batch_norm", "tg.relu", "tg.concat", "tg.max_pool",
               "tg.avg_pool", "tg.global_avg_pool", "tg.linear", "tg.dropout",
               "tg.softmax_cross_entropy"}
BACKWARD_OPS = {"tg.conv2d_grad_input", "tg.conv2d_grad_filter", "tg.batch_norm_grad",
                "tg.relu_grad", "tg.max_pool_grad", "tg.avg_pool_grad",
                "tg.global_avg_pool_grad", "tg.linear_grad", "tg.dropout_grad",
                "tg.softmax_cross_entropy_grad", "tg.slice", "tg.accumulate", "tg.all_reduce"}
UPDATE_OPS = {"tg.sgd_update", "tg.running_stats_update"}
# Segment names whose layers are not prefixed by the segment name.
SEGMENT_LAYERS = {
    "stem": ("features.conv0", "features.norm0", "features.relu0", "features.pool0"),
    "classifier": ("features.norm5", "features.relu5", "features.avgpool", "classifier", "loss"),
}
FRAG_TOL = 1e-9


def is_int(v):
    return type(v) is int


def is_num(v):
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


def prod(xs):
    r = 1
    for x in xs:
        r *= x
    return r


class Ctx:
    """The plan plus indexes derived from it, and the violations found."""

    def __init__(self, plan):
        self.plan = plan
        self.errors = []
        self.fatal = False
        self.summary = {}

    def err(self, msg):
        self.errors.append(msg)

    def buf(self, i):
        b = self.buffers[i] if 0 <= i < len(self.buffers) else None
        if b is None:
            return "buffer %s" % i
        return "buffer %d '%s'" % (i, b.get("name"))

    def step(self, i):
        s = self.steps[i]
        return "step %d (%s %s)" % (i, s.get("op"), s.get("layer"))


# --------------------------------------------------------------------------
# Structure: format, fields and types. Failures here make later checks moot.

TOP_FIELDS = {
    "format": str, "version": int, "target": dict, "model": dict, "batch_size": int,
    "dtype": str, "policy": str, "optimizer": dict, "arena_bytes": int,
    "reserve_bytes": int, "predicted_peak_bytes": int, "min_budget_bytes": int,
    "fragmentation": "num", "peak_step": int, "peak_breakdown": dict,
    "recomputed_layers": list, "decisions": list, "cost": dict, "inputs": dict,
    "outputs": dict, "buffers": list, "steps": list,
}
BUFFER_FIELDS = {"id": int, "name": str, "bytes": int, "dtype": str, "shape": list,
                 "category": str, "persistent": bool}
STEP_FIELDS = {"op": str, "layer": str, "phase": str, "reads": list, "writes": list,
               "updates": list, "flops": int, "workspace_bytes": int, "attributes": dict}


def type_ok(v, t):
    if t == "num":
        return is_num(v)
    return type(v) is t  # bool is not int here, and JSON gives exact types


def check_format_version(ctx):
    p = ctx.plan
    if not isinstance(p, dict):
        ctx.err("plan is not a JSON object")
        ctx.fatal = True
        return
    if p.get("format") != FORMAT:
        ctx.err("format is %r, expected %r" % (p.get("format"), FORMAT))
    if p.get("version") != VERSION or not is_int(p.get("version")):
        ctx.err("version is %r, expected %d" % (p.get("version"), VERSION))


def check_top_fields(ctx):
    p = ctx.plan
    for k, t in TOP_FIELDS.items():
        if k not in p:
            ctx.err("missing top-level field '%s'" % k)
            ctx.fatal = True
        elif not type_ok(p[k], t):
            ctx.err("top-level field '%s' has type %s" % (k, type(p[k]).__name__))
            ctx.fatal = True
    if "budget_bytes" not in p:
        ctx.err("missing top-level field 'budget_bytes'")
    elif p["budget_bytes"] is not None and not is_int(p["budget_bytes"]):
        ctx.err("budget_bytes is neither null nor an integer: %r" % (p["budget_bytes"],))
        ctx.fatal = True
    for k in ("arena_bytes", "reserve_bytes", "predicted_peak_bytes", "min_budget_bytes"):
        if is_int(p.get(k)) and p[k] < 0:
            ctx.err("%s is negative: %d" % (k, p[k]))


def check_buffer_fields(ctx):
    for i, b in enumerate(ctx.plan["buffers"]):
        if not isinstance(b, dict):
            ctx.err("buffer #%d is not an object" % i)
            ctx.fatal = True
            continue
        for k, t in BUFFER_FIELDS.items():
            if k not in b:
                ctx.err("buffer #%d '%s': missing field '%s'" % (i, b.get("name"), k))
                ctx.fatal = True
            elif not type_ok(b[k], t):
                ctx.err("buffer #%d '%s': field '%s' has type %s"
                        % (i, b.get("name"), k, type(b[k]).__name__))
                ctx.fatal = True
        if isinstance(b.get("shape"), list) and not all(is_int(d) and d >= 0 for d in b["shape"]):
            ctx.err("buffer #%d '%s': shape %r is not a list of non-negative integers"
                    % (i, b.get("name"), b["shape"]))
            ctx.fatal = True
        has_off = "offset" in b
        has_view = "view_of" in b
        if has_off == has_view:
            ctx.err("buffer #%d '%s': must have exactly one of 'offset' (root) and 'view_of' (view)"
                    % (i, b.get("name")))
            ctx.fatal = True
        if has_off and not is_int(b["offset"]):
            ctx.err("buffer #%d '%s': offset is not an integer" % (i, b.get("name")))
            ctx.fatal = True
        channel_fields = [k for k in ("channel_offset", "channels") if k in b]
        if has_off and not has_view and (channel_fields or "byte_offset" in b):
            ctx.err("buffer #%d '%s': a root (with 'offset') has view field(s) %s"
                    % (i, b.get("name"), ", ".join(channel_fields + ["byte_offset"] * ("byte_offset" in b))))
        if not has_view:
            continue
        # a view is either a channel view (channel_offset, channels) or a contiguous view (byte_offset)
        if "byte_offset" in b and channel_fields:
            ctx.err("buffer #%d '%s': has both 'byte_offset' (a contiguous view) and %s (a channel view); "
                    "a view has exactly one of the two" % (i, b.get("name"), " and ".join(
                        "'%s'" % k for k in channel_fields)))
            ctx.fatal = True
            continue
        kind = ("view_of", "byte_offset") if "byte_offset" in b else ("view_of", "channel_offset", "channels")
        for k in kind:
            if not is_int(b.get(k)):
                ctx.err("buffer #%d '%s': view field '%s' missing or not an integer"
                        % (i, b.get("name"), k))
                ctx.fatal = True


def check_step_fields(ctx):
    for i, s in enumerate(ctx.plan["steps"]):
        if not isinstance(s, dict):
            ctx.err("step %d is not an object" % i)
            ctx.fatal = True
            continue
        for k, t in STEP_FIELDS.items():
            if k not in s:
                ctx.err("step %d: missing field '%s'" % (i, k))
                ctx.fatal = True
            elif not type_ok(s[k], t):
                ctx.err("step %d: field '%s' has type %s" % (i, k, type(s[k]).__name__))
                ctx.fatal = True
        for k in ("reads", "writes", "updates"):
            if isinstance(s.get(k), list) and not all(is_int(x) for x in s[k]):
                ctx.err("step %d: '%s' holds a non-integer id" % (i, k))
                ctx.fatal = True


STRUCTURE_CHECKS = [check_format_version, check_top_fields, check_buffer_fields, check_step_fields]


# --------------------------------------------------------------------------
# Index building (after structure is known to be sound).

def build_index(ctx):
    p = ctx.plan
    ctx.buffers = p["buffers"]
    ctx.steps = p["steps"]
    n = len(ctx.buffers)
    ctx.nsteps = len(ctx.steps)
    # views of each root, and the id of each buffer's root
    ctx.views = {}
    ctx.root_of = {}
    for i, b in enumerate(ctx.buffers):
        if "view_of" in b:
            r = b["view_of"]
            ctx.root_of[i] = r
            ctx.views.setdefault(r, []).append(i)
        else:
            ctx.root_of[i] = i
    # writers, readers, updaters of every buffer (valid ids only)
    ctx.writers = {}
    ctx.readers = {}
    ctx.updaters = {}
    for si, s in enumerate(ctx.steps):
        for k, m in (("writes", ctx.writers), ("reads", ctx.readers), ("updates", ctx.updaters)):
            for bid in s[k]:
                if is_int(bid) and 0 <= bid < n:
                    m.setdefault(bid, []).append(si)
    ctx.input_ids = set(v for v in p["inputs"].values() if is_int(v))
    ctx.output_ids = set(v for v in p["outputs"].values() if is_int(v))
    # roots with contiguous views (all-reduce buckets): tracked by byte, every other root by channel
    ctx.byte_roots = set(b["view_of"] for i, b in enumerate(ctx.buffers)
                         if "byte_offset" in b and "view_of" in b and valid_view(ctx, i))
    a = p["target"].get("alignment")
    ctx.alignment = a if is_int(a) and a > 0 else 1


def is_view(ctx, i):
    return "view_of" in ctx.buffers[i]


def valid_view(ctx, i):
    """A view whose root id is valid and is a root."""
    r = ctx.buffers[i]["view_of"]
    return 0 <= r < len(ctx.buffers) and "view_of" not in ctx.buffers[r]


def is_contiguous_view(ctx, i):
    """A view with byte_offset: bytes [byte_offset, byte_offset + bytes) of its root."""
    b = ctx.buffers[i]
    return "view_of" in b and "byte_offset" in b


# A channel view of a root that also has contiguous views occupies one byte range per image; past
# this many images it is taken as the hull of those ranges.
MAX_IMAGE_RANGES = 1 << 16


def extent(ctx, i):
    """(root id, unit, ranges): the part of its root that buffer i occupies, as sorted disjoint
    [lo, hi) ranges in the root's unit. A root with contiguous views (ctx.byte_roots) is tracked by
    byte ('bytes'), every other root by channel ('channels'); an invalid view is its own root."""
    b = ctx.buffers[i]
    if "view_of" in b and not valid_view(ctx, i):
        sh = b["shape"]
        return i, "channels", [(0, sh[1] if len(sh) >= 2 else 1)]
    r = b["view_of"] if "view_of" in b else i
    rb = ctx.buffers[r]
    sh = rb["shape"]
    if r not in ctx.byte_roots:
        if r == i:
            return r, "channels", [(0, sh[1] if len(sh) >= 2 else 1)]
        return r, "channels", [(b["channel_offset"], b["channel_offset"] + b["channels"])]
    if r == i:
        return r, "bytes", [(0, rb["bytes"])]
    if "byte_offset" in b:
        return r, "bytes", [(b["byte_offset"], b["byte_offset"] + b["bytes"])]
    # a channel view of a root that also has contiguous views: in nchw, channel c of image n is
    # plane n * C + c of the root
    if len(sh) < 2:
        return r, "bytes", [(0, rb["bytes"])]
    plane = prod(sh[2:]) * DTYPE_SIZE.get(rb["dtype"], 1)
    n, cs, co, c = sh[0], sh[1], b["channel_offset"], b["channels"]
    if c == cs or n <= 1:
        return r, "bytes", [(co * plane, ((n - 1) * cs + co + c) * plane)] if n > 0 else []
    if n > MAX_IMAGE_RANGES:
        return r, "bytes", [(co * plane, ((n - 1) * cs + co + c) * plane)]
    return r, "bytes", [((k * cs + co) * plane, (k * cs + co + c) * plane) for k in range(n)]


def is_filled_before_step(ctx, i):
    b = ctx.buffers[i]
    return b["persistent"] or b["category"] == "input" or i in ctx.input_ids


# --------------------------------------------------------------------------
# Top-level fields.

def check_target(ctx):
    t = ctx.plan["target"]
    for k, ty in (("name", str), ("kind", str), ("device_bytes", int), ("alignment", int),
                  ("layout", str)):
        if k not in t or not type_ok(t[k], ty):
            ctx.err("target.%s missing or not a %s" % (k, ty.__name__))
    if t.get("kind") not in TARGET_KINDS:
        ctx.err("target.kind is %r, expected cpu or cuda" % (t.get("kind"),))
    if t.get("layout") != "nchw":
        ctx.err("target.layout is %r, expected 'nchw'" % (t.get("layout"),))
    a = t.get("alignment")
    if not is_int(a) or a <= 0:
        ctx.err("target.alignment %r is not a positive integer" % (a,))
    if is_int(t.get("device_bytes")) and t["device_bytes"] < 0:
        ctx.err("target.device_bytes is negative")


def check_model_batch_dtype(ctx):
    p = ctx.plan
    m = p["model"]
    if m.get("batch_size") != p["batch_size"]:
        ctx.err("batch_size %r differs from model.batch_size %r" % (p["batch_size"], m.get("batch_size")))
    if m.get("dtype") != p["dtype"]:
        ctx.err("dtype %r differs from model.dtype %r" % (p["dtype"], m.get("dtype")))
    if p["dtype"] not in ACTIVATION_DTYPES:
        ctx.err("dtype %r is not one of %s" % (p["dtype"], ", ".join(ACTIVATION_DTYPES)))
    if p["batch_size"] <= 0:
        ctx.err("batch_size %d is not positive" % p["batch_size"])
    if not is_int(m.get("parameters")):
        ctx.err("model.parameters missing or not an integer")
    else:
        n = sum(prod(b["shape"]) for b in ctx.buffers if b["category"] == "weights")
        if n != m["parameters"]:
            ctx.err("model.parameters is %d but the weights buffers hold %d scalars" % (m["parameters"], n))


def check_policy(ctx):
    if ctx.plan["policy"] not in POLICIES:
        ctx.err("policy %r is not one of %s" % (ctx.plan["policy"], ", ".join(POLICIES)))


def check_optimizer(ctx):
    o = ctx.plan["optimizer"]
    for k, ok in (("momentum", is_num), ("weight_decay", is_num),
                  ("nesterov", lambda v: isinstance(v, bool)),
                  ("decay_norm_and_bias", lambda v: isinstance(v, bool))):
        if k not in o or not ok(o[k]):
            ctx.err("optimizer.%s missing or of the wrong type" % k)


def check_inputs_outputs(ctx):
    p = ctx.plan
    nb = len(ctx.buffers)
    want_in = {"input": None, "labels": ("i32", [p["batch_size"]]), "learning_rate": ("f32", [])}
    want_out = {"loss": ("f32", []), "correct": ("i64", [])}
    for group, want in (("inputs", want_in), ("outputs", want_out)):
        d = p[group]
        if set(d) != set(want):
            ctx.err("%s has keys %s, expected %s" % (group, sorted(d), sorted(want)))
        for k, spec in want.items():
            i = d.get(k)
            if not is_int(i) or not 0 <= i < nb:
                ctx.err("%s.%s is not a valid buffer id: %r" % (group, k, i))
                continue
            b = ctx.buffers[i]
            if group == "inputs" and b["category"] != "input":
                ctx.err("%s.%s is %s of category %s, expected input" % (group, k, ctx.buf(i), b["category"]))
            if is_view(ctx, i):
                ctx.err("%s.%s is %s, a view" % (group, k, ctx.buf(i)))
            if spec is not None and (b["dtype"], b["shape"]) != spec:
                ctx.err("%s.%s is %s with dtype %s shape %s, expected %s %s"
                        % (group, k, ctx.buf(i), b["dtype"], b["shape"], spec[0], spec[1]))
    i = p["inputs"].get("input")
    if is_int(i) and 0 <= i < nb:
        b = ctx.buffers[i]
        inp = p["model"].get("input", {})
        want = [p["batch_size"], inp.get("channels"), inp.get("height"), inp.get("width")]
        if b["shape"] != want or b["dtype"] != p["dtype"]:
            ctx.err("inputs.input is %s with dtype %s shape %s, expected %s %s"
                    % (ctx.buf(i), b["dtype"], b["shape"], p["dtype"], want))
    for i, b in enumerate(ctx.buffers):
        if b["category"] == "input" and i not in ctx.input_ids:
            ctx.err("%s has category input but is not listed in inputs" % ctx.buf(i))


# --------------------------------------------------------------------------
# Buffers.

def check_buffer_ids(ctx):
    for i, b in enumerate(ctx.buffers):
        if b["id"] != i:
            ctx.err("buffer #%d '%s' has id %d: ids must be 0, 1, 2, ... in order" % (i, b["name"], b["id"]))


def check_buffer_enums(ctx):
    for i, b in enumerate(ctx.buffers):
        if b["dtype"] not in DTYPE_SIZE:
            ctx.err("%s: unknown dtype %r" % (ctx.buf(i), b["dtype"]))
        if b["category"] not in CATEGORIES:
            ctx.err("%s: unknown category %r" % (ctx.buf(i), b["category"]))


def check_buffer_bytes(ctx):
    for i, b in enumerate(ctx.buffers):
        size = DTYPE_SIZE.get(b["dtype"])
        if size is None:
            continue
        want = prod(b["shape"]) * size
        if b["bytes"] != want:
            ctx.err("%s: bytes %d != prod(shape %s) * %d = %d"
                    % (ctx.buf(i), b["bytes"], b["shape"], size, want))


def check_persistent(ctx):
    names = {}
    for i, b in enumerate(ctx.buffers):
        pers_cat = b["category"] in PERSISTENT_CATEGORIES
        if b["persistent"] != pers_cat:
            ctx.err("%s: persistent=%s but category is %s (persistent state is exactly %s)"
                    % (ctx.buf(i), b["persistent"], b["category"], "/".join(PERSISTENT_CATEGORIES)))
        if b["persistent"]:
            if b["dtype"] != "f32":
                ctx.err("%s: persistent buffer of dtype %s, expected f32" % (ctx.buf(i), b["dtype"]))
            if is_view(ctx, i):
                ctx.err("%s: persistent buffer is a view" % ctx.buf(i))
            if b["name"] in names:
                ctx.err("%s: persistent name also used by %s" % (ctx.buf(i), ctx.buf(names[b["name"]])))
            names[b["name"]] = i
    for i, b in enumerate(ctx.buffers):
        if b["category"] == "optimizer_state":
            base = b["name"][:-len(".momentum_buffer")]
            if not b["name"].endswith(".momentum_buffer") or base not in names \
                    or ctx.buffers[names[base]]["category"] != "weights":
                ctx.err("%s: optimizer state is not named <parameter>.momentum_buffer of a weights buffer"
                        % ctx.buf(i))
            elif ctx.buffers[names[base]]["shape"] != b["shape"]:
                ctx.err("%s: shape %s differs from its parameter's %s"
                        % (ctx.buf(i), b["shape"], ctx.buffers[names[base]]["shape"]))
        if b["category"] == "bn_statistics" and not (
                b["name"].endswith(".running_mean") or b["name"].endswith(".running_var")):
            ctx.err("%s: running statistic not named <norm>.running_mean/.running_var" % ctx.buf(i))


def check_views(ctx):
    nb = len(ctx.buffers)
    for i, b in enumerate(ctx.buffers):
        if "view_of" not in b:
            continue
        r = b["view_of"]
        if not 0 <= r < nb:
            ctx.err("%s: view_of %d is not a buffer id" % (ctx.buf(i), r))
            continue
        rb = ctx.buffers[r]
        if "view_of" in rb:
            ctx.err("%s: view_of %s, which is itself a view (views must point at roots)" % (ctx.buf(i), ctx.buf(r)))
            continue
        if r == i:
            ctx.err("%s: is a view of itself" % ctx.buf(i))
            continue
        if "byte_offset" in b:
            check_contiguous_view(ctx, i, b, r, rb)
            continue
        if len(rb["shape"]) < 2:
            ctx.err("%s: view of %s whose shape %s has no channel dimension" % (ctx.buf(i), ctx.buf(r), rb["shape"]))
            continue
        co, c = b["channel_offset"], b["channels"]
        if co < 0 or c <= 0 or co + c > rb["shape"][1]:
            ctx.err("%s: channels [%d, %d) outside the %d channels of %s"
                    % (ctx.buf(i), co, co + c, rb["shape"][1], ctx.buf(r)))
        want = list(rb["shape"])
        want[1] = c
        if b["shape"] != want:
            ctx.err("%s: shape %s, expected root %s's shape with dim 1 = %d: %s"
                    % (ctx.buf(i), b["shape"], ctx.buf(r), c, want))
        if b["dtype"] != rb["dtype"]:
            ctx.err("%s: dtype %s differs from its root %s's %s" % (ctx.buf(i), b["dtype"], ctx.buf(r), rb["dtype"]))


def check_contiguous_view(ctx, i, b, r, rb):
    """A contiguous view is bytes [byte_offset, byte_offset + bytes) of its root, in its own shape
    (so its bytes are prod(shape) x element size, check_buffer_bytes), at an offset aligned to
    target.alignment, of the root's dtype."""
    bo, n = b["byte_offset"], b["bytes"]
    if bo < 0:
        ctx.err("%s: byte_offset %d is negative" % (ctx.buf(i), bo))
    elif bo % ctx.alignment:
        ctx.err("%s: byte_offset %d is not a multiple of the alignment %d" % (ctx.buf(i), bo, ctx.alignment))
    if bo < 0 or n <= 0 or bo + n > rb["bytes"]:
        ctx.err("%s: bytes [%d, %d) outside the %d bytes of %s"
                % (ctx.buf(i), bo, bo + n, rb["bytes"], ctx.buf(r)))
    if b["dtype"] != rb["dtype"]:
        ctx.err("%s: dtype %s differs from its root %s's %s" % (ctx.buf(i), b["dtype"], ctx.buf(r), rb["dtype"]))


def check_offsets(ctx):
    a = ctx.plan["target"].get("alignment")
    arena = ctx.plan["arena_bytes"]
    for i, b in enumerate(ctx.buffers):
        if "offset" not in b:
            continue
        o = b["offset"]
        if is_int(a) and a > 0 and o % a:
            ctx.err("%s: offset %d is not a multiple of the alignment %d" % (ctx.buf(i), o, a))
        if o < 0 or o + b["bytes"] > arena:
            ctx.err("%s: [%d, %d) is outside the arena [0, %d)" % (ctx.buf(i), o, o + b["bytes"], arena))


# --------------------------------------------------------------------------
# Steps.

def check_step_ids(ctx):
    nb = len(ctx.buffers)
    for si, s in enumerate(ctx.steps):
        for k in ("reads", "writes", "updates"):
            for bid in s[k]:
                if not 0 <= bid < nb:
                    ctx.err("%s: %s holds %d, not a buffer id" % (ctx.step(si), k, bid))
            if len(set(s[k])) != len(s[k]):
                ctx.err("%s: %s has duplicates %s" % (ctx.step(si), k, s[k]))
        for k1, k2 in (("reads", "writes"), ("reads", "updates"), ("writes", "updates")):
            both = sorted(set(s[k1]) & set(s[k2]))
            for bid in both:
                ctx.err("%s: %s in both %s and %s" % (ctx.step(si), ctx.buf(bid), k1, k2))
    pk = ctx.plan["peak_step"]
    if not 0 <= pk < ctx.nsteps:
        ctx.err("peak_step %d is not a step index (0..%d)" % (pk, ctx.nsteps - 1))


def check_phases(ctx):
    first_bwd = None
    for si, s in enumerate(ctx.steps):
        ph, op = s["phase"], s["op"]
        if ph not in PHASES:
            ctx.err("%s: unknown phase %r" % (ctx.step(si), ph))
            continue
        if ph == "backward" and first_bwd is None:
            first_bwd = si
        ok = {"forward": FORWARD_OPS, "recompute": FORWARD_OPS,
              "backward": BACKWARD_OPS, "update": UPDATE_OPS}[ph]
        if op not in ok:
            ctx.err("%s: op %s cannot have phase %s" % (ctx.step(si), op, ph))
        if s["flops"] < 0 or s["workspace_bytes"] < 0:
            ctx.err("%s: negative flops or workspace_bytes" % ctx.step(si))
    if first_bwd is None:
        ctx.err("no backward step")
        return
    for si, s in enumerate(ctx.steps):
        if s["phase"] == "forward" and si > first_bwd:
            ctx.err("%s: forward step after the first backward step %d" % (ctx.step(si), first_bwd))
        if s["phase"] == "recompute" and si < first_bwd:
            ctx.err("%s: recompute step before the backward pass (first backward step %d)"
                    % (ctx.step(si), first_bwd))


def check_workspaces(ctx):
    owner = {}
    for si, s in enumerate(ctx.steps):
        if s["workspace_bytes"] == 0:
            continue
        if not s["writes"]:
            ctx.err("%s: workspace_bytes %d but no writes" % (ctx.step(si), s["workspace_bytes"]))
            continue
        w = s["writes"][-1]
        if not 0 <= w < len(ctx.buffers):
            continue
        b = ctx.buffers[w]
        owner[w] = si
        if b["category"] != "workspace":
            ctx.err("%s: workspace_bytes %d but its last write %s has category %s"
                    % (ctx.step(si), s["workspace_bytes"], ctx.buf(w), b["category"]))
        if b["bytes"] != s["workspace_bytes"]:
            ctx.err("%s: workspace_bytes %d but workspace %s has %d bytes"
                    % (ctx.step(si), s["workspace_bytes"], ctx.buf(w), b["bytes"]))
    for i, b in enumerate(ctx.buffers):
        if (b["category"] == "workspace") != (b["dtype"] == "u8"):
            ctx.err("%s: category %s with dtype %s (u8 is the workspaces' dtype)" % (ctx.buf(i), b["category"], b["dtype"]))
        if b["category"] != "workspace":
            continue
        if i not in owner:
            ctx.err("%s: workspace buffer that is no step's workspace" % ctx.buf(i))
            continue
        users = set(ctx.writers.get(i, [])) | set(ctx.readers.get(i, [])) | set(ctx.updaters.get(i, []))
        for v in ctx.views.get(i, []):
            users |= set(ctx.writers.get(v, [])) | set(ctx.readers.get(v, [])) | set(ctx.updaters.get(v, []))
        if users != {owner[i]}:
            ctx.err("%s: workspace of step %d used by steps %s (live for its step only)"
                    % (ctx.buf(i), owner[i], sorted(users)))


# Mixed precision (docs/plan-format.md): a bf16/f16 plan's convolution and
# classifier steps hold their weight in the low type at the start of their
# workspace (format/WeightCopy.h); an f16 plan scales its loss and updates
# every parameter after the backward pass.
WEIGHT_OPERAND = {"tg.conv2d": ("reads", 1), "tg.conv2d_grad_input": ("reads", 1),
                  "tg.conv2d_grad_filter": ("writes", 0), "tg.linear": ("reads", 1),
                  "tg.linear_grad": ("reads", 2)}


def check_mixed_precision(ctx):
    dtype = ctx.plan.get("dtype")
    scale = ctx.plan.get("loss_scale")
    if dtype == "f16":
        fields = {"initial": "num", "growth_factor": "num", "backoff_factor": "num",
                  "growth_interval": int}
        if not isinstance(scale, dict) or any(not type_ok(scale.get(k), t) for k, t in fields.items()):
            ctx.err("an f16 plan needs loss_scale {initial, growth_factor, backoff_factor, "
                    "growth_interval}, found %r" % (scale,))
        elif not (scale["initial"] >= 1 and scale["growth_factor"] >= 1
                  and 0 < scale["backoff_factor"] < 1 and scale["growth_interval"] >= 1):
            ctx.err("loss_scale %r is out of range" % (scale,))
        gradient_steps = [si for si, st in enumerate(ctx.steps)
                          if st["phase"] in ("backward", "recompute")]
        last = max(gradient_steps) if gradient_steps else -1
        for si, st in enumerate(ctx.steps):
            if st["op"] == "tg.sgd_update" and si < last:
                ctx.err("%s: an f16 plan updates a parameter before its backward pass ends "
                        "(step %d)" % (ctx.step(si), last))
                break
    elif scale is not None:
        ctx.err("loss_scale %r in a %s plan (only f16 plans scale the loss)" % (scale, dtype))
    if dtype not in ("bf16", "f16"):
        return
    for si, st in enumerate(ctx.steps):
        where = WEIGHT_OPERAND.get(st["op"])
        if not where:
            continue
        ids = st[where[0]]
        if where[1] >= len(ids) or not 0 <= ids[where[1]] < len(ctx.buffers):
            continue
        weight = ctx.buffers[ids[where[1]]]
        copy = -(-2 * prod(weight["shape"]) // 256) * 256
        if st["workspace_bytes"] < copy:
            ctx.err("%s: workspace_bytes %d cannot hold its weight %s in %s (%d bytes)"
                    % (ctx.step(si), st["workspace_bytes"], ctx.buf(ids[where[1]]), dtype, copy))


def check_persistent_not_written(ctx):
    """Buffers filled before the step are written by no step, neither as a whole nor through a view
    (a write to a view is a write to part of its root); persistent state is not updated through a
    view either (tg.sgd_update and tg.running_stats_update update the roots, check_parameter_updates)."""
    for i, b in enumerate(ctx.buffers):
        if is_filled_before_step(ctx, i):
            for si in ctx.writers.get(i, []):
                ctx.err("%s: %s buffer written by %s"
                        % (ctx.buf(i), "persistent" if b["persistent"] else "input", ctx.step(si)))
        elif is_view(ctx, i) and valid_view(ctx, i) and is_filled_before_step(ctx, b["view_of"]):
            r = b["view_of"]
            what = "persistent" if ctx.buffers[r]["persistent"] else "input"
            for si in ctx.writers.get(i, []):
                ctx.err("%s: view of %s %s written by %s" % (ctx.buf(i), what, ctx.buf(r), ctx.step(si)))
            if ctx.buffers[r]["persistent"]:
                for si in ctx.updaters.get(i, []):
                    ctx.err("%s: view of persistent %s updated by %s" % (ctx.buf(i), ctx.buf(r), ctx.step(si)))


def covering_written_views(ctx, r):
    """Union check: do the views of root r that some step writes cover all its channels (a root
    tracked by channel) or all its bytes but the padding before aligned byte offsets (a root of
    contiguous views, an all-reduce bucket)?"""
    _, unit, whole = extent(ctx, r)
    if unit == "channels" and len(ctx.buffers[r]["shape"]) < 2:
        return False
    ranges = sorted(x for v in ctx.views.get(r, []) if ctx.writers.get(v) and valid_view(ctx, v)
                    for x in extent(ctx, v)[2])
    return covers(ranges, whole[0][0], whole[0][1], ctx.alignment if unit == "bytes" else 1)


def round_up(x, a):
    return -(-x // a) * a


def covers(ranges, lo, hi, align=1):
    """Whether sorted (a, b) ranges cover [lo, hi). With align > 1 (byte ranges of a root of
    contiguous views) a gap is allowed where it only pads up to the next multiple of align."""
    at = lo
    for a, b in ranges:
        if a > round_up(at, align):
            break
        at = max(at, b)
        if at >= hi:
            return True
    return round_up(at, align) >= hi


def covers_all(ranges, targets, align=1):
    return all(covers(ranges, lo, hi, align) for lo, hi in targets)


def check_writers(ctx):
    """Every other buffer: one writer, or a root covered by written views, or a view of such/of a written root."""
    ctx.root_defined = {}
    for i, b in enumerate(ctx.buffers):
        if is_filled_before_step(ctx, i):
            continue
        w = ctx.writers.get(i, [])
        if len(w) > 1:
            ctx.err("%s: written by %d steps %s, expected exactly one"
                    % (ctx.buf(i), len(w), ", ".join(ctx.step(si) for si in w)))
            continue
        if w:
            continue
        if not is_view(ctx, i):
            if not covering_written_views(ctx, i):
                ctx.err("%s: no step writes it and its %s are not covered by written views"
                        % (ctx.buf(i), extent(ctx, i)[1]))
        elif valid_view(ctx, i):
            r = b["view_of"]
            if is_filled_before_step(ctx, r):
                continue
            if len(ctx.writers.get(r, [])) != 1 and not covering_written_views(ctx, r):
                ctx.err("%s: view written by no step, and its root %s is neither written by one step "
                        "nor covered by written views" % (ctx.buf(i), ctx.buf(r)))


def check_single_definition(ctx):
    """No channel of a root (no byte of a root of contiguous views) is written twice: by the root's
    writer and a view's, or by two views."""
    per_root = {}
    unit_of = {}
    for i in range(len(ctx.buffers)):
        if is_view(ctx, i) and not valid_view(ctx, i):
            continue
        for si in ctx.writers.get(i, []):
            r, unit, ranges = extent(ctx, i)
            unit_of[r] = unit
            for lo, hi in ranges:
                if lo < hi:
                    per_root.setdefault(r, []).append((lo, hi, si, i))
    for r, ws in per_root.items():
        if len(ws) < 2:
            continue
        ws.sort()
        reach = ws[0]
        told = set()
        for w in ws[1:]:
            if w[0] < reach[1] and (reach[2], reach[3], w[2], w[3]) not in told:
                told.add((reach[2], reach[3], w[2], w[3]))
                ctx.err("%s [%d, %d) of %s are written twice: by %s (as %s) and %s (as %s)"
                        % (unit_of[r], w[0], min(w[1], reach[1]), ctx.buf(r), ctx.step(reach[2]),
                           ctx.buf(reach[3]), ctx.step(w[2]), ctx.buf(w[3])))
            if w[1] > reach[1]:
                reach = w


def check_dataflow(ctx):
    """Every buffer read or updated at step i is defined by steps before i."""
    # coverage events per root: (step, lo, hi), in channels or (roots of contiguous views) bytes
    events = {}
    for i in range(len(ctx.buffers)):
        for si in ctx.writers.get(i, []):
            r, _, ranges = extent(ctx, i)
            for lo, hi in ranges:
                events.setdefault(r, []).append((si, lo, hi))
    for r in events:
        events[r].sort()

    def defined(bid, si):
        if is_filled_before_step(ctx, bid):
            return True
        r, unit, want = extent(ctx, bid)
        if is_filled_before_step(ctx, r):
            return True
        ranges = sorted((a, b) for (s, a, b) in events.get(r, []) if s < si)
        # a view's data is exactly its range; a root of contiguous views is defined up to the
        # padding before its views' aligned offsets, as in check_writers
        align = ctx.alignment if unit == "bytes" and r == bid else 1
        return covers_all(ranges, want, align)

    for si, s in enumerate(ctx.steps):
        for k in ("reads", "updates"):
            for bid in s[k]:
                if not 0 <= bid < len(ctx.buffers):
                    continue
                if not defined(bid, si):
                    ws = ctx.writers.get(bid, [])
                    ctx.err("%s: %s %s before it is defined (writer steps %s)"
                            % (ctx.step(si), "reads" if k == "reads" else "updates", ctx.buf(bid), ws or "none"))


def check_parameter_updates(ctx):
    """Each weight is updated exactly once by tg.sgd_update (with its momentum buffer), each running
    statistic exactly once by tg.running_stats_update; no other step updates persistent state, and
    no step reads a parameter after its update."""
    opt = ctx.plan["optimizer"]
    name_to_id = {b["name"]: i for i, b in enumerate(ctx.buffers) if b["persistent"]}
    for i, b in enumerate(ctx.buffers):
        if not b["persistent"]:
            continue
        ups = ctx.updaters.get(i, [])
        want = "tg.running_stats_update" if b["category"] == "bn_statistics" else "tg.sgd_update"
        good = [si for si in ups if ctx.steps[si]["op"] == want]
        bad = [si for si in ups if ctx.steps[si]["op"] != want]
        for si in bad:
            ctx.err("%s: persistent %s updated by %s" % (ctx.buf(i), b["category"], ctx.step(si)))
        if len(good) != 1:
            ctx.err("%s: updated by %d %s steps %s, expected exactly one" % (ctx.buf(i), len(good), want, good))
        if b["category"] == "weights" and len(good) == 1:
            u = good[0]
            for si in ctx.readers.get(i, []):
                if si > u:
                    ctx.err("%s: reads parameter %s after its tg.sgd_update at step %d" % (ctx.step(si), ctx.buf(i), u))
    lr = ctx.plan["inputs"].get("learning_rate")
    for si, s in enumerate(ctx.steps):
        if s["op"] == "tg.sgd_update":
            check_sgd_step(ctx, si, s, opt, name_to_id, lr)
        elif s["op"] == "tg.running_stats_update":
            check_running_stats_step(ctx, si, s)


def check_sgd_step(ctx, si, s, opt, name_to_id, lr):
    u = s["updates"]
    if len(u) != 2 or not all(0 <= x < len(ctx.buffers) for x in u):
        ctx.err("%s: updates %s, expected [parameter, momentum buffer]" % (ctx.step(si), u))
        return
    w, m = u
    wb, mb = ctx.buffers[w], ctx.buffers[m]
    if wb["category"] != "weights" or mb["category"] != "optimizer_state" \
            or mb["name"] != wb["name"] + ".momentum_buffer":
        ctx.err("%s: updates %s and %s, expected a parameter and its momentum buffer"
                % (ctx.step(si), ctx.buf(w), ctx.buf(m)))
    grads = [r for r in s["reads"] if r != lr]
    if lr not in s["reads"]:
        ctx.err("%s: does not read the learning rate (buffer %s)" % (ctx.step(si), lr))
    if len(grads) != 1 or ctx.buffers[grads[0]]["shape"] != wb["shape"] \
            or ctx.buffers[grads[0]]["dtype"] != "f32":
        ctx.err("%s: reads %s, expected one f32 gradient of shape %s plus the learning rate"
                % (ctx.step(si), s["reads"], wb["shape"]))
    a = s["attributes"]
    if a.get("momentum") != opt.get("momentum"):
        ctx.err("%s: momentum %r differs from optimizer.momentum %r" % (ctx.step(si), a.get("momentum"), opt.get("momentum")))
    if bool(a.get("nesterov", False)) != bool(opt.get("nesterov")):
        ctx.err("%s: nesterov %r differs from optimizer.nesterov %r" % (ctx.step(si), a.get("nesterov"), opt.get("nesterov")))
    name = wb["name"]
    exempt = (not opt.get("decay_norm_and_bias", True)) and (
        is_norm_param(name) or name == "classifier.bias")
    want = 0.0 if exempt else opt.get("weight_decay")
    if a.get("weight_decay") != want:
        ctx.err("%s: weight_decay %r, expected %r for %s" % (ctx.step(si), a.get("weight_decay"), want, ctx.buf(w)))


def is_norm_param(name):
    parts = name.split(".")
    return len(parts) >= 2 and parts[-1] in ("weight", "bias") and parts[-2].startswith("norm")


def check_running_stats_step(ctx, si, s):
    u = s["updates"]
    if len(u) != 2 or not all(0 <= x < len(ctx.buffers) for x in u):
        ctx.err("%s: updates %s, expected [running_mean, running_var]" % (ctx.step(si), u))
        return
    mb, vb = ctx.buffers[u[0]], ctx.buffers[u[1]]
    if not (mb["name"].endswith(".running_mean") and vb["name"].endswith(".running_var")
            and mb["name"][:-len(".running_mean")] == vb["name"][:-len(".running_var")]):
        ctx.err("%s: updates %s and %s, expected one norm's running_mean and running_var"
                % (ctx.step(si), ctx.buf(u[0]), ctx.buf(u[1])))
    # its statistics come from a forward tg.batch_norm (a recomputed one must not update them)
    srcs = set()
    for r in s["reads"]:
        srcs |= set(ctx.writers.get(r, []))
    bns = [x for x in srcs if ctx.steps[x]["op"] == "tg.batch_norm"]
    if len(bns) != 1 or ctx.steps[bns[0]]["phase"] != "forward":
        ctx.err("%s: reads %s, expected the statistics of one forward-phase tg.batch_norm"
                % (ctx.step(si), s["reads"]))
        return
    bn = ctx.steps[bns[0]]
    x = bn["reads"][0] if bn["reads"] else None
    if x is not None and 0 <= x < len(ctx.buffers):
        sh = ctx.buffers[x]["shape"]
        if len(sh) == 4:
            m = sh[0] * sh[2] * sh[3]
            if s["attributes"].get("samples") != m:
                ctx.err("%s: samples %r, expected N*H*W = %d of %s"
                        % (ctx.step(si), s["attributes"].get("samples"), m, ctx.buf(x)))


def check_accumulate(ctx):
    for si, s in enumerate(ctx.steps):
        if s["op"] != "tg.accumulate":
            continue
        if len(s["updates"]) != 1 or len(s["reads"]) != 1 or s["writes"]:
            ctx.err("%s: expected one read value and one updated buffer, no writes" % ctx.step(si))
            continue
        v, t = ctx.buffers[s["reads"][0]], ctx.buffers[s["updates"][0]]
        off = s["attributes"].get("offset")
        if not is_int(off) or len(v["shape"]) < 2 or len(t["shape"]) < 2 \
                or off < 0 or off + v["shape"][1] > t["shape"][1] \
                or v["shape"][:1] + v["shape"][2:] != t["shape"][:1] + t["shape"][2:]:
            ctx.err("%s: adds %s (shape %s) at channel offset %r into %s (shape %s): out of range or shape mismatch"
                    % (ctx.step(si), ctx.buf(s["reads"][0]), v["shape"], off, ctx.buf(s["updates"][0]), t["shape"]))


def is_bucket_name(name):
    return name.startswith("bucket") and name[len("bucket"):].isdigit()


def check_all_reduce(ctx):
    """data_parallel {world_size, bucket_bytes} (optional; absent = one process) and the
    tg.all_reduce steps (docs/plan-format.md, docs/data-parallel.md): each averages one bucket, a
    1-D f32 weight_gradients root named bucketK, by updating the bucket's gradients (all of its
    contiguous views, f32 weight gradients) and reading and writing nothing else, over
    data_parallel.world_size ranks; each bucket is averaged by one step. With world_size > 1 (or
    any all-reduce) every tg.sgd_update reads a gradient averaged by an all-reduce before it, and no
    step reads a bucket's gradient before its all-reduce."""
    p = ctx.plan
    world, bucket_bytes = 1, None
    if "data_parallel" in p:
        dp = p["data_parallel"]
        if not isinstance(dp, dict) or not is_int(dp.get("world_size")) or dp["world_size"] < 1 \
                or not is_int(dp.get("bucket_bytes")) or dp["bucket_bytes"] < 0:
            ctx.err("data_parallel %r: expected {world_size (an integer >= 1), bucket_bytes (an integer >= 0)}"
                    % (dp,))
        else:
            world, bucket_bytes = dp["world_size"], dp["bucket_bytes"]
    reduced_by = {}     # bucket root -> all-reduce steps
    reduced_at = {}     # gradient (view) -> all-reduce step
    for si, s in enumerate(ctx.steps):
        if s["op"] != "tg.all_reduce":
            continue
        if "data_parallel" not in p:
            ctx.err("%s: an all-reduce in a plan without data_parallel" % ctx.step(si))
        if s["reads"] or s["writes"] or not s["updates"]:
            ctx.err("%s: reads %s, writes %s and updates %d buffers: an all-reduce updates its bucket's "
                    "gradients and reads and writes nothing else"
                    % (ctx.step(si), s["reads"], s["writes"], len(s["updates"])))
        if s["attributes"].get("world_size") != world:
            ctx.err("%s: world_size %r differs from data_parallel.world_size %d"
                    % (ctx.step(si), s["attributes"].get("world_size"), world))
        ups = [u for u in s["updates"] if 0 <= u < len(ctx.buffers)]
        if not ups:
            continue
        roots = sorted(set(ctx.root_of[u] for u in ups if is_contiguous_view(ctx, u) and valid_view(ctx, u)))
        for u in ups:
            reduced_at.setdefault(u, si)
        if not roots:
            ctx.err("%s: updates no contiguous view, expected the gradients of one bucket buffer" % ctx.step(si))
            continue
        if len(roots) > 1:
            ctx.err("%s: updates contiguous views of %d buffers (%s), expected the gradients of one bucket buffer"
                    % (ctx.step(si), len(roots), ", ".join(ctx.buf(r) for r in roots)))
            continue
        r = roots[0]
        rb = ctx.buffers[r]
        reduced_by.setdefault(r, []).append(si)
        if len(rb["shape"]) != 1 or rb["dtype"] != "f32" or rb["category"] != "weight_gradients" \
                or not is_bucket_name(rb["name"]):
            ctx.err("%s: bucket %s is %s %s of category %s, expected a 1-D f32 weight_gradients root named bucketK"
                    % (ctx.step(si), ctx.buf(r), rb["dtype"], rb["shape"], rb["category"]))
        for u in ups:
            b = ctx.buffers[u]
            if ctx.root_of[u] != r or not is_contiguous_view(ctx, u):
                ctx.err("%s: %s is not a contiguous view of its bucket %s" % (ctx.step(si), ctx.buf(u), ctx.buf(r)))
            elif b["dtype"] != "f32" or b["category"] != "weight_gradients":
                ctx.err("%s: %s is %s of category %s, not an f32 weight gradient"
                        % (ctx.step(si), ctx.buf(u), b["dtype"], b["category"]))
        for v in ctx.views.get(r, []):
            if is_contiguous_view(ctx, v) and v not in s["updates"]:
                ctx.err("%s: does not update %s, a gradient of its bucket %s" % (ctx.step(si), ctx.buf(v), ctx.buf(r)))
    for r, sis in sorted(reduced_by.items()):
        if len(sis) > 1:
            ctx.err("%s: bucket averaged by %d all-reduce steps %s, expected one" % (ctx.buf(r), len(sis), sis))
    # buckets hold at least bucket_bytes of gradients (docs/data-parallel.md), but the last one
    order = sorted(reduced_by, key=lambda r: reduced_by[r][0])
    for r in order[:-1]:
        held = sum(ctx.buffers[v]["bytes"] for v in ctx.views.get(r, []) if is_contiguous_view(ctx, v))
        if bucket_bytes is not None and held < bucket_bytes:
            ctx.err("%s: bucket of %d gradient bytes, less than data_parallel.bucket_bytes %d, and not the "
                    "last bucket reduced" % (ctx.buf(r), held, bucket_bytes))
    if world == 1 and not reduced_by:
        return
    lr = p["inputs"].get("learning_rate")
    for si, s in enumerate(ctx.steps):
        if s["op"] != "tg.sgd_update":
            continue
        for g in s["reads"]:
            if g != lr and 0 <= g < len(ctx.buffers) and not reduced_at.get(g, ctx.nsteps) < si:
                ctx.err("%s: reads gradient %s, which no earlier all-reduce averages (world_size %d)"
                        % (ctx.step(si), ctx.buf(g), world))
    for g, a in sorted(reduced_at.items()):
        for si in ctx.readers.get(g, []):
            if si < a and ctx.steps[si]["op"] != "tg.sgd_update":  # reported above
                ctx.err("%s: reads %s before its all-reduce at step %d" % (ctx.step(si), ctx.buf(g), a))
        for si in ctx.updaters.get(g, []):
            if si > a:
                ctx.err("%s: updates %s after its all-reduce at step %d" % (ctx.step(si), ctx.buf(g), a))


# --------------------------------------------------------------------------
# Liveness, layout, peak.

def compute_liveness(ctx):
    """Live range [first, last] of every root (None when never live)."""
    n = ctx.nsteps
    first = {}
    last = {}
    for si, s in enumerate(ctx.steps):
        for k in ("reads", "writes", "updates"):
            for bid in s[k]:
                if not 0 <= bid < len(ctx.buffers):
                    continue
                r = ctx.root_of[bid]
                if not 0 <= r < len(ctx.buffers) or is_view(ctx, r):
                    continue
                if r not in first:
                    first[r] = si
                last[r] = si
    live = {}
    for i, b in enumerate(ctx.buffers):
        if is_view(ctx, i):
            continue
        a, z = first.get(i), last.get(i)
        if b["persistent"]:
            a, z = 0, n - 1
        else:
            if b["category"] == "input" or i in ctx.input_ids:
                a = 0
                z = 0 if z is None else z
            if i in ctx.output_ids and a is not None:
                z = n - 1
        live[i] = None if a is None else (a, z)
    ctx.live = live
    # live bytes per step
    delta = [0] * (n + 1)
    cats = {}
    for i, rng in live.items():
        if rng is None:
            continue
        delta[rng[0]] += ctx.buffers[i]["bytes"]
        delta[rng[1] + 1] -= ctx.buffers[i]["bytes"]
    per = []
    cur = 0
    for si in range(n):
        cur += delta[si]
        per.append(cur)
    ctx.live_bytes = per
    ctx.max_live = max(per) if per else 0


def check_layout_overlap(ctx):
    """No two roots with overlapping live ranges overlap in [offset, offset + bytes).

    Sweeps the steps in order, keeping the roots live at the current step
    sorted by offset; a root that starts being live is compared with its
    neighbours there (enough to find a conflict when the live set is
    disjoint) and, on a conflict, with every live root to report them all."""
    import bisect
    B = ctx.buffers
    starts = {}
    for i, rng in ctx.live.items():
        if rng is not None and B[i]["bytes"] > 0:
            starts.setdefault(rng[0], []).append(i)
    live_keys = []          # sorted (offset, id) of live roots
    ends = []               # heap of (last step, offset, id)
    import heapq

    def describe(i):
        b = B[i]
        a, z = ctx.live[i]
        return "%s [%d, %d) live steps %d-%d" % (ctx.buf(i), b["offset"], b["offset"] + b["bytes"], a, z)

    def overlaps(i, j):
        return B[i]["offset"] < B[j]["offset"] + B[j]["bytes"] and B[j]["offset"] < B[i]["offset"] + B[i]["bytes"]

    for t in range(ctx.nsteps):
        while ends and ends[0][0] < t:
            _, o, i = heapq.heappop(ends)
            del live_keys[bisect.bisect_left(live_keys, (o, i))]
        for i in starts.get(t, ()):
            key = (B[i]["offset"], i)
            k = bisect.bisect_left(live_keys, key)
            near = live_keys[max(0, k - 1):k + 1]
            if any(overlaps(i, j) for _, j in near):
                for _, j in live_keys:
                    if overlaps(i, j):
                        ctx.err("%s overlaps %s" % (describe(j), describe(i)))
            live_keys.insert(k, key)
            heapq.heappush(ends, (ctx.live[i][1], B[i]["offset"], i))


def check_view_overlap(ctx):
    """Contiguous views of one root (the gradients of a bucket) are distinct tensors: two whose byte
    ranges intersect are never live at the same time. A view is live from the first step that
    writes, reads or updates it to the last. (Channel views may overlap: a layer's input features
    are the channels its predecessors wrote.)"""
    span = {}
    for k in (ctx.writers, ctx.readers, ctx.updaters):
        for i, sis in k.items():
            if is_contiguous_view(ctx, i):
                a, z = span.get(i, (sis[0], sis[0]))
                span[i] = (min([a] + sis), max([z] + sis))
    B = ctx.buffers
    for r in sorted(ctx.byte_roots):
        vs = sorted((B[v]["byte_offset"], v) for v in ctx.views.get(r, [])
                    if v in span and is_contiguous_view(ctx, v) and B[v]["bytes"] > 0)
        for k, (lo, i) in enumerate(vs):
            hi = lo + B[i]["bytes"]
            for lo2, j in vs[k + 1:]:
                if lo2 >= hi:
                    break
                (a1, z1), (a2, z2) = span[i], span[j]
                if a1 <= z2 and a2 <= z1:
                    ctx.err("%s bytes [%d, %d) of %s live steps %d-%d overlaps %s bytes [%d, %d) live steps %d-%d"
                            % (ctx.buf(i), lo, hi, ctx.buf(r), a1, z1, ctx.buf(j), lo2, lo2 + B[j]["bytes"], a2, z2))


def check_peak(ctx):
    p = ctx.plan
    want = ctx.max_live + p["reserve_bytes"]
    if p["predicted_peak_bytes"] != want:
        ctx.err("predicted_peak_bytes %d != max live bytes %d (at step %d) + reserve %d = %d"
                % (p["predicted_peak_bytes"], ctx.max_live, ctx.live_bytes.index(ctx.max_live),
                   p["reserve_bytes"], want))
    pk = p["peak_step"]
    if 0 <= pk < ctx.nsteps and ctx.live_bytes[pk] != ctx.max_live:
        ctx.err("peak_step %d has %d live bytes, but the maximum %d is at step %d"
                % (pk, ctx.live_bytes[pk], ctx.max_live, ctx.live_bytes.index(ctx.max_live)))


def check_peak_breakdown(ctx):
    p = ctx.plan
    pk = p["peak_step"]
    if not 0 <= pk < ctx.nsteps:
        return
    want = {c: 0 for c in CATEGORIES}
    for i, rng in ctx.live.items():
        if rng is not None and rng[0] <= pk <= rng[1]:
            c = ctx.buffers[i]["category"]
            want[c] = want.get(c, 0) + ctx.buffers[i]["bytes"]
    want["reserve"] = p["reserve_bytes"]
    got = p["peak_breakdown"]
    for k in sorted(set(want) | set(got)):
        if got.get(k, 0) != want.get(k, 0) or k not in got:
            ctx.err("peak_breakdown.%s is %r, live bytes of that category at peak_step %d are %d"
                    % (k, got.get(k), pk, want.get(k, 0)))


def check_fragmentation(ctx):
    p = ctx.plan
    live = p["predicted_peak_bytes"] - p["reserve_bytes"]
    if live <= 0:
        ctx.err("predicted_peak_bytes - reserve_bytes = %d is not positive" % live)
        return
    want = p["arena_bytes"] / live - 1
    if abs(p["fragmentation"] - want) > FRAG_TOL:
        ctx.err("fragmentation %r != arena_bytes / (predicted_peak_bytes - reserve_bytes) - 1 = %r"
                % (p["fragmentation"], want))


def check_budget(ctx):
    p = ctx.plan
    bud = p.get("budget_bytes")
    total = p["arena_bytes"] + p["reserve_bytes"]
    if bud is not None:
        if p["predicted_peak_bytes"] > bud:
            ctx.err("predicted_peak_bytes %d exceeds budget_bytes %d" % (p["predicted_peak_bytes"], bud))
        if total > bud:
            ctx.err("arena_bytes + reserve_bytes = %d exceeds budget_bytes %d" % (total, bud))
    if p["min_budget_bytes"] > total:
        ctx.err("min_budget_bytes %d exceeds this plan's arena_bytes + reserve_bytes = %d (the smallest plan "
                "cannot be larger than this one)" % (p["min_budget_bytes"], total))


# --------------------------------------------------------------------------
# Decisions and recomputation.

def segment_of(ctx, layer):
    """The decision segment a layer belongs to: the longest segment name that is the layer or a
    dotted prefix of it; the stem and classifier segments also own the layers in SEGMENT_LAYERS."""
    if not hasattr(ctx, "segment_names"):
        ctx.segment_names = set(d["layer"] for d in ctx.plan["decisions"]
                                if isinstance(d, dict) and isinstance(d.get("layer"), str))
        ctx.segment_special = {pre: g for g, pres in SEGMENT_LAYERS.items() if g in ctx.segment_names
                               for pre in pres}
    parts = layer.split(".")
    for k in range(len(parts), 0, -1):
        name = ".".join(parts[:k])
        if name in ctx.segment_names:
            return name
        if name in ctx.segment_special:
            return ctx.segment_special[name]
    return None


def check_decisions(ctx):
    p = ctx.plan
    segs = []
    for k, d in enumerate(p["decisions"]):
        if not isinstance(d, dict) or not isinstance(d.get("layer"), str) or d.get("option") not in OPTIONS:
            ctx.err("decisions[%d] = %r: expected {layer, option in %s}" % (k, d, "/".join(OPTIONS)))
            continue
        segs.append(d["layer"])
    dup = sorted(set(s for s in segs if segs.count(s) > 1))
    if dup:
        ctx.err("decisions name segments more than once: %s" % dup)
    # "for every segment in forward order": every forward step is in a segment, every segment has
    # forward steps, and the segments' first forward steps come in the decisions' order
    first = {}
    for si, s in enumerate(ctx.steps):
        if s["phase"] != "forward":
            continue
        g = segment_of(ctx, s["layer"])
        if g is None:
            ctx.err("%s: forward step of a layer in no decision's segment" % ctx.step(si))
        else:
            first.setdefault(g, si)
    for g in segs:
        if g not in first:
            ctx.err("decision for %s, which has no forward step" % g)
    order = [g for g in segs if g in first]
    if order != sorted(order, key=first.get):
        ctx.err("decisions are not in forward order: %s" % [g for g in sorted(order, key=first.get)][:8])
    if p["policy"] in ("keep", "none"):
        for d in p["decisions"]:
            if isinstance(d, dict) and d.get("option") not in (None, "keep"):
                ctx.err("policy %s but decision %s = %s" % (p["policy"], d.get("layer"), d.get("option")))


def check_recomputed_layers(ctx):
    p = ctx.plan
    dec = [d for d in p["decisions"] if isinstance(d, dict)]
    want = [d["layer"] for d in dec if d.get("option") != "keep"]
    got = p["recomputed_layers"]
    if got != want:
        extra = [x for x in got if x not in want]
        missing = [x for x in want if x not in got]
        ctx.err("recomputed_layers differs from the decisions whose option is not keep "
                "(extra %s, missing %s%s)" % (extra, missing,
                                             ", order differs" if not extra and not missing else ""))
    has_rc = set()
    for si, s in enumerate(ctx.steps):
        if s["phase"] != "recompute":
            continue
        owner = segment_of(ctx, s["layer"])
        if owner is None:
            ctx.err("%s: recompute step of a layer in no decision's segment" % ctx.step(si))
            continue
        has_rc.add(owner)
        if owner not in got:
            ctx.err("%s: recompute step in segment %s, which is not in recomputed_layers" % (ctx.step(si), owner))
    for g in got:
        if g not in has_rc:
            ctx.err("recomputed_layers names %s but no recompute step belongs to it" % g)


def check_recompute_steps(ctx):
    """A recompute step is a forward op run again; its results are new buffers."""
    fwd = {}
    for si, s in enumerate(ctx.steps):
        if s["phase"] == "forward":
            fwd.setdefault((s["op"], s["layer"]), si)
    for si, s in enumerate(ctx.steps):
        if s["phase"] != "recompute":
            continue
        f = fwd.get((s["op"], s["layer"]))
        if f is None:
            ctx.err("%s: recompute step with no forward step of the same op and layer" % ctx.step(si))
        else:
            fs = ctx.steps[f]
            if fs["flops"] != s["flops"] or fs["attributes"] != s["attributes"]:
                ctx.err("%s: flops/attributes differ from its forward step %d" % (ctx.step(si), f))
            shapes = [ctx.buffers[w]["shape"] for w in s["writes"] if 0 <= w < len(ctx.buffers)]
            fshapes = [ctx.buffers[w]["shape"] for w in fs["writes"] if 0 <= w < len(ctx.buffers)]
            if shapes != fshapes:
                ctx.err("%s: result shapes %s differ from its forward step %d's %s" % (ctx.step(si), shapes, f, fshapes))
        for w in s["writes"]:
            if not 0 <= w < len(ctx.buffers):
                continue
            r = ctx.root_of[w]
            others = set(ctx.writers.get(r, []))
            for v in ctx.views.get(r, []):
                others |= set(ctx.writers.get(v, []))
            others.discard(si)
            others = [o for o in others if ctx.steps[o]["phase"] != "recompute"]
            if others or len(ctx.writers.get(w, [])) != 1:
                ctx.err("%s: writes %s, which is not a fresh buffer (also written by steps %s)"
                        % (ctx.step(si), ctx.buf(w), sorted(set(others) | set(ctx.writers.get(w, [])) - {si})))


# --------------------------------------------------------------------------
# Cost.

def check_cost(ctx):
    c = ctx.plan["cost"]
    for k in ("forward_flops", "backward_flops", "recompute_flops"):
        if not is_int(c.get(k)):
            ctx.err("cost.%s missing or not an integer" % k)
    for k in ("predicted_step_seconds", "recompute_seconds"):
        if not is_num(c.get(k)) or c.get(k) < 0:
            ctx.err("cost.%s missing, not a number or negative" % k)
    sums = {"forward": 0, "backward": 0, "recompute": 0}
    for s in ctx.steps:
        ph = s["phase"]
        sums["backward" if ph == "update" else ph if ph in sums else "forward"] += s["flops"]
    for k in ("forward", "backward", "recompute"):
        if is_int(c.get(k + "_flops")) and c[k + "_flops"] != sums[k]:
            what = "backward and update" if k == "backward" else k
            ctx.err("cost.%s_flops %d != sum of the flops of %s steps %d" % (k, c[k + "_flops"], what, sums[k]))
    if is_num(c.get("recompute_seconds")) and is_num(c.get("predicted_step_seconds")):
        if c["recompute_seconds"] > c["predicted_step_seconds"]:
            ctx.err("cost.recompute_seconds %r exceeds predicted_step_seconds %r"
                    % (c["recompute_seconds"], c["predicted_step_seconds"]))
        if (sums["recompute"] == 0) != (c["recompute_seconds"] == 0):
            ctx.err("cost.recompute_seconds %r but recompute flops %d" % (c["recompute_seconds"], sums["recompute"]))


CHECKS = [
    check_target, check_model_batch_dtype, check_policy, check_optimizer, check_inputs_outputs,
    check_buffer_ids, check_buffer_enums, check_buffer_bytes, check_persistent, check_views,
    check_offsets, check_step_ids, check_phases, check_workspaces, check_mixed_precision,
    check_persistent_not_written,
    check_writers, check_single_definition, check_dataflow, check_parameter_updates, check_accumulate,
    check_all_reduce, compute_liveness, check_layout_overlap, check_view_overlap, check_peak,
    check_peak_breakdown, check_fragmentation, check_budget, check_decisions, check_recomputed_layers,
    check_recompute_steps, check_cost,
]


def check_plan(plan):
    ctx = Ctx(plan)
    for f in STRUCTURE_CHECKS:
        f(ctx)
        if ctx.fatal and f is check_format_version:
            return ctx
    if ctx.fatal:
        return ctx
    build_index(ctx)
    for f in CHECKS:
        try:
            f(ctx)
        except Exception as e:  # a malformed plan must not hide the other violations
            ctx.err("%s could not run: %s: %s" % (f.__name__, type(e).__name__, e))
            if f is compute_liveness:
                break
    return ctx


def summary(ctx):
    p = ctx.plan
    peak = p["predicted_peak_bytes"]
    live = peak - p["reserve_bytes"]
    return ("ok (%d steps, %d buffers, peak %d = %d live + %d reserve, arena %d, fragmentation %.2f%%)"
            % (len(p["steps"]), len(p["buffers"]), peak, live, p["reserve_bytes"], p["arena_bytes"],
               100.0 * p["fragmentation"]))


# --------------------------------------------------------------------------
# Corruptions, for tests of the checker.

def _roots_live_disjoint(plan):
    ctx = Ctx(plan)
    build_index(ctx)
    compute_liveness(ctx)
    return ctx


def corrupt_overlap(p):
    """Move a non-persistent root onto another root that is live at the same time."""
    ctx = _roots_live_disjoint(p)
    cands = [i for i, r in ctx.live.items() if r and not p["buffers"][i]["persistent"]
             and p["buffers"][i]["bytes"] > 0]
    for i in cands:
        for j in cands:
            a1, z1 = ctx.live[i]
            a2, z2 = ctx.live[j]
            if i != j and a1 <= z2 and a2 <= z1 and p["buffers"][i]["bytes"] <= p["buffers"][j]["bytes"]:
                p["buffers"][i]["offset"] = p["buffers"][j]["offset"]
                return "moved buffer %d to the offset of buffer %d" % (i, j)
    raise SystemExit("no overlap candidate")


def corrupt_drop_writer(p):
    """Remove the written buffer from a forward step whose result is a plain root."""
    for si, s in enumerate(p["steps"]):
        if s["phase"] == "forward" and s["op"] == "tg.relu":
            b = s["writes"][0]
            s["writes"] = []
            return "removed buffer %d from the writes of step %d" % (b, si)
    raise SystemExit("no relu")


def corrupt_peak(p):
    p["predicted_peak_bytes"] -= 1
    return "lowered predicted_peak_bytes by 1"


def corrupt_misalign(p):
    for b in p["buffers"]:
        if "offset" in b and not b["persistent"] and b["category"] == "activations":
            b["offset"] += 4
            return "added 4 to the offset of buffer %d" % b["id"]


def corrupt_view_of_view(p):
    B = p["buffers"]
    views = [b for b in B if "view_of" in b and "channel_offset" in b]
    for v in views:
        for w in views:
            if v is not w and v["view_of"] == w["view_of"] and w["channel_offset"] == 0 \
                    and v["channel_offset"] + v["channels"] <= w["channels"]:
                v["view_of"] = w["id"]
                return "pointed buffer %d at view %d" % (v["id"], w["id"])
    raise SystemExit("no view pair")


def corrupt_read_before_write(p):
    """Move a forward relu to just before the step that writes its input."""
    S = p["steps"]
    for si, s in enumerate(S):
        if s["op"] == "tg.relu" and s["phase"] == "forward":
            w = [k for k in range(si) if s["reads"][0] in S[k]["writes"]]
            if w:
                S.insert(w[0], S.pop(si))
                return "moved step %d (reads buffer %d) before its writer, step %d" % (si, s["reads"][0], w[0])
    raise SystemExit("no relu")


def corrupt_double_update(p):
    for s in p["steps"]:
        if s["op"] == "tg.sgd_update":
            p["steps"].append(json.loads(json.dumps(s)))
            return "duplicated the sgd_update of buffer %d at the end" % s["updates"][0]


def corrupt_bytes(p):
    for b in p["buffers"]:
        if b["category"] == "activations" and "offset" in b:
            b["bytes"] += 4
            return "added 4 to the bytes of buffer %d" % b["id"]


def corrupt_budget(p):
    p["budget_bytes"] = p["predicted_peak_bytes"] - 1
    return "budget_bytes = predicted_peak_bytes - 1"


def corrupt_recompute_flops(p):
    p["cost"]["recompute_flops"] += 1
    return "cost.recompute_flops += 1"


def corrupt_recomputed_layers(p):
    p["recomputed_layers"] = p["recomputed_layers"][1:]
    return "dropped the first recomputed layer"


def corrupt_version(p):
    p["version"] = 2
    return "version = 2"


def corrupt_ids(p):
    B = p["buffers"]
    B[3]["id"], B[4]["id"] = B[4]["id"], B[3]["id"]
    return "swapped the ids of buffers 3 and 4"


def corrupt_early_update(p):
    """f16: an update moved before the last backward step."""
    i = next(i for i, s in enumerate(p["steps"]) if s["op"] == "tg.sgd_update")
    s = p["steps"].pop(i)
    p["steps"].insert(i - 1, s)
    return "moved step %d (%s) one step earlier" % (i, s["op"])


def corrupt_weight_copy(p):
    """bf16/f16: the classifier's workspace too small for its weight."""
    s = next(s for s in p["steps"] if s["op"] == "tg.linear")
    s["workspace_bytes"] = 16
    workspace = p["buffers"][s["writes"][-1]]
    workspace["bytes"], workspace["shape"] = 16, [16]
    return "shrank the workspace of %s '%s' to 16 bytes" % (s["op"], s["layer"])


CORRUPTIONS = {
    "overlap": corrupt_overlap, "drop-writer": corrupt_drop_writer, "peak": corrupt_peak,
    "misalign": corrupt_misalign, "view-of-view": corrupt_view_of_view,
    "read-before-write": corrupt_read_before_write, "double-update": corrupt_double_update,
    "bytes": corrupt_bytes, "budget": corrupt_budget, "recompute-flops": corrupt_recompute_flops,
    "recomputed-layers": corrupt_recomputed_layers, "version": corrupt_version, "ids": corrupt_ids,
    "early-update": corrupt_early_update, "weight-copy": corrupt_weight_copy,
}


def main(argv):
    try:  # quiet exit when the output is piped into head
        import signal
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    except (ImportError, AttributeError, ValueError):
        pass
    if len(argv) >= 2 and argv[1] == "--corrupt":
        if len(argv) != 5 or argv[2] not in CORRUPTIONS:
            sys.stderr.write("usage: check_plan.py --corrupt {%s} in.json out.json\n" % ",".join(CORRUPTIONS))
            return 2
        with open(argv[3]) as f:
            p = json.load(f)
        what = CORRUPTIONS[argv[2]](p)
        with open(argv[4], "w") as f:
            json.dump(p, f)
        print("corrupted: %s" % what)
        return 0
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    bad = 0
    for path in argv[1:]:
        try:
            with open(path) as f:
                plan = json.load(f)
        except (OSError, ValueError) as e:
            print("%s: cannot read plan: %s" % (path, e))
            bad += 1
            continue
        ctx = check_plan(plan)
        if ctx.errors:
            bad += 1
            print("%s: %d violation%s" % (path, len(ctx.errors), "" if len(ctx.errors) == 1 else "s"))
            for e in ctx.errors:
                print("%s: error: %s" % (path, e))
        else:
            print("%s: %s" % (path, summary(ctx)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
