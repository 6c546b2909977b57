"""Activation functions ``a = f(z)`` and their derivatives.

Each activation is an object with four methods, all element-wise on arrays of shape
``(n_samples, n_units)`` except softmax, which works row by row:

``forward(z, out=None) -> a``
    The activation itself.
``derivative(z, a, out=None) -> f'(z)``
    The element-wise derivative, computed from ``z`` or from the cached ``a``, whichever is
    cheaper and stable (sigmoid: ``a * (1 - a)``; tanh: ``1 - a**2``). This is the one place
    where each ``f'`` is written.
``backward(z, a, grad_a, out=None) -> delta``
    The vector-Jacobian product ``dC/dz = grad_a * f'(z)``: the step of the delta recursion
    that crosses the activation.
``jvp(z, a, dz, out=None) -> da``
    The Jacobian-vector product ``da = f'(z) * dz``: the same step in forward mode.

``out`` is optional everywhere: when given, the result is written into it (it may be ``z``
itself for ``forward``) and returned, so the training loop allocates nothing; callers always
use the *returned* array (an activation may return another one, as ``Identity`` returns ``z``).

For the element-wise activations ``backward`` and ``jvp`` are the same product, formed by the
base class from ``derivative``. Softmax is not element-wise: its Jacobian is
``diag(a) - a a^T`` (symmetric), so both products are ``a * (g - sum(g * a, axis=1))``, which
lets softmax be paired with any loss.

Your own activation: subclass :class:`Activation` and write ``forward(z)`` and
``derivative(z, a)`` (the ``out`` argument may be left out: the base class then takes care of
it), or pass any object with ``name``, ``forward``, ``derivative``, ``backward`` and ``jvp``.
The layers call exactly those methods, whatever the object's ``name`` says.

Second order (Hessian-vector products, :mod:`glassnet.second_order`) needs two more methods,
written for every built-in activation:

``second_derivative(z, a, out=None) -> f''(z)``
    The element-wise second derivative (softmax: the diagonal ``d^2 a_j / dz_j^2`` only).
``backward_tangent(z, a, grad_a, dz, d_grad_a, out=None) -> d_delta``
    The directional derivative of ``backward``: how ``delta = grad_a * f'(z)`` moves when ``z``
    moves by ``dz`` and ``grad_a`` by ``d_grad_a``, ``d_delta = d_grad_a * f'(z) + grad_a *
    f''(z) * dz`` (softmax has its own form). This is the step of the R-operator's backward pass
    that crosses the activation. A user's activation without ``second_derivative`` works
    everywhere except there.

``nonsmooth`` lists the points where ``f`` is not twice continuously differentiable (a jump of
``f'`` or of ``f''``); :func:`glassnet.gradcheck` sets aside the entries whose finite
difference steps across one of them.

All activations stay finite and silent (no overflow or underflow warnings) for ``|z|`` up to
1e4 in float32 and float64.
"""

from __future__ import annotations

import functools
import inspect
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

_METHODS = ("forward", "derivative", "backward", "jvp")


@runtime_checkable
class ActivationLike(Protocol):
    """What the layers need from an activation: a user's own object may follow it."""

    name: str

    def forward(self, z: np.ndarray) -> np.ndarray: ...

    def derivative(self, z: np.ndarray, a: np.ndarray) -> np.ndarray: ...

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray: ...

    def jvp(self, z: np.ndarray, a: np.ndarray, dz: np.ndarray) -> np.ndarray: ...


