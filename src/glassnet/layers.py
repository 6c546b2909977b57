"""Layers: the protocol every layer follows, the fully connected ``Dense``, ``Residual``, ``Dropout``.

The layer protocol (each layer needs only its own data):

``forward(a_prev) -> a``
    Computes the layer's output and caches what its own ``backward`` needs.
``backward(grad_a, input_grad=True) -> grad_a_prev``
    Takes ``dC/da`` of the layer's output, *assigns* (never accumulates) its parameter gradients,
    and returns ``dC/da_prev`` (or None when ``input_grad`` is False and nothing needs it).
    It never writes into ``grad_a``.
``infer(a_prev) -> a``
    The forward pass for prediction: caches nothing; a layer that is the identity at inference
    (``identity_at_inference``, Dropout) returns its input.
``jvp(da_prev) -> da``
    Forward mode: pushes a tangent of the input through the layer (after a ``forward``).
``param_names``
    The layer's own parameters, as attribute names (``("W", "b")``); the gradient of parameter
    ``p`` is the attribute ``"d" + p`` (``dW``, ``db``). ``penalized`` names those the network's
    L1/L2 penalty acts on (the weights, not the biases).
``children()``
    The inner layers of a block (a Residual's ``F``), in forward order; ``[]`` for others.
``clear()``
    Drops the cached arrays of the last pass (also of the children).
``training``, ``rng``
    Whether the layer is in training mode (Dropout drops units only then), and its random
    Generator (None for deterministic layers); set by the network.

One walker over the layer tree, :func:`walk`, gives every layer its key (``'0'``, ``'1'``,
``'1.0'``, ...) and :func:`named_parameters` every parameter its key (``'0.W'``, ``'1.0.b'``):
save, load, the optimiser, interop and diagnostics all use these keys.

Parameters live in flat arrays. A layer starts with storage of its own; a :class:`Network`
copies the values of all its layers' parameters into its one flat ``theta`` (and zeros into
its flat ``grad``) and binds each layer's ``W, b, dW, db`` to views into those, so that the
optimiser updates all parameters with one operation. Assigning to a bound attribute
(``layer.W = new``, or ``self.dW = delta.T @ a_prev`` in a layer's own ``backward``) writes the
values into the view; it never rebinds it.

The cached ``z``, ``a``, ``delta`` and the returned ``grad_a_prev`` live in buffers that a
layer keeps per batch size and reuses on the next pass of the same size: copy what you keep.

Because a layer reads nothing from its neighbours, layers compose freely: a ``Residual``
block ``a = x + F(x)`` is one more layer.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .activations import Activation, get_activation
from .device import array_module, on_device_of, to_numpy
from .init import default_init, get_init, make_rng
from .validation import check_scalar

__all__ = [
    "LAYERS",
    "Dense",
    "Dropout",
    "Layer",
    "Residual",
    "bind_parameters",
    "iter_layers",
    "layer_from_config",
    "layer_kind",
    "named_parameters",
    "walk",
]

_CACHES = ("a_prev", "z", "a", "delta")
_PER_PASS = ("_buffers", "_arrays", "_buf")  # reusable arrays, made again on the next pass


class _Bound:
    """A parameter (or gradient) attribute: once :meth:`Layer.bind` has made it a view into the
    network's flat array, assigning to it writes the values into the view, never rebinds it."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, layer: Any, owner: Any = None) -> Any:
        if layer is None:
            return self
        try:
            return layer.__dict__[self.name]
        except KeyError:
            raise AttributeError(f"{type(layer).__name__} has no {self.name!r} yet") from None

    def __set__(self, layer: Any, value: Any) -> None:
        view = layer.__dict__.get("_bound", {}).get(self.name)
        if view is None:  # not bound yet (the layer's constructor): a plain attribute
            layer.__dict__[self.name] = value
            return
        if value is view:
            return
        if tuple(getattr(value, "shape", np.shape(value))) != view.shape:
            raise ValueError(f"{type(layer).__name__}.{self.name} has shape {view.shape}; got "
                             f"an array of shape {np.shape(value)}.")
        view[...] = on_device_of(value, view)


