"""Where a network's arrays live: NumPy on the CPU, or CuPy on a CUDA GPU.

The code is the same on both: the layers, losses and the hot path call NumPy's functions and
operators, which dispatch to CuPy for CuPy arrays, or ``xp.empty(...)``-style calls on the
network's array module ``net.xp``. Only data crosses between host and device:

* ``Network(..., device="cuda")`` or :meth:`Network.to` puts the parameters on the GPU;
  :func:`set_device` sets the device of networks built without one (``glassnet.load`` too);
* ``fit`` moves the training and validation data to the device once per fit (a memory-mapped
  ``X`` is read and moved batch by batch);
* ``predict`` and ``predict_output`` take host or device inputs and return NumPy arrays;
  ``save`` writes host copies. ``forward`` and ``backprop`` keep their results on the device.

A GPU needs the ``gpu`` extra (CuPy built for your CUDA version, e.g. ``cupy-cuda12x``);
``cupy.cuda.is_available()`` must be True.

Examples
--------
>>> to_numpy([1.0, 2.0])
array([1., 2.])
>>> array_module(np.zeros(3)) is np
True
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["DEVICES", "array_module", "as_array", "check_device", "cuda_available", "get_device",
           "on_device_of", "set_device", "to_device", "to_numpy"]

DEVICES = ("cpu", "cuda")
_default = "cpu"


def _cupy() -> ModuleType:
    try:
        import cupy
    except ImportError:
        raise ImportError("device='cuda' needs CuPy: pip install 'glassnet[gpu]' (or the "
                          "cupy-cudaXXx wheel for your CUDA version).") from None
    return cupy


def cuda_available() -> bool:
    """True when CuPy is installed and finds a CUDA GPU."""
    try:
        return bool(_cupy().cuda.is_available())
    except Exception:
        return False


def check_device(device: Any) -> str:
    """``device`` checked: ``'cpu'`` or ``'cuda'`` (None: the default of :func:`set_device`)."""
    if device is None:
        return _default
    if device not in DEVICES:
        raise ValueError(f"The 'device' parameter must be one of {list(DEVICES)}; got {device!r}.")
    if device == "cuda" and not _cupy().cuda.is_available():
        raise ValueError("device='cuda': CuPy is installed but finds no CUDA GPU "
                           "(cupy.cuda.is_available() is False). Use device='cpu'.")
    return device


def set_device(device: str) -> None:
    """The device of networks built without a ``device`` argument (initially ``'cpu'``)."""
    global _default
    if device is None:
        raise ValueError(f"set_device takes one of {list(DEVICES)}; got None.")
    _default = check_device(device)


def get_device() -> str:
    """The current default device."""
    return _default


def array_module(x: Any) -> ModuleType:
    """``cupy`` for a CuPy array, ``numpy`` for anything else (``xp`` of array-API code)."""
    if type(x).__module__.startswith("cupy"):
        return sys.modules["cupy"]
    return np


def to_device(x: Any, device: str) -> Any:
    """``x`` as an array on ``device`` (no copy when it is there already); None stays None."""
    if x is None:
        return None
    if device == "cuda":
        return _cupy().asarray(x)
    return to_numpy(x)


def on_device_of(x: Any, ref: Any) -> Any:
    """``x`` as an array on the device of the array ``ref`` (no copy when it is there already)."""
    xp = array_module(ref)
    return to_numpy(x) if xp is np else xp.asarray(x)


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array on the host (a CuPy array is copied back)."""
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return as_array(x)


def as_array(x: Any, name: str = "the data") -> Any:
    """``x`` as an array of its own module (NumPy, or CuPy for a CuPy array), no copy when it
    is one; nested sequences of unequal lengths (a ragged ``[[1, 2, 3], [1, 2]]``) are refused
    with what to fix, not NumPy's "inhomogeneous shape"."""
    try:
        return array_module(x).asarray(x)
    except ValueError as err:
        if "inhomogeneous" not in str(err) and "sequence" not in str(err):
            raise
        raise ValueError(f"{name} must be a rectangular array of numbers; got nested sequences "
                         "whose lengths differ (a ragged list). Give every sample the same "
                         "number of values.") from None