def _accepts_out(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "out" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _ignoring_out(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (written without ``out``) as a method that takes ``out=`` and returns its own result."""
    @functools.wraps(fn)
    def method(self: Any, *args: Any, out: Any = None) -> Any:
        return fn(self, *args)
    return method


def _into(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``result``, copied into ``out`` when one is given (for the activations with no ufunc form)."""
    if out is None or out is result:
        return result
    out[...] = result
    return out


class _TakesOut(type):
    """The activations' metaclass: a method written without ``out`` (in a subclass, or
    assigned to the class later) gets the argument, so every activation takes ``out=``."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        for method in _METHODS:
            fn = namespace.get(method)
            if callable(fn) and not _accepts_out(fn):
                namespace[method] = _ignoring_out(fn)
        return super().__new__(mcs, name, bases, namespace)

    def __setattr__(cls, name: str, value: Any) -> None:
        if name in _METHODS and callable(value) and not _accepts_out(value):
            value = _ignoring_out(value)
        super().__setattr__(name, value)


class Activation(metaclass=_TakesOut):
    """Base class of the activations: subclasses give ``forward`` and ``derivative``.

    Notes
    -----
    ``backward(z, a, grad_a) = grad_a * f'(z)`` and ``jvp(z, a, dz) = f'(z) * dz``, with
    ``f'(z)`` from :meth:`derivative`, computed into ``out`` when it is given. A method may be
    written without ``out`` (``def derivative(self, z, a)``): the metaclass adds it.
    """

    name = "activation"
    nonsmooth: tuple[float, ...] = ()

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
        """``delta = grad_a * f'(z)``, of shape (n_samples, n_units)."""
        f_prime = self.derivative(z, a, out=out)
        return np.multiply(grad_a, f_prime, out=f_prime if f_prime is out else None)

    def jvp(self, z: np.ndarray, a: np.ndarray, dz: np.ndarray,
            out: np.ndarray | None = None) -> np.ndarray:
        """``da = f'(z) * dz``, of shape (n_samples, n_units)."""
        return Activation.backward(self, z, a, dz, out)

    def second_derivative(self, z: np.ndarray, a: np.ndarray,
                          out: np.ndarray | None = None) -> np.ndarray:
        """``f''(z)``, element-wise, of shape (n_samples, n_units)."""
        raise NotImplementedError(
            f"The activation {self.name!r} has no second_derivative(z, a). Write one (returning "
            "f''(z)) to use hvp, hessian and sharpness with it.")

    def backward_tangent(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray,
                         dz: np.ndarray, d_grad_a: np.ndarray,
                         out: np.ndarray | None = None) -> np.ndarray:
        """``d_delta = d_grad_a * f'(z) + grad_a * f''(z) * dz``: the tangent of :meth:`backward`.

        Parameters
        ----------
        z, a : ndarray of shape (n_samples, n_units)
            The layer's cached pre-activation and output.
        grad_a : ndarray of shape (n_samples, n_units)
            ``dC/da``, what :meth:`backward` was given.
        dz, d_grad_a : ndarray of shape (n_samples, n_units)
            The tangents (R-values) of ``z`` and of ``grad_a``.

        Notes
        -----
        ``delta = grad_a * f'(z)`` is a product of two things that move, so its directional
        derivative has two terms (the product rule): ``R{delta} = R{grad_a} * f'(z) + grad_a *
        f''(z) * R{z}``.
        """
        d_delta = grad_a * self.second_derivative(z, a)
        d_delta *= dz
        d_delta += self.backward(z, a, d_grad_a)
        return _into(d_delta, out)

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


class _Foreign(Activation):
    """A user's object that follows :class:`ActivationLike` without subclassing Activation.

    Every call goes to the object's own method (``out`` is passed only where the method takes
    it); attributes are the object's.
    """

    def __init__(self, obj: Any):
        self.obj = obj
        self.name = obj.name
        self.nonsmooth = tuple(getattr(obj, "nonsmooth", getattr(obj, "kinks", ())))
        self._out = {m: _accepts_out(getattr(obj, m)) for m in _METHODS}

    def _call(self, method: str, *args: Any, out: Any) -> Any:
        fn = getattr(self.obj, method)
        return fn(*args, out=out) if self._out[method] else fn(*args)

    def forward(self, z, out=None):
        return self._call("forward", z, out=out)

    def derivative(self, z, a, out=None):
        return self._call("derivative", z, a, out=out)

    def backward(self, z, a, grad_a, out=None):
        return self._call("backward", z, a, grad_a, out=out)

    def jvp(self, z, a, dz, out=None):
        return self._call("jvp", z, a, dz, out=out)

    def second_derivative(self, z, a, out=None):
        fn = getattr(self.obj, "second_derivative", None)
        if fn is None:
            return Activation.second_derivative(self, z, a, out)  # raises: there is none
        return _into(fn(z, a, out=out) if _accepts_out(fn) else fn(z, a), out)

    def backward_tangent(self, z, a, grad_a, dz, d_grad_a, out=None):
        fn = getattr(self.obj, "backward_tangent", None)
        if fn is None:  # from the object's own derivative and second_derivative
            return Activation.backward_tangent(self, z, a, grad_a, dz, d_grad_a, out)
        return _into(fn(z, a, grad_a, dz, d_grad_a), out)

    def config(self):
        config = getattr(self.obj, "config", None)
        return config() if callable(config) else {"name": self.name}

    def __getattr__(self, item: str) -> Any:
        return getattr(self.__dict__["obj"], item)

    def __repr__(self) -> str:
        return repr(self.obj)

    def __eq__(self, other: object) -> bool:
        return other is self or other is self.obj or (
            isinstance(other, _Foreign) and other.obj is self.obj)

    def __hash__(self) -> int:
        return id(self.obj)


class Identity(Activation):
    """``f(z) = z``, ``f'(z) = 1``."""

    name = "identity"

    def forward(self, z, out=None):
        return z

    def derivative(self, z, a, out=None):
        if out is None:
            return np.ones_like(z)
        out[...] = 1
        return out

    def backward(self, z, a, grad_a, out=None):
        return grad_a

    def jvp(self, z, a, dz, out=None):
        return dz

    def second_derivative(self, z, a, out=None):
        """``f''(z) = 0``."""
        return _into(np.zeros_like(z), out)

    def backward_tangent(self, z, a, grad_a, dz, d_grad_a, out=None):
        """``d_delta = d_grad_a``: ``f' = 1`` and ``f'' = 0``."""
        return d_grad_a


class Sigmoid(Activation):
    """``f(z) = 1 / (1 + exp(-z))``, range (0, 1); ``f'(z) = a (1 - a) <= 1/4``."""

    name = "sigmoid"

    def forward(self, z, out=None):
        # exp(-z) overflows to inf for very negative z, and 1 / (1 + inf) = 0 is the limit
        with np.errstate(over="ignore", under="ignore"):
            a = np.negative(z, out=out)
            np.exp(a, out=a)
            a += 1
            return np.reciprocal(a, out=a)

    def derivative(self, z, a, out=None):
        f_prime = np.subtract(1, a, out=out)  # a (1 - a)
        f_prime *= a
        return f_prime

    def second_derivative(self, z, a, out=None):
        """``f''(z) = a (1 - a) (1 - 2a)``, from ``f' = a (1 - a)`` and ``da/dz = a (1 - a)``."""
        f2 = np.subtract(1, a, out=out)
        f2 *= a
        f2 *= 1 - 2 * a
        return f2


class Tanh(Activation):
    """``f(z) = tanh(z)``, range (-1, 1); ``f'(z) = 1 - a^2 <= 1``."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def derivative(self, z, a, out=None):
        f_prime = np.multiply(a, a, out=out)  # 1 - a^2
        return np.subtract(1, f_prime, out=f_prime)

    def second_derivative(self, z, a, out=None):
        """``f''(z) = -2 a (1 - a^2)``, from ``f' = 1 - a^2``."""
        f2 = np.multiply(a, a, out=out)
        np.subtract(1, f2, out=f2)
        f2 *= -2 * a
        return f2


class ReLU(Activation):
    """``f(z) = max(z, 0)``; ``f'(z) = 1 if z > 0 else 0`` (0 at the kink, as PyTorch)."""

    name = "relu"
    nonsmooth = (0.0,)  # f' jumps here: finite differences across it mean nothing

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def derivative(self, z, a, out=None):
        if out is None:
            return (z > 0).astype(z.dtype)
        return np.greater(z, 0, out=out)  # 1.0 where z > 0, else 0.0

    def second_derivative(self, z, a, out=None):
        """``f''(z) = 0`` away from the kink at 0 (listed in ``nonsmooth``)."""
        return _into(np.zeros_like(z), out)

    def backward_tangent(self, z, a, grad_a, dz, d_grad_a, out=None):
        """``d_delta = d_grad_a * f'(z)``: ``f''`` is 0, so only the moving ``grad_a`` counts."""
        return Activation.backward(self, z, a, d_grad_a, out)


class LeakyReLU(Activation):
    """``f(z) = z if z > 0 else slope * z``; ``f'(z) = 1 if z > 0 else slope``.

    Parameters
    ----------
    slope : float, default=0.01
        The gradient for negative ``z``.
    """

    name = "leaky_relu"
    nonsmooth = (0.0,)

    def __init__(self, slope: float = 0.01):
        self.slope = _check_float("slope", slope, type(self).__name__)

    def forward(self, z, out=None):
        return _into(np.where(z > 0, z, z * z.dtype.type(self.slope)), out)

    def derivative(self, z, a, out=None):
        return _into(np.where(z > 0, 1, self.slope).astype(z.dtype), out)

    def second_derivative(self, z, a, out=None):
        """``f''(z) = 0`` away from the kink at 0 (listed in ``nonsmooth``)."""
        return _into(np.zeros_like(z), out)

    def backward_tangent(self, z, a, grad_a, dz, d_grad_a, out=None):
        """``d_delta = d_grad_a * f'(z)``: ``f''`` is 0, so only the moving ``grad_a`` counts."""
        return Activation.backward(self, z, a, d_grad_a, out)

    def config(self):
        return {"name": self.name, "slope": self.slope}


class ELU(Activation):
    """``f(z) = z if z > 0 else alpha (exp(z) - 1)``; ``f'(z) = 1 if z > 0 else a + alpha``.

    Parameters
    ----------
    alpha : float, default=1.0

    Notes
    -----
    ``f'`` is continuous at 0 only for ``alpha = 1``, and ``f''`` jumps there for every alpha
    (0 on the right, ``alpha`` on the left): 0 is listed in ``nonsmooth``.
    """

    name = "elu"
    nonsmooth = (0.0,)

    def __init__(self, alpha: float = 1.0):
        self.alpha = _check_float("alpha", alpha, type(self).__name__)

    def forward(self, z, out=None):
        with np.errstate(under="ignore"):
            return _into(np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0))).astype(
                z.dtype, copy=False), out)

    def derivative(self, z, a, out=None):
        return _into(np.where(z > 0, 1, a + self.alpha).astype(z.dtype), out)

    def second_derivative(self, z, a, out=None):
        """``f''(z) = 0 if z > 0 else a + alpha`` (``= alpha exp(z)``; it jumps at 0)."""
        return _into(np.where(z > 0, 0, a + self.alpha).astype(z.dtype), out)

    def config(self):
        return {"name": self.name, "alpha": self.alpha}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow: only ``exp(-|z|)`` is ever formed."""
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(z))
    return (np.where(z >= 0, 1.0, e) / (1.0 + e)).astype(z.dtype, copy=False)


class Softplus(Activation):
    """``f(z) = log(1 + exp(z))``, computed as ``max(z, 0) + log1p(exp(-|z|))``; ``f'(z) = sigmoid(z)``."""

    name = "softplus"

    def forward(self, z, out=None):
        with np.errstate(under="ignore"):
            return _into(np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))), out)

    def derivative(self, z, a, out=None):
        return _into(_sigmoid(z), out)

    def second_derivative(self, z, a, out=None):
        """``f''(z) = s (1 - s)`` with ``s = sigmoid(z) = f'(z)``."""
        s = _sigmoid(z)
        return _into(s * (1 - s), out)


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

    def forward(self, z, out=None):
        t, _ = self._t(z)
        return _into(0.5 * z * (1 + t), out)

    def derivative(self, z, a, out=None):
        t, zc = self._t(z)
        return _into(0.5 * (1 + t) + 0.5 * zc * (1 - t * t) * self._c
                     * (1 + 3 * self._k * zc * zc), out)

    def second_derivative(self, z, a, out=None):
        """``f''(z) = (1 - t^2) (u' - z t u'^2 + 3 c k z^2)``, ``u' = c (1 + 3 k z^2)``.

        From ``f' = (1 + t)/2 + (z/2)(1 - t^2) u'`` with ``dt/dz = (1 - t^2) u'`` and
        ``u'' = 6 c k z``.
        """
        t, zc = self._t(z)
        u1 = self._c * (1 + 3 * self._k * zc * zc)
        return _into((1 - t * t) * (u1 - zc * t * u1 * u1 + 3 * self._c * self._k * zc * zc), out)


