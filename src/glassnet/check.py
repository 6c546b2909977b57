"""Check your own back-propagation: a learner's piece against glassnet's, equation by equation.

A learner writes one piece in a Python file (or passes a function):

``derivative(z, a)``
    ``f'(z)`` of the activation named by ``ACTIVATION`` (default ``'sigmoid'``); ``z`` and
    ``a = f(z)`` of shape (n_samples, n_units). It enters ``delta = dC/da ⊙ f'(z)``.
``loss_grad(a, y)``
    ``dC/da^L`` of the loss named by ``LOSS`` (default ``'mse'``, ``C = (1/n) Σ_i ½‖a_i − y_i‖²``),
    for outputs ``a`` and targets ``y`` of shape (n_samples, n_out): the batch mean, so 1/n in.
``backward(layer, grad_a)``
    A Dense layer's whole backward: returns ``(delta, dW, db, grad_a_prev)`` from
    ``grad_a = dC/da`` of shape (n_samples, n_out) and the layer's ``W`` (n_out, n_in), ``b``,
    ``a_prev``, ``z``, ``a`` and ``activation`` (with ``derivative(z, a)``).
``jvp(layer, da_prev)``
    Forward mode: the tangent ``da`` of the layer's output for an input tangent ``da_prev``.

:func:`check_backprop` runs the piece inside a float64 network (sizes 3-4-4-2 by default, a
batch of 5 samples) whose every other part is glassnet's own. Each equation it touches is
checked on glassnet's own inputs, so one mistake shows where it is made: ``delta^L`` (BP1),
the delta recursion (BP2), ``db`` (BP3), ``dW`` (BP4), the gradient handed down and the input
gradient. A wrong equation names its worst entries (expected and got) and, when the numbers
match a known mistake (a missing transpose, a sum that should be element-wise, the sign of
``dC/da``, a forgotten ``1/n``, ``σ'(a)`` for ``σ'(z)``, ...), that mistake by name with a
hint tied to the equation. Then the piece runs through the whole backward pass, and the report
says how far the network's gradients end up from the true ones.
"""

from __future__ import annotations

import importlib.util
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import notation as nt
from .activations import get_activation
from .mistakes import MISTAKES, candidates
from .network import Network, mlp

__all__ = ["PIECES", "BackpropCheck", "EquationCheck", "StudentError", "check_backprop",
           "load_student"]

PIECES = ("derivative", "loss_grad", "backward", "jvp")
"""The functions a student file may define; each one found is checked."""
_OUTPUT = {"mse": None, "huber": "identity", "cross_entropy": "softmax",
           "binary_cross_entropy": "sigmoid"}


class StudentError(ValueError):
    """The student's file could not be imported (its own error is in the message)."""


@dataclass
class EquationCheck:
    """One equation: right or wrong, where, and why."""

    equation: str
    """``'BP1'`` (delta^L), ``'BP2'`` (delta^l), ``'BP3'`` (db), ``'BP4'`` (dW), ``'down'``
    (the gradient handed to the layer below), ``'input'``, ``'dC/da'``, ``'jvp'``, or ``'call'``
    (the piece raised or returned the wrong kind of result)."""
    layer: str
    rule: str
    ok: bool
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    n_wrong: int = 0
    n_entries: int = 0
    entries: list[tuple[tuple[int, ...], float, float]] = field(default_factory=list)
    """The worst wrong entries: (0-based index, expected, got)."""
    mistakes: list[str] = field(default_factory=list)
    """Names of the known mistakes the numbers match (keys of ``glassnet.mistakes.MISTAKES``)."""
    hint: str = ""
    inherited: bool = False
    """Wrong only because an earlier equation of the same piece is (the rule itself holds)."""


