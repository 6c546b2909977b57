"""Learning-rate schedules: ``lr = schedule(t)`` in closed form, set on the optimiser.

A schedule holds the base rate ``learning_rate`` (``lr0``) and maps a counter ``t = 0, 1, 2,
...`` to a rate; whether ``t`` counts epochs or steps is the caller's choice. Typical use::

    schedule = Cosine(total=100, warmup=5, learning_rate=0.01)
    for epoch in range(100):
        optimizer.learning_rate = schedule(epoch)
        ...

``learning_rate`` may be left as None at construction and set later (``schedule.learning_rate
= optimizer.learning_rate``), e.g. by a trainer that gets the schedule by name.
:class:`ReduceOnPlateau` is stateful: feed it the monitored metric with ``update(metric)`` at the
end of each epoch. ``to_dict()`` / ``Schedule.from_dict(d)`` save and restore any schedule as
JSON-able dicts (``ReduceOnPlateau`` includes its state).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from .optim import _scalar
from .validation import check_scalar

__all__ = [
    "SCHEDULES",
    "Constant",
    "Cosine",
    "Exponential",
    "InverseScaling",
    "ReduceOnPlateau",
    "Schedule",
    "Step",
    "get_schedule",
]


class Schedule:
    """Base class: ``lr(t) = lr0 * f(t)``; subclasses implement ``_lr(lr0, t)``.

    Parameters
    ----------
    learning_rate : float > 0 or None
        Base rate ``lr0``; None means "set it before the first call".
    """

    name: str = "schedule"
    _params: tuple[str, ...] = ()

    def __init__(self, learning_rate: float | None = None) -> None:
        self.learning_rate = learning_rate

    @property
    def learning_rate(self) -> float | None:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float | None) -> None:
        if value is not None:
            value = check_scalar(value, "learning_rate", type(self).__name__, low=0.0, low_open=True)
        self._learning_rate = value

    ends_at: int | None = None
    """The ``t`` from which the rate no longer changes (None: it goes on changing)."""

    def __call__(self, t: float) -> float:
        """The learning rate at epoch or step ``t >= 0``."""
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not t >= 0:
            raise ValueError(f"{type(self).__name__} needs a step or epoch t >= 0; got {t!r}.")
        lr0 = self._learning_rate
        if lr0 is None:
            raise RuntimeError(
                f"{type(self).__name__} has no base learning rate: pass learning_rate=... or "
                f"set schedule.learning_rate before calling it."
            )
        return float(self._lr(lr0, t))

    def _lr(self, lr0: float, t: float) -> float:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description: ``name``, ``learning_rate`` and the schedule's parameters."""
        d: dict[str, Any] = {"name": self.name, "learning_rate": self._learning_rate}
        for p in self._params:
            d[p] = _scalar(getattr(self, p))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Schedule:
        """Rebuild a schedule from :meth:`to_dict` (dispatching on ``d['name']``)."""
        d = dict(d)
        name = d.pop("name", cls.name)
        state = d.pop("state", None)
        target = SCHEDULES.get(name) if cls is Schedule else cls
        if target is None or target.name != name:
            raise ValueError(
                f"Cannot build {cls.__name__} from a dict for schedule {name!r}; valid names "
                f"are {', '.join(repr(n) for n in SCHEDULES)}."
            )
        obj = target(**d)
        if state is not None:
            obj._set_state(state)
        return obj

    def _set_state(self, state: Mapping[str, Any]) -> None:
        raise ValueError(f"{type(self).__name__} has no state to restore.")

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        sep = ", " if args else ""
        return f"{type(self).__name__}({args}{sep}learning_rate={self._learning_rate!r})"


class Constant(Schedule):
    """``lr(t) = lr0``."""

    name = "constant"

    def _lr(self, lr0: float, t: float) -> float:
        return lr0