class Softmax(Activation):
    """Row-wise ``a_j = exp(z_j) / sum_k exp(z_k)``, computed after subtracting each row's max.

    Notes
    -----
    The Jacobian of one row is ``da_j/dz_k = a_j (1[j=k] - a_k)``, symmetric, so the
    vector-Jacobian and Jacobian-vector products are both ``a * (g - sum(g * a, axis=1))``.
    ``derivative`` returns only the diagonal ``a (1 - a)``; the layers use ``backward``.
    """

    name = "softmax"

    def forward(self, z, out=None):
        a = np.subtract(z, row_max(z)[:, None], out=out)
        with np.errstate(under="ignore"):
            np.exp(a, out=a)
        a /= row_sum(a)[:, None]
        return a

    def derivative(self, z, a, out=None):
        f_prime = np.subtract(1, a, out=out)
        f_prime *= a
        return f_prime

    def backward(self, z, a, grad_a, out=None):
        """``delta = a * (grad_a - sum(grad_a * a, axis=1))``."""
        delta = np.multiply(grad_a, a, out=out)
        s = row_sum(delta)
        np.subtract(grad_a, s[:, None], out=delta)
        delta *= a
        return delta

    def jvp(self, z, a, dz, out=None):
        return self.backward(z, a, dz, out)

    def second_derivative(self, z, a, out=None):
        """The diagonal ``d^2 a_j / dz_j^2 = a_j (1 - a_j) (1 - 2 a_j)`` only; the R-operator
        uses :meth:`backward_tangent`, which needs the whole second-order structure."""
        f2 = np.subtract(1, a, out=out)
        f2 *= a
        f2 *= 1 - 2 * a
        return f2

    def backward_tangent(self, z, a, grad_a, dz, d_grad_a, out=None):
        """``d_delta = da * (g - s) + a * (dg - sum(dg * a) - sum(g * da))``, row by row.

        Notes
        -----
        With ``g = grad_a``, ``s = sum(g * a)`` (per row), ``delta = a * (g - s)``. Its tangent
        by the product rule, with ``da = a * (dz - sum(dz * a))`` (the softmax JVP) and
        ``ds = sum(dg * a) + sum(g * da)``: ``d_delta = da * (g - s) + a * (dg - ds)``.
        """
        da = self.jvp(z, a, dz)
        s = row_sum(grad_a * a)
        ds = row_sum(d_grad_a * a) + row_sum(grad_a * da)
        d_delta = np.subtract(grad_a, s[:, None], out=out)
        d_delta *= da
        d_delta += a * (d_grad_a - ds[:, None])
        return d_delta