@dataclass
class BackpropCheck:
    """The verdict on one piece: ``equations`` in order, and the end-to-end effect."""

    piece: str
    setting: str
    equations: list[EquationCheck]
    end_to_end: list[tuple[str, float]] = field(default_factory=list)
    """(quantity, relative error) with the piece inside the whole backward pass."""
    error: str = ""
    """What the network reported when the piece broke the whole pass (an exception)."""

    @property
    def passed(self) -> bool:
        return all(eq.ok for eq in self.equations) and not self.error

    @property
    def mistakes(self) -> list[str]:
        return list(dict.fromkeys(m for eq in self.equations for m in eq.mistakes))

    def text(self) -> str:
        lines = [f"check: {self.piece} inside {self.setting}"]
        said: set[str] = set()
        for eq in self.equations:
            tag = "ok   " if eq.ok else "WRONG"
            lines.append(f"  {tag}  {eq.equation:<5}  {eq.rule}")
            if eq.ok:
                continue
            if eq.inherited:
                lines.append(f"         {eq.hint}")
                continue
            if eq.n_entries:
                lines.append(f"         {eq.n_wrong} of {eq.n_entries} entries wrong; worst:")
            for idx, want, got in eq.entries:
                where = ",".join(str(i + 1) for i in idx)
                lines.append(f"           [{where}]  expected {nt.fmt(want)}  got {nt.fmt(got)}")
            names = ", ".join(MISTAKES[m].title for m in eq.mistakes)
            if eq.hint in said and names:
                lines.append(f"         hint: the same mistake ({names})")
            else:
                lines.append(f"         hint{f' ({names})' if names else ''}: {eq.hint}")
            said.add(eq.hint)
        if self.error:
            lines.append(f"  inside the network the piece failed: {self.error}")
        elif self.end_to_end:
            worst = ", ".join(f"{q} {e:.1e}" for q, e in self.end_to_end)
            lines.append(f"  inside the whole backward pass, relative errors: {worst}")
        wrong = [f"{eq.equation} of layer {eq.layer}" for eq in self.equations
                 if not eq.ok and not eq.inherited]
        lines.append("PASSED: every equation agrees with glassnet's." if self.passed else
                     f"FAILED: {len(wrong)} equation(s) wrong: {', '.join(wrong)}.")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.text()

    def _repr_markdown_(self) -> str:
        return "```\n" + self.text() + "```\n"


