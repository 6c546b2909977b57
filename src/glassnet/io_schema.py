"""The schema of a model file's JSON header, checked as a whole before anything is built.

:func:`parse_header` turns the header text into JSON data (bounded size and nesting depth, no
``NaN`` where a number means something); :func:`validate_header` checks every part against the
one schema below: the type of every value, the allowed keys of every object, the range of every
size (layer widths at most :data:`MAX_WIDTH`, at most :data:`MAX_LAYERS` layers). Only then does
:func:`parameter_shapes` give the shape of every parameter the architecture declares, which
``glassnet.load`` compares with the file's arrays before it allocates a network.

A failure raises :class:`HeaderError`, a ``ValueError`` whose ``where`` names the part
(``network.layers[1].n_out``, ``scaler.mean[3]``, ...). :func:`check_members` then compares the
file's members with the declarations, and :func:`check_against_network` the parts that depend on
the built network (the scaler's width, one class label per output).

Layout (``?`` marks an optional key; ``null`` is allowed where a part is absent)::

    format      "glassnet"
    version     1
    network     {layers: [layer, ...], loss: name | {name, ...options}, dtype?: "float32" |
                 "float64", l2?: float >= 0, l1?: float >= 0}
      layer     {type: "Dense", n_in, n_out, activation: name | {name, ...options}, init?}
                {type: "Residual", layers: [layer, ...], activation?}
                {type: "Dropout", p: float in [0, 1), width?: int | null}
    info?       {str: JSON}               free notes (training settings, the estimators' state)
    scaler?     {type: "StandardScaler", mean: [float], scale: [float >= 0], floor?} |
                {type: "MinMaxScaler", data_min: [float], data_max: [float], feature_range?,
                 per_feature?, floor?}
    history?    {epochs: [{str: JSON}, ...]}
    optimizer?  {name, iterations: int >= 0, ...hyperparameters of that optimiser}
    extra?      {str: JSON}               what other parts of glassnet store (checkpoints)
    classes?    [label, ...]              the original class labels, one per output class
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_LAYERS", "MAX_WIDTH", "HeaderError", "check_against_network",
           "check_members", "parameter_shapes", "parse_header", "validate_header"]

FORMAT_VERSION = 1
MAX_DEPTH = 64
"""Deepest nesting of JSON objects and lists anywhere in the header."""
MAX_WIDTH = 1 << 24
"""Largest layer width (``n_in``, ``n_out``) a header may declare."""
MAX_LAYERS = 10_000
"""Most layers in one list (the network's, or a residual block's)."""
MAX_LIST = 10_000_000
"""Longest list of numbers (a scaler's means, the history's epochs, ...)."""

Check = Callable[[Any, str], Any]


class HeaderError(ValueError):
    """A header that does not fit the schema; ``where`` names the part, ``problem`` says how."""

    def __init__(self, where: str, problem: str, value: Any = None):
        super().__init__(f"{where} {problem}" if where else problem)
        self.where = where
        self.problem = problem
        self.value = value

    @property
    def part(self) -> str:
        """The top-level key the problem is under (``'network'``, ``'scaler'``, ...)."""
        return self.where.split(".")[0].split("[")[0]


# ---------------------------------------------------------------------------- parsing
def parse_header(text: str) -> Any:
    """The header text as JSON data, nested at most :data:`MAX_DEPTH` deep.

    ``NaN`` and ``Infinity`` (which ``json.dumps`` writes for non-finite floats) are read as
    floats; the schema refuses them where a number must be finite.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise HeaderError("", f"nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:  # JSONDecodeError, and ints of more than 4300 digits
        raise HeaderError("", f"is not valid JSON ({err})") from None
    _check_depth(data)
    return data


def _check_depth(data: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH, without recursion."""
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                raise HeaderError("", f"nests deeper than {MAX_DEPTH} levels")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)


# ---------------------------------------------------------------------------- building blocks
def _show(value: Any) -> str:
    if isinstance(value, (dict, list)) and len(repr(value)) <= 60:
        return repr(value)
    if isinstance(value, dict):
        return f"an object with keys {_short(sorted(map(str, value)))}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return _short(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(where: str, expected: str, got: Any) -> HeaderError:
    return HeaderError(where, f"must be {expected}; got {_show(got)}")


def integer(lo: int, hi: int) -> Check:
    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _fail(where, f"an int in {lo}..{hi}", value)
        return value
    return check


def number(lo: float = -math.inf, hi: float = math.inf, *, lo_open: bool = False,
           hi_open: bool = False) -> Check:
    """A finite number in the interval."""
    left, right = "(" if lo_open else "[", ")" if hi_open else "]"
    expected = "a finite number" + ("" if (lo, hi) == (-math.inf, math.inf)
                                    else f" in {left}{lo}, {hi}{right}")

    def check(value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < lo or value > hi \
                or (lo_open and value == lo) or (hi_open and value == hi):
            raise _fail(where, expected, value)
        return value
    return check


def text(choices: Any = None) -> Check:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise _fail(where, "a string", value)
        if choices is not None and value not in choices:
            raise _fail(where, f"one of {', '.join(map(repr, choices))}", value)
        return value
    return check


def const(expected: Any) -> Check:
    def check(value: Any, where: str) -> Any:
        if value != expected or type(value) is not type(expected):
            raise _fail(where, repr(expected), value)
        return value
    return check


def nullable(inner: Check) -> Check:
    def check(value: Any, where: str) -> Any:
        return None if value is None else inner(value, where)
    return check


def list_of(item: Check, min_len: int = 0, max_len: int = MAX_LIST) -> Check:
    def check(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        if not min_len <= len(value) <= max_len:
            raise _fail(where, f"a list of {min_len}..{max_len} items", value)
        for i, v in enumerate(value):
            item(v, f"{where}[{i}]")
        return value
    return check


def mapping(item: Check) -> Check:
    """An object with string keys (any keys) whose values all pass ``item``."""
    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        for k, v in value.items():
            item(v, f"{where}.{k}" if where else k)
        return value
    return check


def record(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """An object with exactly the ``required`` keys and some of the ``optional`` ones."""
    optional = optional or {}
    allowed = {**required, **optional}

    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        prefix = f"{where}." if where else ""
        missing = [k for k in required if k not in value]
        if missing:
            raise HeaderError(prefix + missing[0], f"is missing (the keys present: "
                                                   f"{_short(sorted(value))})")
        unknown = sorted(k for k in value if k not in allowed)
        if unknown:
            raise HeaderError(where, f"has the unknown key {unknown[0]!r}; allowed: "
                                     f"{', '.join(allowed)}")
        for k, v in value.items():
            allowed[k](v, prefix + k)
        return value
    return check


def tagged(tag: str, variants: Callable[[], dict[str, Check]]) -> Check:
    """An object whose ``tag`` key picks its record from ``variants()`` (a registry)."""
    def check(value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        table = variants()
        kind = value.get(tag)
        if not isinstance(kind, str) or kind not in table:
            raise _fail(f"{where}.{tag}" if where else tag, f"one of {', '.join(table)}", kind)
        return table[kind](value, where)
    return check


def json_value(value: Any, where: str) -> Any:
    """Any JSON value (its depth was bounded when parsed); object keys are strings by JSON."""
    return value


def _label(value: Any, where: str) -> Any:
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _fail(where, "a class label (a string, an int or a finite number)", value)


def _unique(inner: Check) -> Check:
    def check(value: Any, where: str) -> Any:
        inner(value, where)
        keys = [(type(v).__name__, v) for v in value]
        if len(set(keys)) != len(keys):
            raise HeaderError(where, "must not repeat a label")
        return value
    return check


# ---------------------------------------------------------------------------- the parts
WIDTH = integer(1, MAX_WIDTH)


def _options(factory: Callable[[], Any], name: str) -> dict[str, Check]:
    """A number check for every option of a registry entry, from its default config."""
    return {k: number() for k in factory().config() if k != "name"}


def _named(registry: Callable[[], dict[str, Any]], what: str) -> Check:
    """A registry name, or ``{name, ...options}`` with that entry's options as numbers."""
    def check(value: Any, where: str) -> Any:
        table = registry()
        name = value if isinstance(value, str) else value.get("name") \
            if isinstance(value, dict) else None
        if not isinstance(name, str) or name not in table:
            raise _fail(where, f"{what}: one of {', '.join(table)} (or an object with that name)",
                        value)
        if isinstance(value, dict):
            record({"name": text()}, _options(table[name], name))(value, where)
        return value
    return check


def _activations() -> dict[str, Any]:
    from .activations import ACTIVATIONS

    return ACTIVATIONS


def _losses() -> dict[str, Any]:
    from .losses import LOSSES

    return LOSSES


def _initializers() -> dict[str, Any]:
    from .init import INITIALIZERS

    return INITIALIZERS


ACTIVATION = _named(_activations, "an activation")
LOSS = _named(_losses, "a loss")


def _init(value: Any, where: str) -> Any:
    return nullable(text(list(_initializers())))(value, where)


def _layer(value: Any, where: str) -> Any:
    return tagged("type", _layer_records)(value, where)


LAYER_LIST = list_of(_layer, 1, MAX_LAYERS)


@cache
def _layer_records() -> dict[str, Check]:
    return {
        "Dense": record({"type": text(), "n_in": WIDTH, "n_out": WIDTH, "activation": ACTIVATION},
                        {"init": _init}),
        "Residual": record({"type": text(), "layers": LAYER_LIST}, {"activation": ACTIVATION}),
        # an "activation" other than identity is refused when the layer is built (a = x + F(x))
        "Dropout": record({"type": text(), "p": number(0, 1, hi_open=True)},
                          {"width": nullable(WIDTH)}),
    }


NETWORK = record(
    {"layers": LAYER_LIST, "loss": LOSS},
    {"dtype": text(("float32", "float64")), "l2": number(0), "l1": number(0)},
)

_VECTOR = list_of(number(), 1)


def _boolean(value: Any, where: str) -> Any:
    if not isinstance(value, bool):
        raise _fail(where, "true or false", value)
    return value


@cache
def _scaler_records() -> dict[str, Check]:
    return {
        # scale 0: a feature constant in training, mapped to 0 (the scalers' variance floor)
        "StandardScaler": record({"type": text(), "mean": _VECTOR,
                                  "scale": list_of(number(0), 1)}, {"floor": number(0)}),
        "MinMaxScaler": record({"type": text(), "data_min": _VECTOR, "data_max": _VECTOR},
                               {"feature_range": list_of(number(), 2, 2),
                                "per_feature": _boolean, "floor": number(0)}),
    }


@cache
def _optimizer_records() -> dict[str, Check]:
    from .optim import OPTIMIZERS

    def hyperparameter(value: Any, where: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        return number()(value, where)

    return {
        name: record({"name": text(), "iterations": integer(0, 2**63 - 1)},
                     {k: hyperparameter for k in cls().get_config() if k != "name"})
        for name, cls in OPTIMIZERS.items()
    }


HEADER = record(
    {"format": const("glassnet"), "version": const(FORMAT_VERSION), "network": NETWORK},
    {
        "info": nullable(mapping(json_value)),
        "scaler": nullable(tagged("type", _scaler_records)),
        "history": nullable(record({"epochs": list_of(mapping(json_value))})),
        "optimizer": nullable(tagged("name", _optimizer_records)),
        "extra": nullable(mapping(json_value)),
        "classes": nullable(_unique(list_of(_label, 1))),
    },
)
"""The one schema of the header."""


def validate_header(header: Any) -> dict[str, Any]:
    """Check ``header`` (parsed JSON) against :data:`HEADER`; return it.

    Raises
    ------
    HeaderError
        Naming the first part that does not fit. A header of another format or version gets
        its own message (``where`` is ``'format'`` or ``'version'``).
    """
    if not isinstance(header, dict) or header.get("format") != "glassnet":
        raise HeaderError("format", "names another format")
    if header.get("version") != FORMAT_VERSION:
        raise HeaderError("version", f"is {_short(header.get('version'))}", header.get("version"))
    HEADER(header, "")
    scaler = header.get("scaler")
    if scaler and scaler["type"] == "StandardScaler" and len(scaler["mean"]) != len(scaler["scale"]):
        raise HeaderError("scaler", "has lists 'mean' and 'scale' of different lengths")
    if scaler and scaler["type"] == "MinMaxScaler" \
            and len(scaler["data_min"]) != len(scaler["data_max"]):
        raise HeaderError("scaler", "has lists 'data_min' and 'data_max' of different lengths")
    return header


# ---------------------------------------------------------------------------- parameter shapes
def _dense_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {"W": (config["n_out"], config["n_in"]), "b": (config["n_out"],)}


def _residual_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return parameter_shapes(config["layers"])


PARAMETER_SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, tuple[int, ...]]]] = {
    "Dense": _dense_shapes,
    "Residual": _residual_shapes,
    "Dropout": lambda config: {},
}
"""Layer type -> the shapes of its parameters, keyed as ``Layer.params()``, from its config."""


