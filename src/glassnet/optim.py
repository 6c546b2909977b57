"""Optimisers: update rules that move the parameters against their gradients.

Contract
--------
Parameters and gradients are dicts of arrays with the same keys, e.g.
``{"0.W": W, "0.b": b, "1.W": ...}``: ``net.params()`` and ``net.grads()``, whose arrays are
views into the network's flat ``theta`` and ``grad``. ``optimizer.step(params, grads)`` updates
every array of ``params`` **in place** (the layers hold views of them, so they are never
rebound) and never writes to ``grads``. The update keeps the parameters' dtype: float32 stays
float32.

Every rule below is torch.optim's (single-tensor path, ``maximize=False``, no ``dampening``,
``amsgrad`` or ``centered``), with ``g`` the gradient of the current step, ``t`` the step count
from 1 and all operations elementwise. Each rule runs once over the flat arrays, its state is
flat too (one array per slot), and the step uses ``out=`` / in-place ufuncs only, so it
allocates no arrays after the first one.

A learning-rate schedule (:mod:`glassnet.schedules`) simply sets ``optimizer.learning_rate``
before a step or an epoch.

Saving without pickle: ``config, arrays = optimizer.state_dict()`` gives a JSON-able dict of
scalars (``name``, ``iterations`` and the hyperparameters) and a ``dict[str, ndarray]`` of
per-parameter state whose keys are ``"<slot>.<parameter key>"``, e.g. ``"m.0.W"``;
``Optimizer.from_state_dict(config, arrays)`` or ``optimizer.load_state_dict(config, arrays)``
restores it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from .device import array_module, on_device_of
from .validation import check_bool, check_scalar

__all__ = [
    "LBFGS",
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "clip_grad_norm",
    "get_optimizer",
]

Params = Mapping[str, np.ndarray]


# ---------------------------------------------------------------------------------------------
# helpers (also used by glassnet.schedules)


def _scalar(value: Any) -> Any:
    """A JSON-able Python scalar."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


# ---------------------------------------------------------------------------------------------
# base class


