"""Rich displays for notebooks: what Jupyter shows for glassnet's objects.

Each class keeps a one-line ``_repr_*_`` method that calls a function here, so the rendering of
every object lives in one place:

* ``Network``: a table of the layers (type, shape, activation, parameters) as HTML and Markdown;
* ``Explanation``: the derivation's equations with the numbers, as Markdown and LaTeX;
* ``GradcheckReport``: the comparison table, failed rows marked;
* ``History``: a small loss plot (PNG, when matplotlib is installed), else a table;
* the scalers: a one-line summary.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np

from . import notation as nt

if TYPE_CHECKING:
    from .explain import Explanation
    from .gradcheck import GradcheckReport
    from .network import Network
    from .training import History

__all__ = ["explanation_latex", "explanation_markdown", "gradcheck_html", "gradcheck_markdown",
           "history_html", "history_markdown", "history_png", "network_html",
           "network_markdown", "network_rows", "scaler_summary"]


# ---------------------------------------------------------------------- tables
def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", r"\|")
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]], caption: str = "",
                marked: set[int] | None = None) -> str:
    marked = marked or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr" + (' style="color:#b00020;font-weight:bold"' if i in marked else "") + ">"
        + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for i, row in enumerate(rows))
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---------------------------------------------------------------------- Network
_NETWORK_HEADER = ["layer", "type", "shape", "activation", "params"]


def network_rows(net: "Network") -> list[list[str]]:
    """One row per layer, inner layers of blocks after theirs: type, shape, activation, params."""
    rows = []

    def row(label: str, layer: Any) -> list[str]:
        try:
            config = layer.config()
        except NotImplementedError:  # a user's own layer without a config
            config = {"type": type(layer).__name__}
        shape = f"{layer.n_in} -> {layer.n_out}"
        if config["type"] == "Residual":
            shape += " (+ identity skip)"
        elif "p" in config:
            shape += f" (p={config['p']})"
        activation = getattr(getattr(layer, "activation", None), "name", "")
        if config["type"] == "Residual" and activation == "identity":
            activation = ""  # a = x + F(x): nothing after the sum
        return [label, config["type"], shape, activation, str(layer.n_params)]

    for i, layer in enumerate(net.layers):
        rows.append(row(str(i), layer))
        rows += [row(f"{i}.{j}", inner) for j, inner in enumerate(getattr(layer, "layers", []))]
    return rows


def _network_caption(net: "Network") -> str:
    extra = "".join(f", {k}={getattr(net, k):g}" for k in ("l2", "l1") if getattr(net, k, 0))
    scaler = f", inputs scaled by {type(net.scaler).__name__}" if net.scaler is not None else ""
    return (f"Network {'-'.join(map(str, net.sizes))}: {net.n_params} parameters, loss "
            f"{net.loss_fn.name}, {net.dtype.name}{extra}{scaler}")


def network_markdown(net: "Network") -> str:
    """The layer table in Markdown, under a line with the totals."""
    return f"**{_network_caption(net)}**\n\n" + _markdown_table(_NETWORK_HEADER, network_rows(net))


def network_html(net: "Network") -> str:
    """The layer table in HTML."""
    return _html_table(_NETWORK_HEADER, network_rows(net), caption=_network_caption(net))


# ---------------------------------------------------------------------- Explanation
def explanation_markdown(e: "Explanation") -> str:
    """The derivation: headings, notes and one ``$$ ... $$`` equation per step."""
    return e.markdown()


def explanation_latex(e: "Explanation") -> str:
    """Every step's equation with its numbers, one per line, as one LaTeX display."""
    lines = [r"x = a^{0} = " + nt.tex(e.x, "x") + r", \quad y = " + nt.tex(e.y, "y")]
    lines += [step.latex for step in e.steps()]
    return "$$\\begin{gathered}\n" + " \\\\[6pt]\n".join(lines) + "\n\\end{gathered}$$"


# ---------------------------------------------------------------------- GradcheckReport
_GRADCHECK_HEADER = ["layer", "tensor", "shape", "max abs err", "max rel err", "ok", "at kinks"]