def parameter_shapes(layers: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    """``{'0.W': (n_out, n_in), '0.b': (n_out,), '1.0.W': ...}`` for validated layer configs.

    Keyed as ``Network.params()``; nothing is allocated.
    """
    return {f"{i}.{key}": shape
            for i, config in enumerate(layers)
            for key, shape in PARAMETER_SHAPES[config["type"]](config).items()}


# ---------------------------------------------------------------------------- the header against the file
def check_members(path: Any, members: dict[str, Any], header_key: str,
                  shapes: dict[str, tuple[int, ...]], dtype: Any,
                  has_optimizer: bool) -> tuple[list[str], list[str]]:
    """Compare every member's ``.npy`` header with what the header declares; nothing is read.

    Parameters
    ----------
    path : path-like
        The file, for the messages.
    members : dict of str to archive.Member
        The archive's members (shape, dtype and order from their ``.npy`` headers).
    header_key : str
        The member that holds the header.
    shapes : dict of str to tuple
        :func:`parameter_shapes` of the validated header.
    dtype : numpy.dtype
        The network's dtype.
    has_optimizer : bool
        Whether the header names an optimiser.

    Returns
    -------
    optim_keys, extra_keys : list of str
        The members holding optimiser state (``optim.<slot>.<key>``) and extra arrays.

    Raises
    ------
    ValueError
        Naming the file and the member: a missing or unexpected member, a parameter or
        optimiser state of another shape or dtype, state that belongs to no parameter, extra
        arrays that are not numbers, arrays in Fortran order.
    """
    optim_keys = [k for k in members if k.startswith("optim.")]
    extra_keys = [k for k in members if k.startswith("extra.")]
    missing = set(shapes) - set(members)
    unexpected = set(members) - set(shapes) - {header_key} - set(optim_keys) - set(extra_keys)
    if missing or unexpected:
        raise ValueError(
            f"{path}: the arrays do not match the architecture in the header "
            f"(missing: {sorted(missing) or 'none'}, unexpected: {sorted(unexpected) or 'none'})."
        )
    for key, shape in shapes.items():
        m = members[key]
        if m.shape != shape or m.dtype != dtype:
            raise ValueError(
                f"{path}: array {key!r} has shape {m.shape} and dtype {m.dtype}; the "
                f"header's architecture needs {shape} and {dtype}."
            )
    if optim_keys and not has_optimizer:
        raise ValueError(f"{path}: the file has optimiser state ({optim_keys[0]!r}, ...) but "
                         "its header names no optimiser.")
    for key in optim_keys:
        m = members[key]
        param = key[len("optim."):].partition(".")[2]
        if param not in shapes:
            raise ValueError(f"{path}: the optimiser state {key!r} belongs to no parameter of "
                             f"the architecture (its parameters: {', '.join(shapes)}).")
        if m.shape != shapes[param] or m.dtype != dtype:
            raise ValueError(
                f"{path}: the optimiser state {key!r} has shape {m.shape} and dtype {m.dtype}; "
                f"its parameter {param!r} needs {shapes[param]} and {dtype}."
            )
    for key in extra_keys:
        if members[key].dtype.kind not in "biuf":
            raise ValueError(f"{path}: the extra array {key!r} has dtype {members[key].dtype}; "
                             "extra arrays hold numbers.")
    for key in [header_key, *shapes, *optim_keys, *extra_keys]:
        if members[key].fortran_order and len(members[key].shape) > 1:
            raise ValueError(f"{path}: array {key!r} is stored in Fortran order; glassnet "
                             "writes C order.")
    return optim_keys, extra_keys


def check_against_network(header: dict[str, Any], net: Any) -> None:
    """The parts of the header that must agree with the network: save and load both check.

    Raises
    ------
    HeaderError
        When the scaler's width is not the network's input width, or the class labels are not
        one per output (or 2 for a single sigmoid output).
    """
    scaler = header.get("scaler")
    if scaler:
        width = len(scaler["mean"] if "mean" in scaler else scaler["data_min"])
        if width != net.n_in:
            raise HeaderError("scaler", f"scales {width} features; the network has {net.n_in} "
                                        "inputs")
    from .data.labels import classes_problem

    classes = header.get("classes")
    problem = None if classes is None else classes_problem(classes, net.n_out)
    if problem is not None:  # the rule that net.classes = ... keeps
        raise HeaderError("classes", problem)
