"""The network: a chain of layers and a loss; forward pass and the delta recursion.

Forward, for ``l = 1..L``: ``z^l = a^{l-1} @ W^l.T + b^l``, ``a^l = f(z^l)``, with ``a^0 = X``.

Backward (:meth:`Network.backward`, after a forward pass):

* output layer: ``delta^L = dC/da^L * f'(z^L)``, or the fused ``(a^L - y) / n`` for
  softmax + cross-entropy and sigmoid + binary cross-entropy;
* hidden layers, ``l = L-1..1``: ``delta^l = (delta^{l+1} @ W^{l+1}) * f'(z^l)``;
* every layer: ``dW^l = delta^l.T @ a^{l-1}``, ``db^l = delta^l.sum(axis=0)``.

Each layer does its own step of this recursion (see :mod:`glassnet.layers`); the network only
seeds it with the loss gradient and hands each layer's ``dC/da_prev`` to the layer below.

All parameters live in one flat array ``net.theta`` and all gradients in one flat ``net.grad``;
every layer's ``W, b, dW, db`` are views into them (see :func:`glassnet.layers.bind_parameters`).
This is the one engine: ``fit``, ``predict``, distributed and memory-mapped training, the
playground, the vanishing lab and the scikit-learn estimators all run these methods.

Vocabulary: the *loss* is the data term the derivation defines, the mean over the samples
``C = (1/n) sum_i c(a_i, y_i)``; the *penalty* is the L1/L2 term; the *cost* is their sum,
the function whose gradient ``backward`` computes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Sequence

import numpy as np

from .activations import ACTIVATIONS
from .data._checks import as_dtype, check_real_dtype
from .device import array_module, as_array, check_device, to_device, to_numpy
from .init import make_rng
from .layers import (
    Dense,
    Dropout,
    Layer,
    Residual,
    _check_chain,
    _check_dtype,
    bind_parameters,
    iter_layers,
    layer_from_config,
    named_parameters,
)
from .losses import BinaryCrossEntropy, CrossEntropy, FusedLoss, Loss, get_loss
from .training import History
from .training import fit as _fit
from .training import partial_fit as _partial_fit
from .validation import check_bool, check_sample_weight, check_scalar

__all__ = ["Flat", "Network", "input_gradient", "mlp"]


class Flat(Mapping):
    """A read-only mapping of arrays that are consecutive views into one flat array, ``flat``.

    ``net.params()`` and ``net.grads()`` return these: the optimiser steps ``flat`` at once.
    The arrays are live: ``params["0.W"] = value`` (or ``+= 1``) writes into the view, as
    ``p[...] = value`` does; the keys never change.
    """

    def __init__(self, flat: np.ndarray, views: dict[str, np.ndarray]):
        self.flat = flat
        self._views = dict(views)

    def __getitem__(self, key: str) -> np.ndarray:
        return self._views[key]

    def __setitem__(self, key: str, value: Any) -> None:
        view = self._views[key]
        if value is not view:
            if np.shape(value) != view.shape:
                raise ValueError(f"Parameter {key!r} has shape {view.shape}; got an array of "
                                 f"shape {np.shape(value)}.")
            view[...] = value

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __repr__(self) -> str:
        return f"Flat({list(self._views)}, n={self.flat.size})"


class Network:
    """A feed-forward network: ``layers`` applied in order, trained against ``loss``.

    Parameters
    ----------
    layers : sequence of Layer
        ``layers[i].n_out`` must equal ``layers[i + 1].n_in``. The network takes the layers
        over: their parameters become views into its flat ``theta`` (their values kept).
    loss : str or Loss, default='mse'
        One of :data:`glassnet.losses.LOSSES`. ``cross_entropy`` needs a softmax output layer
        and ``binary_cross_entropy`` a sigmoid one.
    dtype : {'float32', 'float64'}, default='float32'
        Parameters of other dtypes are converted; inputs are cast to it.
    l2 : float, default=0.0
        Coupled L2 penalty on the weights (not the biases), part of the cost:
        ``C + (l2 / 2) sum_l ||W^l||^2``, so ``dW += l2 * W``. The derivation's
        ``(lambda / 2n) ||W||^2`` over a training set of ``n`` samples is ``l2 = lambda / n``.
    l1 : float, default=0.0
        L1 penalty ``l1 * sum_l |W^l|``, so ``dW += l1 * sign(W)``.
    device : {'cpu', 'cuda'}, optional
        Where the parameters live: NumPy arrays on the CPU, CuPy arrays on a CUDA GPU.
        Default: :func:`glassnet.set_device`'s, initially ``'cpu'``. See :meth:`to` and
        :mod:`glassnet.device`.

    Attributes
    ----------
    theta : ndarray of shape (n_params,)
        Every parameter, layer after layer, in the order of :meth:`params`.
    grad : ndarray of shape (n_params,)
        Every gradient of the last :meth:`backward`, laid out like ``theta``.

    Examples
    --------
    >>> net = Network([Dense(2, 3, "sigmoid", seed=0), Dense(3, 2, "sigmoid", seed=1)], loss="mse")
    >>> net
    Network(2-3-2, loss='mse', dtype='float32', params=17)
    >>> X = np.array([[0.5, -1.0]]); y = np.array([[1.0, 0.0]])
    >>> loss = net.backprop(X, y)          # sets every layer's delta, dW and db
    >>> net.layers[0].dW.shape
    (3, 2)
    >>> bool(np.shares_memory(net.layers[0].dW, net.grad))
    True
    """

    def __init__(self, layers: Sequence[Layer], loss: Any = "mse", dtype: Any = "float32",
                 *, l2: float = 0.0, l1: float = 0.0, device: str | None = None):
        layers = list(layers)
        if not layers:
            raise ValueError("A Network needs at least one layer, e.g. Network([Dense(4, 1)]).")
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Network takes Layer objects; got {type(layer).__name__}.")
        if layers[0].n_in is None:
            raise ValueError("A Dropout as the first layer needs its width: Dropout(p, width=n_features).")
        _check_chain(layers, "Network")
        self.l2 = _check_penalty("l2", l2)
        self.l1 = _check_penalty("l1", l1)
        self.optimizer: Any = None  # set by fit; saved with the model
        self.history: History | None = None  # of the last fit, saved with the model
        self._scaler: Any = None  # input scaling applied by predict and fit: see scaler
        self.info: dict[str, Any] = {}  # free JSON-able notes (training settings), saved too
        self._classes: list[Any] | None = None  # the original class labels: see classes
        self.stop_training = False  # a training Callback sets it: fit ends after this epoch
        self.grad_X: np.ndarray | None = None
        self.dtype = _check_dtype(dtype)
        self.layers = layers
        self.loss_fn: Loss = get_loss(loss)
        required = self.loss_fn.output_activation
        out_act = getattr(self.layers[-1], "activation", None)
        if required is not None and getattr(out_act, "name", None) != required:
            raise ValueError(
                f"The {self.loss_fn.name} loss needs a {required} output layer; the last layer's "
                f"activation is {getattr(out_act, 'name', None)!r}. Use "
                f"Dense(..., activation={required!r}) as the output layer, or another loss."
            )
        # the fused delta (a - y) / n holds for glassnet's own softmax / sigmoid and a loss
        # whose value and gradient are the ones it was derived from; a user's own activation of
        # that name, or a loss of their own built on a fused one, goes through its own methods
        self.fused = (isinstance(self.loss_fn, FusedLoss)
                      and self.loss_fn.derived_from_own("value_from_logits")
                      and type(out_act) is ACTIVATIONS.get(required or ""))
        self.device = "cpu"
        self._bind(check_device(device))

    def _bind(self, device: str) -> None:
        """Allocate ``theta`` and ``grad`` on ``device`` and bind every layer's parameters to them."""
        self.device = device
        xp = np if device == "cpu" else array_module(to_device(np.zeros(1), device))
        entries = list(named_parameters(self.layers))
        self.theta, self.grad, params, grads = bind_parameters(entries, self.dtype, xp)
        self._params, self._grads = Flat(self.theta, params), Flat(self.grad, grads)
        self._penalized: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in self.layers]
        for key, layer, name in entries:  # per top-level layer: its (W, dW) pairs
            if name in layer.penalized:
                self._penalized[int(key.split(".")[0])].append((params[key], grads[key]))
        for layer in iter_layers(self.layers):
            layer.clear()

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickled: the layers' parameters bound to the (unpickled) flat arrays again."""
        if "scaler" in state:  # pickled before scaler was a checked property
            state["_scaler"] = state.pop("scaler")
        self.__dict__.update(state)
        self._bind(self.device)

    # ------------------------------------------------------------------ shapes and parameters
    @property
    def classes(self) -> list[Any] | None:
        """The original class labels, one per output (two for a single sigmoid output), or None.

        ``predict`` answers in them and ``save`` keeps them. Set it to a sequence of distinct
        labels (strings, ints, finite floats) of the right length; anything else is refused at
        assignment (:func:`glassnet.data.labels.check_classes`), as ``load`` refuses a file
        carrying it.
        """
        return self._classes

    @classes.setter
    def classes(self, value: Any) -> None:
        from .data.labels import check_classes

        self._classes = check_classes(value, self.n_out, "Network.classes")

    @property
    def scaler(self) -> Any:
        """The input scaler ``predict`` and ``fit`` apply (and ``save`` keeps), or None.

        An object with ``transform(X)``, fitted: glassnet's own
        (:class:`glassnet.data.StandardScaler`, :class:`~glassnet.data.MinMaxScaler`, checked
        against the network's inputs at assignment) are the ones ``save`` and the exports can
        keep; a scaler of your own scales for ``fit`` and ``predict`` and is refused by name
        there. Anything without ``transform`` is refused at assignment.
        """
        return self._scaler

    @scaler.setter
    def scaler(self, value: Any) -> None:
        from .data.preprocessing import _Scaler

        if value is not None and not callable(getattr(value, "transform", None)):
            raise TypeError(
                f"Network.scaler must be a fitted scaler with a transform(X) method (glassnet."
                f"data.StandardScaler or MinMaxScaler, which save keeps) or None; got "
                f"{type(value).__name__} {value!r:.40}.")
        if isinstance(value, _Scaler):
            n = value._n_features()
            if n != self.n_in:
                raise ValueError(f"Network.scaler was fitted on {n} features; the network takes "
                                 f"{self.n_in}. Fit it on the network's inputs.")
        self._scaler = value

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def sizes(self) -> list[int]:
        return [self.n_in] + [layer.n_out for layer in self.layers
                              if not layer.identity_at_inference]

    def params(self) -> Flat:
        """The live parameter arrays, keyed ``'<layer>.<name>'`` (``'0.W'``, ``'2.1.b'``, ...).

        Views into :attr:`theta`; the returned dict is :class:`Flat` (``.flat`` is ``theta``).
        """
        return self._params

    def grads(self) -> Flat:
        """The gradients of the last :meth:`backward`, keyed as :meth:`params` (views into :attr:`grad`).

        Zeros before the first backward.
        """
        return self._grads

    @property
    def n_params(self) -> int:
        return int(self.theta.size)

    @property
    def xp(self) -> Any:
        """The array module of the parameters: ``numpy``, or ``cupy`` on a GPU."""
        return array_module(self.theta)

    def to(self, device: str | None) -> "Network":
        """Move the parameters to ``device`` (``'cpu'`` or ``'cuda'``), in place; returns self.

        The layers' cached ``z``, ``a``, ``delta``, gradients and dropout masks are dropped. The
        optimiser's state follows the parameters at its next step.
        """
        device = check_device(device)
        if device != self.device:
            self._bind(device)
        return self

    def to_device(self, x: Any) -> Any:
        """The array ``x`` on this network's device (no copy when it is there already)."""
        return to_device(x, self.device)

    @property
    def training(self) -> bool:
        """Whether Dropout layers drop units (True only while ``fit`` runs)."""
        return any(layer.training for layer in iter_layers(self.layers))

    @training.setter
    def training(self, mode: bool) -> None:
        for layer in iter_layers(self.layers):
            layer.training = bool(mode)

    def random_layers(self) -> list[Layer]:
        """The layers that draw random numbers (Dropout), in forward order: their ``rng``."""
        return [layer for layer in iter_layers(self.layers) if layer.rng is not None]

    # ------------------------------------------------------------------ input checks
    def check_X(self, X: Any) -> np.ndarray:
        """``X`` as a finite 2-D array of shape (n_samples, n_in) in the network's dtype.

        NumPy or CuPy input; the result is on the array's own device (``fit`` and the
        ``forward`` family move it with :meth:`to_device`).
        """
        X = as_array(X, "X")
        check_real_dtype(X.dtype)  # the one dtype check, shared with the data readers
        if X.ndim != 2:
            hint = (
                "For one sample use X.reshape(1, -1); for one feature X.reshape(-1, 1)."
                if X.ndim < 2
                else "Flatten each sample first, e.g. X.reshape(len(X), -1)."
            )
            raise ValueError(
                f"The network expects X of shape (n_samples, {self.n_in}); got {X.ndim}-D X of "
                f"shape {X.shape}. {hint}"
            )
        if X.shape[1] != self.n_in:
            raise ValueError(
                f"The network expects X of shape (n_samples, {self.n_in}); got {X.shape}. "
                f"Give {self.n_in} features per sample, or build the first layer with "
                f"n_in={X.shape[1]}."
            )
        if X.shape[0] == 0:
            raise ValueError("X is empty (0 samples). Pass at least one sample.")
        return as_dtype(X, self.dtype)  # the one cast of user data: a value beyond it refused

    def targets(self, y: Any) -> np.ndarray:
        """``y`` as the loss wants it: an array ``Y`` of shape (n_samples, n_out), checked."""
        return self.loss_fn.targets(to_numpy(y), self.n_out, self.dtype)

    def check_Xy(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)`` checked; ``Y`` of shape (n_samples, n_out) as the loss wants it."""
        X = self.check_X(X)
        n_y = len(y) if hasattr(y, "__len__") else None
        if n_y != len(X):
            raise ValueError(
                f"X and y have different numbers of samples: {len(X)} and {n_y}. "
                "Give one target per sample."
            )
        return X, self.targets(y)

    # ------------------------------------------------------------------ forward and backward
    def forward(self, X: Any) -> np.ndarray:
        """The output ``a^L`` of shape (n_samples, n_out); each layer caches its ``z`` and ``a``.

        ``X`` is checked; the result is a new array, on the network's device.
        """
        return self.propagate(self.to_device(self.check_X(X))).copy()

    def propagate(self, a: np.ndarray) -> np.ndarray:
        """The forward pass on a checked batch ``a = a^0``: ``a^l = layer_l.forward(a^{l-1})``.

        Every layer caches what its backward needs. Returns ``a^L``, the output layer's cached
        array (reused by the next pass of the same batch size).
        """
        for layer in self.layers:
            a = layer.forward(a)
        return a

    def infer(self, a: np.ndarray) -> np.ndarray:
        """The forward pass for prediction on a checked batch: nothing cached, Dropout the identity.

        Returns ``a^L`` in the output layer's scratch array (reused by the next call).
        """
        for layer in self.layers:
            a = layer.infer(a)
        return a

    def output_loss(self, Y: np.ndarray, w: np.ndarray | None = None) -> float:
        """The loss ``C = (1/n) sum_i w_i c(a_i, y_i)`` of the last forward pass's outputs.

        For the fused losses computed from the logits ``z^L`` (no ``log(0)`` can occur).
        """
        out = self.layers[-1]
        if self.fused:
            return self.loss_fn.value_from_logits(out.z, Y, w)  # type: ignore[attr-defined]
        return self.loss_fn.value(out.a, Y, w)

    def backward(self, Y: np.ndarray, w: np.ndarray | None = None, *,
                 input_grad: bool = False,
                 after_layer: Callable[[int], None] | None = None) -> float:
        """The delta recursion after a forward pass; returns the loss ``C`` of that pass.

        Seeds the output layer with the loss (``delta^L``, fused, or ``dC/da^L``), then hands
        each layer's ``dC/da_prev`` to the layer below. Every layer's ``delta``, ``dW``, ``db``
        are set: the gradients of the cost, the penalty's gradient included.

        Parameters
        ----------
        Y : ndarray of shape (n_samples, n_out)
            Targets as :meth:`targets` gives them, on the network's device.
        w : ndarray of shape (n_samples,), optional
            Per-sample weights: ``C = (1/n) sum_i w_i c_i``.
        input_grad : bool, default=False
            Carry the recursion one step further: ``self.grad_X = dC/dX``.
        after_layer : callable, optional
            ``after_layer(i)`` is called as soon as top-level layer ``i`` has its final
            gradients (its penalty term included), for ``i = L-1, ..., 0``: the slice of
            :attr:`grad` that holds layers ``i..L-1`` is then complete while the layers below
            still back-propagate. Distributed training starts sending gradients there.
        """
        out = self.layers[-1]
        if Y.shape != out.a.shape:
            raise ValueError(f"backward expects Y of shape {out.a.shape} (the last forward's "
                             f"outputs); got {Y.shape}. Convert targets with net.targets(y).")
        last = len(self.layers) - 1
        need = input_grad or last > 0
        if self.fused:  # delta^L = w (a - y) / n
            loss, delta = self.loss_fn.value_and_delta(  # type: ignore[attr-defined]
                out.z, out.a, Y, w, out=out.buffer("fused_delta", out.a.shape, out.a))
            grad = out.backward_delta(delta, need)  # type: ignore[attr-defined]
        else:  # delta^L = dC/da^L * f'(z^L), in the layer's backward
            loss, grad_a = self.loss_fn.value_and_grad(out.a, Y, w)
            grad = out.backward(grad_a, need)
        self._penalty_grad(last, after_layer)
        for i in range(last - 1, -1, -1):
            grad = self.layers[i].backward(grad, input_grad or i > 0)
            self._penalty_grad(i, after_layer)
        self.grad_X = grad if input_grad else None
        return loss

    def _penalty_grad(self, i: int, after_layer: Callable[[int], None] | None) -> None:
        """Add the penalty's gradient to layer ``i``'s, just assigned by its backward."""
        for W, dW in self._penalized[i] if (self.l2 or self.l1) else ():
            if self.l2:
                dW += self.l2 * W
            if self.l1:
                dW += self.l1 * np.sign(W)
        if after_layer is not None:
            after_layer(i)

    def penalty(self) -> float:
        """The regularisation term ``(l2 / 2) sum ||W||^2 + l1 sum |W|`` (0 without it)."""
        total = 0.0
        for W, _ in (pair for pairs in self._penalized for pair in pairs) \
                if (self.l2 or self.l1) else ():
            if self.l2:
                total += 0.5 * self.l2 * float(np.vdot(W, W))
            if self.l1:
                total += self.l1 * float(np.abs(W).sum())
        return total

    def loss(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The loss ``C = (1/n) sum_i c(a_i, y_i)`` on ``(X, y)``, without the penalty.

        ``X`` is what the first layer takes: with a ``scaler`` set, the scaled inputs
        (``net.loss(net.scale_inputs(X_raw), y)`` is the loss ``fit`` reports for raw data), as
        for ``forward`` and ``backprop``; ``fit``, ``predict`` and ``predict_output`` take raw
        inputs and scale them themselves.
        """
        X, Y = map(self.to_device, self.check_Xy(X, y))
        self.propagate(X)
        return self.output_loss(Y, self._sample_weight(sample_weight, len(X), "Network.loss"))

    def cost(self, X: Any, y: Any) -> float:
        """The cost ``C + penalty`` on ``(X, y)``: the function the gradients are of; ``X``
        scaled as for :meth:`loss`."""
        return self.loss(X, y) + self.penalty()

    def backprop(self, X: Any, y: Any, *, input_grad: bool = False,
                 sample_weight: Any = None) -> float:
        """One forward and one backward pass on ``(X, y)``, checked; returns the loss ``C``.
        ``X`` is scaled already (as for :meth:`loss`; ``fit`` scales raw inputs first).

        Leaves every layer's ``delta``, ``dW`` and ``db`` set (the gradients of the cost). With
        ``input_grad=True`` the recursion is carried one step further and ``self.grad_X`` holds
        ``dC/dX``.
        """
        X, Y = map(self.to_device, self.check_Xy(X, y))
        w = self._sample_weight(sample_weight, len(X), "Network.backprop")
        self.propagate(X)
        return self.backward(Y, w, input_grad=input_grad)

    def _sample_weight(self, sample_weight: Any, n: int, owner: str) -> Any:
        """``sample_weight`` checked (:func:`~glassnet.validation.check_sample_weight`), in the
        network's dtype, on its device; None stays None."""
        if sample_weight is None:
            return None
        w = check_sample_weight(to_numpy(sample_weight), n, owner)
        return self.to_device(w.astype(self.dtype))

    def vjp(self, grad_out: np.ndarray) -> np.ndarray:
        """``grad_X = (da^L/dX)^T grad_out``: the delta recursion seeded with ``dC/da^L = grad_out``.

        Runs after a :meth:`forward` (it uses the cached ``z`` and ``a``) and needs no loss: each
        layer's own ``backward`` takes the step, from the output layer down to the input.

        Parameters
        ----------
        grad_out : ndarray of shape (n_samples, n_out)
            The seed ``dC/da^L``; row ``i`` belongs to sample ``i`` of the last forward.

        Returns
        -------
        ndarray of shape (n_samples, n_in)
            Row ``i`` is ``grad_out[i] @ (da^L_i/dx_i)``. The layers' ``delta``, ``dW``, ``db``
            are left as for a loss whose gradient is ``grad_out``.
        """
        grad = grad_out
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def explain(self, x: Any, y: Any, **kwargs: Any) -> Any:
        """The derivation with this network's numbers for one sample; see :func:`glassnet.explain`."""
        from .explain import explain

        return explain(self, x, y, **kwargs)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for the classification losses, the outputs otherwise.

        Returns
        -------
        ndarray
            ``cross_entropy`` (and any subclass of it): the labels of shape (n_samples,): class
            indices ``0..n_out-1``, or the original labels ``self.classes[i]`` when the network
            has them (a model trained by ``glassnet train`` on labels such as 3 and 7 keeps
            them). ``binary_cross_entropy`` (and subclasses): 0/1 labels (or
            ``self.classes[0]`` / ``[1]`` for one output unit), shape (n_samples,) for one
            output unit, else (n_samples, n_out).
            Other losses: outputs of shape (n_samples,) for one output unit, else
            (n_samples, n_out).
        """
        a = self.predict_output(X)
        if isinstance(self.loss_fn, CrossEntropy):  # by kind, never by name
            return self._labels(a.argmax(axis=1))
        if isinstance(self.loss_fn, BinaryCrossEntropy):
            a = (a > 0.5).astype(np.int64)
            return self._labels(a[:, 0]) if self.n_out == 1 else a
        return a[:, 0] if self.n_out == 1 else a

    def _labels(self, index: np.ndarray) -> np.ndarray:
        """Class indices as the original labels, when the network has them."""
        from .data.labels import label_array

        return index if self.classes is None else label_array(self.classes)[index]

    def scale_inputs(self, X: Any) -> Any:
        """``X`` as the first layer sees it: ``self.scaler`` applied when one is set.

        ``predict``, ``predict_output`` and ``fit`` take raw inputs and scale them with this;
        ``forward``, ``loss`` and ``backprop`` take inputs already scaled.
        """
        if self.scaler is None:
            return X
        X = to_numpy(as_array(X, "X"))
        check_real_dtype(X.dtype)
        return self.scaler.transform(as_dtype(X, self.dtype))

    def predict_output(self, X: Any, batch_size: int = 4096) -> np.ndarray:
        """The output ``a^L`` in inference mode (dropout off, ``scaler`` applied), in batches.

        A NumPy array, also for a network on a GPU.
        """
        check_scalar(batch_size, "batch_size", "predict_output", kind=int, low=1)
        X = self.to_device(self.check_X(self.scale_inputs(X)))
        out = self.xp.empty((len(X), self.n_out), self.dtype)
        with np.errstate(under="ignore"):  # exp may underflow to 0 in softmax and sigmoid
            for start in range(0, len(X), batch_size):
                out[start:start + batch_size] = self.infer(X[start:start + batch_size])
        return to_numpy(out)

    # ------------------------------------------------------------------ training
    fit = _fit  # net.fit(X, y, ...) is glassnet.training.fit, with its whole signature
    partial_fit = _partial_fit

    # ------------------------------------------------------------------ description
    def config(self) -> dict[str, Any]:
        """The architecture as JSON-able data (what ``save`` writes beside the arrays)."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "loss": self.loss_fn.config(),
            "dtype": self.dtype.name,
            "l2": self.l2,
            "l1": self.l1,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Network":
        """A network of the architecture in ``config`` (weights freshly initialised)."""
        dtype = config.get("dtype", "float32")
        layers = [layer_from_config(c, dtype=dtype) for c in config["layers"]]
        return cls(layers, loss=config["loss"], dtype=dtype, l2=config.get("l2", 0.0),
                   l1=config.get("l1", 0.0))

    def astype(self, dtype: Any) -> "Network":
        """A copy with every parameter converted to ``dtype`` (the original is unchanged)."""
        new = Network([layer.astype(dtype) for layer in self.layers], self.loss_fn, dtype,
                      l2=self.l2, l1=self.l1, device=self.device)
        new.scaler, new.info, new.classes = self.scaler, dict(self.info), self.classes
        return new

    def copy(self) -> "Network":
        """An independent copy with the same weights."""
        return self.astype(self.dtype)

    def save(self, path: Any) -> None:
        """Save to a single .npz file, atomically; see :func:`glassnet.io.save`."""
        from .io import save

        save(self, path)

    def summary(self) -> str:
        """A table of the layers: output shape, activation and parameter count."""
        rows = [("layer", "type", "shape", "activation", "params")]
        for i, layer in enumerate(self.layers):
            rows.append(_summary_row(str(i), layer))
            for j, inner in enumerate(layer.children()):
                rows.append(_summary_row(f"  {i}.{j}", inner))
        widths = [max(len(r[c]) for r in rows) for c in range(5)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append(f"total parameters: {self.n_params}    loss: {self.loss_fn.name}    "
                     f"dtype: {self.dtype.name}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in self.sizes)
        device = "" if self.device == "cpu" else f", device={self.device!r}"
        return (f"Network({sizes}, loss={self.loss_fn.name!r}, dtype={self.dtype.name!r}, "
                f"params={self.n_params}{device})")

    def _repr_html_(self) -> str:
        from .display import network_html
        return network_html(self)

    def _repr_markdown_(self) -> str:
        from .display import network_markdown
        return network_markdown(self)


def _check_penalty(name: str, value: Any) -> float:
    return check_scalar(value, name, "Network", low=0.0)


def _summary_row(label: str, layer: Layer) -> tuple[str, ...]:
    shape = f"{layer.n_in} -> {layer.n_out}" + (f" {layer.shape_note}" if layer.shape_note else "")
    activation = getattr(getattr(layer, "activation", None), "name", "")
    return (label, type(layer).__name__, shape, activation, str(layer.n_params))


def input_gradient(net: Network, X: Any, y: Any) -> np.ndarray:
    """``dC/dX``, the same shape as ``X``: the delta recursion carried down to the input.

    ``dC/dX = delta^1 @ W^1``. A NumPy array, also for a network on a GPU (``net.grad_X``
    stays on the device).
    """
    net.backprop(X, y, input_grad=True)
    return to_numpy(net.grad_X).copy()


def mlp(
    sizes: Sequence[int],
    activation: Any = "relu",
    output: Any = None,
    loss: Any = None,
    *,
    residual: bool = False,
    dropout: float = 0.0,
    l2: float = 0.0,
    l1: float = 0.0,
    init: str | None = None,
    seed: int | np.random.Generator | None = 0,
    dtype: Any = "float32",
    device: str | None = None,
) -> Network:
    """Build the usual stack ``sizes[0] -> ... -> sizes[-1]``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``[784, 128, 10]``.
    activation : activation, default='relu'
        For every hidden layer.
    output : activation, optional
        For the output layer. Default: softmax for ``cross_entropy``, sigmoid for
        ``binary_cross_entropy``, identity otherwise.
    loss : str or Loss, optional
        Default: ``'cross_entropy'`` when ``output='softmax'``, else ``'mse'``.
    residual : bool, default=False
        Consecutive hidden layers of equal width become identity-skip residual blocks
        ``a = x + f(W x + b)``: ``Residual(Dense(w, w, activation))``, so that
        ``da/dx = 1 + f'(z) W`` and the gradient keeps a path that no ``f'`` shrinks.
    dropout : float, default=0.0
        When > 0, a :class:`Dropout` layer follows every hidden layer.
    l2, l1 : float, default=0.0
        Weight penalties; see :class:`Network`.
    seed : int or Generator, default=0
        All initial weights come from this one generator (on the host, whatever the device).
    device : {'cpu', 'cuda'}, optional
        See :class:`Network`.

    Examples
    --------
    >>> mlp([64, 32, 10], loss="cross_entropy")
    Network(64-32-10, loss='cross_entropy', dtype='float32', params=2410)
    """
    sizes = list(sizes)
    check_bool(residual, "residual", "mlp")
    check_scalar(dropout, "dropout", "mlp", low=0.0, high=1.0, high_open=True)
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output size; got sizes={sizes}.")
    loss_fn = get_loss(loss) if loss is not None else None
    if output is None:
        output = (loss_fn.output_activation if loss_fn else None) or "identity"
    if loss_fn is None:
        loss_fn = get_loss("cross_entropy" if output == "softmax" else "mse")
    rng = make_rng(seed)
    layers: list[Layer] = []
    for i in range(len(sizes) - 1):
        is_output = i == len(sizes) - 2
        act = output if is_output else activation
        if residual and not is_output and i > 0 and sizes[i] == sizes[i + 1]:
            inner = Dense(sizes[i], sizes[i + 1], activation, init=init, seed=rng, dtype=dtype)
            layers.append(Residual(inner))
        else:
            layers.append(Dense(sizes[i], sizes[i + 1], act, init=init, seed=rng, dtype=dtype))
        if dropout and not is_output:
            layers.append(Dropout(dropout, seed=rng))
    return Network(layers, loss=loss_fn, dtype=dtype, l2=l2, l1=l1, device=device)
