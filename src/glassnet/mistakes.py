"""The known mistakes of back-propagation, each with a name, a hint and how to recognise it.

:mod:`glassnet.check` compares a learner's numbers with glassnet's; when they disagree it
recomputes the equation the way each mistake here would, and names the mistake whose numbers
match. Among them are the slips that classic write-ups of the derivation make (see the "Known
slips" of docs/derivation.md): the sign of ``dC/da``, a sum where the rule is element-wise,
``delta`` as the loss divided by the output, ``σ'(a)`` written for ``σ'(z)``, the range of the
sigmoid, and a "forward propagation" that inverts ``σ`` and divides by ``W``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MISTAKES", "Mistake", "candidates"]


@dataclass(frozen=True)
class Mistake:
    """``name`` (the key), a short ``title``, and the ``hint`` tied to the equation."""

    name: str
    title: str
    hint: str


MISTAKES: dict[str, Mistake] = {m.name: m for m in [
    Mistake("sign_of_dC_da", "the sign of dC/da",
            "For C = 1/2 ||a - y||^2 the derivative is dC/da = a - y, not y - a; with the sign "
            "flipped every gradient points uphill and descent climbs (a slip of some classic "
            "write-ups)."),
    Mistake("forgot_1_over_n", "a forgotten 1/n",
            "The batch loss is the mean over the n = {n} samples, so dC/da^L carries a factor "
            "1/n (for mse: (a - y) / n)."),
    Mistake("extra_1_over_n", "1/n twice",
            "delta already carries the 1/n of the batch mean; dividing by n = {n} again (a mean "
            "where the rule sums) makes the gradient n times too small."),
    Mistake("mean_over_outputs", "a mean over the output units",
            "C is a mean over the samples but a sum over the output units: divide by n, not by "
            "n times the number of outputs."),
    Mistake("sum_not_elementwise", "a sum that should be element-wise",
            "The product with f'(z) is element-wise (⊙): unit j of layer {l} gets its own "
            "(dC/da)_j f'(z_j). A sum over k of (dC/da)_k gives every unit the same number (a "
            "slip of some classic write-ups: sum_k (a_k - y_k) sigma'(z))."),
    Mistake("loss_over_output", "delta as loss / output",
            "delta = dC/dz is a derivative of the loss, not the loss divided by the output: "
            "for mse dC/da^L = (a - y)/n."),
    Mistake("sigma_prime_of_a", "f'(a) for f'(z)",
            "f' is taken at z, not at a = f(z): applying f' to a applies the activation twice. "
            "For the sigmoid f'(z) = a (1 - a) already uses a, which is where writing "
            "sigma'(a) comes from."),
    Mistake("a_form_on_z", "the a-form written with z",
            "{f}'s derivative in terms of its output is a function of a = f(z) (sigmoid: "
            "a (1 - a), tanh: 1 - a^2); with z in place of a it is wrong."),
    Mistake("tanh_for_sigmoid", "tanh's derivative for the sigmoid",
            "1 - a^2 is tanh's derivative; tanh's range is (-1, 1), the sigmoid's is (0, 1) "
            "and its derivative is a (1 - a) <= 1/4."),
    Mistake("activation_for_derivative", "f(z) for f'(z)",
            "This is the activation itself, f(z); the rule needs its derivative f'(z)."),
    Mistake("forgot_fprime", "a forgotten f'(z)",
            "delta = dC/dz = dC/da ⊙ f'(z): the factor f'(z^{l}) of the activation is missing."),
    Mistake("sign", "the wrong sign", "Every entry has the opposite sign: check each minus."),
    Mistake("missing_transpose", "a missing transpose",
            "Going down a layer multiplies by the transpose, dC/da^(l-1) = (W^l)^T delta^l; with "
            "one sample per row that is delta @ W (W has shape (n_out, n_in)), not delta @ W.T."),
    Mistake("transposed_dW", "dW transposed",
            "dC/dW^{l} = delta^{l} (a^(l-1))^T has W's own shape (n_out, n_in); with one sample "
            "per row that is delta.T @ a_prev."),
    Mistake("grad_a_for_delta", "grad_a where delta belongs",
            "dW, db and the gradient handed down use delta = grad_a ⊙ f'(z), not grad_a."),
    Mistake("a_for_a_prev", "a where a_prev belongs",
            "dW^{l} multiplies delta by the layer's input a^(l-1), not by its output a^{l}."),
    Mistake("db_not_summed", "db not summed over the samples",
            "db = delta summed over the samples (delta.sum(axis=0)): one number per unit, shape "
            "{want}; got {got}."),
    Mistake("inverts_sigma_or_divides_by_W", "forward mode by inverting sigma or dividing by W",
            "Forward mode pushes a tangent forward with the same derivatives backprop uses: "
            "dz = W da_prev, da = f'(z) ⊙ dz. It never inverts sigma nor divides by W (a "
            "non-square W has no inverse); that attempt is a slip of some classic write-ups."),
    Mistake("wrong_shape", "the wrong shape",
            "Expected shape {want}, got {got}: rows are samples, columns units; W is "
            "(n_out, n_in)."),
    Mistake("raised", "an exception", "Your code raised {error}."),
    Mistake("inherited", "follows from an earlier equation",
            "The rule holds on your own numbers: this is wrong only because the equation above "
            "it is."),
    Mistake("unknown", "",
            "The numbers match no known mistake; work {rule} out by hand for one entry."),
]}
"""Name -> :class:`Mistake`."""


def _fprime_variants(c: dict[str, Any]) -> dict[tuple[str, ...], np.ndarray]:
    """f'(z) as each mistake would compute it."""
    act, z, a, fp = c["act"], c["z"], c["a"], c["fprime"]
    with np.errstate(all="ignore"):
        out = {("sigma_prime_of_a",): act.derivative(a, act.forward(a)),
               ("activation_for_derivative",): a, ("forgot_fprime",): np.ones_like(z),
               ("sign",): -fp}
        if act.name == "sigmoid":
            out[("a_form_on_z",)] = z * (1 - z)
            out[("tanh_for_sigmoid",)] = 1 - a * a
        if act.name == "tanh":
            out[("a_form_on_z",)] = 1 - z * z
    return out


