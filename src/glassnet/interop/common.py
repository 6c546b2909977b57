"""What the exporters and importers share: optional imports, the checks, the scaler forms.

Every import builds its layers through :func:`dense_from_arrays`, which refuses non-finite
weights; every export checks the network with :func:`check_network` against its registry
before it writes anything.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from ..activations import ACTIVATIONS
from ..layers import Dense, Layer, layer_kind
from ..network import Network

_EXTRAS = {
    "torch": ("PyTorch", "torch"),
    "onnx": ("the onnx package", "onnx"),
    "sklearn": ("scikit-learn", "data"),
}


def require(module: str, caller: str) -> Any:
    """Import ``module``, or raise an ImportError naming the glassnet extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        what, extra = _EXTRAS[module]
        raise ImportError(
            f"glassnet.interop.{caller} needs {what}, which is not installed. "
            f"Install it with: pip install 'glassnet[{extra}]'."
        ) from None


def layer_type(layer: Any) -> str:
    """The registry key of a layer: :func:`glassnet.layers.layer_kind` (a layer of your own,
    a subclass of a built-in one too, is known by its class name and refused by name)."""
    return layer_kind(layer)


def check_network(net: Any, caller: str, registry: dict[str, Any]) -> None:
    """Every layer in ``registry``, every activation a built-in one, the scaler exportable."""
    if not isinstance(net, Network):
        raise TypeError(f"{caller} takes a glassnet Network; got {type(net).__name__}.")
    _check_layers(net.layers, caller, "", registry)
    if net.scaler is not None:
        scaler_form(net.scaler, caller)


def _check_layers(layers: list[Layer], caller: str, prefix: str, registry: dict[str, Any]) -> None:
    for i, layer in enumerate(layers):
        kind = layer_type(layer)
        if kind not in registry:
            raise TypeError(
                f"{caller} cannot export layer {prefix}{i} of type {kind}; supported layers: "
                f"{', '.join(registry)} (Dropout exports as nothing: the identity at inference)."
            )
        act = getattr(layer, "activation", None)
        if act is not None and type(act) is not ACTIVATIONS.get(act.name):
            raise ValueError(
                f"{caller} cannot export the custom activation {act.name!r} of layer {prefix}{i}; "
                f"supported activations: {', '.join(ACTIVATIONS)}."
            )
        _check_layers(getattr(layer, "layers", []), caller, f"{prefix}{i}.", registry)


SCALER_FORMS = ("sub_mul", "mul_add")
"""The operations a scaler's ``transform`` may be: ``'sub_mul'`` is ``(x - p) * q``,
``'mul_add'`` is ``x * p + q`` (``scaler.operations()`` gives the form and ``p``, ``q``)."""


def scaler_form(scaler: Any, caller: str) -> tuple[str, np.ndarray, np.ndarray]:
    """The scaler's own ``operations()``: what its ``transform`` computes, exported as is."""
    form = scaler.operations() if callable(getattr(scaler, "operations", None)) else None
    if form is None or form[0] not in SCALER_FORMS:
        raise ValueError(
            f"{caller} cannot export the network's input scaler {type(scaler).__name__}: it "
            f"has no operations() of the forms {', '.join(SCALER_FORMS)} (glassnet's "
            "StandardScaler and MinMaxScaler have). Set net.scaler = None to export the network "
            "alone (it then takes scaled inputs)."
        )
    return form



def dense_from_arrays(W: np.ndarray, b: np.ndarray, activation: Any, dtype: str,
                       where: str) -> Dense:
    """A Dense layer holding copies of ``W`` (n_out, n_in) and ``b`` (n_out,): every import's way in.

    Non-finite weights are refused here, naming ``where`` they come from: a network glassnet
    could not save is not imported. The recorded initialiser is the usual one for the
    activation, so that a network rebuilt from its config trains from a sensible start.
    """
    for name, value in (("weight", W), ("bias", b)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"The {name} of {where} contains NaN or inf; glassnet imports only "
                             "finite weights (training diverged, or the weights are damaged).")
    n_out, n_in = W.shape
    layer = Dense(n_in, n_out, activation, seed=0, dtype=dtype)
    layer.W[...] = W
    layer.b[...] = b
    return layer
