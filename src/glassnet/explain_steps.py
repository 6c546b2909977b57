"""Writes an :class:`~glassnet.explanation.Explanation`'s steps, one equation each.

The order is the derivation's: forward ``z`` and ``a`` per layer (and each residual block's
sum), the loss, ``delta^L``, each ``delta^l`` with the identity-skip sums between them, the
gradients, the input gradient, the update. A step's numbers are the traced ones; only the
products shown on a right-hand side (``(W^{l+1})^T delta^{l+1}``, the skip sum) are formed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import notation as nt
from .explanation import _LOSS_TEXT, BlockTrace, Explanation, LayerTrace, Step, _sym, _symbol

__all__ = ["build_steps"]


def build_steps(e: Explanation) -> list[Step]:
    """The steps of ``e``, in the order of the derivation."""
    return _Steps(e).build()


@dataclass
class _Incoming:
    """The gradient reaching a layer's output from above: numbers and how it is written."""

    g: np.ndarray | None
    text: str
    tex: str
    uses: list[str]
    kind: str  # 'loss', 'fused', 'dense' or 'skip'


class _Steps:
    """Writes an Explanation's steps, one equation each, in the order of the derivation."""

    def __init__(self, e: Explanation):
        self.e = e
        self.steps: list[Step] = []

    def add(self, phase: str, layer: str, quantity: str, rule: str, text: list[str], latex: str,
            values: dict[str, np.ndarray], uses: list[str], **extra: Any) -> None:
        self.steps.append(Step(phase, layer, quantity, rule, text, latex, values, uses,
                               index=len(self.steps), **extra))

    def build(self) -> list[Step]:
        e = self.e
        for unit in e.units:
            if isinstance(unit, BlockTrace):
                for t in unit.inner:
                    self.forward(t)
                self.block_sum(unit)
            else:
                self.forward(unit)
        self.loss()
        incoming = self.output_incoming()
        for i in range(len(e.units) - 1, -1, -1):
            incoming = self.backward(e.units[i], incoming, first=i == 0)
        for unit in reversed(e.units):
            for t in reversed(unit.inner if isinstance(unit, BlockTrace) else [unit]):
                self.gradients(t)
        first = e.units[0]
        if isinstance(first, LayerTrace):
            self.input_dense(first)
        else:
            self.skip(first, incoming, input_step=True)
        for t in e.layers:
            self.update(t)
        return self.steps

    # ---------------------------------------------------------------- forward
    def forward(self, t: LayerTrace) -> None:
        l = t.label
        (W, Wx), (b, bx), (z, zx) = _sym("W", l), _sym("b", l), _sym("z", l)
        (src, srcx), (out, outx) = _sym(*t.src), _sym(*t.out)
        rule = f"{z} = {W} {src} + {b}"
        small = nt.is_small(t.W)
        lines = ([f"{W} = {nt.text(t.W)}", f"{b} = {nt.text(t.b)}"] if small else
                 [f"{W}: {t.W.shape[0]}x{t.W.shape[1]}, ||{W}|| = {nt.fmt(np.linalg.norm(t.W))}"])
        lines.append(f"{rule} = {nt.text(t.z, z)}")
        numbers = f"{nt.tex(t.W)} {nt.tex(t.a_prev)} + {nt.tex(t.b)} = " if small else ""
        self.add("forward", l, "z", rule, lines,
                 f"{zx} = {Wx} {srcx} + {bx} = {numbers}{nt.tex(t.z, zx)}",
                 {W: t.W, src: t.a_prev, b: t.b, z: t.z}, [W, src, b])
        sym, symx = t.symbol
        rule = f"{out} = {sym}({z})"
        self.add("forward", l, "a", rule, [f"{rule} = {nt.text(t.a, out)}"],
                 f"{outx} = {symx}({zx}) = {nt.tex(t.a, outx)}", {z: t.z, out: t.a}, [z])

    def block_sum(self, u: BlockTrace) -> None:
        l, prev = u.label, str(int(u.label) - 1)
        (x, xx), (F, Fx), (a, ax) = _sym("a", prev), _sym("F", l), _sym("a", l)
        (s, sx) = _sym("s", l) if u.activation else (a, ax)
        rule = f"{s} = {x} + {F}"
        numbers = (f"{nt.tex(u.x)} + {nt.tex(u.F)} = " if nt.is_small(u.x) else "")
        summed = u.s if u.s is not None else u.a
        self.add("forward", l, "sum", rule,
                 [f"{rule} = {nt.text(u.x)} + {nt.text(u.F)} = {nt.text(summed, s)}"
                  if nt.is_small(u.x) else f"{rule} = {nt.text(summed, s)}"],
                 f"{sx} = {xx} + {Fx} = {numbers}{nt.tex(summed, sx)}",
                 {x: u.x, F: u.F, s: summed}, [x, F],
                 note=f"Residual block {l}: the identity skip adds the block's input to "
                      f"its branch F^{l}.")
        if u.activation:
            sym, symx = _symbol(u.activation)
            rule = f"{a} = {sym}({s})"
            self.add("forward", l, "a", rule, [f"{rule} = {nt.text(u.a, a)}"],
                     f"{ax} = {symx}({sx}) = {nt.tex(u.a, ax)}", {s: summed, a: u.a}, [s])

    def loss(self) -> None:
        e, L = self.e, str(len(self.e.units))
        rule, tex = _LOSS_TEXT.get(e.loss_name, ("C", "C"))
        rule, tex = rule.replace("^L", f"^{L}"), tex.replace("{L}", f"{{{L}}}")
        self.add("loss", "", "C", rule, [f"Loss:  {rule} = {e.loss:.6g}"],
                 f"{tex} = {e.loss:.6g}", {f"a^{L}": _last_a(e), "y": e.y, "C": np.float64(e.loss)},
                 [f"a^{L}", "y"])

    # ---------------------------------------------------------------- backward
    def output_incoming(self) -> _Incoming:
        e, L = self.e, str(len(self.e.units))
        if e.fused:
            return _Incoming(None, "", "", [f"a^{L}", "y"], "fused")
        if e.loss_name == "mse":
            return _Incoming(e.grad_a, f"(a^{L} - y)", rf"(a^{{{L}}} - y)", [f"a^{L}", "y"], "loss")
        return _Incoming(e.grad_a, "∇_a C", r"\nabla_{a} C", [f"a^{L}", "y"], "loss")

    def backward(self, unit: LayerTrace | BlockTrace, inc: _Incoming, first: bool) -> _Incoming:
        """The delta step(s) of one layer; returns the gradient it hands to the layer below."""
        if isinstance(unit, LayerTrace):
            self.delta(unit, inc)
            return _from_dense(unit)
        if unit.activation:
            inc = self.delta_sum(unit, inc)
        branch = inc
        for t in reversed(unit.inner):
            self.delta(t, branch)
            branch = _from_dense(t)
        return inc if first else self.skip(unit, inc)

    def delta(self, t: LayerTrace, inc: _Incoming) -> None:
        l, e = t.label, self.e
        (d, dx), (z, zx), (a, ax) = _sym("delta", l), _sym("z", l), _sym(*t.out)
        dx = nt.tex_sym(r"\delta", l)
        sym, symx = t.symbol
        if inc.kind == "fused":
            act = "softmax" if e.loss_name == "cross_entropy" else "sigmoid"
            rule = f"{d} = {a} - y"
            note = (f"Output layer, fused form: for {act} with {e.loss_name.replace('_', ' ')} "
                    f"the loss's derivative and {act}'s cancel, dC/dz^L = (a^L - y)/n, and n = 1 "
                    "here.")
            small = nt.is_small(t.a)
            lines = [f"{rule}    ({note[len('Output layer, '):]})",
                     *([f"{' ' * len(d)} = {nt.text(t.a)} - {nt.text(e.y)}"] if small else []),
                     f"{' ' * len(d)} = {nt.text(t.delta, d)}"]
            numbers = f"{nt.tex(t.a)} - {nt.tex(e.y)} = " if small else ""
            self.add("backward", l, "delta", rule, lines,
                     f"{dx} = {ax} - y = {numbers}{nt.tex(t.delta, dx)}",
                     {a: t.a, "y": e.y, d: t.delta}, [a, "y"], note=note)
            return
        assert inc.g is not None
        if t.activation == "softmax":
            rule = f"{d} = (diag({a}) - {a} ({a})^T) {inc.text}"
            latex_rule = (rf"{dx} = \left(\operatorname{{diag}}({ax}) - {ax}({ax})^{{T}}\right) "
                          f"{inc.tex}")
            note = "softmax is not element-wise: its Jacobian is diag(a) - a a^T."
            factor, factor_name = t.a, a
        else:
            rule = f"{d} = {inc.text} ⊙ {sym}'({z})"
            latex_rule = f"{dx} = {inc.tex} \\odot {symx}'({zx})"
            note = ("for C = 1/2 ||a - y||^2, dC/da^L = a^L - y." if inc.kind == "loss"
                    and e.loss_name == "mse" else "")
            factor, factor_name = t.fprime, f"{sym}'({z})"
        small = nt.is_small(t.delta)
        pad = " " * (len(d) + 1)
        op = "applied to" if t.activation == "softmax" else "⊙"
        lines = [rule + (f"    ({note})" if note else "")]
        if small:
            lines.append(f"{pad}= {nt.text(inc.g)} {op} {nt.text(factor)}")
        else:
            lines.append(f"{pad}: ||{inc.text}|| = {nt.fmt(np.linalg.norm(inc.g))}, "
                         f"max |{factor_name}| = {nt.fmt(np.max(np.abs(factor)))}")
        lines.append(f"{pad}= {nt.text(t.delta, d)}")
        texop = r"\text{ applied to }" if t.activation == "softmax" else r"\odot"
        numbers = f"{nt.tex(inc.g)} {texop} {nt.tex(factor)} = " if small else ""
        self.add("backward", l, "delta", rule, lines,
                 f"{latex_rule} = {numbers}{nt.tex(t.delta, dx)}",
                 {inc.text: inc.g, factor_name: factor, d: t.delta},
                 [*inc.uses, z], note=("Output layer, " + note) if note else "")

    def delta_sum(self, u: BlockTrace, inc: _Incoming) -> _Incoming:
        l = u.label
        assert u.delta is not None and u.fprime is not None
        d, dx = f"delta_s^{l}", nt.tex_sym(r"\delta_{s}", l)
        sym, symx = _symbol(u.activation or "")
        if inc.kind == "fused":
            rule, latex = f"{d} = a^{l} - y", rf"{dx} = a^{{{l}}} - y"
            g = u.a - self.e.y
        else:
            assert inc.g is not None
            rule = f"{d} = {inc.text} ⊙ {sym}'(s^{l})"
            latex = rf"{dx} = {inc.tex} \odot {symx}'(s^{{{l}}})"
            g = inc.g
        factor = u.fprime if inc.kind != "fused" else np.ones_like(u.fprime)
        self.add("backward", l, "delta", rule, [f"{rule} = {nt.text(u.delta, d)}"],
                 f"{latex} = {nt.tex(u.delta, dx)}",
                 {inc.text or "a - y": g, f"{sym}'(s^{l})": factor, d: u.delta}, inc.uses)
        return _Incoming(u.delta, d, dx, [d], "skip")

    def skip(self, u: BlockTrace, inc: _Incoming, input_step: bool = False) -> _Incoming:
        """The identity-skip gradient: ``dC/da^{l-1} = dC/da^l + (W^l)^T delta^l``."""
        l, prev = u.label, str(int(u.label) - 1)
        t = u.inner[0]
        upper = inc.g if inc.g is not None else t.delta  # fused output with no activation: n/a
        branch = t.delta @ t.W
        total = self.e.input_grad if input_step else upper + branch
        up_text = f"dC/da^{l}" if not u.activation else f"delta_s^{l}"
        up_tex = (rf"\frac{{\partial C}}{{\partial a^{{{l}}}}}" if not u.activation
                  else nt.tex_sym(r"\delta_{s}", l))
        lhs, lhsx = ((("dC/dx", r"\frac{\partial C}{\partial x}")) if input_step else
                     (f"dC/da^{prev}", rf"\frac{{\partial C}}{{\partial a^{{{prev}}}}}"))
        rule = f"{lhs} = {up_text} + (W^{t.label})^T delta^{t.label}"
        latex_rule = (f"{lhsx} = {up_tex} + (W^{{{t.label}}})^{{T}} "
                      + nt.tex_sym(r"\delta", t.label))
        small = nt.is_small(branch)
        lines = [rule]
        if small:
            lines.append(f"   = {nt.text(upper)} + {nt.text(branch)}")
        else:
            lines.append(f"   : ||{up_text}|| = {nt.fmt(np.linalg.norm(upper))}, "
                         f"||(W^{t.label})^T delta^{t.label}|| = {nt.fmt(np.linalg.norm(branch))}")
        lines.append(f"   = {nt.text(total, lhs)}")
        numbers = f"{nt.tex(upper)} + {nt.tex(branch)} = " if small else ""
        note = (f"Identity skip of block {l}: the 1 in d(a^{prev} + F^{l})/da^{prev} = "
                f"1 + dF/da^{prev} hands {up_text} down unchanged, however small the branch's "
                "term is.")
        self.add("input" if input_step else "backward", l, "grad_x" if input_step else "skip",
                 rule, lines, f"{latex_rule} = {numbers}{nt.tex(total, lhsx)}",
                 {up_text: upper, f"(W^{t.label})^T delta^{t.label}": branch, lhs: total},
                 [up_text, f"W^{t.label}", f"delta^{t.label}"], note=note)
        return _Incoming(total, lhs, lhsx, [lhs], "skip")

    def input_dense(self, t: LayerTrace) -> None:
        rule = f"dC/dx = (W^{t.label})^T delta^{t.label}"
        g = self.e.input_grad
        self.add("input", t.label, "grad_x", rule, [f"{rule} = {nt.text(g, 'dC/dx')}"],
                 rf"\frac{{\partial C}}{{\partial x}} = (W^{{{t.label}}})^{{T}} "
                 rf"\delta^{{{t.label}}} = {nt.tex(g, 'dC/dx')}",
                 {"dC/dx": g}, [f"W^{t.label}", f"delta^{t.label}"],
                 note="The input gradient: the recursion carried one layer further down.")

    # ---------------------------------------------------------------- gradients, update
    def gradients(self, t: LayerTrace) -> None:
        l = t.label
        (src, srcx) = _sym(*t.src)
        dx = nt.tex_sym(r"\delta", l)
        for name, grad, numeric in (("W", t.dW, t.dW_numeric), ("b", t.db, t.db_numeric)):
            rule = (f"dC/d{name}^{l} = delta^{l} ({src})^T" if name == "W" else
                    f"dC/db^{l} = delta^{l}")
            rhs = rf"{dx} ({srcx})^{{T}}" if name == "W" else dx
            shown = [tuple(int(k) for k in i) for i in np.argwhere(np.isfinite(numeric))]
            lines = [f"{rule}:" if nt.is_small(grad) else
                     f"{rule}: ||dC/d{name}^{l}|| = {nt.fmt(np.linalg.norm(grad))}; the "
                     f"{len(shown)} largest of {'x'.join(map(str, grad.shape))} entries:"]
            table = []
            for i in shown:
                idx = ",".join(str(k + 1) for k in i)
                pad = " " * max(0, 3 - len(idx))
                lines.append(f"  [{idx}]{pad}  {grad[i]: .6e}  ({numeric[i]: .6e})")
                table.append((f"{name}^{{{l}}}_{{{''.join(str(k + 1) for k in i)}}}"
                              if nt.is_small(grad) else f"{name}^{{{l}}}_{{{idx}}}",
                              float(grad[i]), float(numeric[i])))
            gsym = f"dC/d{name}^{l}"
            self.add("gradient", l, f"d{name}", rule, lines,
                     rf"\frac{{\partial C}}{{\partial {name}^{{{l}}}}} = {rhs} = "
                     f"{nt.tex(grad, gsym)}",
                     {gsym: grad, "finite difference": numeric},
                     [f"delta^{l}"] + ([src] if name == "W" else []), table=table)

    def update(self, t: LayerTrace) -> None:
        l = t.label
        for name, new in (("W", t.W_new), ("b", t.b_new)):
            rule = f"{name}^{l} <- {name}^{l} - eta dC/d{name}^{l}"
            self.add("update", l, name, rule, [f"{name}^{l} <- {nt.text(new, name + '^' + l)}"],
                     rf"{name}^{{{l}}} \leftarrow {name}^{{{l}}} - \eta \frac{{\partial C}}"
                     rf"{{\partial {name}^{{{l}}}}} = {nt.tex(new, name)}",
                     {f"{name}^{l} (new)": new}, [f"{name}^{l}", f"dC/d{name}^{l}"])
        if t is self.e.layers[-1]:
            self.steps[-1].text.append(f"loss before {self.e.loss:.6g}, after "
                                       f"{self.e.loss_after:.6g}")


def _from_dense(t: LayerTrace) -> _Incoming:
    """What a Dense layer hands down: ``(W^l)^T delta^l`` (in rows, ``delta @ W``)."""
    l = t.label
    return _Incoming(t.delta @ t.W, f"((W^{l})^T delta^{l})",
                     rf"\left((W^{{{l}}})^{{T}} \delta^{{{l}}}\right)", [f"W^{l}", f"delta^{l}"],
                     "dense")


def _last_a(e: Explanation) -> np.ndarray:
    last = e.units[-1]
    return last.a
