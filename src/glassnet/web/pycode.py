"""A network written out as Python code that rebuilds it with glassnet, weights exact.

:func:`python_source` writes the layers as glassnet constructors (``Dense``, ``Residual``,
``Dropout``; any other layer through ``layer_from_config``), the loss and the dtype, then every
parameter array entry by entry with ``repr``: Python's ``repr`` of a float is the shortest text
that reads back as the same float64, so the rebuilt network holds the same bits and its
``predict_output`` equals the original's exactly. Every string the code contains is written
with ``repr`` too, so no value can change what the code does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..init import default_init
from ..network import Network

__all__ = ["python_source"]

LINE = 96
"""Longest line of numbers the code is wrapped to (a number itself may be longer)."""


def _activation(config: dict[str, Any]) -> str:
    return repr(config["name"]) if set(config) == {"name"} else repr(config)


def _dense(config: dict[str, Any]) -> str:
    activation = config["activation"]
    init = config.get("init")
    extra = "" if init in (None, default_init(activation["name"])) else f", init={init!r}"
    return (f"Dense({config['n_in']!r}, {config['n_out']!r}, "
            f"activation={_activation(activation)}{extra})")


def _residual(config: dict[str, Any]) -> str:
    inner = ", ".join(_layer(c) for c in config["layers"])
    activation = config.get("activation", {"name": "identity"})
    if isinstance(activation, str):
        activation = {"name": activation}
    extra = "" if activation == {"name": "identity"} else f", activation={_activation(activation)}"
    return f"Residual({inner}{extra})"


def _dropout(config: dict[str, Any]) -> str:
    return f"Dropout({float(config['p'])!r})"


_WRITERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "Dense": _dense, "Residual": _residual, "Dropout": _dropout}
"""Layer type (``layer.config()['type']``) -> the constructor call that rebuilds it."""


def _layer(config: dict[str, Any]) -> str:
    writer = _WRITERS.get(config.get("type", ""))
    return writer(config) if writer else f"layer_from_config({config!r})"


def _numbers(values: np.ndarray, indent: str) -> list[str]:
    """A vector as wrapped lines of ``repr`` floats (without the brackets)."""
    lines, line = [], ""
    for text in (repr(float(v)) for v in values):
        if line and len(indent) + len(line) + len(text) + 2 > LINE:
            lines.append(indent + line.rstrip())
            line = ""
        line += text + ", "
    if line:
        lines.append(indent + line.rstrip())
    return lines


def _array(values: np.ndarray, indent: str = "    ") -> list[str]:
    """A 1-D or 2-D array as a nested list literal, one row a line (or a few when long)."""
    if values.ndim == 1:
        return ["["] + _numbers(values, indent) + ["]"]
    out = ["["]
    for row in values:
        body = _numbers(row, indent + "    ")
        if len(body) == 1:
            out.append(f"{indent}[{body[0].strip().rstrip(',')}],")
        else:
            out += [f"{indent}["] + body + [f"{indent}],"]
    return out + ["]"]


def python_source(net: Network, *, comments: list[str] = (),  # type: ignore[assignment]
                  features: Mapping[str, str] | None = None) -> str:
    """Python code that rebuilds ``net``: ``net = Network([...])``, then every parameter.

    Parameters
    ----------
    net : Network
        Parameters of 1 or 2 dimensions (Dense weights and biases), finite.
    comments : list of str, default=()
        Lines written as ``#`` comments at the top (each is one line; newlines are refused).
    features : mapping of str to str, optional
        Input feature name -> a NumPy expression of ``x1`` and ``x2``: the code then defines
        ``FEATURES`` and ``features(points)``, the network's input for points of shape
        (n_samples, 2). The expressions are the caller's own code, never user input.

    Returns
    -------
    str
        The module's source. Running it defines ``net``; run as a script it prints the
        network's summary.

    Raises
    ------
    ValueError
        For a comment with a line break, or a parameter that is not finite.
    TypeError
        For a class label (``net.classes``) that is not a number or a string.
    """
    for line in comments:
        if "\n" in line or "\r" in line:
            raise ValueError(f"A comment must be one line; got {line!r}.")
    params = net.params()
    for key, value in params.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"Parameter {key!r} is not finite; there is nothing exact to write.")
    config = net.config()
    layers = [_layer(layer) for layer in config["layers"]]
    names = sorted({name for name in ("Dense", "Dropout", "Residual", "layer_from_config")
                    if any(name + "(" in layer for layer in layers)})
    out = [f"# {line}" for line in comments]
    out += ["", "import numpy as np", "", "from glassnet import Network",
            f"from glassnet.layers import {', '.join(names)}", ""]
    if features is not None:
        names = list(features)
        out += [f"FEATURES = {names!r}",
                '"""The input columns, in order: what ``features(points)`` computes."""', "",
                "", "def features(points):",
                '    """The network\'s input for points (x1, x2) of shape (n_samples, 2)."""',
                "    points = np.asarray(points, dtype=np.float64)",
                "    x1, x2 = points[:, 0], points[:, 1]",
                "    return np.stack([" + ", ".join(features[name] for name in names)
                + "], axis=1)", "", ""]
    penalty = "".join(f", {name}={float(config[name])!r}" for name in ("l2", "l1")
                      if config.get(name))
    loss = config["loss"]
    loss_src = repr(loss["name"]) if set(loss) == {"name"} else repr(loss)
    out.append("net = Network([")
    out += [f"    {layer}," for layer in layers]
    out += [f"], loss={loss_src}, dtype={config['dtype']!r}{penalty})", "",
            "# the trained weights, exactly: each number is repr() of a float64",
            "params = net.params()"]
    for key, value in params.items():
        lines = _array(np.asarray(value))
        out.append(f"params[{key!r}][...] = {lines[0]}")
        out += lines[1:]
    if net.classes is not None:
        out += ["", "# the class labels, for net.predict",
                f"net.classes = {[_plain(c) for c in net.classes]!r}"]
    out += ["", "", 'if __name__ == "__main__":', "    print(net.summary())"]
    if features is not None:
        out.append("    print(net.predict_output(features([[1.0, -1.0]])))")
    return "\n".join(out) + "\n"


def _plain(value: Any) -> Any:
    """A class label as a plain Python int, float or str (for ``repr``)."""
    value = value.item() if isinstance(value, np.generic) else value
    if not isinstance(value, (int, float, str)) or isinstance(value, bool):
        raise TypeError(f"A class label must be a number or a string; got {value!r}.")
    return value