# ---------------------------------------------------------------------- the student's file
def load_student(path: Any) -> tuple[dict[str, Callable[..., Any]], dict[str, Any]]:
    """The pieces a student file defines, and its settings (``ACTIVATION``, ``LOSS``).

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    StudentError
        When importing it fails (its error is named).
    ValueError
        When it defines none of :data:`PIECES`.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # a FIFO or a device would block the import
        raise ValueError(f"{path} is not a regular file; give the path of a .py file that "
                         f"defines one of {', '.join(PIECES)}.")
    if not path.is_file():
        raise FileNotFoundError(f"No student file at {path}. Give the path of a .py file that "
                                f"defines one of {', '.join(PIECES)}.")
    spec = importlib.util.spec_from_file_location(f"_glassnet_student_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path} is not a Python file; name it something.py.")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SystemExit as err:  # sys.exit() in the file: the check never ran, so no verdict
        raise StudentError(f"{path} exited while being loaded (SystemExit({err.code!r})), so "
                           "nothing was checked; remove the sys.exit / exit() call (or put it "
                           "under if __name__ == '__main__':) and run the check again.") from None
    except Exception as err:  # noqa: BLE001 -- the student's code: report it, never a traceback
        line = getattr(err, "lineno", None) or _line_of(err, path)
        raise StudentError(f"{path} could not be loaded: {type(err).__name__}: {err}"
                         + (f" (line {line})" if line else "") + ". Fix it and run the check "
                         "again.") from None
    pieces = {name: getattr(module, name) for name in PIECES
              if callable(getattr(module, name, None))}
    if not pieces:
        raise ValueError(f"{path} defines none of {', '.join(f'{p}()' for p in PIECES)}; define "
                         "one, e.g. 'def derivative(z, a): return a * (1 - a)'.")
    settings = {k.lower(): getattr(module, k) for k in ("ACTIVATION", "LOSS") if hasattr(module, k)}
    return pieces, settings


def _line_of(err: BaseException, path: Path) -> int | None:
    tb = err.__traceback__
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# ---------------------------------------------------------------------- the check
def check_backprop(source: Any = None, *, derivative: Callable[..., Any] | None = None,
                   loss_grad: Callable[..., Any] | None = None,
                   backward: Callable[..., Any] | None = None,
                   jvp: Callable[..., Any] | None = None,
                   activation: str | None = None, loss: str | None = None,
                   sizes: tuple[int, ...] = (3, 4, 4, 2), n_samples: int = 5, seed: int = 0,
                   rtol: float = 1e-6) -> list[BackpropCheck]:
    """Check a learner's piece of back-propagation inside a network against glassnet's own.

    Parameters
    ----------
    source : str or Path, optional
        A student file defining one or more of :data:`PIECES` (and optionally ``ACTIVATION``,
        ``LOSS``). Or give the functions as keywords.
    derivative, loss_grad, backward, jvp : callable, optional
        The pieces, with the signatures in the module docstring.
    activation : str, default: the file's ``ACTIVATION``, else 'sigmoid'
        The hidden layers' activation (and the output's, for mse).
    loss : str, default: the file's ``LOSS``, else 'mse'
    sizes : tuple of int, default=(3, 4, 4, 2)
        The network; the square middle layer makes a missing transpose show in the numbers.
    n_samples : int, default=5
        The batch: with n > 1 a forgotten or doubled 1/n shows.
    seed : int, default=0
    rtol : float, default=1e-6
        An entry is right within this relative tolerance.

    Returns
    -------
    list of BackpropCheck
        One per piece, in the order of :data:`PIECES`.

    Examples
    --------
    >>> [c.passed for c in check_backprop(derivative=lambda z, a: a * (1 - a))]
    [True]
    >>> check_backprop(derivative=lambda z, a: z * (1 - z))[0].mistakes
    ['a_form_on_z']
    """
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"check_backprop's source is the path of a student file; got a "
            f"{type(source).__name__}. Give the pieces as keywords instead, e.g. "
            "check_backprop(derivative=my_derivative), or write them in a .py file.")
    pieces, settings = load_student(source) if source is not None else ({}, {})
    given = {"derivative": derivative, "loss_grad": loss_grad, "backward": backward, "jvp": jvp}
    pieces.update({k: v for k, v in given.items() if v is not None})
    if not pieces:
        raise ValueError(f"check_backprop needs a piece to check: a student file or one of "
                         f"{', '.join(f'{p}=' for p in PIECES)}.")
    from .validation import check_scalar

    for name, value, low in (("n_samples", n_samples, 1), ("seed", seed, 0)):
        check_scalar(value, name, "check_backprop", kind=int, low=low)
    check_scalar(rtol, "rtol", "check_backprop", low=0.0, high=1.0, low_open=True,
                 high_open=True)
    activation = activation or settings.get("activation") or "sigmoid"
    loss = loss or settings.get("loss") or "mse"
    for name, value in (("activation", activation), ("loss", loss)):
        if not isinstance(value, str):
            raise TypeError(f"The {name!r} setting must be a name like 'sigmoid'; got {value!r}.")
    if get_activation(activation).name == "softmax":
        raise ValueError("check_backprop checks element-wise activations; softmax's Jacobian is "
                         "not diagonal. Choose sigmoid, tanh, relu, ...")
    return [_Harness(activation, loss, tuple(sizes), n_samples, seed, rtol).run(name, pieces[name])
            for name in PIECES if name in pieces]


class _Harness:
    """glassnet's network, its true numbers, and the student's piece run against them."""

    def __init__(self, activation: str, loss: str, sizes: tuple[int, ...], n: int, seed: int,
                 rtol: float):
        output = _OUTPUT.get(loss, "identity") or activation
        self.net: Network = mlp(list(sizes), activation, output=output, loss=loss, seed=seed,
                                dtype="float64")
        rng = np.random.default_rng(seed + 1)
        self.X = rng.normal(size=(n, sizes[0]))
        if loss == "cross_entropy":
            self.Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
        elif loss == "binary_cross_entropy":
            self.Y = rng.integers(0, 2, (n, sizes[-1])).astype(np.float64)
        else:
            self.Y = rng.uniform(0.05, 0.95, (n, sizes[-1]))
        self.rtol, self.n = rtol, n
        self.C = float(self.net.backprop(self.X, self.Y, input_grad=True))
        self.layers = [layer for layer in self.net.layers]
        self.L = len(self.layers)
        self.grad_X = np.array(self.net.grad_X, copy=True)
        last = self.layers[-1]
        self.g = [None] * self.L  # g[l] = dC/da of layer l (0-based), from the engine's numbers
        self.g[-1] = self.net.loss_fn.grad(last.a, self.Y)
        for i in range(self.L - 2, -1, -1):
            self.g[i] = self.layers[i + 1].delta @ self.layers[i + 1].W
        self.views = [self.view(layer) for layer in self.layers]
        self.setting = (f"a {'-'.join(map(str, sizes))} {activation} network with {loss}, "
                        f"a batch of {n} samples")

    @staticmethod
    def view(layer: Any) -> types.SimpleNamespace:
        """What a student's function may read: copies, so it cannot disturb the engine."""
        return types.SimpleNamespace(
            W=np.array(layer.W, copy=True), b=np.array(layer.b, copy=True),
            a_prev=np.array(layer.a_prev, copy=True), z=np.array(layer.z, copy=True),
            a=np.array(layer.a, copy=True), activation=layer.activation,
            n_in=layer.n_in, n_out=layer.n_out)

    def ctx(self, i: int) -> dict[str, Any]:
        v = self.views[i]
        return {"act": v.activation, "z": v.z, "a": v.a, "a_prev": v.a_prev, "W": v.W,
                "g": self.g[i], "fprime": v.activation.derivative(v.z, v.a),
                "delta": self.layers[i].delta, "n": self.n, "Y": self.Y, "C": self.C,
                "output": i == self.L - 1, "loss": self.net.loss_fn.name}

    def run(self, piece: str, fn: Callable[..., Any]) -> BackpropCheck:
        checks, end, error = getattr(self, "_" + piece)(fn)
        return BackpropCheck(piece, self.setting, checks, end, error)

    # ---------------------------------------------------------------- comparing
    def compare(self, equation: str, layer: int, rule: str, kind: str, expected: np.ndarray,
                got: Any, ctx: dict[str, Any], inherited_from: np.ndarray | None = None
                ) -> EquationCheck:
        label = str(layer + 1)
        if isinstance(got, Exception):
            hint = MISTAKES["raised"].hint.format(error=f"{type(got).__name__}: {got}")
            if "matmul" in str(got) or "shapes" in str(got) or "broadcast" in str(got):
                hint += " " + MISTAKES["missing_transpose"].hint
            return EquationCheck(equation, label, rule, False, np.inf, np.inf, hint=hint,
                                 mistakes=["raised"])
        got = np.asarray(got, dtype=np.float64) if _numeric(got) else got
        if not isinstance(got, np.ndarray) or got.shape != expected.shape:
            return self.wrong_shape(equation, label, rule, kind, expected, got, ctx)
        if self.close(got, expected):
            return EquationCheck(equation, label, rule, True, n_entries=expected.size)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(got - expected)
        diff = np.where(np.isfinite(diff), diff, np.inf)  # a NaN or inf entry is wrong
        scale = max(float(np.max(np.abs(expected))), 1e-300)
        with np.errstate(invalid="ignore"):
            bad = ~np.isclose(got, expected, rtol=self.rtol, atol=self.rtol * 1e-3 * scale)
        worst = [tuple(int(k) for k in np.unravel_index(o, diff.shape))
                 for o in np.argsort(-np.where(bad, diff, -1).ravel(), kind="stable")[:3]]
        check = EquationCheck(equation, label, rule, False, float(diff.max()),
                              float(diff.max()) / scale, int(bad.sum()), expected.size,
                              [(i, float(expected[i]), float(got[i])) for i in worst if bad[i]])
        if inherited_from is not None and self.close(got, inherited_from):
            check.inherited = True
            check.hint = MISTAKES["inherited"].hint
            return check
        for names, value in candidates(kind, ctx):
            if np.shape(value) == got.shape and self.close(got, np.asarray(value)):
                check.mistakes = list(names)
                check.hint = " ".join(MISTAKES[m].hint.format(**_hint_args(ctx, label))
                                      for m in names)
                return check
        check.hint = MISTAKES["unknown"].hint.format(rule=rule)
        return check

    def wrong_shape(self, equation: str, label: str, rule: str, kind: str, expected: np.ndarray,
                    got: Any, ctx: dict[str, Any]) -> EquationCheck:
        shape = getattr(got, "shape", type(got).__name__)
        check = EquationCheck(equation, label, rule, False, np.inf, np.inf)
        if isinstance(got, np.ndarray) and got.shape == expected.T.shape and got.ndim == 2 \
                and self.close(got.T, expected):
            name = "transposed_dW" if kind == "dW" else "missing_transpose"
        elif isinstance(got, np.ndarray) and kind == "db" and got.shape == ctx["delta"].shape:
            name = "db_not_summed"
        else:
            name = "wrong_shape"
        check.mistakes = [name]
        check.hint = MISTAKES[name].hint.format(got=shape, want=expected.shape,
                                                **_hint_args(ctx, label))
        return check

    def close(self, got: np.ndarray, want: np.ndarray) -> bool:
        scale = float(np.max(np.abs(want), initial=0.0))
        with np.errstate(invalid="ignore"):
            return bool(np.allclose(got, want, rtol=self.rtol, atol=self.rtol * 1e-3 * scale
                                    + 1e-300))

    # ---------------------------------------------------------------- the pieces
    def _derivative(self, fn: Callable[..., Any]) -> tuple[list[EquationCheck], Any, str]:
        checks = []
        for i in range(self.L - 1, -1, -1):
            v, c = self.views[i], self.ctx(i)
            if v.activation.name != self.views[0].activation.name:
                continue  # an output of another kind (softmax for cross-entropy)
            fprime = _call(fn, v.z.copy(), v.a.copy())
            got = fprime if isinstance(fprime, Exception) else _times(self.g[i], fprime)
            checks.append(self.compare(*_delta_rule(i, self.L, self.net.loss_fn.name), "delta",
                                       self.layers[i].delta, got, c))
        student = get_activation(self.views[0].activation.name)

        calls = []

        class Student:  # the activation protocol, with the student's f'
            name = student.name
            forward = staticmethod(student.forward)

            @staticmethod
            def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
                calls.append(1)
                return np.asarray(fn(z.copy(), a.copy()), dtype=np.float64)

            def backward(self, z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray:
                return g * self.derivative(z, a)

            def jvp(self, z: np.ndarray, a: np.ndarray, dz: np.ndarray) -> np.ndarray:
                return self.derivative(z, a) * dz

        def run() -> list[np.ndarray]:
            net = Network.from_config(_with_activation(self.net.config(), student.name, Student()))
            for key, p in net.params().items():
                p[...] = self.net.params()[key]
            net.backprop(self.X, self.Y, input_grad=True)
            if not calls:
                raise RuntimeError("the derivative could not be placed inside the network")
            return [layer.dW for layer in net.layers] + [net.grad_X]
        return checks, *self.end_to_end(run)

    def _loss_grad(self, fn: Callable[..., Any]) -> tuple[list[EquationCheck], Any, str]:
        last, c = self.views[-1], self.ctx(self.L - 1)
        g = _call(fn, last.a.copy(), self.Y.copy())
        rule = f"dC/da^{self.L} = ∇_a C  ({self.net.loss_fn.name}, the mean over the batch)"
        checks = [self.compare("dC/da", self.L - 1, rule, "grad_a", self.g[-1], g, c)]
        if isinstance(g, Exception) or np.shape(g) != last.a.shape:
            return checks, [], ""
        delta = _call(last.activation.backward, last.z, last.a, np.asarray(g, dtype=np.float64))
        checks.append(self.compare(*_delta_rule(self.L - 1, self.L, ""), "delta",
                                   self.layers[-1].delta, delta, c, inherited_from=delta))

        def run() -> list[np.ndarray]:
            net = self.net.copy()
            a = net.forward(self.X)
            seed = fn(np.array(a, copy=True), self.Y.copy())
            grad_X = net.vjp(np.asarray(seed, dtype=np.float64))
            return [layer.dW for layer in net.layers] + [grad_X]
        return checks, *self.end_to_end(run)

    def _backward(self, fn: Callable[..., Any]) -> tuple[list[EquationCheck], Any, str]:
        checks = []
        for i in range(self.L - 1, -1, -1):
            c, layer = self.ctx(i), self.layers[i]
            parts = _four(_call(fn, self.views[i], self.g[i].copy()))
            l, src = i + 1, f"a^{i}"
            if isinstance(parts, Exception):  # one line for the layer, not four
                checks.append(self.compare("call", i, f"backward(layer {l}, grad_a)", "call",
                                           layer.delta, parts, c))
                continue
            delta = parts[0]
            checks.append(self.compare(*_delta_rule(i, self.L, ""), "delta", layer.delta,
                                       parts[0], c))
            own = (None if delta is None or np.shape(delta) != layer.delta.shape else
                   np.asarray(delta, dtype=np.float64))
            checks.append(self.compare("BP4", i, f"dW^{l} = delta^{l} ({src})^T  (rows: "
                                       "delta.T @ a_prev)", "dW", layer.dW, parts[1], c,
                                       None if own is None else own.T @ c["a_prev"]))
            checks.append(self.compare("BP3", i, f"db^{l} = delta^{l} summed over the samples",
                                       "db", layer.db, parts[2], c,
                                       None if own is None else own.sum(axis=0)))
            rule = ("dC/dx = (W^1)^T delta^1" if i == 0 else
                    f"dC/da^{i} = (W^{l})^T delta^{l}  (rows: delta @ W)")
            checks.append(self.compare("input" if i == 0 else "down", i, rule, "down",
                                       self.grad_X if i == 0 else self.g[i - 1], parts[3], c,
                                       None if own is None else own @ c["W"]))

        def run() -> list[np.ndarray]:
            g, dWs = self.g[-1], []
            for i in range(self.L - 1, -1, -1):
                _, dW, _, g = fn(self.view(self.layers[i]), np.array(g, copy=True))
                dWs.insert(0, np.asarray(dW, dtype=np.float64))
            return dWs + [np.asarray(g, dtype=np.float64)]
        return checks, *self.end_to_end(run)

    def _jvp(self, fn: Callable[..., Any]) -> tuple[list[EquationCheck], Any, str]:
        rng = np.random.default_rng(3)
        da = rng.normal(size=self.X.shape)
        checks, tangents = [], [da]
        for i, layer in enumerate(self.layers):
            c = {**self.ctx(i), "da_prev": tangents[-1]}
            want = np.array(layer.jvp(tangents[-1]), copy=True)
            got = _call(fn, self.views[i], tangents[-1].copy())
            checks.append(self.compare("jvp", i, f"da^{i + 1} = f'(z^{i + 1}) ⊙ (W^{i + 1} "
                                       f"da^{i})  (rows: f'(z) * (da_prev @ W.T))", "jvp",
                                       want, got, c))
            tangents.append(want)

        def run() -> list[np.ndarray]:
            t = da
            for layer in self.layers:
                t = np.asarray(fn(self.view(layer), np.array(t, copy=True)), dtype=np.float64)
            return [t]
        end, error = self.end_to_end(run, want=[tangents[-1]], names=["J v"])
        return checks, end, error

    def end_to_end(self, run: Callable[[], list[np.ndarray]], want: list[np.ndarray] | None = None,
                   names: list[str] | None = None) -> tuple[list[tuple[str, float]], str]:
        want = want or [layer.dW for layer in self.layers] + [self.grad_X]
        names = names or [f"dC/dW^{l}" for l in range(1, self.L + 1)] + ["dC/dx"]
        try:
            got = run()
        except Exception as err:  # noqa: BLE001 -- the student's code
            return [], f"{type(err).__name__}: {err}"
        out = []
        for name, g, w in zip(names, got, want):
            g = np.asarray(g, dtype=np.float64)
            if g.shape != w.shape:
                return out, f"{name} has shape {g.shape}, expected {w.shape}"
            out.append((name, float(np.linalg.norm(g - w) / max(np.linalg.norm(w), 1e-300))))
        return out, ""


def _delta_rule(i: int, L: int, loss: str) -> tuple[str, int, str]:
    l = i + 1
    if i == L - 1:
        grad = f"(a^{l} - y)/n" if loss == "mse" else f"dC/da^{l}"
        return "BP1", i, f"delta^{l} = {grad} ⊙ f'(z^{l})"
    return "BP2", i, f"delta^{l} = ((W^{l + 1})^T delta^{l + 1}) ⊙ f'(z^{l})"


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        with np.errstate(all="ignore"):
            return fn(*args)
    except Exception as err:  # noqa: BLE001 -- the student's code: reported, never raised
        return err


def _times(g: np.ndarray, fprime: Any) -> Any:
    try:
        return g * np.asarray(fprime, dtype=np.float64)
    except (ValueError, TypeError) as err:
        return err


def _four(out: Any) -> list[Any] | Exception:
    """``backward``'s result as [delta, dW, db, grad_a_prev], or the exception it raised."""
    if isinstance(out, Exception):
        return out
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        return TypeError(f"backward must return (delta, dW, db, grad_a_prev); got "
                         f"{type(out).__name__}" + (f" of length {len(out)}"
                                                    if isinstance(out, (tuple, list)) else ""))
    return list(out)


def _numeric(value: Any) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:  # noqa: BLE001
        return False


def _hint_args(ctx: dict[str, Any], label: str) -> dict[str, Any]:
    return {"n": ctx["n"], "l": label, "f": ctx["act"].name}


def _with_activation(config: dict[str, Any], name: str, obj: Any) -> dict[str, Any]:
    """``config`` with every activation called ``name`` replaced by the object ``obj``."""
    def swap(layer: dict[str, Any]) -> dict[str, Any]:
        layer = dict(layer)
        if isinstance(layer.get("activation"), dict) and layer["activation"].get("name") == name:
            layer["activation"] = obj
        if "layers" in layer:
            layer["layers"] = [swap(inner) for inner in layer["layers"]]
        return layer
    return {**config, "layers": [swap(layer) for layer in config["layers"]]}