class Optimizer:
    """Base class: ``theta <- update(theta, g)`` over all parameters at once, in place.

    Every rule is elementwise, so it runs once over the network's flat parameter array
    ``theta`` and its flat gradient (``net.params()`` and ``net.grads()`` are :class:`Flat`
    dicts of views into them) and keeps its state flat too: one array per slot, laid out like
    ``theta``. Per-parameter views of the state, keyed like the parameters, serve saving
    (:meth:`state_dict`) and inspection (:meth:`state`). Parameters that are not views into one
    flat array (a dict of separate arrays) are packed into a flat copy, stepped, and written
    back: the result is the same.

    Subclasses implement ``_update(param, grad, lr)`` on the flat arrays, with
    :meth:`_slot` for persistent state and :meth:`_tmp` for scratch, and list their
    hyperparameters in ``_hyperparameters`` and their slots in ``_slots``.

    Parameters
    ----------
    learning_rate : float
        Step size, >= 0 (a schedule may take it to 0). A plain attribute: a schedule may
        overwrite it between steps.

    Attributes
    ----------
    iterations : int
        Number of ``step`` calls so far (Adam's ``t``).
    """

    name: str = "optimizer"
    _hyperparameters: tuple[str, ...] = ("learning_rate",)
    _slots: tuple[str, ...] = ()

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = self._real("learning_rate", learning_rate, low=0.0)
        self.iterations = 0
        self._flat: dict[str, np.ndarray] = {}  # slot -> state laid out like theta
        self._pending: dict[str, dict[str, np.ndarray]] = {}  # loaded, per key, until a step
        self._scratch: list[np.ndarray] = []
        self._layout: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (key, shape) per parameter
        self._packed: tuple[np.ndarray, np.ndarray] | None = None
        self._theta_seen: np.ndarray | None = None  # the flat arrays of the last step
        self._grad_seen: np.ndarray | None = None

    # -- validation shorthands ------------------------------------------------------------
    def _real(self, name: str, value: Any, **bounds: Any) -> float:
        return check_scalar(value, name, type(self).__name__, **bounds)

    # -- public API ---------------------------------------------------------------------
    def step(
        self, params: Params, grads: Params, closure: Callable[[], float] | None = None
    ) -> float | None:
        """Update every array of ``params`` in place from ``grads[key]``.

        Parameters
        ----------
        params, grads : dict[str, ndarray]
            Same keys and shapes: ``net.params()`` and ``net.grads()``, or any dicts of
            arrays. ``grads`` is read, never written.
        closure : callable, optional
            If given, called first (it must recompute the loss, fill ``grads`` and return the
            loss); its return value is returned.

        Returns
        -------
        float or None
            The closure's loss, or None without a closure.
        """
        loss = None if closure is None else float(closure())
        theta, grad = self._flatten(params, grads)
        self.iterations += 1
        self._update(theta, grad, float(self.learning_rate))
        if theta is not getattr(params, "flat", None):  # packed: write the result back
            self._unpack(theta, params)
        return loss

    def _flatten(self, params: Params, grads: Params) -> tuple[np.ndarray, np.ndarray]:
        """The flat parameter and gradient arrays; the layout checked and the state placed."""
        theta, grad = getattr(params, "flat", None), getattr(grads, "flat", None)
        if theta is not None and theta is self._theta_seen and grad is self._grad_seen:
            return theta, grad  # the network's own flat arrays again: the layout is known
        layout = tuple((key, tuple(p.shape)) for key, p in params.items())
        if layout != self._layout:
            for key, p in params.items():
                g = grads.get(key)
                if g is None:
                    raise KeyError(f"No gradient for parameter {key!r}; grads has {sorted(grads)}.")
                if g.shape != p.shape:
                    raise ValueError(f"The gradient of {key!r} has shape {g.shape}; its "
                                     f"parameter has shape {p.shape}.")
            if self._layout and self._flat:
                self._pending = self.state()  # carried over by key, checked at placement
            self._layout, self._flat, self._packed = layout, {}, None
        if theta is None or grad is None or theta.shape != grad.shape:
            self._theta_seen = self._grad_seen = None
            return self._pack(params, grads)
        self._theta_seen, self._grad_seen = theta, grad
        return theta, grad

    def _pack(self, params: Params, grads: Params) -> tuple[np.ndarray, np.ndarray]:
        """Flat copies of separate arrays, reused from step to step."""
        first = next(iter(params.values()))
        n = sum(p.size for p in params.values())
        if self._packed is None or self._packed[0].size != n or type(self._packed[0]) is not type(first):
            xp = array_module(first)
            self._packed = (xp.empty(n, first.dtype), xp.empty(n, first.dtype))
        theta, grad = self._packed
        for key, view in self._views(theta):
            view[...] = params[key]
        for key, view in self._views(grad):
            view[...] = grads[key]
        return theta, grad

    def _unpack(self, theta: np.ndarray, params: Params) -> None:
        for key, view in self._views(theta):
            params[key][...] = view

    def _views(self, flat: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """``(key, view)`` per parameter of the layout, into the flat array ``flat``."""
        start = 0
        for key, shape in self._layout:
            size = math.prod(shape)
            yield key, flat[start:start + size].reshape(shape)
            start += size

    def _update(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        """One step of the rule on the flat arrays, in place."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the step count and all state."""
        self.iterations = 0
        self._flat, self._pending, self._scratch, self._packed = {}, {}, [], None
        self._layout, self._theta_seen, self._grad_seen = (), None, None

    def get_config(self) -> dict[str, Any]:
        """The hyperparameters as a JSON-able dict (``name`` included)."""
        config: dict[str, Any] = {"name": self.name}
        for h in self._hyperparameters:
            config[h] = _scalar(getattr(self, h))
        return config

    def state(self) -> dict[str, dict[str, np.ndarray]]:
        """The state per slot and parameter key, as views into the flat state (or as loaded)."""
        state = {slot: dict(store) for slot, store in self._pending.items()}
        for slot, flat in self._flat.items():
            state[slot] = dict(self._views(flat))
        return state

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Snapshot of the optimiser, for saving without pickle.

        Returns
        -------
        config : dict
            JSON-able: ``name``, ``iterations`` and every hyperparameter (including the current
            ``learning_rate``).
        arrays : dict[str, ndarray]
            Copies of the per-parameter state, keyed ``"<slot>.<parameter key>"`` (for Adam
            ``"m.0.W"``, ``"v.0.W"``, ...). Empty for a fresh optimiser or stateless rules.
        """
        config = self.get_config()
        config["iterations"] = int(self.iterations)
        arrays = {f"{slot}.{key}": arr.copy()
                  for slot, store in self.state().items() for key, arr in store.items()}
        return config, arrays

    def load_state_dict(self, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        """Restore hyperparameters, step count and state saved by :meth:`state_dict`."""
        if config.get("name") != self.name:
            raise ValueError(
                f"This state was saved by optimizer {config.get('name')!r}; cannot load it "
                f"into {type(self).__name__} ({self.name!r})."
            )
        hyper = {h: config[h] for h in self._hyperparameters if h in config}
        fresh = type(self)(**hyper)  # validates
        for h in self._hyperparameters:
            setattr(self, h, getattr(fresh, h))
        pending: dict[str, dict[str, np.ndarray]] = {}
        for full_key, arr in arrays.items():
            slot, _, key = full_key.partition(".")
            if slot not in self._slots or not key:
                raise ValueError(
                    f"Unknown state array {full_key!r} for {type(self).__name__}; expected keys "
                    f"'<slot>.<parameter>' with slot in {list(self._slots)}."
                )
            pending.setdefault(slot, {})[key] = np.array(arr, copy=True)
        owner = type(self).__name__
        self.iterations = check_scalar(config.get("iterations", 0), "iterations", owner, kind=int,
                                       low=0)
        self.reset_state(pending)

    def reset_state(self, pending: dict[str, dict[str, np.ndarray]]) -> None:
        """Replace the state with ``pending`` (per slot and key), placed at the next step."""
        self._flat, self._pending, self._scratch = {}, pending, []
        self._layout, self._packed, self._theta_seen, self._grad_seen = (), None, None, None

    def check_state(self, params: Params) -> None:
        """Raise ValueError unless the loaded state fits ``params`` (keys and shapes)."""
        shapes = {key: tuple(p.shape) for key, p in params.items()}
        for slot, store in self.state().items():
            for key, arr in store.items():
                if key not in shapes:
                    raise ValueError(f"The {slot!r} state names parameter {key!r}, which the "
                                     f"network does not have; it has {sorted(shapes)}.")
                self._check_state(slot, key, arr, shapes[key])

    @classmethod
    def from_state_dict(
        cls, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None
    ) -> Optimizer:
        """Build the optimiser named by ``config['name']`` and load the state into it."""
        opt = get_optimizer(config.get("name", ""))
        opt.load_state_dict(config, {} if arrays is None else arrays)
        return opt

    def __repr__(self) -> str:
        args = ", ".join(f"{h}={getattr(self, h)!r}" for h in self._hyperparameters)
        return f"{type(self).__name__}({args})"

    # -- buffers ------------------------------------------------------------------------
    def _slot(self, slot: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Persistent state ``slot`` laid out like ``like`` (theta), created on first use.

        State loaded with :meth:`load_state_dict` (or carried over from another layout) is
        copied in by parameter key, its shapes checked.
        """
        flat = self._flat.get(slot)
        if flat is None or type(flat) is not type(like):
            flat = np.full_like(like, fill) if flat is None else on_device_of(flat, like)
            self._flat[slot] = flat
            old = self._pending.pop(slot, {})
            views = dict(self._views(flat))
            for key, arr in old.items():
                if key not in views:
                    raise ValueError(f"The {slot!r} state names parameter {key!r}, which is not "
                                     f"being stepped; the parameters are {sorted(views)}. Call "
                                     "reset() after changing the network.")
                self._check_state(slot, key, arr, views[key].shape)
                views[key][...] = on_device_of(arr, flat)
        return flat

    @staticmethod
    def _check_state(slot: str, key: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
        if tuple(arr.shape) != tuple(shape):
            raise ValueError(
                f"The {slot!r} state of parameter {key!r} has shape {tuple(arr.shape)}; the "
                f"parameter has shape {tuple(shape)}. Call reset() after changing the network."
            )

    def _tmp(self, like: np.ndarray, index: int = 0) -> np.ndarray:
        """Scratch array ``index`` shaped like ``like`` (not saved)."""
        while len(self._scratch) <= index:
            self._scratch.append(np.empty_like(like))
        buf = self._scratch[index]
        if buf.shape != like.shape or buf.dtype != like.dtype or type(buf) is not type(like):
            buf = self._scratch[index] = np.empty_like(like)
        return buf

    FLUSH_EVERY = 64
    """Steps between two flushes of the moving averages' subnormal numbers."""

    def _flush_subnormals(self, *states: np.ndarray) -> None:
        """Every ``FLUSH_EVERY`` steps, set the entries below the smallest normal float to 0.

        A moving average of a gradient that has become exactly 0 (a dead unit, an input that is
        always 0) decays geometrically into the subnormal floats, where every operation on it
        is many times slower: float32 Adam's ``v`` stays there for thousands of steps. Flushing
        them changes an update by at most ``1e-38 / epsilon``.
        """
        if self.iterations % self.FLUSH_EVERY:
            return
        for state in states:
            tiny = np.finfo(state.dtype).tiny
            np.copyto(state, 0, where=np.abs(state) < tiny)

    def _decayed(self, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """``g + weight_decay * W`` in scratch buffer 1 (coupled L2); ``grad`` is not written."""
        wd = self.weight_decay  # type: ignore[attr-defined]
        if wd == 0.0:
            return grad
        buf = self._tmp(param, 1)
        np.multiply(param, wd, out=buf)
        buf += grad
        return buf


# ---------------------------------------------------------------------------------------------
# first-order optimisers, simplest first


class SGD(Optimizer):
    """``v <- momentum * v + g``; ``W <- W - learning_rate * v`` (nesterov: ``g + momentum * v``).

    Stochastic gradient descent with optional (Nesterov) momentum, exactly
    ``torch.optim.SGD`` with ``dampening=0``. With ``weight_decay`` the gradient is
    ``g = dC/dW + weight_decay * W`` (coupled L2, computed in a scratch buffer: the caller's
    gradient array is not modified).

    Parameters
    ----------
    learning_rate : float, default=0.01
    momentum : float in [0, 1), default=0.0
        ``v`` starts at zero, so the first step uses ``v = g`` as torch does.
    nesterov : bool, default=False
        Needs ``momentum > 0``.
    weight_decay : float >= 0, default=0.0
        Applied to every array passed to :meth:`step`; pass only the weights (or use a
        second optimiser) to exclude biases.
    """

    name = "sgd"
    _hyperparameters = ("learning_rate", "momentum", "nesterov", "weight_decay")
    _slots = ("velocity",)

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = self._real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        self.nesterov = check_bool(nesterov, "nesterov", "SGD")
        self.weight_decay = self._real("weight_decay", weight_decay, low=0.0)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(
                "The 'nesterov' parameter of SGD requires momentum > 0; got momentum=0.0."
            )

    def _update(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        g = self._decayed(param, grad)
        tmp = self._tmp(param, 0)
        mu = self.momentum
        if mu != 0.0:
            v = self._slot("velocity", param)
            v *= mu
            v += g
            if self.nesterov:
                np.multiply(v, mu, out=tmp)
                tmp += g
                tmp *= -lr
                param += tmp
                return
            g = v
        np.multiply(g, -lr, out=tmp)
        param += tmp


class Adagrad(Optimizer):
    """``s <- s + g**2``; ``W <- W - learning_rate * g / (sqrt(s) + epsilon)``.

    Exactly ``torch.optim.Adagrad`` with ``lr_decay=0``. With ``weight_decay``,
    ``g = dC/dW + weight_decay * W`` (coupled L2, in a scratch buffer).

    Parameters
    ----------
    learning_rate : float, default=0.01
    initial_accumulator_value : float >= 0, default=0.0
        Starting value of every entry of ``s``.
    epsilon : float >= 0, default=1e-10
    weight_decay : float >= 0, default=0.0
    """

    name = "adagrad"
    _hyperparameters = ("learning_rate", "initial_accumulator_value", "epsilon", "weight_decay")
    _slots = ("sum",)

    def __init__(
        self,
        learning_rate: float = 0.01,
        initial_accumulator_value: float = 0.0,
        epsilon: float = 1e-10,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate)
        self.initial_accumulator_value = self._real(
            "initial_accumulator_value", initial_accumulator_value, low=0.0
        )
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        self.weight_decay = self._real("weight_decay", weight_decay, low=0.0)

    def _update(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        g = self._decayed(param, grad)
        s = self._slot("sum", param, self.initial_accumulator_value)
        tmp = self._tmp(param, 0)
        np.multiply(g, g, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.epsilon
        np.divide(g, tmp, out=tmp)
        tmp *= -lr
        param += tmp


class RMSprop(Optimizer):
    """``s <- rho * s + (1 - rho) * g**2``; ``W <- W - learning_rate * g / (sqrt(s) + epsilon)``.

    Exactly ``torch.optim.RMSprop`` (``centered=False``; torch's ``alpha`` is ``rho``). With
    ``momentum > 0``: ``v <- momentum * v + g / (sqrt(s) + epsilon)``; ``W <- W - learning_rate
    * v``. With ``weight_decay``, ``g = dC/dW + weight_decay * W`` (coupled L2, in a scratch
    buffer).

    Parameters
    ----------
    learning_rate : float, default=0.01
    rho : float in [0, 1), default=0.99
        Decay of the running average of squared gradients.
    epsilon : float >= 0, default=1e-8
    momentum : float in [0, 1), default=0.0
    weight_decay : float >= 0, default=0.0
    """

    name = "rmsprop"
    _hyperparameters = ("learning_rate", "rho", "epsilon", "momentum", "weight_decay")
    _slots = ("square_avg", "velocity")

    def __init__(
        self,
        learning_rate: float = 0.01,
        rho: float = 0.99,
        epsilon: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate)
        self.rho = self._real("rho", rho, low=0.0, high=1.0, high_open=True)
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        self.momentum = self._real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        self.weight_decay = self._real("weight_decay", weight_decay, low=0.0)

    def _update(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        g = self._decayed(param, grad)
        s = self._slot("square_avg", param)
        self._flush_subnormals(s)
        tmp = self._tmp(param, 0)
        rho = self.rho
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - rho
        s *= rho
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.epsilon
        np.divide(g, tmp, out=tmp)
        if self.momentum > 0.0:
            v = self._slot("velocity", param)
            v *= self.momentum
            v += tmp
            np.multiply(v, -lr, out=tmp)
        else:
            tmp *= -lr
        param += tmp


class Adam(Optimizer):
    """``W <- W - learning_rate * m_hat / (sqrt(v_hat) + epsilon)``, ``m``/``v`` moving averages.

    Exactly ``torch.optim.Adam`` (``amsgrad=False``)::

        m <- beta_1 * m + (1 - beta_1) * g
        v <- beta_2 * v + (1 - beta_2) * g**2
        W <- W - learning_rate / (1 - beta_1**t) * m / (sqrt(v) / sqrt(1 - beta_2**t) + epsilon)

    ``weight_decay`` is coupled L2 like torch's Adam: ``g = dC/dW + weight_decay * W`` (in a
    scratch buffer; the caller's gradient is not modified). For decoupled decay use
    :class:`AdamW`.

    Parameters
    ----------
    learning_rate : float, default=0.001
    beta_1 : float in [0, 1), default=0.9
    beta_2 : float in [0, 1), default=0.999
    epsilon : float >= 0, default=1e-8
    weight_decay : float >= 0, default=0.0

    Notes
    -----
    ``t`` is :attr:`iterations`, shared by all parameters: pass every parameter at every step
    (use separate optimisers for groups that are stepped separately).

    The step is computed as ``W <- W - (learning_rate * sqrt(c) / (1 - beta_1**t)) * m /
    (sqrt(v) + epsilon * sqrt(c))`` with ``c = 1 - beta_2**t``, and ``m`` as written above
    rather than as torch's ``m + (1 - beta_1) * (g - m)``: the same values with less traffic
    over the arrays than torch's order of operations (equal to torch's up to rounding).
    """

    name = "adam"
    _hyperparameters = ("learning_rate", "beta_1", "beta_2", "epsilon", "weight_decay")
    _slots = ("m", "v")
    _decoupled = False

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = self._real("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        self.beta_2 = self._real("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        self.epsilon = self._real("epsilon", epsilon, low=0.0)
        self.weight_decay = self._real("weight_decay", weight_decay, low=0.0)

    def _update(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        if self._decoupled:
            if self.weight_decay != 0.0:
                param *= 1.0 - lr * self.weight_decay
            g = grad
        else:
            g = self._decayed(param, grad)
        b1, b2, t = self.beta_1, self.beta_2, self.iterations
        m = self._slot("m", param)
        v = self._slot("v", param)
        tmp = self._tmp(param, 0)
        # m <- beta_1 m + (1 - beta_1) g: m scaled in place, cheaper than torch's lerp_
        # m + (1 - beta_1) (g - m), which writes g - m into the scratch array
        m *= b1
        np.multiply(g, 1.0 - b1, out=tmp)
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v *= b2
        v += tmp
        self._flush_subnormals(m, v)
        # m_hat / (sqrt(v_hat) + eps) = sqrt(c) / (1 - beta_1^t) * m / (sqrt(v) + eps sqrt(c)),
        # c = 1 - beta_2^t: one pass fewer (Kingma & Ba 2015, end of section 2)
        root_c = math.sqrt(1.0 - b2**t)
        step_size = lr * root_c / (1.0 - b1**t)
        np.sqrt(v, out=tmp)
        tmp += self.epsilon * root_c
        np.divide(m, tmp, out=tmp)
        tmp *= -step_size
        param += tmp


class AdamW(Adam):
    """``W <- (1 - learning_rate * weight_decay) * W``, then the :class:`Adam` step on ``g``.

    Adam with decoupled weight decay, exactly ``torch.optim.AdamW``: the decay shrinks the
    weights directly instead of entering the moment estimates.

    Parameters
    ----------
    learning_rate : float, default=0.001
    beta_1 : float in [0, 1), default=0.9
    beta_2 : float in [0, 1), default=0.999
    epsilon : float >= 0, default=1e-8
    weight_decay : float >= 0, default=0.01
    """

    name = "adamw"
    _decoupled = True

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay)


# ---------------------------------------------------------------------------------------------
# full-batch quasi-Newton


class LBFGS(Optimizer):
    """``W <- argmin C(W)`` by L-BFGS-B (scipy) over the flattened parameters, from the current W.

    For small full-batch problems. One :meth:`step` runs up to ``max_iter`` L-BFGS iterations
    (each with a line search) through ``scipy.optimize.minimize(method="L-BFGS-B")`` and leaves
    the minimiser in ``params`` (in place) with ``grads`` filled for it.

    Parameters
    ----------
    learning_rate : float, default=1.0
        Kept for the common interface (schedules, state_dict); the line search chooses the step
        length, so it does not change the result.
    max_iter : int >= 1, default=20
        L-BFGS iterations per :meth:`step` (scipy's ``maxiter``).
    history_size : int >= 1, default=10
        Number of curvature pairs kept (scipy's ``maxcor``).
    tolerance_grad : float >= 0, default=1e-7
        Stop when ``max |g_i| <= tolerance_grad`` (scipy's ``gtol``).
    tolerance_change : float >= 0, default=1e-9
        Stop when ``(C_k - C_{k+1}) / max(|C_k|, |C_{k+1}|, 1) <= tolerance_change`` (scipy's
        ``ftol``; torch's test is on the absolute change, which is the same for losses <= 1).

    Notes
    -----
    ``step(params, grads, closure)``: ``closure()`` must recompute the loss for the current
    contents of ``params``, write the gradient into the arrays of ``grads`` (in place) and
    return the loss. The search runs in float64; float32 parameters receive the rounded
    iterates. The curvature history is not kept between steps (each step restarts L-BFGS),
    and is not part of :meth:`state_dict`. Needs scipy (``pip install glassnet[scipy]``).
    """

    name = "lbfgs"
    _hyperparameters = (
        "learning_rate",
        "max_iter",
        "history_size",
        "tolerance_grad",
        "tolerance_change",
    )

    def __init__(
        self,
        learning_rate: float = 1.0,
        max_iter: int = 20,
        history_size: int = 10,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
    ) -> None:
        super().__init__(learning_rate)
        self.max_iter = check_scalar(max_iter, "max_iter", "LBFGS", kind=int, low=1)
        self.history_size = check_scalar(history_size, "history_size", "LBFGS", kind=int, low=1)
        self.tolerance_grad = self._real("tolerance_grad", tolerance_grad, low=0.0)
        self.tolerance_change = self._real("tolerance_change", tolerance_change, low=0.0)
        self.last_result: Any = None

    def step(  # type: ignore[override]
        self, params: Params, grads: Params, closure: Callable[[], float] | None = None
    ) -> float:
        """Minimise the closure's loss over ``params``; return the final loss.

        Parameters
        ----------
        params, grads : dict[str, ndarray]
            Same keys and shapes; ``params`` is overwritten with the minimiser.
        closure : callable
            Required: recomputes the loss, fills ``grads`` in place, returns the loss.

        Returns
        -------
        float
            The loss at the returned parameters. ``last_result`` holds scipy's OptimizeResult.
        """
        if closure is None:
            raise TypeError(
                "LBFGS.step needs a closure: step(params, grads, closure) where closure() "
                "recomputes the loss, fills grads in place and returns the loss."
            )
        try:
            from scipy.optimize import minimize
        except ImportError as exc:  # pragma: no cover - exercised with a monkeypatch
            raise ImportError(
                "LBFGS needs scipy; install it with `pip install glassnet[scipy]`."
            ) from exc
        keys = list(params)
        for key in keys:
            if key not in grads or grads[key].shape != params[key].shape:
                raise ValueError(f"grads must have an array shaped like params[{key!r}].")
        sizes = [params[k].size for k in keys]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        n = int(offsets[-1])

        def put(x: np.ndarray) -> None:
            for k, lo, hi in zip(keys, offsets[:-1], offsets[1:]):
                np.copyto(params[k], x[lo:hi].reshape(params[k].shape), casting="same_kind")

        x0 = np.empty(n)
        for k, lo, hi in zip(keys, offsets[:-1], offsets[1:]):
            x0[lo:hi] = params[k].ravel()
        last_x: list[np.ndarray] = []

        def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
            put(x)
            loss = float(closure())
            flat = np.empty(n)
            for k, lo, hi in zip(keys, offsets[:-1], offsets[1:]):
                flat[lo:hi] = grads[k].ravel()
            last_x[:] = [x.copy()]
            return loss, flat

        res = minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            options={
                "maxiter": self.max_iter,
                "maxcor": self.history_size,
                "gtol": self.tolerance_grad,
                "ftol": self.tolerance_change,
            },
        )
        self.last_result = res
        self.iterations += int(res.nit)
        if last_x and np.array_equal(last_x[0], res.x):
            return float(res.fun)
        put(res.x)
        return float(closure())


# ---------------------------------------------------------------------------------------------
# registry and utilities

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "lbfgs": LBFGS,
}


def get_optimizer(name_or_obj: str | Optimizer | type[Optimizer], **kwargs: Any) -> Optimizer:
    """Return an optimiser from a registry name (``**kwargs`` go to its constructor).

    Parameters
    ----------
    name_or_obj : str, Optimizer instance or Optimizer subclass
        A name of :data:`OPTIMIZERS` (case-insensitive); an instance is returned unchanged
        (``kwargs`` are then not allowed).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if isinstance(name_or_obj, Optimizer):
        if kwargs:
            raise TypeError(
                f"get_optimizer got an Optimizer instance and keyword arguments "
                f"{sorted(kwargs)}; set them on the instance instead."
            )
        return name_or_obj
    if isinstance(name_or_obj, type) and issubclass(name_or_obj, Optimizer):
        return name_or_obj(**kwargs)
    if isinstance(name_or_obj, str):
        cls = OPTIMIZERS.get(name_or_obj.lower())
        if cls is None:
            valid = ", ".join(repr(n) for n in OPTIMIZERS)
            raise ValueError(f"Unknown optimizer {name_or_obj!r}; valid names are {valid}.")
        return cls(**kwargs)
    raise TypeError(
        f"optimizer must be a name in {list(OPTIMIZERS)} or an Optimizer; got {name_or_obj!r}."
    )


def clip_grad_norm(grads: Params, max_norm: float) -> float:
    """``g <- g * min(1, max_norm / (||g|| + 1e-6))`` with ``||g||`` the global L2 norm.

    As ``torch.nn.utils.clip_grad_norm_``: the norm is taken over all arrays together and
    every array is scaled in place by the same factor.

    Parameters
    ----------
    grads : dict[str, ndarray]
        Modified in place when the norm exceeds ``max_norm``.
    max_norm : float > 0

    Returns
    -------
    float
        The global norm before clipping. If it is not finite (nan/inf) the gradients are left
        untouched, so the caller can skip the step.
    """
    max_norm = check_scalar(max_norm, "max_norm", "clip_grad_norm", low=0.0, low_open=True)
    flat = getattr(grads, "flat", None)  # net.grads(): all gradients in one array
    arrays = [flat] if flat is not None else [g.reshape(-1) for g in grads.values()]
    norm = math.sqrt(sum(float(np.dot(g, g)) for g in arrays))
    coef = max_norm / (norm + 1e-6)
    if math.isfinite(norm) and coef < 1.0:
        for g in arrays:
            g *= coef
    return norm
