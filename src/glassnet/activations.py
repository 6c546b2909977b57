"""Activation functions ``a = f(z)`` and their derivatives.

Each activation is an object with four methods, all element-wise on arrays of shape
``(n_samples, n_units)`` except softmax, which works row by row:

``forward(z) -> a``
    The activation itself.
``derivative(z, a) -> f'(z)``
    The element-wise derivative, computed from ``z`` or from the cached ``a``, whichever is
    cheaper and stable (sigmoid: ``a * (1 - a)``; tanh: ``1 - a**2``).
``backward(z, a, grad_a) -> delta``
    The vector-Jacobian product ``dC/dz = grad_a * f'(z)``: the step of the delta recursion
    that crosses the activation.
``jvp(z, a, dz) -> da``
    The Jacobian-vector product ``da = f'(z) * dz``: the same step in forward mode.

For the element-wise activations ``backward`` and ``jvp`` are the same product. Softmax is
not element-wise: its Jacobian is ``diag(a) - a a^T`` (symmetric), so both products are
``a * (g - sum(g * a, axis=1))``, which lets softmax be paired with any loss.

All activations stay finite and silent (no overflow or underflow warnings) for ``|z|`` up to
1e4 in float32 and float64.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ActivationLike",
    "ELU",
    "GELU",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_activation",
]


@runtime_checkable
class ActivationLike(Protocol):
    """What the layers need from an activation: a user's own object may follow it."""

    name: str

    def forward(self, z: np.ndarray) -> np.ndarray: ...

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray: ...

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray: ...

    def jvp(self, z: np.ndarray, a: np.ndarray, dz: np.ndarray) -> np.ndarray: ...


class Activation:
    """Base class of the element-wise activations: subclasses give ``forward`` and ``derivative``.

    Notes
    -----
    ``backward(z, a, grad_a) = grad_a * f'(z)`` and ``jvp(z, a, dz) = f'(z) * dz``.
    """

    name = "activation"

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        """``delta = grad_a * f'(z)``, of shape (n_samples, n_units)."""
        return grad_a * self.derivative(z, a)

    def jvp(self, z: np.ndarray, a: np.ndarray, dz: np.ndarray) -> np.ndarray:
        """``da = f'(z) * dz``, of shape (n_samples, n_units)."""
        return self.derivative(z, a) * dz

    def config(self) -> dict[str, Any]:
        """The JSON-able description that :func:`get_activation` turns back into this object."""
        return {"name": self.name}

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({extra})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.config() == self.config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.config().items())))


class Identity(Activation):
    """``f(z) = z``, ``f'(z) = 1``."""

    name = "identity"

    def forward(self, z):
        return z

    def derivative(self, z, a):
        return np.ones_like(z)

    def backward(self, z, a, grad_a):
        return grad_a

    def jvp(self, z, a, dz):
        return dz


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow: only ``exp(-|z|)`` is ever formed."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


class Sigmoid(Activation):
    """``f(z) = 1 / (1 + exp(-z))``, range (0, 1); ``f'(z) = a (1 - a) <= 1/4``."""

    name = "sigmoid"

    def forward(self, z):
        with np.errstate(under="ignore"):
            return _sigmoid(z)

    def derivative(self, z, a):
        return a * (1 - a)


class Tanh(Activation):
    """``f(z) = tanh(z)``, range (-1, 1); ``f'(z) = 1 - a^2 <= 1``."""

    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return 1 - a * a


class ReLU(Activation):
    """``f(z) = max(z, 0)``; ``f'(z) = 1 if z > 0 else 0`` (0 at the kink, as PyTorch)."""

    name = "relu"
    kinks = (0.0,)  # f' jumps here: finite differences across it mean nothing

    def forward(self, z):
        return np.maximum(z, 0)

    def derivative(self, z, a):
        return (z > 0).astype(z.dtype)


class LeakyReLU(Activation):
    """``f(z) = z if z > 0 else slope * z``; ``f'(z) = 1 if z > 0 else slope``.

    Parameters
    ----------
    slope : float, default=0.01
        The gradient for negative ``z``.
    """

    name = "leaky_relu"
    kinks = (0.0,)

    def __init__(self, slope: float = 0.01):
        self.slope = _check_float("slope", slope, type(self).__name__)

    def forward(self, z):
        return np.where(z > 0, z, z * self.slope)

    def derivative(self, z, a):
        return np.where(z > 0, 1, self.slope).astype(z.dtype)

    def config(self):
        return {"name": self.name, "slope": self.slope}