class Step(Schedule):
    """``lr(t) = lr0 * gamma ** floor(t / step_size)`` (torch's StepLR).

    Parameters
    ----------
    step_size : int >= 1
    gamma : float > 0, default=0.1
    learning_rate : float or None, default=None
    """

    name = "step"
    _params = ("step_size", "gamma")

    def __init__(self, step_size: int, gamma: float = 0.1, learning_rate: float | None = None):
        super().__init__(learning_rate)
        self.step_size = check_scalar(step_size, "step_size", "Step", kind=int, low=1)
        self.gamma = check_scalar(gamma, "gamma", "Step", low=0.0, low_open=True)

    def _lr(self, lr0: float, t: float) -> float:
        return lr0 * self.gamma ** (int(t) // self.step_size)


class Exponential(Schedule):
    """``lr(t) = lr0 * gamma ** t`` (torch's ExponentialLR).

    Parameters
    ----------
    gamma : float > 0, default=0.95
    learning_rate : float or None, default=None
    """

    name = "exponential"
    _params = ("gamma",)

    def __init__(self, gamma: float = 0.95, learning_rate: float | None = None):
        super().__init__(learning_rate)
        self.gamma = check_scalar(gamma, "gamma", "Exponential", low=0.0, low_open=True)

    def _lr(self, lr0: float, t: float) -> float:
        return lr0 * self.gamma**t


class Cosine(Schedule):
    """``lr(t) = min_lr + (lr0 - min_lr) * (1 + cos(pi * (t - warmup) / (total - warmup))) / 2``.

    After a linear warm-up ``lr(t) = lr0 * t / warmup`` for ``t < warmup`` (so it starts at 0,
    as in the usual "cosine with warm-up" recipe), the rate follows half a cosine from ``lr0``
    at ``t = warmup`` to ``min_lr`` at ``t = total`` and stays at ``min_lr`` afterwards. With
    ``warmup=0`` it equals torch's CosineAnnealingLR(T_max=total, eta_min=min_lr) for
    ``t <= total`` (torch keeps oscillating after ``total``; this schedule does not).

    Parameters
    ----------
    total : int >= 1
        Length of the schedule (epochs or steps), warm-up included.
    warmup : int in [0, total], default=0
    min_lr : float >= 0, default=0.0
    learning_rate : float or None, default=None
    """

    name = "cosine"
    _params = ("total", "warmup", "min_lr")

    @property
    def ends_at(self) -> int:
        """From ``t = total`` on the rate stays at ``min_lr``."""
        return self.total

    @property
    def final_rate(self) -> float:
        return self.min_lr

    def __init__(
        self,
        total: int,
        warmup: int = 0,
        min_lr: float = 0.0,
        learning_rate: float | None = None,
    ):
        super().__init__(learning_rate)
        self.total = check_scalar(total, "total", "Cosine", kind=int, low=1)
        self.warmup = check_scalar(warmup, "warmup", "Cosine", kind=int, low=0)
        if self.warmup > self.total:
            raise ValueError(
                f"The 'warmup' parameter of Cosine must be <= total={self.total}; "
                f"got {self.warmup}."
            )
        self.min_lr = check_scalar(min_lr, "min_lr", "Cosine", low=0.0)

    def _lr(self, lr0: float, t: float) -> float:
        if t < self.warmup:
            return lr0 * t / self.warmup
        if t >= self.total:
            return self.min_lr
        progress = (t - self.warmup) / (self.total - self.warmup)
        return self.min_lr + (lr0 - self.min_lr) * (1.0 + math.cos(math.pi * progress)) / 2.0


class InverseScaling(Schedule):
    """``lr(t) = lr0 / (t + 1) ** power_t`` (scikit-learn's ``learning_rate='invscaling'``).

    scikit-learn's MLP counts ``t`` in *samples seen* and updates the rate at the end of each
    epoch, so ``schedule(n_samples * epochs_done)`` reproduces it; ``t`` in epochs or steps
    gives a gentler, more common decay.

    Parameters
    ----------
    power_t : float >= 0, default=0.5
    learning_rate : float or None, default=None
    """

    name = "invscaling"
    _params = ("power_t",)

    def __init__(self, power_t: float = 0.5, learning_rate: float | None = None):
        super().__init__(learning_rate)
        self.power_t = check_scalar(power_t, "power_t", "InverseScaling", low=0.0)

    def _lr(self, lr0: float, t: float) -> float:
        return lr0 / (t + 1.0) ** self.power_t


class ReduceOnPlateau(Schedule):
    """``lr <- lr * factor`` once the metric has not improved for more than ``patience`` epochs.

    Stateful: call :meth:`update` with the monitored metric once per epoch; ``schedule(t)``
    returns the current rate whatever ``t``. An epoch *improves* when ``metric <= best -
    min_delta`` (``mode='min'``; ``>= best + min_delta`` for ``'max'``), which resets the count
    of bad epochs; ``best`` itself follows every strict improvement, however small. When the
    count exceeds ``patience`` the rate is multiplied by ``factor`` and the count restarts; if
    the rate is already ``<= min_lr`` it is left alone and :attr:`should_stop` becomes True.

    The defaults are exactly scikit-learn's MLP ``learning_rate='adaptive'`` with its default
    ``tol=1e-4`` and ``n_iter_no_change=10`` (divide by 5 after 11 bad epochs, stop once the rate
    is <= 1e-6). scikit-learn's documented "two consecutive epochs" variant is ``patience=1``;
    a torch-style ReduceLROnPlateau (absolute threshold) is ``factor=0.1, min_lr=0``.

    Parameters
    ----------
    factor : float in (0, 1), default=0.2
    patience : int >= 0, default=10
    min_delta : float >= 0, default=1e-4
    mode : {'min', 'max'}, default='min'
    min_lr : float >= 0, default=1e-6
    learning_rate : float or None, default=None

    Attributes
    ----------
    lr : float or None
        The current rate (the base rate until the first reduction).
    best : float
    num_bad_epochs : int
    should_stop : bool
    """

    name = "plateau"
    _params = ("factor", "patience", "min_delta", "mode", "min_lr")

    def __init__(
        self,
        factor: float = 0.2,
        patience: int = 10,
        min_delta: float = 1e-4,
        mode: str = "min",
        min_lr: float = 1e-6,
        learning_rate: float | None = None,
    ):
        self.lr: float | None = None
        super().__init__(learning_rate)
        self.factor = check_scalar(factor, "factor", "ReduceOnPlateau", low=0.0, high=1.0,
                                   low_open=True, high_open=True)
        self.patience = check_scalar(patience, "patience", "ReduceOnPlateau", kind=int, low=0)
        self.min_delta = check_scalar(min_delta, "min_delta", "ReduceOnPlateau", low=0.0)
        if mode not in ("min", "max"):
            raise ValueError(
                f"The 'mode' parameter of ReduceOnPlateau must be 'min' or 'max'; got {mode!r}."
            )
        self.mode = mode
        self.min_lr = check_scalar(min_lr, "min_lr", "ReduceOnPlateau", low=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.should_stop = False

    @Schedule.learning_rate.setter  # type: ignore[attr-defined]
    def learning_rate(self, value: float | None) -> None:
        Schedule.learning_rate.fset(self, value)  # type: ignore[attr-defined]
        self.lr = self._learning_rate  # a new base rate restarts the decay

    def update(self, metric: float) -> float:
        """Record this epoch's metric; return the (possibly reduced) learning rate."""
        if self.lr is None:
            raise RuntimeError(
                "ReduceOnPlateau has no base learning rate: pass learning_rate=... or set "
                "schedule.learning_rate before calling update()."
            )
        metric = float(metric)
        if self.mode == "min":
            improved = metric <= self.best - self.min_delta
            better = metric < self.best
        else:
            improved = metric >= self.best + self.min_delta
            better = metric > self.best
        self.num_bad_epochs = 0 if improved else self.num_bad_epochs + 1
        if better:
            self.best = metric
        if self.num_bad_epochs > self.patience:
            if self.lr <= self.min_lr:
                self.should_stop = True
            else:
                self.lr *= self.factor
            self.num_bad_epochs = 0
        return self.lr

    def _lr(self, lr0: float, t: float) -> float:
        return lr0 if self.lr is None else self.lr

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["state"] = {
            "lr": self.lr,
            "best": self.best if math.isfinite(self.best) else None,
            "num_bad_epochs": self.num_bad_epochs,
            "should_stop": self.should_stop,
        }
        return d

    def _set_state(self, state: Mapping[str, Any]) -> None:
        self.lr = None if state.get("lr") is None else float(state["lr"])
        best = state.get("best")
        if best is None:
            best = math.inf if self.mode == "min" else -math.inf
        self.best = float(best)
        self.num_bad_epochs = int(state.get("num_bad_epochs", 0))
        self.should_stop = bool(state.get("should_stop", False))


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": Step,
    "exponential": Exponential,
    "cosine": Cosine,
    "invscaling": InverseScaling,
    "plateau": ReduceOnPlateau,
}
_ALIASES = {"adaptive": "plateau", "inverse_scaling": "invscaling"}


_LENGTH_DEFAULTS: dict[str, Callable[[int], dict[str, Any]]] = {
    "cosine": lambda epochs: {"total": epochs},
    "step": lambda epochs: {"step_size": max(1, epochs // 3)},
}
"""Schedule name -> its defaults for a run of ``epochs`` epochs."""


def get_schedule(
    name_or_obj: str | Schedule | None, learning_rate: float | None = None, *,
    epochs: int | None = None, **kwargs: Any
) -> Schedule:
    """Return a schedule from a name of :data:`SCHEDULES` (``**kwargs`` go to its constructor).

    Parameters
    ----------
    name_or_obj : str, Schedule or None
        A registry name (case-insensitive; ``'adaptive'`` is an alias of ``'plateau'`` as in
        scikit-learn), an instance (returned unchanged; its base rate is set from
        ``learning_rate`` if it has none) or None for :class:`Constant`.
    learning_rate : float or None
        The base rate.
    epochs : int, optional
        The length of the run (what ``fit`` passes): the defaults of the schedules that need a
        length, ``cosine`` (``total=epochs``) and ``step`` (``step_size=max(1, epochs // 3)``).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if isinstance(name_or_obj, Schedule):
        if kwargs:
            raise TypeError(
                f"get_schedule got a Schedule instance and keyword arguments {sorted(kwargs)}."
            )
        if name_or_obj.learning_rate is None and learning_rate is not None:
            name_or_obj.learning_rate = learning_rate
        return name_or_obj
    if name_or_obj is None:
        return Constant(learning_rate=learning_rate)
    if isinstance(name_or_obj, str):
        key = _ALIASES.get(name_or_obj.lower(), name_or_obj.lower())
        cls = SCHEDULES.get(key)
        if cls is None:
            valid = ", ".join(repr(n) for n in [*SCHEDULES, *_ALIASES])
            raise ValueError(f"Unknown schedule {name_or_obj!r}; valid names are {valid}.")
        if epochs is not None:
            kwargs = {**_LENGTH_DEFAULTS.get(key, lambda e: {})(epochs), **kwargs}
        try:
            return cls(learning_rate=learning_rate, **kwargs)
        except TypeError as err:
            raise ValueError(f"The {key!r} schedule needs {err}; pass its length: "
                             f"get_schedule({key!r}, epochs=N), or fit(..., epochs=N).") from None
    raise TypeError(
        f"schedule must be a name in {list(SCHEDULES)} or a Schedule; got {name_or_obj!r}."
    )
