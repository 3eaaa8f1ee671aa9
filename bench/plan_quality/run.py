#!/usr/bin/env python3
"""Plan-quality benchmark of densenetc (python3 stdlib only).

One command regenerates everything under bench/plan_quality/results/:

    python3 bench/plan_quality/run.py

Measures (see README.md next to this file):
  1. peak activation memory vs depth (DenseNet-BC, k=12, CIFAR) per policy,
     with the log-log growth exponent;
  2. recompute overhead vs memory budget for four models;
  3. densenetc compile time for DenseNet-264 at several budgets;
  4. the largest batch that fits a 12 GB / 80 GB budget per policy, against
     the TensorFlow memory-efficient DenseNet's published batch sizes.

All times other than compile times are the compiler's roofline predictions
from its target profiles, not measurements on a GPU.

Options: --bin PATH (densenetc; default build/bin/densenetc, or $DENSENETC),
--workers N (at most 2), --quick (fewer depths/steps, for trying the script).
"""

import argparse
import concurrent.futures as cf
import csv
import datetime
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
import svgplot  # noqa: E402

GB = 1e9
DEPTHS = [40, 100, 190, 250, 400, 598, 1000]
DEPTH_POLICIES = ["none", "keep", "sqrt", "optimal-min", "all"]
OVERHEAD_MODELS = [  # (model, batch, target)
    ("densenet121", 64, "cuda"),
    ("densenet264", 32, "cuda"),
    ("densenet-bc-100", 64, "cuda"),
    ("tf-densenet121-cifar", 3750, "titan-x-12gb"),
]
OVERHEAD_STEPS = 8
COMPILE_MODEL = ("densenet264", 64, "cuda")
COMPILE_BUDGETS = 21
COMPILE_REPEATS = 3
MAXBATCH_CONFIGS = [  # (model, target, budget bytes)
    ("tf-densenet121-cifar", "titan-x-12gb", 12_000_000_000),
    ("densenet121", "cuda", 12_000_000_000),
    ("tf-densenet121-cifar", "a100-80gb", 80_000_000_000),
    ("densenet121", "a100-80gb", 80_000_000_000),
]
MAXBATCH_POLICIES = ["keep", "none", "all", "sqrt", "optimal"]
# TensorFlow memory-efficient DenseNet (joeyearsley/efficient_densenet_tensorflow,
# README "Example setup for a 12gb Nvidia GPU"): DenseNet-121 on CIFAR-10.
TF_BATCH_PLAIN = 3750
TF_BATCH_RECOMPUTE = 6000
TF_OVERHEAD = "15-20%"
POLICY_COLORS = {"none": "#D55E00", "keep": "#E69F00", "sqrt": "#CC79A7",
                 "all": "#009E73", "optimal": "#0072B2",
                 "optimal-min": "#0072B2"}
POLICY_MARKERS = {"none": "square", "keep": "diamond", "sqrt": "triangle",
                  "all": "square", "optimal": "circle", "optimal-min": "circle"}

T0 = time.time()
LOCK = threading.Lock()
BIN = None
TMP = None
_counter = [0]
ANOMALIES = []   # (section, message)
CHECKS = []      # (section, description, ok)
ALL_PLANS = []   # summary of every plan compiled


def log(msg):
    with LOCK:
        print("[%6.1fs] %s" % (time.time() - T0, msg), flush=True)


def note(section, msg):
    with LOCK:
        ANOMALIES.append((section, msg))
    log("NOTE (%s): %s" % (section, msg))


def check(section, desc, ok):
    with LOCK:
        CHECKS.append((section, desc, bool(ok)))
    if not ok:
        log("CHECK FAILED (%s): %s" % (section, desc))
    return ok


def tmpname(ext):
    with LOCK:
        _counter[0] += 1
        return os.path.join(TMP, "f%05d.%s" % (_counter[0], ext))


class DnError(Exception):
    pass


