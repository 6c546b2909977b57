"""Safe model files: one ``.npz`` with a JSON header and the parameter arrays, no pickle.

Layout of the archive:

``__glassnet__``
    A 0-d unicode array holding JSON: ``{"format": "glassnet", "version": 1, "network": {...
    architecture, loss, dtype}, "extra": {...}}``.
``<key>``
    One array per parameter, keyed as ``Network.params()`` (``0.W``, ``0.b``, ``2.1.W``, ...).
``optim.<slot>.<key>``
    The optimiser's state arrays (momentum, Adam's moments), when the network was trained.
``extra.<name>``
    Optional arrays that other parts of glassnet store beside the model (checkpoints).

The header also carries, when present, the optimiser's settings, the training history, the
input scaler and the network's ``info`` notes, so a loaded model predicts on raw inputs and can
continue training where it stopped.

Writing goes to a temporary file in the same folder, flushed to disk, then renamed over the
target: a crash mid-save leaves the previous file as it was. Loading uses
``allow_pickle=False``, so no code from a file ever runs, and checks the header against the
arrays before building anything.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .activations import ACTIVATIONS
from .device import to_numpy
from .layers import iter_layers

if TYPE_CHECKING:
    from .network import Network

__all__ = ["FORMAT_VERSION", "atomic_write", "load", "load_with_extra", "save"]

FORMAT_VERSION = 1
_HEADER_KEY = "__glassnet__"


def atomic_write(path: str | os.PathLike, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync, then rename it to ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save(
    net: "Network",
    path: str | os.PathLike,
    *,
    extra: dict[str, Any] | None = None,
    extra_arrays: dict[str, np.ndarray] | None = None,
) -> None:
    """Write ``net`` to ``path`` (a ``.npz`` file), atomically.

    Parameters
    ----------
    net : Network
    path : str or path-like
        Written as given (no ``.npz`` is appended).
    extra : dict, optional
        JSON-able data stored in the header (training settings, history, scaler, ...).
    extra_arrays : dict of str to ndarray, optional
        Arrays stored beside the parameters (optimizer state, ...).

    Raises
    ------
    ValueError
        When the network uses an activation that is not in the registry: its code could not be
        restored without running code from the file.
    """
    for layer in iter_layers(net.layers):
        act = getattr(layer, "activation", None)
        if act is not None and type(act) is not ACTIVATIONS.get(act.name):
            raise ValueError(
                f"Cannot save a network with the custom activation {act.name!r}: model files "
                "hold no code. Use a built-in activation, or save the weights with "
                "numpy.savez(path, **net.params())."
            )
    header: dict[str, Any] = {
        "format": "glassnet",
        "version": FORMAT_VERSION,
        "network": net.config(),
        "info": net.info,
        "scaler": net.scaler.to_dict() if net.scaler is not None else None,
        "history": net.history.to_dict() if net.history is not None else None,
        "optimizer": None,
        "extra": extra or {},
    }
    arrays: dict[str, np.ndarray] = {}
    if net.optimizer is not None:
        config, optim_arrays = net.optimizer.state_dict()
        header["optimizer"] = config
        arrays.update({f"optim.{k}": v for k, v in optim_arrays.items()})
    arrays[_HEADER_KEY] = np.array(json.dumps(header))
    arrays.update(net.params())
    for key, value in (extra_arrays or {}).items():
        arrays[f"extra.{key}"] = value
    arrays = {key: to_numpy(value) for key, value in arrays.items()}  # host copies of GPU arrays
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path: str | os.PathLike) -> "Network":
    """Read a network written by :func:`save`.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For a file that is not a glassnet model, is truncated or corrupt, carries pickled
        objects, or whose arrays do not match its header. The message names the file.
    """
    return load_with_extra(path)[0]


def load_with_extra(path: str | os.PathLike) -> tuple["Network", dict[str, Any], dict[str, np.ndarray]]:
    """Like :func:`load`, and also return the header's ``extra`` and the extra arrays."""
    from .network import Network

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model file at {path}.")
    try:
        # Our own handle: np.load leaks its own when a zip is corrupt. A file that is no zip at
        # all would otherwise reach np.load's pickle branch and be reported as pickled.
        with open(path, "rb") as f:
            if not zipfile.is_zipfile(f):
                raise zipfile.BadZipFile("not a zip archive (truncated, or not written by save())")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise ValueError(f"{path} is not a readable glassnet model file (.npz): {err}.") from None
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(
                f"{path} holds pickled objects; glassnet refuses to load them because unpickling "
                "can run code. Only files written by glassnet's save() can be loaded."
            ) from None
        raise ValueError(f"{path} is not a readable glassnet model file: {err}.") from None

    header_array = arrays.pop(_HEADER_KEY, None)
    if header_array is None:
        raise ValueError(f"{path} is not a glassnet model file: it has no '{_HEADER_KEY}' header.")
    try:
        header = json.loads(str(header_array))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: the model header is not valid JSON ({err}).") from None
    if not isinstance(header, dict) or header.get("format") != "glassnet":
        raise ValueError(f"{path} is not a glassnet model file (its header names another format).")
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {header.get('version')!r}; this glassnet reads "
            f"version {FORMAT_VERSION}. Upgrade glassnet to read it."
        )
    try:
        net = Network.from_config(header["network"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the architecture in the header is invalid: {err}") from None

    extra_arrays = {k[len("extra."):]: arrays.pop(k) for k in list(arrays) if k.startswith("extra.")}
    optim_arrays = {k[len("optim."):]: arrays.pop(k) for k in list(arrays) if k.startswith("optim.")}
    params = net.params()
    missing, unexpected = set(params) - set(arrays), set(arrays) - set(params)
    if missing or unexpected:
        raise ValueError(
            f"{path}: the arrays do not match the architecture in the header "
            f"(missing: {sorted(missing) or 'none'}, unexpected: {sorted(unexpected) or 'none'})."
        )
    for key, param in params.items():
        value = arrays[key]
        if value.shape != param.shape or value.dtype != param.dtype:
            raise ValueError(
                f"{path}: array {key!r} has shape {value.shape} and dtype {value.dtype}; the "
                f"header's architecture needs {param.shape} and {param.dtype}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{path}: array {key!r} contains NaN or inf.")
        param[...] = net.to_device(value)
    try:
        _restore_training_state(net, header, optim_arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the saved training state is invalid: {err}") from None
    return net, header.get("extra", {}), extra_arrays


def _restore_training_state(net: "Network", header: dict[str, Any],
                            optim_arrays: dict[str, np.ndarray]) -> None:
    from .data import scaler_from_dict
    from .optim import Optimizer
    from .training import History

    net.info = dict(header.get("info") or {})
    if header.get("scaler"):
        net.scaler = scaler_from_dict(header["scaler"])
    if header.get("history"):
        net.history = History.from_dict(header["history"])
    if header.get("optimizer"):
        net.optimizer = Optimizer.from_state_dict(header["optimizer"], optim_arrays)
