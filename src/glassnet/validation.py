"""One checker for every numeric parameter of the public API (in the spirit of scikit-learn's
``check_scalar``): one exception policy and one wording.

* a value of the wrong type (a string, a bool where a number belongs, a float where an int
  belongs) raises ``TypeError``;
* a value of the right type outside its range (NaN and inf included) raises ``ValueError``;
* the message is always ``The 'name' parameter of Owner must be <what>; got <value>.``

Examples
--------
>>> check_scalar(0.1, "learning_rate", "SGD", low=0.0)
0.1
>>> check_scalar(float("nan"), "min_delta", "EarlyStopping", low=0.0)
Traceback (most recent call last):
...
ValueError: The 'min_delta' parameter of EarlyStopping must be a float >= 0; got nan.
>>> check_scalar(True, "patience", "EarlyStopping", kind=int, low=1)
Traceback (most recent call last):
...
TypeError: The 'patience' parameter of EarlyStopping must be an int >= 1; got True.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_bool", "check_sample_weight", "check_scalar", "derived_from_own"]


def _fmt(x: float) -> str:
    return f"{x:g}"


def _describe(kind: type, low: float | None, high: float | None, low_open: bool,
              high_open: bool) -> str:
    noun = "an int" if kind is int else "a float"
    if low is not None and high is not None:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        return f"{noun} in {left}{_fmt(low)}, {_fmt(high)}{right}"
    if low is not None:
        return f"{noun} {'>' if low_open else '>='} {_fmt(low)}"
    if high is not None:
        return f"{noun} {'<' if high_open else '<='} {_fmt(high)}"
    return noun if kind is int else "a finite float"


def check_scalar(value: Any, name: str, owner: str, *, kind: type = float,
                 low: float | None = None, high: float | None = None, low_open: bool = False,
                 high_open: bool = False) -> Any:
    """``value`` as a Python ``float`` (or ``int``), checked against its type and range.

    Parameters
    ----------
    value : Any
        The parameter's value.
    name, owner : str
        The parameter and what takes it, for the message: ``'learning_rate'``, ``'SGD'``.
    kind : {float, int}, default=float
        ``float`` takes any real number (ints too; NaN and inf never); ``int`` takes integers
        only (a bool is neither).
    low, high : float, optional
        The bounds, inclusive unless ``low_open`` / ``high_open``.

    Returns
    -------
    float or int

    Raises
    ------
    TypeError
        For a value of the wrong type.
    ValueError
        For a value out of range, NaN or infinite.
    """
    what = _describe(kind, low, high, low_open, high_open)
    wanted = numbers.Integral if kind is int else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, wanted):
        raise TypeError(f"The {name!r} parameter of {owner} must be {what}; got {value!r}.")
    v = int(value) if kind is int else float(value)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise ValueError(f"The {name!r} parameter of {owner} must be {what}; got {v!r}.")
    return v


def check_bool(value: Any, name: str, owner: str) -> bool:
    """``value`` as a ``bool``; a TypeError for anything else (``1``, ``'yes'``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"The {name!r} parameter of {owner} must be a bool; got {value!r}.")
    return bool(value)


def check_sample_weight(sample_weight: Any, n_samples: int, owner: str, *,
                        some_positive: bool = False) -> np.ndarray:
    """Per-sample weights as a float64 array of shape ``(n_samples,)``, each finite and >= 0.

    The one check of every ``sample_weight`` (``fit``, ``Network.loss``, ``Network.backprop``,
    the second-order functions): a ValueError names the first bad entry, its index and the rule.
    With ``some_positive`` (``fit``: the whole training set) weights that are all 0 are refused
    too, since nothing would be learned.

    >>> check_sample_weight([1, 0.5], 2, "fit")
    array([1. , 0.5])
    >>> check_sample_weight([1, -2], 2, "fit")
    Traceback (most recent call last):
    ...
    ValueError: The 'sample_weight' parameter of fit must hold finite weights >= 0; got -2.0 at index 1.
    """
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"The 'sample_weight' parameter of {owner} must be an array of numbers "
                        f"of shape ({n_samples},); got {type(sample_weight).__name__}.") from None
    if w.shape != (n_samples,):
        raise ValueError(f"The 'sample_weight' parameter of {owner} must have shape "
                         f"({n_samples},), one weight per sample; got shape {w.shape}.")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"The 'sample_weight' parameter of {owner} must hold finite weights "
                         f">= 0; got {w[i]} at index {i}.")
    if some_positive and not np.any(w > 0):
        raise ValueError(f"The 'sample_weight' parameter of {owner} is 0 for every sample: "
                         "nothing would be learned; give some samples a weight > 0.")
    return w


def derived_from_own(obj: Any, method: str, basis: tuple[str, ...],
                     base: type | None = None) -> bool:
    """Whether ``obj``'s ``method`` (a shortcut: a fused form, a faster form, a second
    derivative) still follows from ``obj``'s own ``basis`` methods.

    A shortcut is derived from the basis of the class that defines it; a subclass that
    overrides a basis method below that class (a loss or activation of your own built on a
    built-in one) has changed what the shortcut was derived from, so it no longer holds. The
    protocol's own ``base`` class defines its methods in terms of the basis (or as stubs that
    say what to write), so a method it defines always holds. Decided once per class.

    >>> from glassnet.losses import MSE
    >>> class Doubled(MSE):
    ...     def per_sample(self, a, Y): return 2 * super().per_sample(a, Y)
    >>> derived_from_own(MSE(), "value_and_grad", ("per_sample", "unit_grad"))
    True
    >>> derived_from_own(Doubled(), "value_and_grad", ("per_sample", "unit_grad"))
    False
    """
    return _derived(type(obj), method, basis, base)


@functools.lru_cache(maxsize=None)
def _derived(cls: type, method: str, basis: tuple[str, ...], base: type | None) -> bool:
    mro = cls.__mro__
    owner = next(i for i, klass in enumerate(mro) if method in klass.__dict__)
    if mro[owner] is base:
        return True
    return not any(name in klass.__dict__ for klass in mro[:owner] for name in basis)