def dn(args):
    """Run densenetc; returns (stdout, stderr, wall seconds)."""
    t = time.perf_counter()
    p = subprocess.run([BIN] + args, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise DnError("densenetc %s: rc %d: %s" % (" ".join(args), p.returncode,
                                                   p.stderr.strip()[-400:]))
    return p.stdout, p.stderr, wall


MINB_RE = re.compile(r"smallest feasible budget .*\((\d+) bytes\)")


def min_budget(model_args, policy):
    out, _, wall = dn(model_args + ["--policy", policy, "--min-budget"])
    m = MINB_RE.search(out)
    if not m:
        raise DnError("no min budget in: " + out)
    return int(m.group(1)), wall


def plan(model_args, policy, budget=None, keep_file=False, extra=()):
    """Compile a plan; returns a flat dict of its summary fields."""
    path = tmpname("json")
    args = model_args + ["--policy", policy, "-o", path] + list(extra)
    if budget is not None:
        args += ["--mem-budget", str(int(budget))]
    _, _, wall = dn(args)
    with open(path) as f:
        d = json.load(f)
    if not keep_file:
        os.remove(path)
    pb = d["peak_breakdown"]
    cost = d["cost"]
    solver = d.get("solver") or {}
    opts = [x["option"] for x in d["decisions"]]
    peak_step = d["steps"][d["peak_step"]]
    step_s = cost["predicted_step_seconds"]
    rec_s = cost["recompute_seconds"]
    r = {
        "model": d["model"].get("name"),
        "policy": d["policy"],
        "batch": d["batch_size"],
        "target": d["target"]["name"],
        "budget_bytes": d["budget_bytes"],
        "min_budget_bytes": d["min_budget_bytes"],
        "predicted_peak_bytes": d["predicted_peak_bytes"],
        "arena_bytes": d["arena_bytes"],
        "reserve_bytes": d["reserve_bytes"],
        "fragmentation": d["fragmentation"],
        "act_at_peak_bytes": pb["activations"] + pb["activation_gradients"],
    }
    for k in ("activations", "activation_gradients", "weights",
              "weight_gradients", "optimizer_state", "bn_statistics", "input",
              "workspace"):
        r["peak_" + k] = pb.get(k, 0)
    r.update({
        "peak_phase": peak_step["phase"],
        "peak_layer": peak_step["layer"],
        "step_seconds": step_s,
        "recompute_seconds": rec_s,
        "recompute_pct_of_step": 100.0 * rec_s / step_s if step_s else 0.0,
        "slowdown_pct": 100.0 * rec_s / (step_s - rec_s) if step_s > rec_s else 0.0,
        "recompute_flops": cost["recompute_flops"],
        "images_per_second": d["batch_size"] / step_s if step_s else 0.0,
        "segments": len(opts),
        "n_keep": opts.count("keep"),
        "n_recompute_norm_relu": opts.count("recompute-norm-relu"),
        "n_recompute_layer": opts.count("recompute-layer"),
        "n_recompute_stem": opts.count("recompute"),
        "proven_optimal": solver.get("proven_optimal"),
        "recompute_lower_bound_seconds": solver.get("recompute_lower_bound_seconds"),
        "live_limit_bytes": solver.get("live_limit_bytes"),
        "bound_gap": (None if solver.get("recompute_lower_bound_seconds") is None
                      else (rec_s - solver["recompute_lower_bound_seconds"]) / rec_s
                      if rec_s > 0 else 0.0),
        "compile_seconds": wall,
    })
    # consistency of the plan's own numbers
    where = "%s %s b%s %s" % (d["model"].get("name"), d["policy"],
                              d["batch_size"], d["target"]["name"])
    live = live_peak(d)
    r["independent_live_peak_bytes"] = live
    if live != d["predicted_peak_bytes"] - d["reserve_bytes"]:
        note("plan", "%s: liveness recomputed from buffers/steps peaks at %d bytes, "
             "the plan says %d" % (where, live,
                                    d["predicted_peak_bytes"] - d["reserve_bytes"]))
    if sum(pb.values()) != d["predicted_peak_bytes"]:
        note("plan", "%s: peak_breakdown sums to %d, predicted_peak_bytes %d"
             % (where, sum(pb.values()), d["predicted_peak_bytes"]))
    if d["arena_bytes"] < d["predicted_peak_bytes"] - d["reserve_bytes"]:
        note("plan", "%s: arena %d smaller than live peak %d" % (
            where, d["arena_bytes"], d["predicted_peak_bytes"] - d["reserve_bytes"]))
    if budget is not None:
        if d["predicted_peak_bytes"] > budget or \
                d["arena_bytes"] + d["reserve_bytes"] > budget:
            note("plan", "%s: over budget %d: peak %d, arena+reserve %d" % (
                where, budget, d["predicted_peak_bytes"],
                d["arena_bytes"] + d["reserve_bytes"]))
    if d["policy"] in ("keep", "none") and rec_s != 0:
        note("plan", "%s: policy %s recomputes (%.4g s)" % (where, d["policy"], rec_s))
    with LOCK:
        ALL_PLANS.append(dict(r))
    return r


def live_peak(d):
    """Peak live bytes recomputed from the plan's buffers and steps with the
    rules of docs/plan-format.md ("Liveness"), independently of the compiler."""
    bufs, steps = d["buffers"], d["steps"]
    n = len(steps)
    root = {b["id"]: b.get("view_of", b["id"]) for b in bufs}
    first, last = {}, {}
    for i, st in enumerate(steps):
        for bid in st["reads"] + st["writes"] + st["updates"]:
            rb = root[bid]
            first.setdefault(rb, i)
            last[rb] = i
    for b in bufs:
        if "view_of" in b:
            continue
        if b["persistent"]:
            first[b["id"]], last[b["id"]] = 0, n - 1
        elif b["category"] == "input":
            first[b["id"]] = 0
            last.setdefault(b["id"], 0)
    for k in ("loss", "correct"):
        if k in d["outputs"]:
            last[d["outputs"][k]] = n - 1
    size = {b["id"]: b["bytes"] for b in bufs}
    delta = [0] * (n + 1)
    for rb, f in first.items():
        delta[f] += size[rb]
        delta[last[rb] + 1] -= size[rb]
    cur = peak = 0
    for i in range(n):
        cur += delta[i]
        peak = max(peak, cur)
    return peak


def bc_model_file(depth, batch=64):
    n = (depth - 4) // 6
    assert 6 * n + 4 == depth, depth
    m = {"name": "densenet-bc-%d-k12" % depth,
         "input": {"channels": 3, "height": 32, "width": 32},
         "num_classes": 10, "growth_rate": 12, "block_config": [n, n, n],
         "num_init_features": 24, "bn_size": 4, "compression": 0.5,
         "stem": "cifar", "batch_size": batch}
    path = os.path.join(TMP, "bc%d.json" % depth)
    with open(path, "w") as f:
        json.dump(m, f)
    return path, n


def run_parallel(fn, items, workers):
    """fn over items with at most `workers` densenetc processes at a time;
    an item that fails is noted and left out."""
    results = [None] * len(items)
    with cf.ThreadPoolExecutor(max_workers=workers) as ex:
        futs = {ex.submit(fn, it): i for i, it in enumerate(items)}
        for fut in cf.as_completed(futs):
            try:
                results[futs[fut]] = fut.result()
            except DnError as e:
                note("run", "%r failed: %s" % (items[futs[fut]], e))
    return [r for r in results if r is not None]


def fmt_proof(r):
    """The solver's claim about a plan, for the tables."""
    if not r["policy"].startswith("optimal"):
        return "n/a"
    if r["proven_optimal"]:
        return "yes"
    if r["bound_gap"] is None:
        return "no (no bound)"
    if r["bound_gap"] <= 1e-9:
        return "no (gap 0)"
    return "no (gap %.2f%%)" % (100 * r["bound_gap"])


def plan_quality_notes(rows):
    """Findings over every plan of the run: fragmentation beyond the
    documented 'typically well under 1%', and proofs not claimed although
    the lower bound equals the plan's recompute time."""
    seen, uniq = set(), []
    for r in rows:
        key = (r.get("model"), r["policy"], r["batch"], r["target"], r["budget_bytes"])
        if key not in seen:
            seen.add(key)
            uniq.append(r)
    frag = sorted((r for r in uniq if r["fragmentation"] > 0.01),
                  key=lambda r: -r["fragmentation"])
    if frag:
        note("layout", "%d of %d distinct plans have fragmentation above 1%% "
             "(docs/memory-model.md: 'typically well under 1%%'); worst: %s. Their "
             "min budgets (arena + reserve) carry that slack." % (
                 len(frag), len(uniq), "; ".join(
                     "%s %s b%d at %s: %.1f%%" % (
                         r.get("model"), r["policy"], r["batch"],
                         "unlimited" if r["budget_bytes"] is None else
                         "%.3f GB" % (r["budget_bytes"] / GB),
                         100 * r["fragmentation"]) for r in frag[:6])))
    opt = [r for r in uniq if r["policy"].startswith("optimal")]
    zero_gap = [r for r in opt if not r["proven_optimal"]
                and r["bound_gap"] is not None and r["bound_gap"] <= 1e-9]
    if zero_gap:
        note("solver", "%d of %d optimal plans report proven_optimal=false although "
             "recompute_lower_bound_seconds equals recompute_seconds to within 1e-9 "
             "relative (e.g. %s: %.17g vs %.17g s) -- looks like an exact float "
             "comparison after summing in a different order." % (
                 len(zero_gap), len(opt), zero_gap[0].get("model"),
                 zero_gap[0]["recompute_seconds"],
                 zero_gap[0]["recompute_lower_bound_seconds"]))
    real_gap = [r for r in opt if r["bound_gap"] is not None and r["bound_gap"] > 1e-9]
    if real_gap:
        note("solver", "%d optimal plans are not proven, with a gap to the lower "
             "bound up to %.3f%% (%s)." % (
                 len(real_gap), 100 * max(r["bound_gap"] for r in real_gap),
                 ", ".join(sorted({str(r.get("model")) for r in real_gap}))))
    nob = [r for r in opt if r["bound_gap"] is None and not r["proven_optimal"]]
    if nob:
        atmin = [r for r in nob if r["budget_bytes"] == r["min_budget_bytes"]]
        note("solver", "%d optimal plans carry no lower bound (%d of them planned at "
             "exactly their smallest budget, where the least-peak plan stands): %s." % (
                 len(nob), len(atmin),
                 ", ".join(sorted({str(r.get("model")) for r in nob}))))


def fmt_gb(b, digits=2):
    return "-" if b is None else ("%.*f" % (digits, b / GB))


def fmt_pct(p):
    return "-" if p is None else "%.1f%%" % p


def write_csv(name, rows, first=()):
    keys = list(first)
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    path = os.path.join(RESULTS, name)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt_csv(r.get(k)) for k in keys})
    log("wrote %s (%d rows)" % (os.path.relpath(path, ROOT), len(rows)))


