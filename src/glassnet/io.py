"""Safe model files: one ``.npz`` with a JSON header and the parameter arrays, no pickle.

Layout of the archive (each member an ``.npy`` array, stored as ``numpy.savez`` stores them):

``__glassnet__``
    A 0-d unicode array holding the JSON header: ``{"format": "glassnet", "version": 1,
    "network": {... architecture, loss, dtype}, ...}``; :mod:`glassnet.io_schema` has the
    whole schema. Beside the architecture it carries, when present, the optimiser's settings,
    the training history, the input scaler, the original class labels (``net.classes``), the
    network's ``info`` notes and ``extra`` data, so a loaded
    model predicts on raw inputs and can continue training where it stopped.
``<key>``
    One array per parameter, keyed as ``Network.params()`` (``0.W``, ``0.b``, ``2.1.W``, ...).
``optim.<slot>.<key>``
    The optimiser's state arrays (momentum, Adam's moments), when the network was trained.
``extra.<name>``
    Optional arrays that other parts of glassnet store beside the model (checkpoints).

Writing checks that the network can be read back (finite weights, a header that passes the
schema), goes to a temporary file in the same folder, flushed to disk, then renamed over the
target: a crash mid-save leaves the previous file as it was, and the temporary files of saves
that were killed are removed by the next save to the same path.

Loading trusts nothing in the file. It opens regular files only; reads the zip directory and
the ``.npy`` header of every member (never data) and refuses objects, sizes that disagree with
the headers and archives that would decompress far beyond their size
(:class:`~glassnet.archive.NpzArchive`); validates the whole JSON header against the schema;
compares the shape and dtype of every member with what the header declares; and only then
builds the network and reads the members the format defines. Every failure is a
``ValueError`` that names the file and the part.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .activations import ACTIVATIONS
from .archive import NpzArchive
from .atomic import atomic_write, remove_stale_temporaries
from .device import to_numpy
from .io_schema import (
    FORMAT_VERSION,
    HeaderError,
    check_against_network,
    check_members,
    parameter_shapes,
    parse_header,
    validate_header,
)
from .layers import BUILT_IN as LAYER_CLASSES
from .layers import layer_kind, walk

if TYPE_CHECKING:
    from .network import Network

__all__ = ["FORMAT_VERSION", "atomic_write", "load", "load_with_extra",
           "remove_stale_temporaries", "save"]

_HEADER_KEY = "__glassnet__"
MAX_HEADER_BYTES = 64 << 20
"""The largest header member read (its JSON is stored as UTF-32: 4 bytes a character)."""
_WHAT = "glassnet model file (.npz)"


# ---------------------------------------------------------------------------- writing
def _parts(net: Network) -> Iterator[tuple[str, Any, dict[str, Any], str]]:
    """``(where, part, registry, key)`` for every part a model file names: each layer and its
    activation, the loss, the optimiser and the scaler; ``registry[key]`` must be the part's
    own class."""
    from .data.preprocessing import _SCALERS
    from .losses import LOSSES
    from .optim import OPTIMIZERS

    for key, layer in walk(net.layers):
        yield f"layer {key}", layer, LAYER_CLASSES, layer_kind(layer)
        act = getattr(layer, "activation", None)
        if act is not None:
            yield f"the activation of layer {key}", act, ACTIVATIONS, act.name
    yield "the loss", net.loss_fn, LOSSES, net.loss_fn.name
    if net.optimizer is not None:
        yield "the optimizer", net.optimizer, OPTIMIZERS, net.optimizer.name
    if net.scaler is not None:
        yield "the input scaler", net.scaler, _SCALERS, type(net.scaler).__name__


def _refuse_parts_of_your_own(net: Network, path: Any) -> None:
    """A model file holds names, never code: a part whose class is not the built-in one of
    its name (a class of your own, a subclass of a built-in one too) could not be rebuilt by
    ``load``, or would be rebuilt as something else, so nothing is written."""
    for where, part, registry, key in _parts(net):
        if registry.get(key) is type(part):
            continue
        cls = type(part)
        keep = "keep the network with pickle, or its weights with numpy.savez(path, " \
            "**net.params())."
        fix = (f"Set net.optimizer = None to save without the optimiser's state, or {keep}"
               if where == "the optimizer" else keep[0].upper() + keep[1:])
        raise ValueError(
            f"Cannot save the network to {path}: {where}, {key!r} (class {cls.__module__}."
            f"{cls.__qualname__}), is not one of glassnet's own ({', '.join(sorted(registry))}); "
            f"model files hold no code, so load could not rebuild it. {fix}")


def _check_keys(value: Any, where: str, path: Any) -> None:
    """Every mapping key in ``value`` a string: JSON would turn ``{1: 2}`` into ``{"1": 2}``, and
    ``load`` would give back something else than was saved."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"Cannot save the network to {path}: {where} has the key {key!r} "
                    f"({type(key).__name__}); the model header is JSON, whose keys are strings, "
                    f"so it would load as {str(key)!r}. Use string keys.")
            _check_keys(item, f"{where}[{key!r}]", path)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_keys(item, f"{where}[{i}]", path)


