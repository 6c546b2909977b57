"""Optimisers: update rules that move the parameters against their gradients.

Contract
--------
Parameters and gradients are dicts of NumPy arrays with the same keys, e.g.
``{"0.W": W, "0.b": b, "1.W": ...}``. ``optimizer.step(params, grads)`` updates every array of
``params`` **in place** (the network holds references to them, so they are never rebound) and
never writes to ``grads``. The update keeps the parameters' dtype: float32 stays float32.

Every rule below is torch.optim's (single-tensor path, ``maximize=False``, no ``dampening``,
``amsgrad`` or ``centered``), with ``g`` the gradient of the current step, ``t`` the step count
from 1 and all operations elementwise. Optimiser state is preallocated per parameter and the hot
path uses ``out=`` / in-place ufuncs only, so a step allocates no arrays after the first one.

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

from .device import on_device_of

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
# validation helpers (also used by glassnet.schedules)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _check_real(
    owner: str,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``float(value)`` or raise with "The 'name' parameter of Owner must be ...; got v."."""
    if low is not None and high is not None:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        desc = f"a float in {left}{_fmt(low)}, {_fmt(high)}{right}"
    elif low is not None:
        desc = f"a float {'>' if low_open else '>='} {_fmt(low)}"
    elif high is not None:
        desc = f"a float {'<' if high_open else '<='} {_fmt(high)}"
    else:
        desc = "a finite float"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"The {name!r} parameter of {owner} must be {desc}; got {value!r}.")
    v = float(value)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise ValueError(f"The {name!r} parameter of {owner} must be {desc}; got {v!r}.")
    return v


def _check_int(owner: str, name: str, value: Any, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"The {name!r} parameter of {owner} must be an int >= {low}; got {value!r}."
        )
    if value < low:
        raise ValueError(
            f"The {name!r} parameter of {owner} must be an int >= {low}; got {int(value)!r}."
        )
    return int(value)