def fmt_csv(v):
    if isinstance(v, float):
        return "%.6g" % v
    return "" if v is None else v


# ----------------------------------------------------------------------------
# 1. growth with depth

def depth_sweep(depths):
    rows = []
    for L in depths:
        path, n = bc_model_file(L)
        margs = [path, "--target", "cuda"]
        out, _, _ = dn(margs + ["--emit", "stats"])
        stats = json.loads(out)
        base = {"depth": L, "layers_per_block": n, "model": "densenet-bc-%d-k12" % L,
                "parameters": stats["parameters"],
                "naive_activation_bytes": stats["naive_activation_bytes"]}
        for pol in DEPTH_POLICIES:
            try:
                if pol == "optimal-min":
                    mb, mb_wall = min_budget(margs, "optimal")
                    r = plan(margs, "optimal", budget=mb)
                    r["min_budget_seconds"] = mb_wall
                    r["policy"] = "optimal-min"
                else:
                    r = plan(margs, pol)
            except DnError as e:
                note("depth", "L=%d %s failed: %s" % (L, pol, e))
                continue
            row = dict(base)
            row.update(r)
            rows.append(row)
            log("depth L=%4d %-11s act@peak %8.3f GB  peak %8.3f GB  "
                "recompute %5.1f%%  compile %.2fs"
                % (L, pol, r["act_at_peak_bytes"] / GB,
                   r["predicted_peak_bytes"] / GB, r["recompute_pct_of_step"],
                   r["compile_seconds"]))
    return rows


def slope(p, q):
    (x0, y0), (x1, y1) = p, q
    return math.log(y1 / y0) / math.log(x1 / x0)


def ls_slope(points):
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def growth_exponents(rows):
    res = {}
    for pol in DEPTH_POLICIES:
        pts = sorted((r["depth"], r["act_at_peak_bytes"]) for r in rows
                     if r["policy"] == pol)
        if len(pts) < 2:
            continue
        res[pol] = {"deepest_two": slope(pts[-2], pts[-1]),
                    "shallowest_two": slope(pts[0], pts[1]),
                    "least_squares": ls_slope(pts),
                    "points": pts}
    naive = sorted({(r["depth"], r["naive_activation_bytes"]) for r in rows})
    if len(naive) >= 2:
        res["naive (stats)"] = {"deepest_two": slope(naive[-2], naive[-1]),
                                "shallowest_two": slope(naive[0], naive[1]),
                                "least_squares": ls_slope(naive),
                                "points": naive}
    return res


def depth_plots(rows, expo):
    series = []
    for pol in DEPTH_POLICIES:
        pts = sorted((r["depth"], r["act_at_peak_bytes"] / GB) for r in rows
                     if r["policy"] == pol)
        if not pts:
            continue
        name = {"optimal-min": "optimal @ min budget"}.get(pol, pol)
        series.append({"name": name, "color": POLICY_COLORS[pol],
                       "marker": POLICY_MARKERS[pol], "points": pts,
                       "pol": pol, "dash": "7,5" if pol == "all" else None})
    W, H = 900, 520
    body = svgplot.line_panel(
        0, 0, W, H, series, "depth L (DenseNet-BC, k=12, 3 blocks of (L-4)/6 layers)",
        "activation memory at the peak (GB)",
        title="Peak activation memory vs depth (batch 64, target cuda)",
        legend="top-left", xzero=True)
    with open(os.path.join(RESULTS, "depth_activation_linear.svg"), "w") as f:
        f.write(svgplot.document(W, H, body, "peak activation memory vs depth"))
    lseries = []
    for s in series:
        s2 = dict(s)
        e = expo.get(s["pol"])
        if e:
            s2["name"] = "%s (slope %.2f)" % (s["name"], e["deepest_two"])
        lseries.append(s2)
    body = svgplot.line_panel(
        0, 0, W, H, lseries, "depth L (log scale)",
        "activation memory at the peak (GB, log scale)",
        title="Peak activation memory vs depth, log-log (slope = exponent, "
              "deepest two points)",
        xlog=True, ylog=True, legend="top-left")
    with open(os.path.join(RESULTS, "depth_activation_loglog.svg"), "w") as f:
        f.write(svgplot.document(W, H, body, "peak activation memory vs depth, log-log"))
    log("wrote depth plots")