def _gradcheck_rows(report: "GradcheckReport") -> list[list[str]]:
    return [[r.layer, r.name, "x".join(map(str, r.shape)), f"{r.max_abs_error:.2e}",
             f"{r.max_rel_error:.2e}", {"passed": "yes", "FAILED": "NO"}.get(r.verdict, "n/a"),
             str(r.skipped or "")]
            for r in report.rows]


def _gradcheck_verdict(report: "GradcheckReport") -> str:
    mode = "random directions" if report.fast else "every entry"
    return (f"gradcheck {report.verdict}: worst relative error "
            f"{report.max_rel_error:.2e} (tolerance {report.tol:.0e}, {mode})")


def gradcheck_markdown(report: "GradcheckReport") -> str:
    return f"**{_gradcheck_verdict(report)}**\n\n" + _markdown_table(_GRADCHECK_HEADER,
                                                                     _gradcheck_rows(report))


def gradcheck_html(report: "GradcheckReport") -> str:
    """The table; rows that failed or could not be judged in bold red."""
    failed = {i for i, r in enumerate(report.rows) if not r.passed}
    return _html_table(_GRADCHECK_HEADER, _gradcheck_rows(report), _gradcheck_verdict(report),
                       failed)


# ---------------------------------------------------------------------- History
def _history_series(history: "History") -> dict[str, list[float]]:
    """Numeric keys over the epochs: the losses first."""
    keys = [k for k in history.keys() if k not in ("epoch", "time", "gradients")]
    series = {}
    for key in sorted(keys, key=lambda k: ("loss" not in k, k)):
        values = [record.get(key) for record in history.epochs]
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            series[key] = [float(v) for v in values]
    return series


def history_markdown(history: "History") -> str:
    """A table: one row per epoch, one column per recorded number."""
    series = _history_series(history)
    if not series:
        return f"History: {len(history)} epochs, nothing numeric recorded."
    rows = [[str(i + 1)] + [nt.fmt(series[k][i], 4) for k in series] for i in range(len(history))]
    return _markdown_table(["epoch", *series], rows)


def history_png(history: "History") -> bytes | None:
    """A small plot of every loss over the epochs as PNG bytes; None without matplotlib."""
    series = {k: v for k, v in _history_series(history).items() if "loss" in k}
    if not series:
        return None
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(4.0, 2.4))
    ax = fig.add_subplot()
    for key, values in series.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                markersize=3, label=key)
    if all(v > 0 for values in series.values() for v in values):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def history_html(history: "History") -> str:
    """The loss plot as an inline PNG and a line with the last epoch; a table without matplotlib."""
    png = history_png(history)
    series = _history_series(history)
    last = ", ".join(f"{k} {nt.fmt(v[-1], 4)}" for k, v in series.items())
    caption = html.escape(f"History: {len(history)} epochs" + (f"; last: {last}" if last else ""))
    if png is None:
        rows = [[str(i + 1)] + [nt.fmt(series[k][i], 4) for k in series]
                for i in range(len(history))]
        return _html_table(["epoch", *series], rows, caption=caption)
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="loss over the epochs" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


# ---------------------------------------------------------------------- scalers
def _span(values: Any) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"[{nt.fmt(v.min(), 4)}, {nt.fmt(v.max(), 4)}]"


def scaler_summary(scaler: Any) -> str:
    """One line: the scaler's kind, its number of features and the ranges of what it learned."""
    name = type(scaler).__name__
    fitted = {k: getattr(scaler, k, None) for k in getattr(scaler, "_params", ())}
    extra = (f"feature_range={tuple(scaler.feature_range)}, " if hasattr(scaler, "feature_range")
             else "")
    if not fitted or any(v is None for v in fitted.values()):
        return f"{name}({extra}not fitted)"
    n = len(next(iter(fitted.values())))
    ranges = ", ".join(f"{k.rstrip('_')} in {_span(v)}" for k, v in fitted.items())
    return f"{name}({extra}{n} features; {ranges})"