class ELU(Activation):
    """``f(z) = z if z > 0 else alpha (exp(z) - 1)``; ``f'(z) = 1 if z > 0 else a + alpha``.

    Parameters
    ----------
    alpha : float, default=1.0
    """

    name = "elu"

    def __init__(self, alpha: float = 1.0):
        self.alpha = _check_float("alpha", alpha, type(self).__name__)
        self.kinks = () if self.alpha == 1.0 else (0.0,)  # f' is continuous only for alpha = 1

    def forward(self, z):
        with np.errstate(under="ignore"):
            return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def derivative(self, z, a):
        return np.where(z > 0, 1, a + self.alpha).astype(z.dtype)

    def config(self):
        return {"name": self.name, "alpha": self.alpha}


class Softplus(Activation):
    """``f(z) = log(1 + exp(z))``, computed as ``max(z, 0) + log1p(exp(-|z|))``; ``f'(z) = sigmoid(z)``."""

    name = "softplus"

    def forward(self, z):
        with np.errstate(under="ignore"):
            return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))

    def derivative(self, z, a):
        with np.errstate(under="ignore"):
            return _sigmoid(z)


class GELU(Activation):
    """``f(z) = z/2 (1 + tanh(c (z + 0.044715 z^3)))`` with ``c = sqrt(2/pi)`` (the tanh form).

    Notes
    -----
    With ``t = tanh(u)``, ``u = c (z + 0.044715 z^3)``:
    ``f'(z) = (1 + t)/2 + z/2 (1 - t^2) c (1 + 3 * 0.044715 z^2)``.
    Equal to ``torch.nn.GELU(approximate="tanh")``.
    """

    name = "gelu"
    _c = float(np.sqrt(2.0 / np.pi))
    _k = 0.044715

    def _t(self, z):
        # z is clipped where the tanh is already +-1 to the last bit, so z^3 cannot overflow.
        zc = np.clip(z, -50, 50)
        return np.tanh(self._c * (zc + self._k * zc * zc * zc)), zc

    def forward(self, z):
        t, _ = self._t(z)
        return 0.5 * z * (1 + t)

    def derivative(self, z, a):
        t, zc = self._t(z)
        return 0.5 * (1 + t) + 0.5 * zc * (1 - t * t) * self._c * (1 + 3 * self._k * zc * zc)


class Softmax(Activation):
    """Row-wise ``a_j = exp(z_j) / sum_k exp(z_k)``, computed after subtracting each row's max.

    Notes
    -----
    The Jacobian of one row is ``da_j/dz_k = a_j (1[j=k] - a_k)``, symmetric, so the
    vector-Jacobian and Jacobian-vector products are both ``a * (g - sum(g * a, axis=1))``.
    ``derivative`` returns only the diagonal ``a (1 - a)``; the layers use ``backward``.
    """

    name = "softmax"

    def forward(self, z):
        e = z - z.max(axis=1, keepdims=True)
        with np.errstate(under="ignore"):
            np.exp(e, out=e)
        e /= e.sum(axis=1, keepdims=True)
        return e

    def derivative(self, z, a):
        return a * (1 - a)

    def backward(self, z, a, grad_a):
        return a * (grad_a - (grad_a * a).sum(axis=1, keepdims=True))

    def jvp(self, z, a, dz):
        return a * (dz - (dz * a).sum(axis=1, keepdims=True))


ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    cls.name: cls
    for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus, GELU, Softmax)
}
"""Name -> activation class. ``get_activation`` looks names up here."""


def get_activation(spec: str | dict | ActivationLike) -> ActivationLike:
    """Return the activation named by ``spec``.

    Parameters
    ----------
    spec : str, dict or activation object
        A registry name (``'relu'``), a config dict (``{'name': 'leaky_relu', 'slope': 0.1}``),
        or an object with ``name``, ``forward``, ``derivative``, ``backward`` and ``jvp``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    TypeError
        For an object that lacks the activation methods.

    Examples
    --------
    >>> get_activation("leaky_relu")
    LeakyReLU(slope=0.01)
    >>> get_activation({"name": "elu", "alpha": 0.5})
    ELU(alpha=0.5)
    """
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None)
        if name not in ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {name!r}. Valid activations: {', '.join(ACTIVATIONS)}."
            )
        try:
            return ACTIVATIONS[name](**spec)
        except TypeError as err:
            raise ValueError(f"Bad options {spec} for activation {name!r}: {err}") from None
    if isinstance(spec, ActivationLike):
        return spec
    raise TypeError(
        "An activation must be a name, a config dict or an object with name, forward, "
        f"derivative, backward and jvp; got {type(spec).__name__}."
    )


def _check_float(param: str, value: Any, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"The {param!r} parameter of {owner} must be a float; got {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"The {param!r} parameter of {owner} must be finite; got {value!r}.")
    return float(value)