# ----------------------------------------------------------------------------
# 2. overhead vs budget

def overhead_model(cfg, steps):
    model, batch, target = cfg
    margs = ["--model", model, "--batch-size", str(batch), "--target", target]
    mins = {}
    for pol in ("optimal", "keep", "none", "all", "sqrt"):
        mins[pol], _ = min_budget(margs, pol)
    lo, hi = mins["optimal"], mins["keep"]
    budgets = sorted({int(round(lo + (hi - lo) * i / (steps - 1)))
                      for i in range(steps)})
    rows = []
    base = {"model": model, "batch": batch, "target": target,
            "min_budget_optimal": lo, "min_budget_keep": hi,
            "min_budget_none": mins["none"], "min_budget_all": mins["all"],
            "min_budget_sqrt": mins["sqrt"]}

    def add(kind, pol, budget):
        try:
            r = plan(margs, pol, budget)
        except DnError as e:
            note("overhead", "%s %s at %s failed: %s" % (model, pol, budget, e))
            return
        row = dict(base)
        row["kind"] = kind
        row.update(r)
        rows.append(row)

    for b in budgets:
        add("sweep", "optimal", b)
    for pol in ("all", "sqrt"):
        add("own-min", pol, mins[pol])
        if mins[pol] >= lo:
            add("at-%s-min" % pol, "optimal", mins[pol])
    add("unlimited", "optimal", None)
    log("overhead %-22s b%-5d %-13s min %.3f GB keep %.3f GB: %s" % (
        model, batch, target, lo / GB, hi / GB,
        ", ".join("%.1f%%" % r["recompute_pct_of_step"] for r in rows
                  if r["kind"] == "sweep")))
    return rows


def overhead_checks(rows):
    for cfg in OVERHEAD_MODELS:
        mr = [r for r in rows if r["model"] == cfg[0]]
        if not mr:
            continue
        opt = sorted((r["budget_bytes"], r["recompute_seconds"]) for r in mr
                     if r["policy"] == "optimal" and r["budget_bytes"] is not None)
        mono = all(opt[i + 1][1] <= opt[i][1] * (1 + 1e-9) + 1e-15
                   for i in range(len(opt) - 1))
        check("overhead", "%s: optimal recompute time never rises with the budget"
              % cfg[0], mono)
        atkeep = [r for r in mr if r["policy"] == "optimal"
                  and r["budget_bytes"] == r["min_budget_keep"]]
        if atkeep:
            ok = atkeep[0]["recompute_seconds"] == 0
            check("overhead", "%s: optimal at the keep budget recomputes nothing"
                  % cfg[0], ok)
            if not ok:
                note("overhead", "%s: optimal at the keep budget (%d B) still "
                     "recomputes %.4g s (%s)" % (
                         cfg[0], atkeep[0]["budget_bytes"],
                         atkeep[0]["recompute_seconds"],
                         atkeep[0]["proven_optimal"]))
        for pol in ("all", "sqrt"):
            own = [r for r in mr if r["kind"] == "own-min" and r["policy"] == pol]
            at = [r for r in mr if r["kind"] == "at-%s-min" % pol]
            if own and at:
                ok = at[0]["recompute_seconds"] <= own[0]["recompute_seconds"] * (1 + 1e-9)
                check("overhead", "%s: optimal at %s's min budget recomputes no "
                      "more than %s" % (cfg[0], pol, pol), ok)
                if not ok:
                    note("overhead", "%s: optimal at %s's budget recomputes %.4g s "
                         "> %s's %.4g s" % (cfg[0], pol, at[0]["recompute_seconds"],
                                             pol, own[0]["recompute_seconds"]))
        r0 = mr[0]
        check("overhead", "%s: optimal's min budget <= all, sqrt, keep, none" % cfg[0],
              r0["min_budget_optimal"] <= min(r0["min_budget_all"], r0["min_budget_sqrt"],
                                              r0["min_budget_keep"], r0["min_budget_none"]))


