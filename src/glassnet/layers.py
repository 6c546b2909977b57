"""Layers: the protocol every layer follows, the fully connected ``Dense`` and ``Residual``.

The layer protocol (each layer needs only its own data):

``forward(a_prev) -> a``
    Computes the layer's output and caches what its own ``backward`` needs.
``backward(grad_a, input_grad=True) -> grad_a_prev``
    Takes ``dC/da`` of the layer's output, *assigns* (never accumulates) its parameter gradients,
    and returns ``dC/da_prev`` (or None when ``input_grad`` is False and nothing needs it).
``jvp(da_prev) -> da``
    Forward mode: pushes a tangent of the input through the layer (after a ``forward``).
``params()`` / ``grads()``
    Dicts of the live parameter and gradient arrays, with the same keys.

Because a layer reads nothing from its neighbours, layers compose freely: a ``Residual``
block ``a = f(x + F(x))`` is one more layer.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .activations import ActivationLike, get_activation
from .device import on_device_of
from .init import default_init, get_init, make_rng

__all__ = ["LAYERS", "Dense", "Dropout", "Layer", "Residual", "iter_layers", "layer_from_config"]


class Layer:
    """Base class: the protocol, and the checks shared by every layer."""

    n_in: int
    n_out: int

    def forward(self, a_prev: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_a: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def jvp(self, da_prev: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict[str, np.ndarray]:
        return {}

    def grads(self) -> dict[str, np.ndarray]:
        return {}

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params().values())

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def astype(self, dtype: Any) -> "Layer":
        """A copy of the layer with its parameters converted to ``dtype``."""
        raise NotImplementedError

    def _require_forward(self, what: str) -> None:
        if getattr(self, "z", None) is None:
            raise RuntimeError(
                f"{type(self).__name__}.{what} called before forward. Run forward(a_prev) first."
            )


class Dense(Layer):
    """Fully connected layer: ``z = a_prev @ W.T + b``, ``a = f(z)``.

    ``W[j, k]`` joins neuron ``k`` of the previous layer to neuron ``j`` of this one, as in the
    derivation and in ``torch.nn.Linear``.

    Parameters
    ----------
    n_in : int
        Number of inputs (neurons of the previous layer), > 0.
    n_out : int
        Number of neurons of this layer, > 0.
    activation : str, dict or activation object, default='identity'
        See :mod:`glassnet.activations`.
    init : str, optional
        Weight initialiser name (see :mod:`glassnet.init`); default He for the relu family,
        Xavier otherwise. Biases start at zero.
    seed : int or numpy.random.Generator, optional
        Source of the initial weights (None: fresh entropy).
    dtype : {'float32', 'float64'}, default='float32'

    Attributes
    ----------
    W : ndarray of shape (n_out, n_in)
    b : ndarray of shape (n_out,)
    z, a : ndarray of shape (n_samples, n_out)
        Cached by the last ``forward``.
    delta : ndarray of shape (n_samples, n_out)
        ``dC/dz`` of the last batch, set by ``backward``.
    dW : ndarray of shape (n_out, n_in)
    db : ndarray of shape (n_out,)

    Notes
    -----
    Backward, with ``grad_a = dC/da``::

        delta = grad_a * f'(z)          # dC/dz
        dW = delta.T @ a_prev           # dC/dW
        db = delta.sum(axis=0)          # dC/db
        grad_a_prev = delta @ W         # dC/da_prev, handed to the layer below

    Examples
    --------
    >>> layer = Dense(3, 2, activation="sigmoid", seed=0)
    >>> layer.W.shape, layer.b.shape
    ((2, 3), (2,))
    >>> layer.forward(np.ones((4, 3), dtype="float32")).shape
    (4, 2)
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: Any = "identity",
        *,
        init: str | None = None,
        seed: int | np.random.Generator | None = None,
        dtype: Any = "float32",
    ):
        self.n_in = _check_size("n_in", n_in)
        self.n_out = _check_size("n_out", n_out)
        self.activation: ActivationLike = get_activation(activation)
        self.init = init or default_init(self.activation.name)
        self.dtype = _check_dtype(dtype)
        rng = make_rng(seed)
        self.W = get_init(self.init)(rng, self.n_out, self.n_in).astype(self.dtype)
        self.b = np.zeros(self.n_out, dtype=self.dtype)
        self.a_prev: np.ndarray | None = None
        self.z: np.ndarray | None = None
        self.a: np.ndarray | None = None
        self.delta: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, a_prev: np.ndarray) -> np.ndarray:
        """``z = a_prev @ W.T + b``, ``a = f(z)``; shapes (n_samples, n_in) -> (n_samples, n_out)."""
        self.a_prev = a_prev
        self.z = a_prev @ self.W.T
        self.z += self.b  # in place: no second (n_samples, n_out) array
        self.a = self.activation.forward(self.z)
        return self.a

    def backward(self, grad_a: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """From ``grad_a = dC/da``: ``delta = grad_a * f'(z)``, then :meth:`backward_delta`."""
        self._require_forward("backward")
        delta = self.activation.backward(self.z, self.a, grad_a)
        return self.backward_delta(delta, input_grad)

    def backward_delta(self, delta: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """From ``delta = dC/dz``: ``dW = delta.T @ a_prev``, ``db = delta.sum(0)``, return ``delta @ W``.

        The network calls this directly on the output layer when the loss gives the fused
        delta ``(a - y) / n``.
        """
        self._require_forward("backward_delta")
        self.delta = delta
        self.dW = delta.T @ self.a_prev
        self.db = delta.sum(axis=0)
        return delta @ self.W if input_grad else None

    def jvp(self, da_prev: np.ndarray) -> np.ndarray:
        """Forward mode: ``dz = da_prev @ W.T``, ``da = f'(z) * dz``."""
        self._require_forward("jvp")
        return self.activation.jvp(self.z, self.a, da_prev @ self.W.T)

    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b}

    def astype(self, dtype: Any) -> "Dense":
        new = Dense(self.n_in, self.n_out, self.activation, init="zeros", dtype=dtype)
        new.init = self.init
        new.W, new.b = self.W.astype(new.dtype), self.b.astype(new.dtype)  # copies, on W's device
        return new

    def grads(self) -> dict[str, np.ndarray]:
        if self.dW is None:
            raise RuntimeError("Dense.grads() called before backward. Run backprop(X, y) first.")
        return {"W": self.dW, "b": self.db}

    def config(self) -> dict[str, Any]:
        return {
            "type": "Dense",
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": _activation_config(self.activation),
            "init": self.init,
        }

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r})"