def candidates(kind: str, c: dict[str, Any]) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """What each mistake would give for the equation ``kind``, from the true quantities ``c``.

    ``kind`` is ``'grad_a'`` (dC/da^L), ``'delta'``, ``'dW'``, ``'db'``, ``'down'`` (the
    gradient handed to the layer below) or ``'jvp'``; ``c`` holds ``z, a, a_prev, W, g`` (the
    true dC/da), ``fprime, delta, n, Y, C, act`` (and ``da_prev`` for jvp). Returns
    ``(names, value)`` pairs, most specific first; a mistake whose shapes do not fit is left out.
    """
    if kind not in _CANDIDATES:
        raise ValueError(f"Unknown equation kind {kind!r}. Valid: {', '.join(_CANDIDATES)}.")
    out = []
    for names, make in _CANDIDATES[kind]:
        try:
            with np.errstate(all="ignore"):
                out.append((names, np.asarray(make(c))))
        except (ValueError, KeyError):  # shapes that do not fit, or not this activation
            continue
    return out


def _times_variant(names: tuple[str, ...]) -> Any:
    """``delta`` with the true ``dC/da`` times f'(z) as the mistake ``names`` computes it."""
    return lambda c: c["g"] * _fprime_variants(c)[names]


def _sum_k(g: np.ndarray) -> np.ndarray:
    return np.broadcast_to(g.sum(axis=1, keepdims=True), g.shape)


_CANDIDATES: dict[str, list[tuple[tuple[str, ...], Any]]] = {
    "grad_a": [
        (("sign_of_dC_da",), lambda c: -c["g"]),
        (("forgot_1_over_n",), lambda c: c["g"] * c["n"]),
        (("sign_of_dC_da", "forgot_1_over_n"), lambda c: -c["g"] * c["n"]),
        (("extra_1_over_n",), lambda c: c["g"] / c["n"]),
        (("mean_over_outputs",), lambda c: c["g"] / c["g"].shape[1]),
        (("sum_not_elementwise",), lambda c: _sum_k(c["g"])),
        (("sum_not_elementwise", "forgot_1_over_n"), lambda c: _sum_k(c["g"]) * c["n"]),
        (("loss_over_output",), lambda c: c["C"] / c["a"]),
        (("loss_over_output", "extra_1_over_n"), lambda c: c["C"] / (c["a"] * c["n"])),
    ],
    "delta": [
        *((names, _times_variant(names))
          for names in [("sigma_prime_of_a",), ("activation_for_derivative",), ("forgot_fprime",),
                        ("sign",), ("a_form_on_z",), ("tanh_for_sigmoid",)]),
        (("sum_not_elementwise",), lambda c: c["g"].sum(axis=1, keepdims=True) * c["fprime"]),
    ],
    "dW": [
        (("transposed_dW",), lambda c: (c["delta"].T @ c["a_prev"]).T),
        (("extra_1_over_n",), lambda c: c["delta"].T @ c["a_prev"] / c["n"]),
        (("grad_a_for_delta",), lambda c: c["g"].T @ c["a_prev"]),
        (("a_for_a_prev",), lambda c: c["delta"].T @ c["a"]),
        (("sign",), lambda c: -(c["delta"].T @ c["a_prev"])),
    ],
    "db": [
        (("extra_1_over_n",), lambda c: c["delta"].sum(axis=0) / c["n"]),
        (("grad_a_for_delta",), lambda c: c["g"].sum(axis=0)),
        (("sign",), lambda c: -c["delta"].sum(axis=0)),
    ],
    "down": [
        (("missing_transpose",), lambda c: c["delta"] @ c["W"].T),
        (("grad_a_for_delta",), lambda c: c["g"] @ c["W"]),
        (("sign",), lambda c: -(c["delta"] @ c["W"])),
    ],
    "jvp": [
        (("forgot_fprime",), lambda c: c["da_prev"] @ c["W"].T),
        (("missing_transpose",), lambda c: c["fprime"] * (c["da_prev"] @ c["W"])),
        (("inverts_sigma_or_divides_by_W",), lambda c: (c["da_prev"] @ c["W"].T) / c["fprime"]),
        (("inverts_sigma_or_divides_by_W",),
         lambda c: c["fprime"] * (c["da_prev"] @ np.linalg.pinv(c["W"]))),
        (("inverts_sigma_or_divides_by_W",),
         lambda c: (c["da_prev"] @ np.linalg.pinv(c["W"])) / c["fprime"]),
        (("sigma_prime_of_a",), lambda c: _fprime_variants(c)[("sigma_prime_of_a",)]
         * (c["da_prev"] @ c["W"].T)),
        (("sign",), lambda c: -c["fprime"] * (c["da_prev"] @ c["W"].T)),
    ],
}
"""Equation kind -> (mistake names, how the mistake computes the equation)."""
