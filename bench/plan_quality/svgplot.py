"""Minimal hand-written SVG charts (python3 stdlib only).

Line charts with linear or logarithmic axes, small multiples and horizontal
bar panels, enough for the plan-quality benchmark. No external dependencies.
"""

import math

PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00",
           "#56B4E9", "#000000"]
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


def fmt_tick(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 1e-3:
        return "%.0e" % v
    if a >= 100:
        return "{:,.0f}".format(v)
    s = ("%.3f" % v).rstrip("0").rstrip(".")
    return s


def linear_ticks(lo, hi, n=6):
    if hi <= lo:
        hi = lo + 1.0
    span = hi - lo
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if span / step <= n:
            break
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    t = start
    while t < hi - 1e-9 * step:
        ticks.append(t)
        t += step
    ticks.append(t)
    return [round(x, 12) for x in ticks]


def log_ticks(lo, hi):
    """Ticks at 1, 2, 5 x 10^k (only 10^k beyond four decades) within
    [lo, hi]; the axis spans the data with a little room, not whole decades."""
    d0 = math.floor(math.log10(lo) + 1e-12)
    d1 = math.ceil(math.log10(hi) - 1e-12)
    mults = (1,) if math.log10(hi / lo) > 4 else (1, 2, 5)
    major = [10.0 ** d for d in range(d0, d1 + 1)]
    ticks = []
    for d in range(d0, d1 + 1):
        for m in mults:
            v = m * 10.0 ** d
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                ticks.append(v)
    return ticks, major


class Scale:
    def __init__(self, lo, hi, p0, p1, log=False, zero=False, pad=0.0):
        self.log = log
        if log:
            lo, hi = lo / 1.15, hi * 1.15
            self.ticks, self.major = log_ticks(lo, hi)
            self.lo, self.hi = lo, hi
        else:
            if zero:
                lo = min(0.0, lo)
            if pad and hi > lo:
                hi = hi + (hi - lo) * pad
            self.ticks = linear_ticks(lo, hi)
            self.major = self.ticks
            self.lo, self.hi = self.ticks[0], self.ticks[-1]
        self.p0, self.p1 = p0, p1

    def __call__(self, v):
        if self.log:
            f = ((math.log10(v) - math.log10(self.lo))
                 / (math.log10(self.hi) - math.log10(self.lo)))
        else:
            f = (v - self.lo) / (self.hi - self.lo)
        return self.p0 + f * (self.p1 - self.p0)


def marker(kind, x, y, color, size=4.0):
    if kind == "square":
        s = size * 1.7
        return ('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                'fill="%s" stroke="white" stroke-width="0.8"/>'
                % (x - s / 2, y - s / 2, s, s, color))
    if kind == "triangle":
        s = size * 1.25
        return ('<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s" '
                'stroke="white" stroke-width="0.8"/>'
                % (x, y - s * 1.2, x - s, y + s * 0.8, x + s, y + s * 0.8,
                   color))
    if kind == "diamond":
        s = size * 1.3
        return ('<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" '
                'fill="%s" stroke="white" stroke-width="0.8"/>'
                % (x, y - s, x + s, y, x, y + s, x - s, y, color))
    if kind == "none":
        return ""
    return ('<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s" stroke="white" '
            'stroke-width="0.8"/>' % (x, y, size, color))


def text(x, y, s, size=12, anchor="start", weight="normal", color="#222",
         rotate=None, baseline=None):
    tr = ' transform="rotate(%d %.1f %.1f)"' % (rotate, x, y) if rotate else ""
    bl = ' dominant-baseline="%s"' % baseline if baseline else ""
    return ('<text x="%.1f" y="%.1f" font-size="%s" text-anchor="%s" '
            'font-weight="%s" fill="%s"%s%s>%s</text>'
            % (x, y, size, anchor, weight, color, tr, bl, esc(s)))


def line_panel(x0, y0, w, h, series, xlabel, ylabel, title=None,
               xlog=False, ylog=False, yzero=True, vlines=(), legend=None,
               xzero=False):
    """Plot area is [x0+left, x0+w-right] x [y0+top, y0+h-bottom].

    series: dicts with name, color, points [(x, y)], optional dash, marker,
    line (bool). vlines: (x, label, color). legend: None, 'right' or
    'top-left' / 'top-right' / 'bottom-right' (inside the plot area)."""
    left, right, top, bottom = 72, 16, 34 if title else 14, 48
    if legend == "right":
        right = 210
    px0, px1 = x0 + left, x0 + w - right
    py0, py1 = y0 + h - bottom, y0 + top
    xs = [p[0] for s in series for p in s["points"]] + [v[0] for v in vlines]
    ys = [p[1] for s in series for p in s["points"]]
    if ylog:
        ys = [y for y in ys if y > 0]
    if xlog:
        xs = [x for x in xs if x > 0]
    if not xs or not ys:
        xs, ys = [0, 1], [0, 1]
    sx = Scale(min(xs), max(xs), px0, px1, log=xlog, zero=xzero)
    sy = Scale(min(ys), max(ys), py0, py1, log=ylog, zero=yzero, pad=0.04)
    out = []
    if title:
        out.append(text(x0 + left, y0 + 20, title, 14, weight="bold"))
    out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                'fill="white" stroke="#888" stroke-width="1"/>'
                % (px0, py1, px1 - px0, py0 - py1))
    for t in sx.ticks:
        X = sx(t)
        major = (not xlog) or t in sx.major
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="%s" stroke-width="1"/>'
                   % (X, py0, X, py1, "#e2e2e2" if major else "#f0f0f0"))
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="#888"/>' % (X, py0, X, py0 + 4))
        out.append(text(X, py0 + 17, fmt_tick(t), 11, "middle"))
    for t in sy.ticks:
        Y = sy(t)
        major = (not ylog) or t in sy.major
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="%s" stroke-width="1"/>'
                   % (px0, Y, px1, Y, "#e2e2e2" if major else "#f0f0f0"))
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="#888"/>' % (px0 - 4, Y, px0, Y))
        out.append(text(px0 - 7, Y + 4, fmt_tick(t), 11, "end"))
    out.append(text((px0 + px1) / 2, py0 + 38, xlabel, 12, "middle"))
    out.append(text(x0 + 16, (py0 + py1) / 2, ylabel, 12, "middle",
                    rotate=-90))
    for (vx, vlabel, vcolor) in vlines:
        X = sx(vx)
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="%s" stroke-dasharray="5,4" stroke-width="1.2"/>'
                   % (X, py0, X, py1, vcolor))
        out.append(text(X - 4, py0 - 8, vlabel, 10.5, "end", color=vcolor))
    for s in series:
        pts = [(sx(x), sy(y)) for x, y in s["points"]
               if (not xlog or x > 0) and (not ylog or y > 0)]
        if s.get("line", True) and len(pts) > 1:
            dash = (' stroke-dasharray="%s"' % s["dash"]) if s.get("dash") else ""
            out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s '
                       'points="%s"/>' % (s["color"], dash, " ".join(
                           "%.1f,%.1f" % p for p in pts)))
        for X, Y in pts:
            out.append(marker(s.get("marker", "circle"), X, Y, s["color"]))
    if legend:
        out.append(legend_box(series, legend, px0, px1, py0, py1))
    return "\n".join(out)