class Layer:
    """Base class: the protocol, parameter binding, buffers and the checks shared by every layer."""

    n_in: int
    n_out: int
    param_names: tuple[str, ...] = ()
    penalized: tuple[str, ...] = ()
    identity_at_inference = False
    training = False
    rng: np.random.Generator | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # each declared parameter and its gradient become _Bound attributes (see bind)
        super().__init_subclass__(**kwargs)
        for name in cls.__dict__.get("param_names", ()):
            for attr in (name, "d" + name):
                if not isinstance(cls.__dict__.get(attr), _Bound):
                    setattr(cls, attr, _Bound(attr))

    # ------------------------------------------------------------------ the protocol
    def forward(self, a_prev: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_a: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def infer(self, a_prev: np.ndarray) -> np.ndarray:
        """The output for prediction; by default ``forward`` (whose caches are then dropped)."""
        a = self.forward(a_prev)
        self.clear()
        return a

    def jvp(self, da_prev: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def children(self) -> list["Layer"]:
        return []

    def clear(self) -> None:
        for name in _CACHES:
            if name in self.__dict__:
                setattr(self, name, None)
        for child in self.children():
            child.clear()

    def params(self) -> dict[str, np.ndarray]:
        """The live parameter arrays of this layer and its children (``'W'``, ``'0.W'``, ...)."""
        own = {name: getattr(self, name) for name in self.param_names}
        own.update({key: getattr(layer, name)
                    for key, layer, name in named_parameters(self.children())})
        return own

    def grads(self) -> dict[str, np.ndarray]:
        """The gradients of the last ``backward``, with the keys of :meth:`params`."""
        if self.param_names and getattr(self, "delta", None) is None:
            raise RuntimeError(f"{type(self).__name__}.grads() called before backward. Run "
                               "backprop(X, y) first.")
        own = {name: getattr(self, "d" + name) for name in self.param_names}
        own.update({key: getattr(layer, "d" + name)
                    for key, layer, name in named_parameters(self.children())})
        return own

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params().values())

    def config(self) -> dict[str, Any]:
        """The layer as JSON-able data, ``{"type": layer_kind(self), ...}``: what a model file
        stores. A layer of your own has none unless it defines one; model files, exports and
        the explainers know the built-in kinds only (:func:`layer_kind`)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no config(): it is a layer of your own, and glassnet's "
            "model files and exports hold the built-in layers only (Dense, Residual, Dropout). "
            "Keep the network with pickle, or its weights with numpy.savez(path, "
            "**net.params()).")

    def astype(self, dtype: Any) -> "Layer":
        """A copy of the layer, of its own class, with its parameters converted to ``dtype``.

        Every attribute is carried over (a shallow copy: activation objects and random
        generators are shared); the parameters are new arrays, the caches, buffers and
        gradients are left behind. A layer with inner layers copies them in its own
        ``astype`` (see :class:`Residual`).
        """
        if self.children():
            raise NotImplementedError(
                f"{type(self).__name__} has inner layers: give it an astype(dtype) that copies "
                "them, as Residual.astype does.")
        new = self._bare_copy()
        state = new.__dict__
        for name in self.param_names:
            state.pop("d" + name, None)
            state[name] = np.array(to_numpy(getattr(self, name)), dtype=dtype)
        if self.param_names:
            bind_parameters([(name, new, name) for name in self.param_names], dtype, np)
        return new

    def _bare_copy(self) -> "Layer":
        """A shallow copy of the layer without its bindings, buffers and caches: what ``astype``
        starts from."""
        new = copy.copy(self)
        state = new.__dict__
        for key in ("_bound", *_PER_PASS):
            state.pop(key, None)
        for name in _CACHES:
            if name in state:
                state[name] = None
        return new

    @property
    def shape_note(self) -> str:
        """What a summary table shows after ``n_in -> n_out``."""
        return ""

    # ------------------------------------------------------------------ binding and buffers
    def bind(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        """Make parameter ``name`` the view ``param`` (its value copied in) and its gradient ``grad``.

        From then on ``layer.W = value`` (or ``self.dW = ...`` in a backward) writes into the
        view; the parameter names must be declared in the class's ``param_names``.
        """
        if not isinstance(getattr(type(self), name, None), _Bound):
            raise TypeError(f"{type(self).__name__} must declare its parameters in param_names "
                            f"(a class attribute, e.g. param_names = ('W', 'b')); {name!r} is not.")
        param[...] = on_device_of(getattr(self, name), param)
        bound = self.__dict__.setdefault("_bound", {})
        for attr, view in ((name, param), ("d" + name, grad)):
            self.__dict__[attr] = bound[attr] = view
        self.__dict__.pop("_buffers", None)  # made for the old dtype and device
        self.__dict__.pop("_arrays", None)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the reusable buffers (made again on the next pass)."""
        state = dict(self.__dict__)
        for name in _PER_PASS:
            state.pop(name, None)
        return state

    def buffer(self, name: str, shape: tuple[int, ...], like: np.ndarray,
               fill: float | None = None) -> np.ndarray:
        """An array ``name`` of ``shape`` for this batch size, kept and reused.

        Buffers are kept for the last few batch sizes, on ``like``'s device, in the dtype of
        the layer's parameters (of ``like`` for a layer without). A new buffer is filled with
        ``fill`` when given, else left uninitialised.
        """
        store = self.__dict__.get("_buffers")
        if store is None:
            store = self.__dict__["_buffers"] = {}
        key = (shape[0], type(like))
        arrays = store.get(key)
        if arrays is None:
            if len(store) >= 4:  # keep the last few batch sizes only
                del store[next(iter(store))]
            arrays = store[key] = {}
        array = arrays.get(name)
        dtype = getattr(self, "dtype", None) or like.dtype
        if array is None or array.shape != shape or array.dtype != dtype:
            array = arrays[name] = array_module(like).empty(shape, dtype)
            if fill is not None:
                array.fill(fill)
        return array

    def _require_forward(self, what: str, cache: str = "z") -> None:
        if getattr(self, cache, None) is None:
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
    a_prev : ndarray of shape (n_samples, n_in)
        The input of the last ``forward``.
    z, a : ndarray of shape (n_samples, n_out)
        Cached by the last ``forward``.
    delta : ndarray of shape (n_samples, n_out)
        ``dC/dz`` of the last batch, set by ``backward``.
    dW : ndarray of shape (n_out, n_in)
    db : ndarray of shape (n_out,)
        In a Network, ``W, b, dW, db`` are views into ``net.theta`` and ``net.grad``.

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

    param_names = ("W", "b")
    penalized = ("W",)

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
        self.activation: Activation = get_activation(activation)
        self.init = init or default_init(self.activation.name)
        dtype = _check_dtype(dtype)
        W = get_init(self.init)(make_rng(seed), self.n_out, self.n_in)
        self.W, self.b = W, np.zeros(self.n_out)
        bind_parameters([(name, self, name) for name in self.param_names], dtype, np)
        self.a_prev: np.ndarray | None = None
        self.z: np.ndarray | None = None
        self.a: np.ndarray | None = None
        self.delta: np.ndarray | None = None

    @property
    def dtype(self) -> np.dtype:
        return self.W.dtype

    def forward(self, a_prev: np.ndarray) -> np.ndarray:
        """``z = a_prev @ W.T + b``, ``a = f(z)``; shapes (n_samples, n_in) -> (n_samples, n_out)."""
        buf = self.arrays(a_prev)  # z, a, delta, ... for this batch size: kept, reused
        self.a_prev = a_prev
        z = buf.xp.matmul(a_prev, self.W.T, out=buf.z)               # z = a_prev @ W.T
        z += self.b                                                   #     + b
        self.z = z
        self.a = self.activation.forward(z, out=buf.a)                # a = f(z)
        return self.a

    def backward(self, grad_a: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """From ``grad_a = dC/da``: ``delta = grad_a * f'(z)``, then :meth:`backward_delta`."""
        self._require_forward("backward")
        delta = self.activation.backward(self.z, self.a, grad_a, out=self._buf.delta)  # grad_a * f'(z)
        return self.backward_delta(delta, input_grad)

    def backward_delta(self, delta: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """From ``delta = dC/dz``: ``dW = delta.T @ a_prev``, ``db = delta.sum(0)``, return ``delta @ W``.

        The network calls this directly on the output layer when the loss gives the fused
        delta ``(a - y) / n``. ``db`` is ``delta.sum(0)`` written as ``ones @ delta``: one BLAS
        matrix-vector product, 2-3 times faster than numpy's reduction at these shapes.
        """
        self._require_forward("backward_delta")
        self.delta, buf = delta, self._buf
        buf.xp.matmul(delta.T, self.a_prev, out=self.dW)              # dW = delta.T @ a_prev
        buf.xp.matmul(buf.ones, delta, out=self.db)                   # db = delta.sum(0)
        if not input_grad:
            return None
        return buf.xp.matmul(delta, self.W, out=buf.grad_a_prev())    # grad_a_prev = delta @ W

    def arrays(self, a_prev: np.ndarray) -> "_DenseArrays":
        """The arrays of a pass with inputs like ``a_prev``: made for each batch size (the last
        few kept) on its device, in the layer's dtype; ``forward`` and ``backward`` write there."""
        store = self.__dict__.get("_arrays")
        if store is None:
            store = self.__dict__["_arrays"] = {}
        key = (len(a_prev), type(a_prev))
        buf = store.get(key)
        if buf is None:
            if len(store) >= 4:  # keep the last few batch sizes only
                del store[next(iter(store))]
            buf = store[key] = _DenseArrays(self, a_prev)
        self._buf = buf
        return buf

    def infer(self, a_prev: np.ndarray) -> np.ndarray:
        """``f(a_prev @ W.T + b)`` with nothing cached (``f`` applied in place in ``z``)."""
        z = self.buffer("infer", (len(a_prev), self.n_out), a_prev)
        array_module(a_prev).matmul(a_prev, self.W.T, out=z)
        z += self.b
        return self.activation.forward(z, out=z)

    def jvp(self, da_prev: np.ndarray) -> np.ndarray:
        """Forward mode: ``dz = da_prev @ W.T``, ``da = f'(z) * dz``."""
        self._require_forward("jvp")
        return self.activation.jvp(self.z, self.a, da_prev @ self.W.T)

    def config(self) -> dict[str, Any]:
        return {
            "type": layer_kind(self),
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": _activation_config(self.activation),
            "init": self.init,
        }

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r})"


class _DenseArrays:
    """One batch size's arrays of a Dense layer: ``z``, ``a``, ``delta`` of shape (n, n_out),
    the ones of ``db = ones @ delta``, and ``grad_a_prev`` of shape (n, n_in) on first use."""

    def __init__(self, layer: Dense, like: np.ndarray):
        self.xp = xp = array_module(like)  # numpy, or cupy on a GPU
        n, dtype = len(like), layer.dtype
        self.z = xp.empty((n, layer.n_out), dtype)
        self.a = xp.empty((n, layer.n_out), dtype)
        self.delta = xp.empty((n, layer.n_out), dtype)
        self.ones = xp.ones(n, dtype)
        self._grad_a_prev: np.ndarray | None = None
        self._shape = (n, layer.n_in)

    def grad_a_prev(self) -> np.ndarray:
        if self._grad_a_prev is None:  # the first layer never needs it
            self._grad_a_prev = self.xp.empty(self._shape, self.delta.dtype)
        return self._grad_a_prev


class Residual(Layer):
    """Identity-mapping residual block: ``a = x + F(x)``.

    ``F`` is the chain of ``layers``; it must keep the width (``n_in == n_out``). This is the
    derivation's ``x^{l+1} = x^l + F(x^l)``: nothing is applied after the sum, so the skip path
    carries the gradient unchanged.

    Parameters
    ----------
    *layers : Layer
        The layers of ``F``, applied in order.

    Attributes
    ----------
    z, a : ndarray of shape (n_samples, n)
        The sum ``x + F(x)`` (the block's output; ``z`` is ``a``).
    delta : ndarray of shape (n_samples, n)
        ``dC/da`` of the block's output, set by ``backward``.

    Notes
    -----
    With ``delta = dC/da``, the gradient reaching the block's input is
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
        if get_activation(activation).name != "identity":
            raise ValueError(
                "A Residual block is a = x + F(x), with nothing applied after the sum (the "
                f"derivation's identity mapping); got activation={activation!r}. Put the "
                "activation inside F instead: Residual(Dense(n, n, activation=...)).")
        _check_chain(layers, "Residual")
        if layers[0].n_in != layers[-1].n_out:
            raise ValueError(
                f"Residual needs F(x) to keep the width of x, but its layers map "
                f"{layers[0].n_in} -> {layers[-1].n_out}. Make the last inner layer output "
                f"{layers[0].n_in} units."
            )
        self.layers = list(layers)
        self.n_in = self.n_out = layers[0].n_in
        self.z: np.ndarray | None = None
        self.a: np.ndarray | None = None
        self.delta: np.ndarray | None = None

    def children(self) -> list[Layer]:
        return self.layers

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].dtype  # type: ignore[attr-defined]

    @property
    def shape_note(self) -> str:
        return "(+skip)"

    def forward(self, a_prev: np.ndarray) -> np.ndarray:
        """``a = x + F(x)``."""
        h = a_prev
        for layer in self.layers:
            h = layer.forward(h)
        self.a = self.z = np.add(a_prev, h, out=self.buffer("a", a_prev.shape, a_prev))
        return self.a

    def backward(self, grad_a: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``dC/dx = grad_a + (dF/dx)^T grad_a``, the inner layers' gradients set on the way."""
        self._require_forward("backward")
        self.delta = grad_a
        g = grad_a
        for i in range(len(self.layers) - 1, -1, -1):
            g = self.layers[i].backward(g, input_grad or i > 0)
        if not input_grad:
            return None
        return np.add(grad_a, g, out=self.buffer("grad_a_prev", grad_a.shape, grad_a))

    def infer(self, a_prev: np.ndarray) -> np.ndarray:
        h = a_prev
        for layer in self.layers:
            h = layer.infer(h)
        return a_prev + h

    def jvp(self, da_prev: np.ndarray) -> np.ndarray:
        """``da = dx + F'(x) dx``."""
        self._require_forward("jvp")
        h = da_prev
        for layer in self.layers:
            h = layer.jvp(h)
        return da_prev + h

    def astype(self, dtype: Any) -> "Residual":
        new = self._bare_copy()
        new.layers = [layer.astype(dtype) for layer in self.layers]
        return new

    def config(self) -> dict[str, Any]:
        return {"type": layer_kind(self), "layers": [layer.config() for layer in self.layers]}

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Residual({inner})"


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

    identity_at_inference = True

    def __init__(self, p: float = 0.5, *, width: int | None = None,
                 seed: int | np.random.Generator | None = None):
        self.p = check_scalar(p, "p", "Dropout", low=0.0, high=1.0, high_open=True)
        self.n_in = self.n_out = _check_size("width", width, "Dropout") if width is not None else None  # type: ignore[assignment]
        self.rng = make_rng(seed)
        self.training = False
        self.freeze_mask = False
        self.mask: np.ndarray | None = None

    @property
    def shape_note(self) -> str:
        return f"(p={self.p})"

    def forward(self, a_prev: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0:
            self.mask = None
            return a_prev
        mask = self.draw_mask(a_prev)
        return np.multiply(a_prev, mask, out=self.buffer("a", a_prev.shape, a_prev))

    def draw_mask(self, a_prev: np.ndarray) -> np.ndarray:
        """``self.mask = m / (1 - p)`` for inputs like ``a_prev`` (the last one when frozen)."""
        if not (self.freeze_mask and self.mask is not None and self.mask.shape == a_prev.shape):
            keep = self.rng.random(a_prev.shape, dtype=np.float64) >= self.p  # on the host
            mask = keep.astype(a_prev.dtype) / a_prev.dtype.type(1 - self.p)
            self.mask = on_device_of(mask, a_prev)
        return self.mask

    def backward(self, grad_a: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        return grad_a if self.mask is None else grad_a * self.mask

    def infer(self, a_prev: np.ndarray) -> np.ndarray:
        return a_prev

    def jvp(self, da_prev: np.ndarray) -> np.ndarray:
        return da_prev if self.mask is None else da_prev * self.mask

    def clear(self) -> None:
        self.mask = None

    def astype(self, dtype: Any) -> "Dropout":
        new = super().astype(dtype)  # rng, training and freeze_mask shared
        new.mask = None if self.mask is None else self.mask.astype(dtype)
        return new

    def config(self) -> dict[str, Any]:
        return {"type": layer_kind(self), "p": self.p, "width": self.n_in}

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


# ---------------------------------------------------------------------- the layer tree


def walk(layers: Sequence[Layer], prefix: str = "") -> Iterator[tuple[str, Layer]]:
    """``(key, layer)`` for every layer, inner layers of blocks included, in forward order.

    Keys are the positions joined by dots: ``'0'``, ``'1'``, ``'1.0'`` (the first inner layer
    of layer 1), ...
    """
    for i, layer in enumerate(layers):
        key = f"{prefix}{i}"
        yield key, layer
        yield from walk(layer.children(), key + ".")


def named_parameters(layers: Sequence[Layer]) -> Iterator[tuple[str, Layer, str]]:
    """``(key, layer, name)`` for every parameter: ``('0.W', dense, 'W')``, ``('1.0.b', ...)``."""
    for key, layer in walk(layers):
        for name in layer.param_names:
            yield f"{key}.{name}", layer, name


def iter_layers(layers: Sequence[Layer]) -> list[Layer]:
    """Every layer, inner layers of blocks included, in forward order."""
    return [layer for _, layer in walk(layers)]


def bind_parameters(entries: Sequence[tuple[str, Layer, str]], dtype: Any,
                    xp: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray],
                                      dict[str, np.ndarray]]:
    """One flat ``theta`` and ``grad`` for the parameters ``entries`` (from
    :func:`named_parameters`), each layer's parameter and gradient bound to views into them.

    Returns ``(theta, grad, params, grads)``: the flat arrays (``theta`` holding the layers'
    current values, ``grad`` zeros) and the views by key, in the order of ``entries``.
    """
    shapes = [np.shape(getattr(layer, name)) for _, layer, name in entries]
    total = sum(int(np.prod(shape)) for shape in shapes)
    theta, grad = xp.empty(total, dtype), xp.zeros(total, dtype)
    params: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray] = {}
    offset = 0
    for (key, layer, name), shape in zip(entries, shapes):
        size = int(np.prod(shape))
        params[key] = theta[offset:offset + size].reshape(shape)
        grads[key] = grad[offset:offset + size].reshape(shape)
        layer.bind(name, params[key], grads[key])
        offset += size
    return theta, grad, params, grads


# ---------------------------------------------------------------------- configs


def _dense_from_config(config: dict[str, Any], dtype: Any) -> Dense:
    return Dense(
        config["n_in"], config["n_out"], config["activation"],
        init=config.get("init"), seed=0, dtype=dtype,
    )


def _residual_from_config(config: dict[str, Any], dtype: Any) -> Residual:
    inner = [layer_from_config(c, dtype=dtype) for c in config["layers"]]
    return Residual(*inner, activation=config.get("activation", "identity"))


LAYERS: dict[str, Callable[[dict[str, Any], Any], Layer]] = {
    "Dense": _dense_from_config,
    "Residual": _residual_from_config,
    "Dropout": lambda config, dtype: Dropout(config["p"], width=config.get("width")),
}
"""Layer type name -> builder from a config dict (used by ``glassnet.load``)."""


BUILT_IN: dict[str, type[Layer]] = {"Dense": Dense, "Residual": Residual, "Dropout": Dropout}
"""The layer classes glassnet's registries know by name."""


def layer_kind(layer: Layer) -> str:
    """The key every registry of layers dispatches on (save and load, the exports, explain, the
    per-sample and second-order rules): ``'Dense'``, ``'Residual'`` or ``'Dropout'`` for exactly
    those classes.

    Any other class -- a subclass of a built-in one too, since it may compute something else --
    is known by its class name (``'module.Name'`` where the bare name is a built-in one's), the
    key to add to a registry such as ``glassnet.per_sample.PER_SAMPLE``. So a layer of your own
    is never taken for a built-in one: a registry without its key refuses it by name.
    """
    cls = type(layer)
    name = cls.__name__
    if name in BUILT_IN and BUILT_IN[name] is not cls:
        return f"{cls.__module__}.{cls.__qualname__}"
    return name


def layer_from_config(config: dict[str, Any], dtype: Any = "float32") -> Layer:
    """Rebuild a layer (weights freshly initialised) from :meth:`Layer.config`."""
    kind = config.get("type")
    if kind not in LAYERS:
        raise ValueError(f"Unknown layer type {kind!r}. Valid layer types: {', '.join(LAYERS)}.")
    return LAYERS[kind](config, dtype)


def _activation_config(activation: Activation) -> dict[str, Any]:
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


def _check_size(name: str, value: Any, owner: str = "Dense") -> int:
    return check_scalar(value, name, owner, kind=int, low=1)


def _check_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dt}.")
    return dt
