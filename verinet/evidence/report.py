"""Human-readable reports of certificates (Markdown or self-contained HTML), with plots for reviews.

A report says what was analysed (the model file by name and SHA-256, the region, the norm and the
output), the result with its meaning in one sentence, the limits of the claim, the evidence and the
statistics. Plots (matplotlib, imported lazily, drawn on an Agg canvas without touching pyplot's global
state) show the anytime convergence of the bounds, the partition coloured by leaf bound (1-D and 2-D
inputs) and the per-input gradient enclosure. Without matplotlib the report renders without plots and
says so.

Numbers shown in prose are rounded *outward* to 17 significant digits (an upper bound up, a lower bound
down), so a displayed bound is never stronger than the certified one; the exact values are listed too.
"""

from __future__ import annotations

import base64
import decimal
import html
import io
import os
from fractions import Fraction
from pathlib import Path

__all__ = ["render_report"]

_NORM = {"inf": "l∞", "2": "l2", "1": "l1"}
_DUAL = {"inf": "1", "2": "2", "1": "inf"}
_STATUS = {
    "converged": "converged: the relative gap reached the tolerance",
    "time_limit": "stopped at the time limit: the bounds are valid but not tight",
    "box_limit": "stopped at the box budget: the bounds are valid but not tight",
    "resolution": "stopped at the arithmetic's resolution: the bounds are valid, the gap cannot shrink further",
}


# ============================================================================================ numbers
def _frac(value) -> Fraction:
    """Exact value of a number from the certificate (the one parser, with its limits; ValueError if bad)."""
    from verinet.exactfmt import parse_exact

    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    if not isinstance(value, str):
        raise ValueError(f"expected an exact number as text, got {type(value).__name__}")
    return parse_exact(value, "", float_range=False)


def _dec(s: str, rounding: str, digits: int = 17) -> str:
    """Exact string ``s`` rounded to ``digits`` significant digits in the given direction."""
    q = _frac(s)
    with decimal.localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = rounding
        d = decimal.Decimal(q.numerator) / decimal.Decimal(q.denominator)  # one directed rounding
        out = format(d, "f") if abs(d) >= decimal.Decimal("1e-6") or d == 0 else format(d, "e")
    return out


def _up(s: str) -> str:
    return _dec(s, decimal.ROUND_CEILING)


def _down(s: str) -> str:
    return _dec(s, decimal.ROUND_FLOOR)


def _near(s: str, digits: int = 10) -> str:
    return _dec(s, decimal.ROUND_HALF_EVEN, digits)


def _vector(values: list, limit: int = 6) -> str:
    """Exact strings when they are short, else about 17 significant digits and a leading ``≈``."""
    values = [str(v) for v in values]
    approx = any(len(v) > 24 for v in values[:limit])
    shown = ", ".join(_near(v, 17) if approx else v for v in values[:limit])
    more = f", … ({len(values)} coordinates)" if len(values) > limit else ""
    return f"{'≈ ' if approx else ''}({shown}{more})"


# ============================================================================================ document model
class _Doc:
    """A report as a list of blocks, rendered to Markdown or HTML by the same code path."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[tuple] = []

    def h2(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def callout(self, text: str, tone: str = "ok") -> None:
        self.blocks.append(("callout", text, tone))

    def items(self, items: list[str]) -> None:
        self.blocks.append(("list", items))

    def table(self, rows: list[tuple[str, str]]) -> None:
        self.blocks.append(("table", rows))

    def image(self, name: str, png: bytes, caption: str) -> None:
        self.blocks.append(("img", name, png, caption))


def _inline_html(text: str) -> str:
    """Escape, then turn `code` spans into <code> and **bold** into <strong>."""
    parts = text.split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            bold = html.escape(part).split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


_CSS = """
body{margin:0;background:#eef0f3;color:#1c2330;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
 "DejaVu Sans",sans-serif}