def save(
    net: Network,
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
        Numeric arrays stored beside the parameters (optimizer state, ...).

    Raises
    ------
    ValueError
        When the file could not be read back, and nothing is written: a parameter holds NaN or
        inf (the message names it), the network uses an activation that is not in the registry
        (its code could not be restored without running code from the file), or a part of the
        header does not fit the schema (``net.info`` nested too deep, class labels that do
        not match the output width, ...).
    """
    _refuse_parts_of_your_own(net, path)
    params = {key: _host_array(value) for key, value in net.params().items()}
    for key, value in params.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(
                f"Cannot save the network to {path}: parameter {key!r} contains NaN or inf, and "
                "glassnet refuses to write a model it would refuse to load. Training diverged: "
                "lower the learning rate, or save the weights from before."
            )
    _check_keys(net.info, "net.info", path)
    _check_keys(extra or {}, "extra", path)
    info = dict(net.info)
    classes = net.classes if net.classes is not None else info.pop("classes", None)
    header: dict[str, Any] = {
        "format": "glassnet",
        "version": FORMAT_VERSION,
        "network": net.config(),
        "info": info,
        "scaler": net.scaler.to_dict() if net.scaler is not None else None,
        "history": net.history.to_dict() if net.history is not None else None,
        "optimizer": None,
        "extra": extra or {},
        "classes": None if classes is None else [  # each label as itself: no common dtype
            c.item() if isinstance(c, np.generic) else c for c in classes],
    }
    arrays: dict[str, np.ndarray] = {}
    if net.optimizer is not None:
        config, optim_arrays = net.optimizer.state_dict()
        header["optimizer"] = config
        arrays.update({f"optim.{k}": v for k, v in optim_arrays.items()})
    try:
        text = json.dumps(header)
        check_against_network(validate_header(parse_header(text)), net)
    except (TypeError, ValueError) as err:
        raise ValueError(f"Cannot save the network to {path}: {_part_problem(err)} "
                         "(the file could not be loaded back). Nothing was written.") from None
    arrays[_HEADER_KEY] = np.array(text)
    arrays.update(params)
    for key, value in (extra_arrays or {}).items():
        arrays[f"extra.{key}"] = value
    arrays = {key: _host_array(value) for key, value in arrays.items()}
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _host_array(value: Any) -> np.ndarray:
    """A C-ordered NumPy array (a host copy of a GPU array); what load reads back."""
    return np.require(to_numpy(value), requirements="C")


# ---------------------------------------------------------------------------- reading
def load(path: str | os.PathLike) -> Network:
    """Read a network written by :func:`save`.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For anything else that is not a glassnet model as :func:`save` writes it: not a
        regular file, not a zip, truncated or damaged, pickled objects, a header that does not
        fit the schema, arrays that do not match the header. The message names the file and
        the part.
    """
    return load_with_extra(path)[0]


def load_with_extra(path: str | os.PathLike) -> tuple[Network, dict[str, Any], dict[str, np.ndarray]]:
    """Like :func:`load`, and also return the header's ``extra`` and the extra arrays."""
    path = Path(path)
    try:
        archive = NpzArchive(path, _WHAT, "Only files written by glassnet's save() can be loaded.")
    except FileNotFoundError:
        raise FileNotFoundError(f"No model file at {path}.") from None
    with archive:
        header = _read_header(path, archive)
        shapes = parameter_shapes(header["network"]["layers"])
        dtype = np.dtype(header["network"].get("dtype", "float32"))
        optim_keys, extra_keys = check_members(path, archive.members, _HEADER_KEY, shapes, dtype,
                                                header.get("optimizer") is not None)
        net = _build(path, header, shapes)
        for key, param in net.params().items():
            value = archive.read(key)
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{path}: array {key!r} contains NaN or inf.")
            param[...] = net.to_device(value)
        optim_arrays = {key[len("optim."):]: archive.read(key) for key in optim_keys}
        extra_arrays = {key[len("extra."):]: archive.read(key) for key in extra_keys}
    try:
        _restore_training_state(net, header, optim_arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the saved training state is invalid: {err}") from None
    return net, header.get("extra") or {}, extra_arrays


def _read_header(path: Path, archive: NpzArchive) -> dict[str, Any]:
    member = archive.members.get(_HEADER_KEY)
    if member is None:
        raise ValueError(f"{path} is not a glassnet model file: it has no '{_HEADER_KEY}' header.")
    if member.dtype.kind != "U" or member.shape != () or member.size > MAX_HEADER_BYTES:
        raise ValueError(
            f"{path}: the '{_HEADER_KEY}' header must be one string of at most "
            f"{MAX_HEADER_BYTES} bytes; got shape {member.shape} of {member.dtype} "
            f"({member.size} bytes)."
        )
    try:
        header = validate_header(parse_header(str(archive.read(_HEADER_KEY)[()])))
    except HeaderError as err:
        if err.part == "format":
            raise ValueError(f"{path} is not a glassnet model file (its header names another "
                             "format).") from None
        if err.part == "version":
            raise ValueError(f"{path} has model format version {err.value!r}; this glassnet reads "
                             f"version {FORMAT_VERSION}. Upgrade glassnet to read it.") from None
        raise ValueError(f"{path}: {_part_problem(err)}.") from None
    return header


def _part_problem(err: Exception) -> str:
    """A schema error in words: which part of the header, and what is wrong with it."""
    if not isinstance(err, HeaderError):
        return str(err).rstrip(".")
    if not err.where:
        return f"the model header {err.problem}"
    if err.part == "network":
        return f"the architecture in the header is invalid: {err}"
    return f"the model header's {err}"


def _build(path: Path, header: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> Network:
    """The network of the validated header (its size already matched by the file's members)."""
    from .network import Network

    try:
        net = Network.from_config(header["network"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: the architecture in the header is invalid: {err}") from None
    built = {key: tuple(p.shape) for key, p in net.params().items()}
    if built != shapes:
        raise ValueError(f"{path}: the architecture in the header is invalid: it builds the "
                         f"parameters {built}, not the declared {shapes}.")
    try:
        check_against_network(header, net)
    except HeaderError as err:
        raise ValueError(f"{path}: {_part_problem(err)}.") from None
    return net


def _restore_training_state(net: Network, header: dict[str, Any],
                            optim_arrays: dict[str, np.ndarray]) -> None:
    from .data import scaler_from_dict
    from .optim import Optimizer
    from .training import History

    net.info = dict(header.get("info") or {})
    if header.get("classes") is not None:
        net.classes = list(header["classes"])
    if header.get("scaler"):
        net.scaler = scaler_from_dict(header["scaler"])
    if header.get("history"):
        net.history = History.from_dict(header["history"])
    if header.get("optimizer"):
        net.optimizer = Optimizer.from_state_dict(header["optimizer"], optim_arrays)