def overhead_plot(rows):
    n = len(OVERHEAD_MODELS)
    cols = 2
    rws = (n + cols - 1) // cols
    PW, PH = 560, 380
    W, H = PW * cols, PH * rws + 60
    parts = [svgplot.text(14, 26, "Recompute overhead vs memory budget "
                          "(predicted, roofline; share of the step time)", 16,
                          weight="bold")]
    for i, cfg in enumerate(OVERHEAD_MODELS):
        model, batch, target = cfg
        mr = [r for r in rows if r["model"] == model]
        if not mr:
            continue
        opt = sorted((r["budget_bytes"] / GB, r["recompute_pct_of_step"])
                     for r in mr if r["policy"] == "optimal"
                     and r["budget_bytes"] is not None)
        series = [{"name": "optimal (budget sweep)", "color": POLICY_COLORS["optimal"],
                   "marker": "circle", "points": opt}]
        for pol in ("all", "sqrt"):
            own = [r for r in mr if r["kind"] == "own-min" and r["policy"] == pol]
            if own:
                series.append({"name": "%s (at its min budget)" % pol,
                               "color": POLICY_COLORS[pol],
                               "marker": POLICY_MARKERS[pol], "line": False,
                               "points": [(own[0]["budget_bytes"] / GB,
                                           own[0]["recompute_pct_of_step"])]})
        vl = [(mr[0]["min_budget_keep"] / GB, "keep's min budget", "#E69F00")]
        x0 = (i % cols) * PW
        y0 = 40 + (i // cols) * PH
        parts.append(svgplot.line_panel(
            x0, y0, PW, PH, series, "memory budget (GB, incl. reserve)",
            "recompute time (% of step)",
            title="%s, batch %d, %s" % (model, batch, target),
            legend="top-right", vlines=vl))
    with open(os.path.join(RESULTS, "overhead_vs_budget.svg"), "w") as f:
        f.write(svgplot.document(W, H, "\n".join(parts), "overhead vs budget"))
    log("wrote overhead plot")


# ----------------------------------------------------------------------------
# 3. compile time

def compile_times(cfg, nb, reps):
    model, batch, target = cfg
    margs = ["--model", model, "--batch-size", str(batch), "--target", target]
    rows = []
    walls = []
    for _ in range(reps):
        mb, w = min_budget(margs, "optimal")
        walls.append(w)
    rows.append({"what": "--min-budget (optimal)", "budget_bytes": None,
                 "median_seconds": statistics.median(walls),
                 "all_seconds": " ".join("%.3f" % w for w in walls),
                 "result": "%d" % mb})
    log("compile --min-budget: median %.3fs" % statistics.median(walls))
    lo = mb
    hi, _ = min_budget(margs, "keep")
    budgets = [int(round(lo + (hi - lo) * i / (nb - 1))) for i in range(nb)] + [None]
    # Each budget with the default search (median of `reps`), then with the
    # search run to a proof (one run each: the slow path, measured for its
    # cost, not its spread).
    for what, extra, runs in (("plan (optimal)", [], reps),
                              ("plan (optimal, --prove-optimal)", ["--prove-optimal"], 1)):
        for b in budgets:
            walls, r = [], None
            for _ in range(runs):
                r = plan(margs, "optimal", b, extra=extra)
                walls.append(r["compile_seconds"])
            rows.append({"what": what, "budget_bytes": b,
                         "median_seconds": statistics.median(walls),
                         "all_seconds": " ".join("%.3f" % w for w in walls),
                         "recompute_pct_of_step": r["recompute_pct_of_step"],
                         "proven_optimal": fmt_proof(r),
                         "fragmentation": r["fragmentation"],
                         "predicted_peak_bytes": r["predicted_peak_bytes"]})
            log("compile budget %s%s: median %.3fs (proven %s)" % (
                "unlimited" if b is None else "%.3f GB" % (b / GB),
                " " + " ".join(extra) if extra else "",
                statistics.median(walls), r["proven_optimal"]))
    return rows


# ----------------------------------------------------------------------------
# 4. largest batch

def fits(model, target, budget, policy, batch, cache):
    if batch not in cache:
        margs = ["--model", model, "--target", target, "--batch-size", str(batch)]
        cache[batch] = min_budget(margs, policy)[0]
    return cache[batch] <= budget


HINT_RE = re.compile(r"largest batch that fits is (\d+)")


def largest_batch(item):
    model, target, budget, policy = item
    cache = {}
    calls = 0
    start = 1
    try:
        ok = fits(model, target, budget, policy, 1, cache)
    except DnError as e:
        # e.g. batch 1 is refused when batch norm would see one value per channel
        msg = "%s: batch 1 is refused (%s); the search starts at 2" % (
            model, str(e).split("error: ")[-1].split(";")[0])
        if not any(m == msg for _, m in ANOMALIES):
            note("max-batch", msg)
        start = 2
        ok = fits(model, target, budget, policy, 2, cache)
    if not ok:
        best = 0
    else:
        lo, hi = start, 2 * start
        while hi <= 1048576 and fits(model, target, budget, policy, hi, cache):
            lo, hi = hi, hi * 2
        hi = min(hi, 1048577)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(model, target, budget, policy, mid, cache):
                lo = mid
            else:
                hi = mid
        best = lo
    calls = len(cache)
    row = {"model": model, "target": target, "budget_bytes": budget,
           "policy": policy, "largest_batch": best,
           "min_budget_at_largest": cache.get(best),
           "min_budget_at_largest_plus_1": cache.get(best + 1),
           "min_budget_calls": calls}
    if best > 0:
        margs = ["--model", model, "--target", target, "--batch-size", str(best)]
        try:
            r = plan(margs, policy, budget)
            for k in ("predicted_peak_bytes", "arena_bytes", "step_seconds",
                      "recompute_seconds", "recompute_pct_of_step",
                      "slowdown_pct", "images_per_second", "fragmentation"):
                row[k] = r[k]
            row["proven_optimal"] = fmt_proof(r)
        except DnError as e:
            note("max-batch", "%s %s %s: plan at batch %d, budget %d failed: %s"
                 % (model, target, policy, best, budget, e))
        # the compiler's own hint when a batch does not fit
        for probe in (best + 1, min(4 * best + 4, 1048576)):
            margs = ["--model", model, "--target", target, "--batch-size", str(probe)]
            p = subprocess.run([BIN] + margs + ["--policy", policy, "--mem-budget",
                                                str(budget), "-o", tmpname("json")],
                               capture_output=True, text=True)
            m = HINT_RE.search(p.stderr)
            hint = int(m.group(1)) if m else (
                0 if "not even batch 1" in p.stderr else None)
            row["hint_at_batch_%s" % ("plus1" if probe == best + 1 else "x4")] = hint
            if p.returncode == 0:
                note("max-batch", "%s %s %s: batch %d compiled within %d B although "
                     "its min budget is above it" % (model, target, policy, probe, budget))
            elif hint != best:
                note("max-batch", "%s on %s, %s, budget %d: densenetc's error at batch "
                     "%d says the largest batch that fits is %s; bisection on "
                     "--min-budget finds %d" % (model, target, policy, budget, probe,
                                               hint, best))
    log("max batch %-21s %-13s %5.0f GB %-8s -> %d (%d min-budget calls)" % (
        model, target, budget / GB, policy, best, calls))
    return row


def maxbatch_plot(rows):
    cols = 2
    PW, PH = 600, 270
    n = len(MAXBATCH_CONFIGS)
    W, H = PW * cols, 50 + PH * ((n + cols - 1) // cols)
    parts = [svgplot.text(14, 26, "Largest batch whose min budget fits, per policy (+x% = predicted slowdown "
                          "from recomputation)",
                          16, weight="bold")]
    for i, (model, target, budget) in enumerate(MAXBATCH_CONFIGS):
        bars = []
        for pol in MAXBATCH_POLICIES:
            r = [x for x in rows if x["model"] == model and x["target"] == target
                 and x["budget_bytes"] == budget and x["policy"] == pol]
            if r:
                v = r[0]["largest_batch"]
                ann = "{:,}".format(v)
                if r[0].get("recompute_pct_of_step"):
                    ann += "  (+%.0f%% time)" % r[0]["slowdown_pct"]
                bars.append((pol, v, POLICY_COLORS[pol], ann))
        refs = []
        if model == "tf-densenet121-cifar" and budget == 12_000_000_000:
            bars += [("TF plain", TF_BATCH_PLAIN, "#999999", "3,750 (TF README)"),
                     ("TF recompute", TF_BATCH_RECOMPUTE, "#555555",
                      "6,000 (TF README, +%s)" % TF_OVERHEAD)]
        x0 = (i % cols) * PW
        y0 = 40 + (i // cols) * PH
        parts.append(svgplot.bar_panel(
            x0, y0, PW, PH, bars, "batch size",
            title="%s on %s, %.0f GB" % (model, target, budget / GB), refs=refs))
    with open(os.path.join(RESULTS, "largest_batch.svg"), "w") as f:
        f.write(svgplot.document(W, H, "\n".join(parts), "largest batch"))
    log("wrote largest-batch plot")


# ----------------------------------------------------------------------------
# summary

def git_info():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" (working tree modified)" if dirty else "")
    except OSError:
        return "unknown"


def summary(meta, depth_rows, expo, ov_rows, ct_rows, mb_rows):
    L = []
    a = L.append
    a("# densenetc plan quality")
    a("")
    a("Generated by `python3 bench/plan_quality/run.py` on %s (commit %s, "
      "binary `%s` copied at start). Runtime %.0f s with %d worker(s) on %s "
      "(%d CPUs, load average %s at start, %s at end)." % (
          meta["date"], meta["commit"], meta["bin"], meta["runtime"], meta["workers"],
          meta["machine"], meta["cpus"], meta["load_start"], meta["load_end"]))
    a("")
    a("**Caveat:** step times and recompute overheads are the compiler's roofline "
      "*predictions* from its target profiles (vendor peak FLOP/s and bandwidth, "
      "`docs/memory-model.md`), not measurements on a GPU; they rank plans. Memory "
      "figures are the plan's exact byte accounting, with the target's *estimated* "
      "reserve (CUDA context etc.) added where a figure includes it. Compile times "
      "are measured wall time of the `densenetc` process on this machine, which "
      "was shared with other jobs. GB = 10^9 bytes.")
    a("")

    # 1
    a("## 1. Peak activation memory vs depth")
    a("")
    a("DenseNet-BC on CIFAR (3x32x32), k=12, three blocks of n = (L-4)/6 bottleneck "
      "layers, 24 initial features, compression 0.5, batch 64, target `cuda`. "
      "\"Activation memory at the peak\" = `peak_breakdown.activations + "
      "activation_gradients` at the plan's peak step. `optimal-min` plans with "
      "`--policy optimal` at exactly its `--min-budget`.")
    a("")
    a("| policy | exponent, deepest two (598->1000) | least squares, all depths | "
      "shallowest two (40->100) |")
    a("|---|---|---|---|")
    for pol, e in expo.items():
        a("| %s | **%.3f** | %.3f | %.3f |" % (pol, e["deepest_two"],
                                              e["least_squares"], e["shallowest_two"]))
    a("")
    a("`naive (stats)` is `--emit stats`' `naive_activation_bytes` (every forward "
      "output, no freeing), for reference.")
    a("")
    a("![linear](depth_activation_linear.svg)")
    a("")
    a("![log-log](depth_activation_loglog.svg)")
    a("")
    a("| L | n | policy | act. at peak (GB) | predicted peak (GB) | arena (GB) | "
      "weights (MB) | step (s) | recompute (% of step) | peak phase | proven optimal "
      "| compile (s) |")
    a("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in depth_rows:
        a("| %d | %d | %s | %.3f | %.3f | %.3f | %.1f | %.3f | %s | %s | %s | %.2f |" % (
            r["depth"], r["layers_per_block"], r["policy"], r["act_at_peak_bytes"] / GB,
            r["predicted_peak_bytes"] / GB, r["arena_bytes"] / GB,
            r["peak_weights"] / 1e6, r["step_seconds"], fmt_pct(r["recompute_pct_of_step"]),
            r["peak_phase"], fmt_proof(r), r["compile_seconds"]))
    a("")
    deep = [r for r in depth_rows if r["depth"] == max(x["depth"] for x in depth_rows)]
    byp = {r["policy"]: r for r in deep}
    if "none" in byp and "optimal-min" in byp:
        a("At L=%d the naive plan holds %.1f GB of activations at its peak, the "
          "min-budget plan %.2f GB (%.0fx less), for %.1f%% of its step spent "
          "recomputing." % (
              deep[0]["depth"], byp["none"]["act_at_peak_bytes"] / GB,
              byp["optimal-min"]["act_at_peak_bytes"] / GB,
              byp["none"]["act_at_peak_bytes"] / byp["optimal-min"]["act_at_peak_bytes"],
              byp["optimal-min"]["recompute_pct_of_step"]))
        a("")

    # 2
    a("## 2. Recompute overhead vs budget")
    a("")
    a("Budgets from `--policy optimal --min-budget` to `--policy keep --min-budget` in "
      "%d equal steps, planned with `--policy optimal`; `all` and `sqrt` planned at their "
      "own min budget, and `optimal` also at those two budgets. Overhead = "
      "`recompute_seconds / predicted_step_seconds`; \"slowdown\" = recompute / "
      "(step - recompute), the time added relative to no recomputation." % OVERHEAD_STEPS)
    a("")
    a("![overhead](overhead_vs_budget.svg)")
    a("")
    a("| model | batch | target | min budget (GB) | keep (GB) | none (GB) | "
      "optimal overhead range | all: budget, overhead | sqrt: budget, overhead | "
      "optimal at all's budget | optimal at sqrt's budget |")
    a("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, batch, target in OVERHEAD_MODELS:
        mr = [r for r in ov_rows if r["model"] == model]
        if not mr:
            continue
        sw = [r for r in mr if r["kind"] == "sweep"]
        ovs = [r["recompute_pct_of_step"] for r in sw]

        def one(kind, pol):
            x = [r for r in mr if r["kind"] == kind and r["policy"] == pol]
            return x[0] if x else None
        al, sq = one("own-min", "all"), one("own-min", "sqrt")
        oa, osq = one("at-all-min", "optimal"), one("at-sqrt-min", "optimal")
        a("| %s | %d | %s | %s | %s | %s | %.1f%% .. %.1f%% | %s, %s | %s, %s | %s | %s |" % (
            model, batch, target, fmt_gb(mr[0]["min_budget_optimal"], 3),
            fmt_gb(mr[0]["min_budget_keep"], 3), fmt_gb(mr[0]["min_budget_none"], 3),
            max(ovs), min(ovs),
            fmt_gb(al and al["budget_bytes"], 3), fmt_pct(al and al["recompute_pct_of_step"]),
            fmt_gb(sq and sq["budget_bytes"], 3), fmt_pct(sq and sq["recompute_pct_of_step"]),
            fmt_pct(oa and oa["recompute_pct_of_step"]),
            fmt_pct(osq and osq["recompute_pct_of_step"])))
    a("")
    a("Every planned point (budget, overhead, slowdown, solver proof):")
    a("")
    a("| model | kind | policy | budget (GB) | predicted peak (GB) | overhead (% of step) "
      "| slowdown | step (s) | layers recomputed (norm-relu / layer) | fragmentation | proven optimal |")
    a("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in ov_rows:
        a("| %s | %s | %s | %s | %.3f | %s | %s | %.4f | %d / %d | %.2f%% | %s |" % (
            r["model"], r["kind"], r["policy"],
            "unlimited" if r["budget_bytes"] is None else fmt_gb(r["budget_bytes"], 3),
            r["predicted_peak_bytes"] / GB, fmt_pct(r["recompute_pct_of_step"]),
            fmt_pct(r["slowdown_pct"]), r["step_seconds"],
            r["n_recompute_norm_relu"], r["n_recompute_layer"],
            100 * r["fragmentation"], fmt_proof(r)))
    a("")

    # 3
    a("## 3. Compile time (%s, batch %d, %s)" % COMPILE_MODEL)
    a("")
    a("Wall time of one `densenetc` process writing the plan with `-o` (median of %d, "
      "run one at a time), at %d budgets from the smallest to keep-everything. By "
      "default the solver's search stops at 2^24 states, past which a plan is proven "
      "only to within a bound; `--prove-optimal` raises that to 2^26 (one run each)."
      % (COMPILE_REPEATS, COMPILE_BUDGETS))
    a("")
    planned = [r for r in ct_rows if r["what"] == "plan (optimal)"]
    if planned:
        medians = sorted(r["median_seconds"] for r in planned)
        a("Default search: slowest budget %.3f s (median of its runs), median over "
          "budgets %.3f s; %d of %d plans proven optimal." % (
              medians[-1], medians[len(medians) // 2],
              sum(1 for r in planned if r["proven_optimal"] == "yes"), len(planned)))
        a("")
    a("| what | budget (GB) | median (s) | runs (s) | recompute (% of step) | "
      "proven optimal |")
    a("|---|---|---|---|---|---|")
    for r in ct_rows:
        a("| %s | %s | %.3f | %s | %s | %s |" % (
            r["what"].replace("--prove-optimal", "`--prove-optimal`"),
            ("unlimited" if r["budget_bytes"] is None and r["what"].startswith("plan")
                        else "-" if r["budget_bytes"] is None else fmt_gb(r["budget_bytes"], 3)),
            r["median_seconds"], r["all_seconds"],
            fmt_pct(r.get("recompute_pct_of_step")) if "recompute_pct_of_step" in r else "-",
            r.get("proven_optimal", "-")))
    a("")
    dmax = [r for r in depth_rows if r["policy"] == "optimal-min"]
    if dmax:
        r = max(dmax, key=lambda x: x["depth"])
        a("For scale: DenseNet-BC L=%d (%d segments) at its min budget took %.2f s to plan "
          "and %.2f s for `--min-budget`." % (r["depth"], r["segments"], r["compile_seconds"],
                                              r.get("min_budget_seconds", float("nan"))))
        a("")

    # 4
    a("## 4. Largest batch that fits")
    a("")
    a("Bisection on `--batch-size` for the largest batch whose `--min-budget` (for "
      "that policy) is at most the budget; the budget includes the target's reserve. "
      "Then planned at that batch and budget for the predicted time. \"hint\" is the "
      "batch densenetc's own error message suggests when asked for one more image "
      "than fits and for 4x+4 images (both should equal the bisection; 0 = "
      "\"not even batch 1 fits\").")
    a("")
    a("![largest batch](largest_batch.svg)")
    a("")
    a("| model | target | budget | policy | largest batch | min budget there (GB) | "
      "overhead (% of step) | slowdown | predicted images/s | fragmentation | hint at +1 | hint at 4x+4 |")
    a("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in mb_rows:
        a("| %s | %s | %.0f GB | %s | **%s** | %s | %s | %s | %s | %s | %s | %s |" % (
            r["model"], r["target"], r["budget_bytes"] / GB, r["policy"],
            "{:,}".format(r["largest_batch"]), fmt_gb(r["min_budget_at_largest"], 3),
            fmt_pct(r.get("recompute_pct_of_step")), fmt_pct(r.get("slowdown_pct")),
            "%.0f" % r["images_per_second"] if r.get("images_per_second") else "-",
            "%.2f%%" % (100 * r["fragmentation"]) if "fragmentation" in r else "-",
            r.get("hint_at_batch_plus1", "-"), r.get("hint_at_batch_x4", "-")))
    a("")
    tf = {r["policy"]: r for r in mb_rows if r["model"] == "tf-densenet121-cifar"
          and r["target"] == "titan-x-12gb" and r["budget_bytes"] == 12_000_000_000}
    if tf:
        a("### Against the TensorFlow memory-efficient DenseNet")
        a("")
        a("Its README (joeyearsley/efficient_densenet_tensorflow, \"Example setup for a "
          "12gb Nvidia GPU\") trains DenseNet-121 on CIFAR-10 at batch %d without and "
          "%d with `recompute_grad` on every dense layer (x%.2f), quoting %s time "
          "overhead. Those are working example sizes measured under TensorFlow (its "
          "allocator, cuDNN workspaces and framework overhead included), not "
          "necessarily maxima; ours are predictions from the plan's exact byte count "
          "plus the `titan-x-12gb` profile's estimated 384 MiB reserve, within 12e9 "
          "bytes." % (TF_BATCH_PLAIN, TF_BATCH_RECOMPUTE,
                      TF_BATCH_RECOMPUTE / TF_BATCH_PLAIN, TF_OVERHEAD))
        a("")
        a("| densenetc policy | largest batch | vs TF 3750 | vs TF 6000 | predicted slowdown |")
        a("|---|---|---|---|---|")
        for pol in MAXBATCH_POLICIES:
            if pol in tf:
                r = tf[pol]
                a("| %s | %s | x%.2f | x%.2f | %s |" % (
                    pol, "{:,}".format(r["largest_batch"]),
                    r["largest_batch"] / TF_BATCH_PLAIN,
                    r["largest_batch"] / TF_BATCH_RECOMPUTE,
                    fmt_pct(r.get("slowdown_pct"))))
        a("")
        if "none" in tf and "all" in tf and tf["none"]["largest_batch"]:
            a("Ratio all/none here: x%.2f (TF: x%.2f); optimal/none: x%.2f; "
              "keep/none (shared concatenation buffers alone): x%.2f." % (
                  tf["all"]["largest_batch"] / tf["none"]["largest_batch"],
                  TF_BATCH_RECOMPUTE / TF_BATCH_PLAIN,
                  tf["optimal"]["largest_batch"] / tf["none"]["largest_batch"],
                  tf["keep"]["largest_batch"] / tf["none"]["largest_batch"]))
            a("")

    # checks
    a("## Consistency checks")
    a("")
    a("Every plan (%d compiled) is checked: `peak_breakdown` sums to "
      "`predicted_peak_bytes`; the live peak recomputed here from the plan's buffers and "
      "steps (docs/plan-format.md, \"Liveness\") equals `predicted_peak_bytes - "
      "reserve_bytes`; the arena holds the live peak; a budgeted plan stays within its "
      "budget; `keep`/`none` recompute nothing. Any failure is listed under Notes. "
      "Plus the checks below." % len(ALL_PLANS))
    a("")
    passed = sum(1 for c in CHECKS if c[2])
    a("%d of %d checks passed." % (passed, len(CHECKS)))
    a("")
    for sec, desc, ok in CHECKS:
        if not ok:
            a("- FAILED (%s): %s" % (sec, desc))
    if ANOMALIES:
        a("")
        a("Notes (findings, unexpected results, errors):")
        a("")
        for sec, msg in ANOMALIES:
            a("- (%s) %s" % (sec, msg))
    else:
        a("No anomalies noted.")
    a("")
    with open(os.path.join(RESULTS, "summary.md"), "w") as f:
        f.write("\n".join(L))
    log("wrote summary.md")


# ----------------------------------------------------------------------------

def main():
    global BIN, TMP
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get(
        "DENSENETC", os.path.join(ROOT, "build", "bin", "densenetc")))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="fewer depths and budgets, to try the script")
    args = ap.parse_args()
    workers = max(1, min(2, args.workers))
    if not os.access(args.bin, os.X_OK):
        sys.exit("densenetc not found or not executable: %s" % args.bin)
    os.makedirs(RESULTS, exist_ok=True)
    TMP = tempfile.mkdtemp(prefix="plan_quality.")
    # A copy, so that a rebuild of build/bin during the run cannot disturb it.
    BIN = os.path.join(TMP, "densenetc")
    shutil.copy2(args.bin, BIN)
    load_start = "%.2f" % os.getloadavg()[0]
    depths = DEPTHS if not args.quick else [40, 100, 190]
    ov_steps = OVERHEAD_STEPS if not args.quick else 3
    log("densenetc %s; results in %s" % (args.bin, os.path.relpath(RESULTS, ROOT)))
    try:
        log("== 1. depth sweep (serial, compile times recorded)")
        depth_rows = depth_sweep(depths)
        expo = growth_exponents(depth_rows)
        for pol, e in expo.items():
            log("growth exponent %-14s deepest two %.3f  least squares %.3f" % (
                pol, e["deepest_two"], e["least_squares"]))
        write_csv("depth.csv", depth_rows, first=("depth", "layers_per_block", "policy"))
        depth_plots(depth_rows, expo)

        log("== 3. compile time (serial)")
        ct_rows = compile_times(COMPILE_MODEL, COMPILE_BUDGETS,
                                COMPILE_REPEATS if not args.quick else 1)
        write_csv("compile_time.csv", ct_rows)

        log("== 2. overhead vs budget (%d workers)" % workers)
        ov = run_parallel(lambda c: overhead_model(c, ov_steps), OVERHEAD_MODELS, workers)
        ov_rows = [r for rs in ov for r in rs]
        overhead_checks(ov_rows)
        write_csv("overhead.csv", ov_rows, first=("model", "batch", "target", "kind", "policy"))
        overhead_plot(ov_rows)

        log("== 4. largest batch (%d workers)" % workers)
        items = [(m, t, b, p) for (m, t, b) in MAXBATCH_CONFIGS for p in MAXBATCH_POLICIES]
        mb_rows = run_parallel(largest_batch, items, workers)
        write_csv("max_batch.csv", mb_rows)
        maxbatch_plot(mb_rows)

        byd = {}
        for r in depth_rows:
            byd.setdefault(r["depth"], {})[r["policy"]] = r
        for L, d in sorted(byd.items()):
            if {"none", "keep", "all", "sqrt", "optimal-min"} <= set(d):
                pk = {p: d[p]["predicted_peak_bytes"] for p in d}
                check("depth", "L=%d: predicted peak none >= keep >= optimal-min, and "
                      "all, sqrt >= optimal-min" % L,
                      pk["none"] >= pk["keep"] >= pk["optimal-min"]
                      and min(pk["all"], pk["sqrt"]) >= pk["optimal-min"])
        meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                "commit": git_info(), "bin": os.path.relpath(args.bin, ROOT),
                "runtime": time.time() - T0, "workers": workers,
                "machine": platform.machine(), "cpus": os.cpu_count(),
                "load_start": load_start, "load_end": "%.2f" % os.getloadavg()[0]}
        plan_quality_notes(ALL_PLANS)
        summary(meta, depth_rows, expo, ov_rows, ct_rows, mb_rows)
        with open(os.path.join(RESULTS, "growth_exponents.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["policy", "deepest_two", "least_squares", "shallowest_two"])
            for pol, e in expo.items():
                w.writerow([pol, "%.4f" % e["deepest_two"], "%.4f" % e["least_squares"],
                            "%.4f" % e["shallowest_two"]])
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    log("done in %.0f s; %d notes, %d/%d checks passed" % (
        time.time() - T0, len(ANOMALIES), sum(1 for c in CHECKS if c[2]), len(CHECKS)))


if __name__ == "__main__":
    main()