main{max-width:980px;margin:0 auto;padding:28px 36px 48px;background:#fff;box-sizing:border-box;min-height:100vh}
h1{font-size:1.55em;margin:0 0 .2em;line-height:1.25}
h2{font-size:1.2em;margin:1.8em 0 .6em;padding-bottom:.25em;border-bottom:1px solid #d8dde5}
p,li{max-width:100%;overflow-wrap:anywhere}
ul{padding-left:1.3em}
table{border-collapse:collapse;width:100%;table-layout:fixed;margin:.4em 0 1em}
th,td{border:1px solid #d8dde5;padding:6px 9px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{width:26%;background:#f3f5f8;font-weight:600}
code{font:13px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;background:#f3f5f8;
 padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
.callout{padding:12px 16px;border-radius:6px;margin:1em 0;border-left:6px solid}
.ok{background:#e9f5ec;border-color:#2e7d32}.warn{background:#fff5e0;border-color:#c77700}
.bad{background:#fdecea;border-color:#c62828}.info{background:#eaf1fb;border-color:#2f6fba}
figure{margin:1.2em 0}figure img{display:block;max-width:100%;height:auto;border:1px solid #e3e6eb}
figcaption{color:#555;font-size:.92em;margin-top:.3em}
.subtitle{color:#555;margin:0 0 1em}
"""


def _to_html(doc: _Doc, subtitle: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{html.escape(doc.title)}</h1>",
        f'<p class="subtitle">{_inline_html(subtitle)}</p>',
    ]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h2":
            out.append(f"<h2>{html.escape(block[1])}</h2>")
        elif kind == "p":
            out.append(f"<p>{_inline_html(block[1])}</p>")
        elif kind == "callout":
            out.append(f'<div class="callout {block[2]}">{_inline_html(block[1])}</div>')
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            rows = "".join(f"<tr><th>{_inline_html(k)}</th><td>{_inline_html(v)}</td></tr>" for k, v in block[1])
            out.append(f"<table>{rows}</table>")
        elif kind == "img":
            _, _name, png, caption = block
            data = base64.b64encode(png).decode("ascii")
            out.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{_inline_html(caption)}</figcaption></figure>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _to_md(doc: _Doc, subtitle: str, plot_dir: Path | None, prefix: str) -> str:
    out = [f"# {doc.title}", "", subtitle, ""]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h2":
            out += [f"## {block[1]}", ""]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "callout":
            out += [f"> {block[1]}", ""]
        elif kind == "list":
            out += [f"* {i}" for i in block[1]] + [""]
        elif kind == "table":
            out += ["| | |", "|---|---|"] + [f"| **{_md_cell(k)}** | {_md_cell(v)} |" for k, v in block[1]] + [""]
        elif kind == "img":
            _, name, png, caption = block
            if plot_dir is not None:
                fname = f"{prefix}-{name}.png"
                (plot_dir / fname).write_bytes(png)
                target = fname
            else:
                target = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            out += [f"![{caption}]({target})", "", f"*{caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


# ============================================================================================ plots
def _matplotlib():
    """``(Figure, FigureCanvasAgg)`` or None when matplotlib is not installed (no global state touched)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure, FigureCanvasAgg


def _png(fig, canvas_cls) -> bytes:
    canvas_cls(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _plot_history(mpl, history: list) -> bytes | None:
    rows = [r for r in history if isinstance(r, list) and len(r) == 4]
    if not rows:
        return None
    Figure, Canvas = mpl
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    t = [max(float(r[0]), 0.0) for r in rows]
    boxes = [int(r[1]) for r in rows]
    lo = [float(r[2]) for r in rows]
    up = [float(r[3]) for r in rows]
    few = len(rows) <= 12
    mark = {"marker": "o", "ms": 4} if few else {}
    fig = Figure(figsize=(9.0, 3.4))  # fixed axes positions: constrained layout costs ~0.5 s per figure
    ax1 = fig.add_axes((0.09, 0.15, 0.37, 0.73))
    ax2 = fig.add_axes((0.60, 0.15, 0.37, 0.73))
    ax1.step(t, lo, where="post", color="#2f6fba", label="lower bound L", **mark)
    ax1.step(t, up, where="post", color="#c62828", ls="--", label="upper bound U", **mark)
    ax1.set_xlabel("seconds")
    ax1.set_ylabel("Lipschitz bound")
    ax1.set_title("Bounds over time")
    ax1.set_xlim(0.0, max(t) * 1.05 if max(t) > 0 else 1.0)
    ax1.legend(loc="best", fontsize=8)
    fmt = ScalarFormatter(useOffset=True)
    fmt.set_powerlimits((-3, 4))
    ax1.yaxis.set_major_formatter(fmt)
    gap = [max((u - v) / u if u > 0 else 0.0, 1e-17) for u, v in zip(up, lo)]
    ax2.step(boxes, gap, where="post", color="#444", **mark)
    ax2.set_yscale("log")
    ax2.set_xlabel("boxes evaluated")
    ax2.set_ylabel("relative gap (U − L)/U")
    ax2.set_title("Gap over boxes")
    if max(boxes) == min(boxes):
        ax2.set_xlim(min(boxes) - 1, max(boxes) + 1)
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=ax is ax2))
        ax.grid(True, alpha=0.3)
    return _png(fig, Canvas)


def _plot_partition(mpl, cert: dict) -> bytes | None:
    ev = cert.get("evidence", {})
    leaves = ev.get("leaves") or []
    region = cert.get("query", {}).get("region", {})
    n = len(region.get("lower", []))
    if n not in (1, 2) or not leaves or not isinstance(leaves, list):  # a leaf table (.npz) is not drawn
        return None
    Figure, Canvas = mpl
    from matplotlib import colors
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Circle, Polygon, Rectangle

    centre = [float(_frac(c)) for c in region["center"]] if region.get("center") else [0.0] * n
    rel = "center" in region
    lo = [[float(_frac(v)) - c for v, c in zip(leaf["lower"], centre)] for leaf in leaves]
    hi = [[float(_frac(v)) - c for v, c in zip(leaf["upper"], centre)] for leaf in leaves]
    b = [float(_frac(leaf["bound"])) for leaf in leaves]
    norm = colors.Normalize(vmin=min(b), vmax=max(b) if max(b) > min(b) else min(b) + 1e-300)
    fig = Figure(figsize=(9.0, 5.4) if n == 2 else (9.0, 3.4))
    ax = fig.add_axes((0.09, 0.10, 0.72, 0.80) if n == 2 else (0.08, 0.15, 0.74, 0.73))
    label = [f"x{i + 1} − c{i + 1}" if rel else f"x{i + 1}" for i in range(n)]
    # leaves that fix neuron signs share a box: draw in increasing bound so the largest shows on top
    order = sorted(range(len(b)), key=b.__getitem__)
    lo, hi, b = [lo[i] for i in order], [hi[i] for i in order], [b[i] for i in order]
    if n == 1:
        bars = [Rectangle((a[0], 0.0), z[0] - a[0], v) for a, z, v in zip(lo, hi, b)]
        coll = PatchCollection(bars, cmap="viridis", norm=norm, edgecolor="none")
        coll.set_array(b)
        ax.add_collection(coll)
        ax.set_xlim(min(v[0] for v in lo), max(v[0] for v in hi))
        ax.set_ylim(0.0, max(b) * 1.08 if max(b) > 0 else 1.0)
        w = ev.get("witness")
        if isinstance(w, dict) and w.get("point"):
            ax.axvline(float(_frac(w["point"][0])) - centre[0], color="#e53935", ls=":", lw=1.5,
                       label="witness of the lower bound")
            ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
        ax.set_xlabel(label[0])
        ax.set_ylabel("leaf bound")
    else:
        edge = "white" if len(leaves) <= 400 else "none"
        patches = [Rectangle((a[0], a[1]), z[0] - a[0], z[1] - a[1]) for a, z in zip(lo, hi)]
        coll = PatchCollection(patches, cmap="viridis", norm=norm, edgecolor=edge, linewidth=0.4)
        coll.set_array(b)
        ax.add_collection(coll)
        fig.colorbar(coll, cax=fig.add_axes((0.85, 0.10, 0.025, 0.80)), label="upper bound of the leaf")
        rlo = [float(_frac(v)) - c for v, c in zip(region["lower"], centre)]
        rhi = [float(_frac(v)) - c for v, c in zip(region["upper"], centre)]
        if region.get("kind") == "ball" and region.get("norm") == "2":
            r = float(_frac(region["radius"]))
            outline = Circle((0.0, 0.0), r, fill=False, ec="#c62828", lw=1.4, ls="--")
        elif region.get("kind") == "ball":
            r = float(_frac(region["radius"]))
            outline = Polygon([(r, 0), (0, r), (-r, 0), (0, -r)], closed=True, fill=False, ec="#c62828", lw=1.4,
                              ls="--")
        else:
            outline = Rectangle((rlo[0], rlo[1]), rhi[0] - rlo[0], rhi[1] - rlo[1], fill=False, ec="#c62828",
                                lw=1.4, ls="--")
        ax.add_patch(outline)
        w = ev.get("witness")
        if isinstance(w, dict) and w.get("point"):
            pt = [float(_frac(v)) - c for v, c in zip(w["point"], centre)]
            ax.plot([pt[0]], [pt[1]], marker="*", ms=14, color="#e53935", mec="white", ls="none",
                    label="witness of the lower bound")
            ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
        xs = [v[0] for v in lo] + [v[0] for v in hi]
        ys = [v[1] for v in lo] + [v[1] for v in hi]
        px, py = (max(xs) - min(xs)) * 0.04, (max(ys) - min(ys)) * 0.04
        ax.set_xlim(min(xs) - px, max(xs) + px)
        ax.set_ylim(min(ys) - py, max(ys) + py)
        ax.set_xlabel(label[0])
        ax.set_ylabel(label[1])
        ax.set_aspect("auto")
    count = "1 leaf" if len(leaves) == 1 else f"{len(leaves)} leaves"
    ax.set_title(f"Partition: {count}, coloured by upper bound")
    return _png(fig, Canvas)


def _plot_gradient(mpl, cert: dict) -> tuple[bytes, str] | None:
    g = cert.get("evidence", {}).get("input_gradient")
    if not isinstance(g, dict) or not g.get("lower"):
        return None
    Figure, Canvas = mpl
    lo = [float(_frac(v)) for v in g["lower"]]
    hi = [float(_frac(v)) for v in g["upper"]]
    idx = list(range(len(lo)))
    note = ""
    if len(idx) > 48:
        idx = sorted(idx, key=lambda i: -max(abs(lo[i]), abs(hi[i])))[:40]
        idx.sort()
        note = f" (the 40 inputs of largest magnitude out of {len(lo)})"
    fig = Figure(figsize=(9.0, 3.4))
    ax = fig.add_axes((0.08, 0.15 if len(idx) <= 16 else 0.2, 0.9, 0.73 if len(idx) <= 16 else 0.68))
    pos = list(range(len(idx)))
    ax.bar(pos, [hi[i] - lo[i] for i in idx], bottom=[lo[i] for i in idx], color="#5b8fd0", edgecolor="#2f6fba",
           width=0.6)
    ax.axhline(0.0, color="#333", lw=0.8)
    ax.set_xticks(pos)
    ax.set_xticklabels([f"x{i + 1}" for i in idx], rotation=0 if len(idx) <= 16 else 90, fontsize=8)
    ax.set_ylabel("∂/∂xᵢ enclosure")
    ax.set_title("Gradient enclosure per input over the whole region" + note)
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig, Canvas), note


# ============================================================================================ content
def _model_rows(cert: dict) -> list[tuple[str, str]]:
    m = cert.get("model", {})
    rows = [("Model file", f"`{m.get('file', '?')}` (format `{m.get('format', '?')}`)"),
            ("SHA-256", f"`{m.get('sha256', '?')}`")]
    if "inputs" in m:
        rows.append(("Inputs / outputs", f"{m['inputs']} / {m['outputs']}"))
    if m.get("load_options"):
        rows.append(("Reader options", ", ".join(f"`{k}={v}`" for k, v in m["load_options"].items())))
    return rows


def _region_text(region: dict) -> str:
    n = len(region.get("lower", []))
    if region.get("center") is not None:
        name = _NORM.get(region.get("norm", "inf"), region.get("norm"))
        return (f"closed {name} ball of radius `{region['radius']}` around `{_vector(region['center'])}` "
                f"({n} coordinates)")
    return f"box from `{_vector(region['lower'])}` to `{_vector(region['upper'])}` ({n} coordinates)"


def _output_text(out: dict) -> str:
    if out.get("kind") == "all":
        return "all outputs: induced operator norm of the Jacobian (same norm on outputs and inputs)"
    if out.get("kind") == "combination":
        return f"the combination cᵀf with c = `({', '.join(out.get('coefficients', []))})`, |·| on the output"
    return f"output {out.get('index')} (absolute value on the output)"


def _leaf_count(leaves) -> int:
    """Number of leaves, listed inline or in a companion table (schema 3)."""
    if isinstance(leaves, dict):
        return int(leaves.get("count", 0))
    return len(leaves)


def _table_text(ref: dict) -> str:
    return (f"The leaves are stored as exact binary float64 arrays in the companion file `{ref.get('file')}` "
            f"(SHA-256 `{str(ref.get('sha256', '?'))[:16]}…`, checked before it is read).")


def _statistics(doc: _Doc, cert: dict) -> None:
    st, env, tool = cert.get("statistics", {}), cert.get("environment", {}), cert.get("tool", {})
    doc.h2("Statistics and environment")
    rows = [(k.replace("_", " ").capitalize(), f"{v}") for k, v in st.items()
            if v is not None and not isinstance(v, (dict, list))]
    rows.append(("Tool", f"{tool.get('name', 'verinet')} {tool.get('version', '?')}"))
    rows.append(("Created", cert.get("created", "?")))
    rows.append(("Environment", ", ".join(f"{k} {v}" for k, v in env.items() if v)))
    doc.table(rows)


def _lipschitz(doc: _Doc, cert: dict, mpl, check) -> None:
    q, claim, ev = cert["query"], cert["claim"], cert.get("evidence", {})
    norm = q.get("norm", "inf")
    U, L = claim["upper"], claim["lower"]
    from verinet.evidence.certificate import lipschitz_statement

    sentence = lipschitz_statement(norm, q.get("output", {}), _up(U), _down(L))
    status = claim.get("status", "?")
    tone = "ok" if status == "converged" else "warn"
    claim_text = f"{_down(L)} ≤ Lipschitz constant ≤ {_up(U)}  ({_STATUS.get(status, status)})."
    doc.callout(*_banner(check, "Certified:", claim_text, tone))
    doc.h2("The claim")
    doc.p(sentence)
    gap = (_frac(U) - _frac(L)) / _frac(U) if _frac(U) > 0 else _frac(0)
    doc.table([
        ("Upper bound U (exact)", f"`{U}`"),
        ("Lower bound L (exact)", f"`{L}`"),
        ("Relative gap (U − L)/U", f"{float(gap):.3g}"),
        ("Status", _STATUS.get(status, status)),
    ])
    doc.p("Decimal values in prose are rounded outward (U up, L down), so no displayed number is stronger "
          "than the certified one.")
    doc.h2("What was analysed")
    doc.table(_model_rows(cert) + [
        ("Region", _region_text(q["region"])),
        ("Input norm", f"{_NORM.get(norm, norm)} (dual norm of the gradient: {_NORM.get(_DUAL.get(norm), '?')})"),
        ("Output", _output_text(q.get("output", {}))),
        ("Tolerance / strategy", f"{q.get('tol', '?')} / {q.get('strategy', '?')}"),
        ("Semantics", cert.get("semantics", "?")),
    ])
    doc.h2("Limits of the claim")
    items = [
        (f"It is about the exact real-number function defined by the weights **as written in** "
         f"`{cert['model'].get('file')}` (the file with the SHA-256 above). A float32, float16 or quantised "
         "execution of the model, a retrained or re-exported file, and preprocessing outside the file "
         "(normalisation, clipping, feature extraction) are not covered."),
        "It holds only for inputs in the region above; nothing is claimed about inputs outside it.",
        f"It bounds the sensitivity of {_output_text(q.get('output', {}))} only.",
        "The upper bound is proved on a partition of a float box that contains the region"
        + (" (the ball's bounding box: a superset, which can only make U conservative)."
           if q["region"].get("kind") == "ball" else "."),
        ("The model file is read by verinet's own reader for its format; the independent checker shares "
         "that reader (and nothing else) with the analysis."),
    ]
    if status != "converged":
        items.append("The analysis did not converge: the true constant lies somewhere in [L, U].")
    doc.items(items)
    doc.h2("Evidence")
    leaves = ev.get("leaves", [])
    w = ev.get("witness")
    dom = ev.get("domain", {})
    n_leaves = _leaf_count(leaves)
    count = "One leaf box covering" if n_leaves == 1 else f"{n_leaves} leaf boxes partitioning"
    ev_items = [(f"{count} the box from `{_vector(dom.get('lower', []))}` to "
                 f"`{_vector(dom.get('upper', []))}`, with an upper bound on the gradient norm over "
                 "each (a Clarke-gradient enclosure); the largest is U.")]
    if isinstance(leaves, dict):
        ev_items.append(_table_text(leaves))
    if ev.get("preactivation") == "linear":
        ev_items.append("The leaves' pre-activation bounds are linear (CROWN-style) bounds; the checker "
                        "re-derives them with its own linear bounds in ball arithmetic (python-flint arb, "
                        "outward-rounded) intersected with exact interval propagation.")
    if ev.get("gradient") == "backsub":
        chk = ev.get("checker") if isinstance(ev.get("checker"), dict) else {}
        ev_items.append("The leaves' gradient bounds are back-substituted through the backward pass; the checker "
                        f"re-derives them with {chk.get('method', 'its own code')}"
                        + (f", against leaf bounds raised by the relative margin {chk['margin']}"
                           if chk.get("margin") else "") + "."
                        + (" Root bounds of the hidden layers and the slopes that prove them are recorded and "
                           "confirmed first." if ev.get("root") else ""))
    if isinstance(w, dict):
        ev_items.append(f"Witness of the lower bound: the point `{_vector(w.get('point', []))}` of the region, "
                        "where the gradient enclosure has norm at least L.")
    else:
        ev_items.append("No witness point: the lower bound is the trivial 0.")
    ev_items.append("Re-check it independently with exact rational arithmetic: `verinet check CERTIFICATE`.")
    doc.items(ev_items)
    _check_block(doc, check)
    _plots(doc, cert, mpl)


def _banner(check, title: str, claim: str, tone: str) -> tuple[str, str]:
    """The headline: the claim as certified only when the exact checker accepted it.

    A review document never says more than the checker: a rejected certificate reads "NOT VALID" with the
    checker's reason, an unchecked one "not checked" with why.
    """
    if isinstance(check, str):
        return f"**Not checked** ({check}). The certificate claims: {claim}", "warn"
    if check is None:
        return f"**Not checked** by the exact checker. The certificate claims: {claim}", "warn"
    if not check.valid:
        return f"**NOT VALID:** {check.reason}. The certificate claims (rejected): {claim}", "bad"
    if check.sampled:
        return f"**{title}** {claim} (exact check of a sample only: {check.reason})", "warn"
    return f"**{title}** {claim}", tone


def _check_block(doc: _Doc, check) -> None:
    doc.h2("Independent check")
    if check is None or isinstance(check, str):
        why = check or "no check was run"
        doc.callout(f"Not checked ({why}). Run `verinet check CERTIFICATE` (with `--model` when the model file "
                    "is elsewhere) before relying on the claim.", "warn")
        return
    if check.valid:
        doc.callout(f"The exact checker reports: **{check.reason}** ({check.checked_leaves} of "
                    f"{check.total_leaves} leaves re-verified).", "warn" if check.sampled else "ok")
    else:
        doc.callout(f"The exact checker reports: **invalid** — {check.reason}", "bad")


def _plots(doc: _Doc, cert: dict, mpl) -> None:
    doc.h2("Plots")
    if mpl is None:
        doc.callout("Plots omitted: matplotlib is not installed (`pip install verinet[plot]`).", "info")
        return
    shown = False
    png = _plot_history(mpl, cert.get("history") or [])
    if png:
        doc.image("bounds", png, "Anytime convergence: the certified bounds over time and the relative gap.")
        shown = True
    png = _plot_partition(mpl, cert)
    if png:
        region = cert["query"]["region"]
        where = " (coordinates relative to the centre)" if region.get("center") else ""
        marks = ("; dotted: the witness" if len(region["lower"]) == 1 else "; dashed: the region; star: the witness")
        shared = any(leaf.get("fixed") for leaf in cert["evidence"]["leaves"])
        note = (". Leaves that fix the sign of a ReLU share their box with the other sign; the larger bound is "
                "shown") if shared else ""
        doc.image("partition", png, f"The final partition, each leaf coloured by the upper bound it contributes"
                                    f"{where}{marks}{note}.")
        shown = True
    g = _plot_gradient(mpl, cert)
    if g:
        doc.image("gradient", g[0], "Enclosure of each partial derivative over the whole region (one interval "
                                    "per input): the inputs the output is most sensitive to." + g[1])
        shown = True
    if not shown:
        doc.p("No plots: the certificate has no history, and its inputs are neither 1-D nor 2-D.")


def _robustness(doc: _Doc, cert: dict, mpl, check) -> None:
    q, claim, ev = cert["query"], cert["claim"], cert.get("evidence", {})
    verdict = claim.get("verdict", "?")
    prop = q.get("property", {})
    tone = {"verified": "ok", "falsified": "bad"}.get(verdict, "warn")
    from verinet.evidence.certificate import _robustness_statement

    # the sentence is rebuilt from the query, never copied from the document's own prose
    if cert["kind"] == "radius-robustness":
        from verinet.evidence.certificate import radius_statement

        statement = radius_statement(prop, claim, q.get("norm", "inf"))
        radii = [("Verified radius (exact)", f"`{claim.get('verified_radius')}`"),
                 ("Falsified radius (exact)", f"`{claim.get('falsified_radius')}`"),
                 ("Centre", f"`{_vector(q.get('center', []))}`")]
        if isinstance(ev.get("verified"), dict):
            ev = {**ev, "leaves": ev["verified"].get("leaves")}
    else:
        statement, radii = _robustness_statement(cert["kind"], prop, verdict), []
    doc.callout(*_banner(check, f"Verdict: {verdict}.", statement, tone))
    doc.h2("What was analysed")
    doc.table(_model_rows(cert) + radii + [
        ("Region", _region_text(q["region"])),
        ("Property", ", ".join(f"{k} = `{v}`" for k, v in prop.items())),
        ("Semantics", cert.get("semantics", "?")),
    ])
    doc.h2("Limits of the claim")
    doc.items([
        ("It is about the exact real-number function defined by the weights as written in the model file "
         "(SHA-256 above); quantised or float32 executions and preprocessing outside the file are not covered."),
        "It holds only for inputs in the region above.",
        "A verdict of unknown or timeout makes no claim either way.",
    ])
    doc.h2("Evidence")
    cx = ev.get("counterexample")
    if isinstance(cx, dict):
        where = ("lies within the falsified radius of the centre" if cert["kind"] == "radius-robustness"
                 else "lies in the region")
        doc.p(f"Counterexample: the point `{_vector(cx.get('point', []), 8)}` (exact coordinates in the "
              f"certificate), which {where} and violates the property in exact arithmetic.")
    if ev.get("leaves"):
        doc.p(f"{_leaf_count(ev['leaves'])} leaf box(es) partitioning a box that contains the "
              f"{'verified ball' if cert['kind'] == 'radius-robustness' else 'region'}; on each, exact "
              "interval propagation proves the property.")
        if isinstance(ev["leaves"], dict):
            doc.p(_table_text(ev["leaves"]))
    doc.p("Re-check it independently with exact rational arithmetic: `verinet check CERTIFICATE`.")
    _check_block(doc, check)
    if mpl is not None and cert.get("history"):
        png = _plot_history(mpl, cert["history"])
        if png:
            doc.h2("Plots")
            doc.image("bounds", png, "Bounds over time.")


def render_report(cert, fmt: str = "md", *, check=None, plot_dir=None, plot_prefix: str = "report") -> str:
    """A human-readable report of a certificate (a dict, or the path of a certificate file).

    Parameters
    ----------
    fmt : {"md", "html"}
        Markdown, or a self-contained HTML page (plots embedded as base64 PNGs).
    check : CheckResult or str, optional
        A result of :func:`verinet.evidence.checker.check_certificate` of this certificate, or why there is none
        (e.g. ``"model file not available"``). Only a valid result lets the report say "Certified"; an
        invalid one makes it say "NOT VALID" with the checker's reason; without one it says "Not checked".
    plot_dir : path, optional
        Markdown only: write the plots there as ``{plot_prefix}-{name}.png`` and link them; by default
        they are embedded as data URIs.

    Rigorous: the report restates the certificate; numbers in prose are rounded outward.
    """
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown report format {fmt!r}: use md or html")
    if not isinstance(cert, dict):
        from verinet.evidence.certificate import load_certificate

        cert = load_certificate(cert)
    from verinet.errors import CertificateError

    if cert.get("format") != "verinet-certificate":
        raise CertificateError("not a verinet certificate (expected \"format\": \"verinet-certificate\")")
    try:
        kind = cert["kind"]
        model = cert["model"]["file"]
        if kind == "vnnlib":
            cert["query"]["cases"]
        else:
            cert["query"]["region"]["lower"]
        cert["claim"]
    except (KeyError, TypeError) as exc:
        raise CertificateError(f"malformed certificate: missing {exc}") from None
    mpl = _matplotlib()
    try:
        if kind == "lipschitz":
            doc = _Doc(f"Lipschitz certificate: {model}")
            _lipschitz(doc, cert, mpl, check)
        elif kind == "vnnlib":
            from verinet.evidence.report_vnnlib import render_vnnlib

            doc = _Doc(f"VNN-LIB certificate: {model}, {cert['query'].get('property', {}).get('file', '?')}")
            render_vnnlib(doc, cert, mpl, check)
        else:
            doc = _Doc(f"Robustness certificate ({kind}): {model}")
            _robustness(doc, cert, mpl, check)
        _statistics(doc, cert)
        subtitle = (f"verinet certificate (schema {cert.get('schema_version', '?')}) created "
                    f"{cert.get('created', '?')} for `{model}`.")
        if fmt == "html":
            return _to_html(doc, subtitle)
        pdir = Path(os.fspath(plot_dir)) if plot_dir is not None else None
        return _to_md(doc, subtitle, pdir, plot_prefix)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, ArithmeticError) as exc:
        # a section of the wrong shape (the checker names the first such problem precisely)
        raise CertificateError(f"malformed certificate: {type(exc).__name__}: {exc}") from None