def legend_box(series, where, px0, px1, py0, py1):
    lh = 18
    wmax = max(len(s["name"]) for s in series) * 6.6 + 40
    hbox = lh * len(series) + 8
    if where == "right":
        lx, ly = px1 + 14, py1
    elif where == "top-right":
        lx, ly = px1 - wmax - 8, py1 + 8
    elif where == "bottom-right":
        lx, ly = px1 - wmax - 8, py0 - hbox - 8
    else:
        lx, ly = px0 + 8, py1 + 8
    out = ['<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="white" '
           'fill-opacity="0.92" stroke="#bbb"/>' % (lx, ly, wmax, hbox)]
    for i, s in enumerate(series):
        cy = ly + 4 + lh * i + lh / 2
        if s.get("line", True):
            dash = (' stroke-dasharray="%s"' % s["dash"]) if s.get("dash") else ""
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                       'stroke="%s" stroke-width="2"%s/>'
                       % (lx + 6, cy, lx + 28, cy, s["color"], dash))
        out.append(marker(s.get("marker", "circle"), lx + 17, cy, s["color"]))
        out.append(text(lx + 34, cy + 4, s["name"], 11))
    return "\n".join(out)


def bar_panel(x0, y0, w, h, bars, xlabel, title=None, refs=()):
    """Horizontal bars: bars = [(label, value, color, annotation)];
    refs = [(x, label, color)] vertical reference lines."""
    left, right, top, bottom = 100, 150, 34 if title else 12, 44
    px0, px1 = x0 + left, x0 + w - right
    py0, py1 = y0 + h - bottom, y0 + top
    vals = [b[1] for b in bars] + [r[0] for r in refs]
    sx = Scale(0, max(vals + [1]), px0, px1, pad=0.02)
    out = []
    if title:
        out.append(text(x0 + 10, y0 + 20, title, 13, weight="bold"))
    out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
               'fill="white" stroke="#888"/>' % (px0, py1, px1 - px0, py0 - py1))
    for t in sx.ticks:
        X = sx(t)
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="#e2e2e2"/>' % (X, py0, X, py1))
        out.append(text(X, py0 + 16, fmt_tick(t), 10.5, "middle"))
    out.append(text((px0 + px1) / 2, py0 + 34, xlabel, 11.5, "middle"))
    n = len(bars)
    slot = (py0 - py1) / max(n, 1)
    for i, (label, v, color, ann) in enumerate(bars):
        yc = py1 + slot * (i + 0.5)
        bh = slot * 0.62
        out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                   'fill="%s"/>' % (px0, yc - bh / 2, max(sx(v) - px0, 0.5),
                                    bh, color))
        out.append(text(px0 - 6, yc + 4, label, 11, "end"))
        out.append(text(sx(v) + 4, yc + 4, ann, 10.5))
    for (rx, rlabel, rcolor) in refs:
        X = sx(rx)
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                   'stroke="%s" stroke-dasharray="5,4" stroke-width="1.5"/>'
                   % (X, py0, X, py1 - 4, rcolor))
        out.append(text(X, py1 - 7, rlabel, 10, "middle", color=rcolor))
    return "\n".join(out)


def document(width, height, body, title=None):
    head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'viewBox="0 0 %d %d" font-family="%s">\n'
            % (width, height, width, height, FONT))
    if title:
        head += "<title>%s</title>\n" % esc(title)
    head += '<rect width="100%" height="100%" fill="white"/>\n'
    return head + body + "\n</svg>\n"