class Residual(Layer):
    """Identity-mapping residual block: ``z = x + F(x)``, ``a = f(z)``.

    ``F`` is the chain of ``layers``; it must keep the width (``n_in == n_out``).

    Parameters
    ----------
    *layers : Layer
        The layers of ``F``, applied in order.
    activation : str, dict or activation object, default='identity'
        ``f``, applied after the sum.

    Notes
    -----
    With ``delta = dC/dz = grad_a * f'(z)``, the gradient reaching the block's input is
    ``dC/dx = delta + (dF/dx)^T delta``: the "1 +" of the skip keeps it from vanishing
    even when the path through ``F`` does.

    Raises
    ------
    ValueError
        When the inner layers do not chain or change the width.
    """

    def __init__(self, *layers: Layer, activation: Any = "identity"):
        if not layers:
            raise ValueError("Residual needs at least one inner layer: Residual(Dense(8, 8), ...).")
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Residual takes layers; got {type(layer).__name__}.")
        _check_chain(layers, "Residual")
        if layers[0].n_in != layers[-1].n_out:
            raise ValueError(
                f"Residual needs F(x) to keep the width of x, but its layers map "
                f"{layers[0].n_in} -> {layers[-1].n_out}. Make the last inner layer output "
                f"{layers[0].n_in} units."
            )
        self.layers = list(layers)
        self.n_in = self.n_out = layers[0].n_in
        self.activation: ActivationLike = get_activation(activation)
        self.z: np.ndarray | None = None
        self.a: np.ndarray | None = None
        self.delta: np.ndarray | None = None

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].dtype  # type: ignore[attr-defined]

    def forward(self, a_prev: np.ndarray) -> np.ndarray:
        h = a_prev
        for layer in self.layers:
            h = layer.forward(h)
        self.z = a_prev + h
        self.a = self.activation.forward(self.z)
        return self.a

    def backward(self, grad_a: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        self._require_forward("backward")
        delta = self.activation.backward(self.z, self.a, grad_a)
        return self.backward_delta(delta, input_grad)

    def backward_delta(self, delta: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dC/dx = delta + (dF/dx)^T delta``, the inner layers' gradients set on the way."""
        self._require_forward("backward_delta")
        self.delta = delta
        g = delta
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return delta + g

    def jvp(self, da_prev: np.ndarray) -> np.ndarray:
        self._require_forward("jvp")
        h = da_prev
        for layer in self.layers:
            h = layer.jvp(h)
        return self.activation.jvp(self.z, self.a, da_prev + h)

    def params(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params().items()}

    def astype(self, dtype: Any) -> "Residual":
        return Residual(*(layer.astype(dtype) for layer in self.layers), activation=self.activation)

    def grads(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads().items()}

    def config(self) -> dict[str, Any]:
        return {
            "type": "Residual",
            "activation": _activation_config(self.activation),
            "layers": [layer.config() for layer in self.layers],
        }

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Residual({inner}, activation={self.activation.name!r})"


class Dropout(Layer):
    """Inverted dropout: ``a = a_prev * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` while training.

    At prediction time (``training`` False, the default) the layer is the identity: the
    ``1 / (1 - p)`` during training keeps the expected activation the same.

    Parameters
    ----------
    p : float in [0, 1), default=0.5
        Probability that a unit is dropped.
    width : int, optional
        Number of units; set by the Network from the previous layer when omitted.
    seed : int or Generator, optional
        Source of the masks: the same seed gives the same masks.

    Notes
    -----
    Backward: ``grad_a_prev = grad_a * m / (1 - p)``, the same mask as the forward pass.
    With ``freeze_mask`` True the last mask is reused, which makes the layer a fixed linear map
    (how gradcheck verifies it).
    """

    def __init__(self, p: float = 0.5, *, width: int | None = None,
                 seed: int | np.random.Generator | None = None):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"The 'p' parameter of Dropout must be a float in [0, 1); got {p!r}.")
        self.p = float(p)
        self.n_in = self.n_out = _check_size("width", width) if width is not None else None  # type: ignore[assignment]
        self.rng = make_rng(seed)
        self.training = False
        self.freeze_mask = False
        self.mask: np.ndarray | None = None

    def forward(self, a_prev: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0:
            self.mask = None
            return a_prev
        return a_prev * self.draw_mask(a_prev)

    def draw_mask(self, a_prev: np.ndarray) -> np.ndarray:
        """``self.mask = m / (1 - p)`` for inputs like ``a_prev`` (the last one when frozen)."""
        if not (self.freeze_mask and self.mask is not None and self.mask.shape == a_prev.shape):
            keep = self.rng.random(a_prev.shape, dtype=np.float64) >= self.p  # on the host
            mask = keep.astype(a_prev.dtype) / a_prev.dtype.type(1 - self.p)
            self.mask = on_device_of(mask, a_prev)
        return self.mask

    def backward(self, grad_a: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return grad_a if self.mask is None else grad_a * self.mask

    def jvp(self, da_prev: np.ndarray) -> np.ndarray:
        return da_prev if self.mask is None else da_prev * self.mask

    def astype(self, dtype: Any) -> "Dropout":
        new = Dropout(self.p, width=self.n_in)
        new.rng, new.training, new.freeze_mask = self.rng, self.training, self.freeze_mask
        new.mask = None if self.mask is None else self.mask.astype(dtype)
        return new

    def config(self) -> dict[str, Any]:
        return {"type": "Dropout", "p": self.p, "width": self.n_in}

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


def _dense_from_config(config: dict[str, Any], dtype: Any) -> Dense:
    return Dense(
        config["n_in"], config["n_out"], config["activation"],
        init=config.get("init"), seed=0, dtype=dtype,
    )


def _residual_from_config(config: dict[str, Any], dtype: Any) -> Residual:
    inner = [layer_from_config(c, dtype=dtype) for c in config["layers"]]
    return Residual(*inner, activation=config["activation"])


LAYERS: dict[str, Callable[[dict[str, Any], Any], Layer]] = {
    "Dense": _dense_from_config,
    "Residual": _residual_from_config,
    "Dropout": lambda config, dtype: Dropout(config["p"], width=config.get("width")),
}
"""Layer type name -> builder from a config dict (used by ``glassnet.load``)."""


def layer_from_config(config: dict[str, Any], dtype: Any = "float32") -> Layer:
    """Rebuild a layer (weights freshly initialised) from :meth:`Layer.config`."""
    kind = config.get("type")
    if kind not in LAYERS:
        raise ValueError(f"Unknown layer type {kind!r}. Valid layer types: {', '.join(LAYERS)}.")
    return LAYERS[kind](config, dtype)


def iter_layers(layers: Any) -> list[Layer]:
    """Every layer, inner layers of blocks included, in forward order."""
    out: list[Layer] = []
    for layer in layers:
        out.append(layer)
        out.extend(iter_layers(getattr(layer, "layers", [])))
    return out


def _activation_config(activation: ActivationLike) -> dict[str, Any]:
    config = getattr(activation, "config", None)
    return config() if callable(config) else {"name": activation.name}


def _check_chain(layers: Any, owner: str) -> None:
    """Check that widths chain; width-preserving layers without a width (Dropout) take theirs."""
    for i in range(1, len(layers)):
        if layers[i].n_in is None:
            layers[i].n_in = layers[i].n_out = layers[i - 1].n_out
        if layers[i - 1].n_out != layers[i].n_in:
            raise ValueError(
                f"{owner}: layer {i - 1} outputs {layers[i - 1].n_out} units but layer {i} expects "
                f"{layers[i].n_in} inputs. Make each layer's n_in equal the previous n_out."
            )


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"Layer size {name!r} must be an int > 0; got {value!r}.")
    if value <= 0:
        raise ValueError(f"Layer size {name!r} must be an int > 0; got {value}.")
    return int(value)


def _check_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dt}.")
    return dt