def row_max(z: np.ndarray) -> np.ndarray:
    """``z.max(axis=1)``; for a few columns one ``maximum`` per column (numpy reduces short rows
    one call each: column by column is about 4 times faster for 10 classes)."""
    return _reduce_rows(np.maximum, z)


def row_sum(z: np.ndarray) -> np.ndarray:
    """``z.sum(axis=1)``, column by column for a few columns (see :func:`row_max`)."""
    return _reduce_rows(np.add, z)


def _reduce_rows(ufunc: Any, z: np.ndarray) -> np.ndarray:
    if z.shape[1] > 16 or type(z) is not np.ndarray:  # on a GPU: one reduction, one kernel
        return z.max(axis=1) if ufunc is np.maximum else z.sum(axis=1)
    out = z[:, 0].copy()
    for j in range(1, z.shape[1]):
        ufunc(out, z[:, j], out=out)
    return out


ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    cls.name: cls
    for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus, GELU, Softmax)
}
"""Name -> activation class. ``get_activation`` looks names up here."""


def get_activation(spec: str | dict | ActivationLike) -> Activation:
    """Return the activation named by ``spec``.

    Parameters
    ----------
    spec : str, dict or activation object
        A registry name (``'relu'``), a config dict (``{'name': 'leaky_relu', 'slope': 0.1}``),
        or an object with ``name``, ``forward``, ``derivative``, ``backward`` and ``jvp``
        (used as it is: its own methods run, whatever its name).

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
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, ActivationLike):
        return _Foreign(spec)
    raise TypeError(
        "An activation must be a name, a config dict or an object with name, forward, "
        f"derivative, backward and jvp; got {type(spec).__name__}."
    )


def _check_float(param: str, value: Any, owner: str) -> float:
    from .validation import check_scalar

    return check_scalar(value, param, owner)