def _check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"The {name!r} parameter of {owner} must be a bool; got {value!r}.")
    return bool(value)


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
    """Base class: ``W <- update(W, g)`` for every parameter array, in place.

    Subclasses implement ``_update(key, param, grad, lr)`` for one array and list their
    hyperparameters in ``_hyperparameters`` and their persistent per-parameter arrays in
    ``_slots``. The update is elementwise: :meth:`step_flat` calls it once with ``key`` None on
    the flat arrays (``_slot`` and ``_tmp`` then give flat state and scratch arrays).

    Parameters
    ----------
    learning_rate : float
        Step size, > 0. A plain attribute: a schedule may overwrite it between steps.

    Attributes
    ----------
    iterations : int
        Number of ``step`` calls so far (Adam's ``t``).
    """

    name: str = "optimizer"
    _hyperparameters: tuple[str, ...] = ("learning_rate",)
    _slots: tuple[str, ...] = ()

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = self._real("learning_rate", learning_rate, low=0.0, low_open=True)
        self.iterations = 0
        self._state: dict[str, dict[str, np.ndarray]] = {}
        self._scratch: dict[str | None, list[np.ndarray]] = {}  # key None: the flat arrays
        self._flat: dict[str, np.ndarray] = {}  # slot -> flat state, see step_flat
        self._layout: tuple[Any, ...] = ()  # theta's shape and dtype, (key, shape) per parameter

    # -- validation shorthands ------------------------------------------------------------
    def _real(self, name: str, value: Any, **bounds: Any) -> float:
        return _check_real(type(self).__name__, name, value, **bounds)

    # -- public API ---------------------------------------------------------------------
    def step(
        self, params: Params, grads: Params, closure: Callable[[], float] | None = None
    ) -> float | None:
        """Update every array of ``params`` in place from ``grads[key]``.

        Parameters
        ----------
        params, grads : dict[str, ndarray]
            Same keys and shapes. ``grads`` is read, never written.
        closure : callable, optional
            If given, called first (it must recompute the loss, fill ``grads`` and return the
            loss); its return value is returned.

        Returns
        -------
        float or None
            The closure's loss, or None without a closure.
        """
        loss = None if closure is None else float(closure())
        lr = float(self.learning_rate)
        self.iterations += 1
        for key, param in params.items():
            try:
                grad = grads[key]
            except KeyError:
                raise KeyError(f"No gradient for parameter {key!r}; grads has {sorted(grads)}.")
            if grad.shape != param.shape:
                raise ValueError(
                    f"The gradient of {key!r} has shape {grad.shape}; its parameter has "
                    f"shape {param.shape}."
                )
            self._update(key, param, grad, lr)
        return loss

    def step_flat(self, theta: np.ndarray, grad: np.ndarray, params: Params) -> None:
        """``step(params, grads)`` for parameters that are views into one flat array, at once.

        The same elementwise operations as :meth:`step`, applied once to ``theta`` and ``grad``
        instead of once per parameter array, so the result is bit for bit the same. The state
        keeps its per-parameter keys (:meth:`state_dict`, :meth:`load_state_dict`, and
        :meth:`step` on the same optimiser go on working): its arrays become views into one
        flat array per slot, into which the existing per-parameter state is copied first.
        A subclass that overrides :meth:`step` has it called, with views into ``grad``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            All parameters: the arrays of ``params`` one after another, in their order.
            Updated in place.
        grad : ndarray of shape (n_params,)
            The gradients, laid out like ``theta``; read, never written.
        params : dict[str, ndarray]
            The parameters as views into ``theta``; their keys and shapes key the state.

        Raises
        ------
        ValueError
            When the sizes of ``params`` do not add up to ``theta``'s, or ``grad`` differs
            in shape.
        """
        layout = (type(theta), theta.shape, grad.shape, theta.dtype,
                  tuple((key, tuple(p.shape)) for key, p in params.items()))
        if layout != self._layout:
            n = sum(p.size for p in params.values())
            if theta.shape != (n,) or grad.shape != (n,):
                raise ValueError(
                    f"step_flat expects theta and grad of shape ({n},), the parameters one "
                    f"after another; got theta {theta.shape} and grad {grad.shape}."
                )
            self._layout, self._flat = layout, {}
        if type(self).step is not Optimizer.step:  # a subclass's own step: call it, per key
            self.step(params, dict(self._views(grad)))
            return
        self.iterations += 1
        self._update(None, theta, grad, float(self.learning_rate))

    def _views(self, flat: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """``(key, view)`` per parameter of the step_flat layout, into the flat array ``flat``."""
        start = 0
        for key, shape in self._layout[-1]:
            size = math.prod(shape)
            yield key, flat[start:start + size].reshape(shape)
            start += size

    def _update(self, key: str | None, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        """One array's update, in place; ``key`` None means the flat arrays of step_flat."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the step count and all per-parameter state."""
        self.iterations = 0
        self._state = {}
        self._scratch = {}
        self._flat = {}

    def get_config(self) -> dict[str, Any]:
        """The hyperparameters as a JSON-able dict (``name`` included)."""
        config: dict[str, Any] = {"name": self.name}
        for h in self._hyperparameters:
            config[h] = _scalar(getattr(self, h))
        return config

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
        arrays = {
            f"{slot}.{key}": arr.copy()
            for slot, store in self._state.items()
            for key, arr in store.items()
        }
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
        state: dict[str, dict[str, np.ndarray]] = {}
        for full_key, arr in arrays.items():
            slot, _, key = full_key.partition(".")
            if slot not in self._slots or not key:
                raise ValueError(
                    f"Unknown state array {full_key!r} for {type(self).__name__}; expected keys "
                    f"'<slot>.<parameter>' with slot in {list(self._slots)}."
                )
            state.setdefault(slot, {})[key] = np.array(arr, copy=True)
        owner = type(self).__name__
        self.iterations = _check_int(owner, "iterations", config.get("iterations", 0), 0)
        self._state = state
        self._scratch = {}
        self._flat = {}

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
    def _slot(self, slot: str, key: str | None, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Persistent state array ``slot`` for parameter ``key``, created on first use."""
        if key is None:
            return self._flat_slot(slot, like, fill)
        store = self._state.get(slot)
        if store is None:
            store = self._state[slot] = {}
        arr = store.get(key)
        if arr is None:
            arr = store[key] = np.full_like(like, fill)  # on like's device (NumPy or CuPy)
        else:
            if type(arr) is not type(like):  # loaded from a file, or the network moved device
                arr = store[key] = on_device_of(arr, like)
            self._check_state(slot, key, arr, like.shape)
        return arr

    def _flat_slot(self, slot: str, like: np.ndarray, fill: float) -> np.ndarray:
        """State ``slot`` over all parameters of step_flat; the per-key arrays are views into it."""
        flat = self._flat.get(slot)
        if flat is None:
            flat = self._flat[slot] = np.full_like(like, fill)
            store = self._state.setdefault(slot, {})
            for key, view in self._views(flat):
                old = store.get(key)
                if old is not None:  # e.g. loaded, or from step: carried over
                    self._check_state(slot, key, old, view.shape)
                    view[...] = on_device_of(old, view)  # on theta's device
                store[key] = view
        return flat

    @staticmethod
    def _check_state(slot: str, key: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
        if arr.shape != shape:
            raise ValueError(
                f"The {slot!r} state of parameter {key!r} has shape {arr.shape}; the parameter "
                f"has shape {shape}. Call reset() after changing the network."
            )

    def _tmp(self, key: str | None, like: np.ndarray, index: int = 0) -> np.ndarray:
        """Scratch array ``index`` for parameter ``key`` (not saved)."""
        bufs = self._scratch.get(key)
        if bufs is None:
            bufs = self._scratch[key] = []
        while len(bufs) <= index:
            bufs.append(np.empty_like(like))
        buf = bufs[index]
        if buf.shape != like.shape or buf.dtype != like.dtype or type(buf) is not type(like):
            buf = bufs[index] = np.empty_like(like)
        return buf

    def _decayed(self, key: str | None, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """``g + weight_decay * W`` in scratch buffer 1 (coupled L2); ``grad`` is not written."""
        wd = self.weight_decay  # type: ignore[attr-defined]
        if wd == 0.0:
            return grad
        buf = self._tmp(key, param, 1)
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
        self.nesterov = _check_bool("SGD", "nesterov", nesterov)
        self.weight_decay = self._real("weight_decay", weight_decay, low=0.0)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(
                "The 'nesterov' parameter of SGD requires momentum > 0; got momentum=0.0."
            )

    def _update(self, key: str | None, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        g = self._decayed(key, param, grad)
        tmp = self._tmp(key, param, 0)
        mu = self.momentum
        if mu != 0.0:
            v = self._slot("velocity", key, param)
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

    def _update(self, key: str | None, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        g = self._decayed(key, param, grad)
        s = self._slot("sum", key, param, self.initial_accumulator_value)
        tmp = self._tmp(key, param, 0)
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

    def _update(self, key: str | None, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        g = self._decayed(key, param, grad)
        s = self._slot("square_avg", key, param)
        tmp = self._tmp(key, param, 0)
        rho = self.rho
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - rho
        s *= rho
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.epsilon
        np.divide(g, tmp, out=tmp)
        if self.momentum > 0.0:
            v = self._slot("velocity", key, param)
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

    def _update(self, key: str | None, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        if self._decoupled:
            if self.weight_decay != 0.0:
                param *= 1.0 - lr * self.weight_decay
            g = grad
        else:
            g = self._decayed(key, param, grad)
        b1, b2, t = self.beta_1, self.beta_2, self.iterations
        m = self._slot("m", key, param)
        v = self._slot("v", key, param)
        tmp = self._tmp(key, param, 0)
        # m <- beta_1 m + (1 - beta_1) g: m scaled in place, cheaper than torch's lerp_
        # m + (1 - beta_1) (g - m), which writes g - m into the scratch array
        m *= b1
        np.multiply(g, 1.0 - b1, out=tmp)
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v *= b2
        v += tmp
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
        self.max_iter = _check_int("LBFGS", "max_iter", max_iter, 1)
        self.history_size = _check_int("LBFGS", "history_size", history_size, 1)
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
    max_norm = _check_real("clip_grad_norm", "max_norm", max_norm, low=0.0, low_open=True)
    total = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        total += float(np.dot(flat, flat))
    norm = math.sqrt(total)
    coef = max_norm / (norm + 1e-6)
    if math.isfinite(norm) and coef < 1.0:
        for g in grads.values():
            g *= coef
    return norm
