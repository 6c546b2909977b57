"""Interoperability: networks to and from PyTorch, to ONNX, and from scikit-learn.

The maths is the same everywhere: ``W`` has shape (n_out, n_in), exactly as
``torch.nn.Linear.weight``, and ``z = a_prev @ W.T + b``. So a ``Dense`` layer is a
``Linear`` (weights copied as they are) followed by its activation, an ONNX ``Gemm`` with
``transB=1``, and a scikit-learn layer with its ``coefs_[i]`` (of shape (n_in, n_out))
transposed.

``to_torch(net)``
    An ``nn.Sequential`` computing ``net.predict_output`` on raw inputs (the input scaler
    included); ``from_torch`` reads one back, also a logits classifier trained with
    ``nn.CrossEntropyLoss``.
``to_onnx(net, path)``
    An ONNX file (opset 17, any batch size) built node by node with ``onnx.helper``, the input
    scaler included as its first nodes.
``from_sklearn(fitted_mlp)``
    A fitted ``MLPClassifier`` / ``MLPRegressor`` as a glassnet network, so that its
    gradients, Jacobians and finite-difference checks can be looked at with glassnet's tools.

PyTorch, ONNX and scikit-learn are imported inside these functions only: ``import glassnet``
never needs them, and a missing one raises an ImportError that names the extra to install.
A residual block ``a = f(x + F(x))`` becomes :class:`TorchResidual` in PyTorch and the input
scaler :class:`TorchScaler`, torch module classes created on first use
(``glassnet.interop.TorchResidual`` imports torch). ``Dropout`` exports as nothing: it is the
identity at inference.

The exporters dispatch on ``layer.config()["type"]`` through one registry per target
(:data:`TORCH_LAYERS`, :data:`ONNX_LAYERS`); a layer type, activation or scaler with no entry
is refused with a message naming it, never dropped.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .activations import ACTIVATIONS, ActivationLike
from .device import to_numpy
from .io import atomic_write
from .layers import Dense, Dropout, Layer, Residual
from .losses import get_loss
from .network import Network

__all__ = ["ONNX_LAYERS", "ONNX_OPSET", "TORCH_LAYERS", "from_sklearn", "from_torch", "to_onnx",
           "to_torch"]

ONNX_OPSET = 17
"""The ONNX operator set of exported models (its Gelu op needs 20, so GELU is written out)."""

_ONNX_IR_VERSION = 8
"""The IR version that came with opset 17 (onnx 1.12): the oldest that runtimes must read."""


# ---------------------------------------------------------------------------- optional imports
_EXTRAS = {
    "torch": ("PyTorch", "torch"),
    "onnx": ("the onnx package", "onnx"),
    "sklearn": ("scikit-learn", "data"),
}


def _require(module: str, caller: str) -> Any:
    """Import ``module``, or raise an ImportError naming the glassnet extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        what, extra = _EXTRAS[module]
        raise ImportError(
            f"glassnet.interop.{caller} needs {what}, which is not installed. "
            f"Install it with: pip install 'glassnet[{extra}]'."
        ) from None


def _layer_type(layer: Any) -> str:
    """The registry key of a layer: ``layer.config()["type"]`` (its class name without one)."""
    try:
        kind = layer.config().get("type")
    except (NotImplementedError, AttributeError, TypeError):
        kind = None
    return kind if isinstance(kind, str) else type(layer).__name__


def _check_network(net: Any, caller: str, registry: dict[str, Any]) -> None:
    """Every layer in ``registry``, every activation a built-in one, the scaler exportable."""
    if not isinstance(net, Network):
        raise TypeError(f"{caller} takes a glassnet Network; got {type(net).__name__}.")
    _check_layers(net.layers, caller, "", registry)
    if net.scaler is not None:
        _scaler_form(net.scaler, caller)


def _check_layers(layers: list[Layer], caller: str, prefix: str, registry: dict[str, Any]) -> None:
    for i, layer in enumerate(layers):
        kind = _layer_type(layer)
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


def _minmax_form(scaler: Any) -> tuple[str, np.ndarray, np.ndarray]:
    scale, offset = scaler._scale_offset()
    return "mul_add", scale, offset


_SCALER_FORMS: dict[str, Callable[[Any], tuple[str, np.ndarray, np.ndarray]]] = {
    "StandardScaler": lambda scaler: ("sub_div", scaler.mean_, scaler.scale_),
    "MinMaxScaler": _minmax_form,
}
"""Scaler type -> ``(form, p, q)``: ``'sub_div'`` is ``(x - p) / q``, ``'mul_add'`` is ``x * p + q``,
the operations (and order) of the scaler's own ``transform``."""


def _scaler_form(scaler: Any, caller: str) -> tuple[str, np.ndarray, np.ndarray]:
    kind = scaler.to_dict().get("type") if hasattr(scaler, "to_dict") else type(scaler).__name__
    if kind not in _SCALER_FORMS:
        raise ValueError(
            f"{caller} cannot export the network's input scaler of type {kind!r}; supported: "
            f"{', '.join(_SCALER_FORMS)}. Set net.scaler = None to export the network alone "
            "(it then takes scaled inputs)."
        )
    return _SCALER_FORMS[kind](scaler)


# ---------------------------------------------------------------------------- PyTorch
_TORCH_ACTIVATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "identity": lambda nn, act: None,
    "sigmoid": lambda nn, act: nn.Sigmoid(),
    "tanh": lambda nn, act: nn.Tanh(),
    "relu": lambda nn, act: nn.ReLU(),
    "leaky_relu": lambda nn, act: nn.LeakyReLU(act.slope),
    "elu": lambda nn, act: nn.ELU(act.alpha),
    "softplus": lambda nn, act: nn.Softplus(),
    "gelu": lambda nn, act: nn.GELU(approximate="tanh"),
    "softmax": lambda nn, act: nn.Softmax(dim=1),
}
"""glassnet activation name -> builder of the torch module (None: nothing to apply)."""


@functools.cache
def _torch_residual_class() -> Any:
    torch = _require("torch", "TorchResidual")

    class TorchResidual(torch.nn.Module):  # type: ignore[name-defined]
        """``a = f(x + F(x))``: glassnet's :class:`~glassnet.layers.Residual` as a torch module.

        Parameters
        ----------
        body : torch.nn.Module
            ``F``; it must keep the width of ``x``.
        activation : torch.nn.Module, optional
            ``f``; default ``nn.Identity()``.
        """

        def __init__(self, body: Any, activation: Any = None):
            super().__init__()
            self.body = body
            self.activation = torch.nn.Identity() if activation is None else activation

        def forward(self, x: Any) -> Any:
            return self.activation(x + self.body(x))

    # Pickled by name as glassnet.interop.TorchResidual, which the module __getattr__ gives.
    TorchResidual.__module__ = __name__
    TorchResidual.__qualname__ = "TorchResidual"
    return TorchResidual


@functools.cache
def _torch_scaler_class() -> Any:
    torch = _require("torch", "TorchScaler")

    class TorchScaler(torch.nn.Module):  # type: ignore[name-defined]
        """glassnet's input scaler as a torch module: the operations of its ``transform``.

        ``(x - mean) / scale`` for a ``StandardScaler``, ``x * scale + offset`` for a
        ``MinMaxScaler``; ``p`` and ``q`` are buffers (not parameters) in the network's dtype.

        Parameters
        ----------
        config : dict
            The scaler's ``to_dict()``; ``from_torch`` rebuilds the scaler from it.
        form : {'sub_div', 'mul_add'}
        p, q : torch.Tensor of shape (n_in,)
        """

        def __init__(self, config: dict[str, Any], form: str, p: Any, q: Any):
            super().__init__()
            self.config, self.form = config, form
            self.register_buffer("p", p)
            self.register_buffer("q", q)

        def forward(self, x: Any) -> Any:
            if self.form == "sub_div":
                return (x - self.p) / self.q
            return x * self.p + self.q

        def extra_repr(self) -> str:
            return f"{self.config['type']}, n_features={len(self.p)}"

    TorchScaler.__module__ = __name__
    TorchScaler.__qualname__ = "TorchScaler"
    return TorchScaler


_TORCH_CLASSES = {"TorchResidual": _torch_residual_class, "TorchScaler": _torch_scaler_class}


def __getattr__(name: str) -> Any:
    if name in _TORCH_CLASSES:
        return _TORCH_CLASSES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _torch_tensor(torch: Any, array: Any, dtype: Any) -> Any:
    return torch.from_numpy(np.array(to_numpy(array))).to(dtype)


def _torch_activation(nn: Any, layer: Any) -> Any:
    activation: ActivationLike | None = getattr(layer, "activation", None)
    return None if activation is None else _TORCH_ACTIVATIONS[activation.name](nn, activation)


def _torch_dense(torch: Any, layer: Any, dtype: Any) -> list[Any]:
    linear = torch.nn.Linear(layer.n_in, layer.n_out, dtype=dtype)
    with torch.no_grad():
        linear.weight.copy_(_torch_tensor(torch, layer.W, dtype))
        linear.bias.copy_(_torch_tensor(torch, layer.b, dtype))
    act = _torch_activation(torch.nn, layer)
    return [linear] if act is None else [linear, act]


def _torch_residual(torch: Any, layer: Any, dtype: Any) -> list[Any]:
    body = torch.nn.Sequential(*_torch_modules(torch, layer.layers, dtype))
    return [_torch_residual_class()(body, _torch_activation(torch.nn, layer))]


TORCH_LAYERS: dict[str, Callable[[Any, Any, Any], list[Any]]] = {
    "Dense": _torch_dense,
    "Residual": _torch_residual,
    "Dropout": lambda torch, layer, dtype: [],  # the identity at inference
}
"""Layer type (``layer.config()["type"]``) -> the torch modules it exports to."""


def to_torch(net: Network) -> Any:
    """The network as ``torch.nn.Sequential``: ``module(X)`` is ``net.predict_output(X)``.

    First, when ``net.scaler`` is set, a :class:`TorchScaler` applying it to the raw inputs;
    then each ``Dense`` as a ``Linear`` and its activation (``Linear.weight`` is ``W`` itself,
    shape (n_out, n_in), and ``Linear.bias`` is ``b``, both copied), each ``Residual`` as a
    :class:`TorchResidual`, and each ``Dropout`` as nothing (it is the identity at
    inference). The parameters are in the network's dtype (float32 or float64), in the order
    of ``net.params()``; the scaler's constants are buffers, not parameters.

    Parameters
    ----------
    net : Network
        Made of the layers in :data:`TORCH_LAYERS` with built-in activations.

    Returns
    -------
    torch.nn.Sequential
        Activations: ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU``, ``nn.LeakyReLU(slope)``,
        ``nn.ELU(alpha)``, ``nn.Softplus()``, ``nn.GELU(approximate='tanh')``,
        ``nn.Softmax(dim=1)``; identity adds no module.

    Raises
    ------
    ImportError
        Without PyTorch (``pip install 'glassnet[torch]'``).
    TypeError
        For a layer type with no torch form (the message names it).
    ValueError
        For a custom activation or an input scaler with no torch form.

    Notes
    -----
    ``nn.Softplus`` returns ``z`` itself for ``z > 20``, where glassnet's softplus is
    ``z + log1p(exp(-z))``: the two differ by less than ``2.1e-9`` there.

    Examples
    --------
    >>> from glassnet import mlp
    >>> to_torch(mlp([2, 3, 1], activation="tanh"))  # doctest: +SKIP
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): Tanh()
      (2): Linear(in_features=3, out_features=1, bias=True)
    )
    """
    torch = _require("torch", "to_torch")
    _check_network(net, "to_torch", TORCH_LAYERS)
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    modules = _torch_modules(torch, net.layers, dtype)
    if net.scaler is not None:
        form, p, q = _scaler_form(net.scaler, "to_torch")
        scaler = _torch_scaler_class()(net.scaler.to_dict(), form, _torch_tensor(torch, p, dtype),
                                       _torch_tensor(torch, q, dtype))
        modules.insert(0, scaler)
    return torch.nn.Sequential(*modules)


def _torch_modules(torch: Any, layers: list[Layer], dtype: Any) -> list[Any]:
    return [module for layer in layers
            for module in TORCH_LAYERS[_layer_type(layer)](torch, layer, dtype)]


def from_torch(module: Any, loss: Any = "mse") -> Network:
    """A glassnet network computing what ``module``, an ``nn.Sequential``, computes.

    Each ``Linear`` becomes a ``Dense`` (``W = weight``, ``b = bias`` or zeros) whose
    activation is the module right after it, if that is an activation module; a
    :class:`TorchResidual` becomes a ``Residual``, an ``nn.Dropout(p)`` a ``Dropout(p)`` and a
    leading :class:`TorchScaler` the network's input scaler. ``nn.Identity`` and nested
    ``nn.Sequential`` are allowed. The dtype is that of the first ``Linear``.

    A logits classifier, the usual torch classifier trained with ``nn.CrossEntropyLoss``
    (it ends in an ``nn.Linear`` and the loss applies the softmax), is detected: with
    ``loss='cross_entropy'`` (or ``loss=nn.CrossEntropyLoss()``) and a last ``Linear`` with no
    activation after it, that last layer gets glassnet's softmax, so ``net.forward(X)`` is
    ``softmax(module(X))``, ``net.predict(X)`` is ``module(X).argmax(1)``, and training goes on
    with the same loss. Likewise ``loss='binary_cross_entropy'`` (or
    ``nn.BCEWithLogitsLoss()``) gives a last ``Linear`` a sigmoid.

    Parameters
    ----------
    module : torch.nn.Sequential
    loss : str, dict, Loss or torch loss module, default='mse'
        The loss of the returned network. A torch loss module is read as its glassnet
        counterpart: ``nn.CrossEntropyLoss`` as ``cross_entropy`` (logits, above),
        ``nn.BCEWithLogitsLoss`` and ``nn.BCELoss`` as ``binary_cross_entropy``, ``nn.MSELoss``
        as ``mse``, ``nn.HuberLoss(delta)`` as ``huber``. ``cross_entropy`` needs an
        ``nn.Softmax(dim=1)`` or a ``Linear`` at the end, ``binary_cross_entropy`` an
        ``nn.Sigmoid`` or a ``Linear``.

    Returns
    -------
    Network

    Raises
    ------
    ImportError
        Without PyTorch.
    TypeError
        When ``module`` is not an ``nn.Sequential``.
    ValueError
        For a module glassnet has no layer for (the message names it and lists the supported
        ones), an activation with no ``Linear`` before it, options glassnet does not have
        (``nn.GELU()`` in its erf form, ``nn.Softplus(beta != 1)``, ``nn.Softmax(dim=0)``),
        parameters that are not float32 or float64 or hold NaN or inf (the message names the
        parameter), or a loss that does not fit the output.

    Examples
    --------
    >>> import torch.nn as nn  # doctest: +SKIP
    >>> from_torch(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)),
    ...            loss=nn.CrossEntropyLoss())  # doctest: +SKIP
    Network(4-8-3, loss='cross_entropy', dtype='float32', params=67)
    """
    torch = _require("torch", "from_torch")
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(
            f"from_torch takes a torch.nn.Sequential; got {type(module).__name__}. "
            "Wrap a single layer as nn.Sequential(layer)."
        )
    linears = [m for m in module.modules() if type(m) is torch.nn.Linear]
    if not linears:
        raise ValueError("from_torch found no nn.Linear in the module; there is nothing to import.")
    dtype = linears[0].weight.dtype
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"from_torch reads float32 and float64 parameters; got {dtype}. "
            "Convert the module first with module.float() or module.double()."
        )
    np_dtype = "float64" if dtype == torch.float64 else "float32"
    loss = _loss_from_torch(torch, loss)
    children = _children(module, "module")
    scaler = None
    if children and type(children[0][1]) is _torch_scaler_class():
        from .data import scaler_from_dict

        scaler = scaler_from_dict(children[0][1].config)
        children = children[1:]
    layers = _layers_from_torch(torch, children, np_dtype)
    output = get_loss(loss).output_activation
    last = layers[-1] if layers else None
    if output is not None and _layer_type(last) == "Dense" and last.activation.name == "identity":
        layers[-1] = _dense_from_arrays(last.W, last.b, output, np_dtype, "the last Linear")
    net = Network(layers, loss=loss, dtype=np_dtype)
    net.scaler = scaler
    return net


_TORCH_LOSSES: dict[str, Callable[[Any], Any]] = {
    "CrossEntropyLoss": lambda m: "cross_entropy",
    "BCEWithLogitsLoss": lambda m: "binary_cross_entropy",
    "BCELoss": lambda m: "binary_cross_entropy",
    "MSELoss": lambda m: "mse",
    "HuberLoss": lambda m: {"name": "huber", "delta": float(m.delta)},
}
"""torch loss module class name -> the glassnet loss spec."""


def _loss_from_torch(torch: Any, loss: Any) -> Any:
    if not isinstance(loss, torch.nn.Module):
        return loss
    kind = type(loss).__name__
    if kind not in _TORCH_LOSSES:
        raise ValueError(f"from_torch cannot read the torch loss {kind}; supported: "
                         f"{', '.join(_TORCH_LOSSES)}, or a glassnet loss name.")
    return _TORCH_LOSSES[kind](loss)


def _torch_activation_spec(nn: Any, module: Any, where: str) -> Any:
    """The glassnet activation of a torch activation module; None for any other module."""
    kind = type(module)
    plain = {nn.Identity: "identity", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu"}
    if kind in plain:
        return plain[kind]
    if kind is nn.LeakyReLU:
        return {"name": "leaky_relu", "slope": float(module.negative_slope)}
    if kind is nn.ELU:
        return {"name": "elu", "alpha": float(module.alpha)}
    if kind is nn.Softplus:
        if module.beta != 1:
            raise ValueError(
                f"{where} is nn.Softplus(beta={module.beta}); glassnet's softplus "
                "has beta=1. Use nn.Softplus() or another activation."
            )
        return "softplus"
    if kind is nn.GELU:
        if module.approximate != "tanh":
            raise ValueError(
                f"{where} is nn.GELU(approximate={module.approximate!r}); glassnet's "
                "gelu is the tanh form. Use nn.GELU(approximate='tanh')."
            )
        return "gelu"
    if kind is nn.Softmax:
        if module.dim not in (1, -1):
            raise ValueError(
                f"{where} is nn.Softmax(dim={module.dim}); glassnet's softmax "
                "works over the units of each sample. Use nn.Softmax(dim=1)."
            )
        return "softmax"
    return None


_SUPPORTED_TORCH = (
    "Linear, Sequential, Identity, Dropout, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus "
    "(beta=1), GELU (approximate='tanh'), Softmax (dim=1), glassnet.interop.TorchResidual, "
    "glassnet.interop.TorchScaler (first only)"
)


def _children(sequential: Any, prefix: str) -> list[tuple[str, Any]]:
    """``(path, module)`` for each child: ``module[2]``, ``module[2].body[0]``, ..."""
    return [(f"{prefix}[{name}]", child) for name, child in sequential.named_children()]


def _layers_from_torch(torch: Any, children: list[tuple[str, Any]], dtype: str) -> list[Layer]:
    """The glassnet layers of a list of ``(path, module)``; each path names its module in errors."""
    nn = torch.nn
    residual_class = _torch_residual_class()
    layers: list[Layer] = []
    pending: Any = None  # a Linear whose activation may come next

    def flush(activation: Any = "identity") -> None:
        nonlocal pending
        if pending is not None:
            layers.append(_dense_from(*pending, activation, dtype))
            pending = None

    def visit(children: list[tuple[str, Any]]) -> None:
        nonlocal pending
        for here, child in children:
            spec = _torch_activation_spec(nn, child, here)
            if type(child) is nn.Linear:
                flush()
                pending = (child, here)
            elif type(child) is nn.Dropout:
                flush()
                layers.append(Dropout(float(child.p)))
            elif type(child) is nn.Sequential:
                visit(_children(child, here))
            elif type(child) is residual_class:
                flush()
                inner = _layers_from_torch(torch, [(f"{here}.body", child.body)], dtype)
                act = _torch_activation_spec(nn, child.activation, f"{here}.activation")
                if act is None:
                    raise _unsupported(child.activation, f"{here}.activation")
                layers.append(Residual(*inner, activation=act))
            elif spec == "identity":
                continue
            elif spec is not None:
                if pending is None:
                    raise ValueError(
                        f"{here} is {type(child).__name__} with no nn.Linear right before it; "
                        "glassnet applies each activation to the output of one Linear layer."
                    )
                flush(spec)
            else:
                raise _unsupported(child, here)

    visit(children)
    flush()
    return layers


def _unsupported(module: Any, where: str) -> ValueError:
    return ValueError(
        f"from_torch cannot import {where}, a {type(module).__name__}: glassnet has no layer for it. "
        f"Supported modules: {_SUPPORTED_TORCH}."
    )


def _dense_from(linear: Any, where: str, activation: Any, dtype: str) -> Dense:
    """A Dense layer holding copies of a Linear's ``weight`` (n_out, n_in) and ``bias`` (or 0)."""
    W = linear.weight.detach().cpu().numpy()
    b = np.zeros(len(W)) if linear.bias is None else linear.bias.detach().cpu().numpy()
    return _dense_from_arrays(W, b, activation, dtype, where)


# ---------------------------------------------------------------------------- ONNX
class _OnnxGraph:
    """Collects nodes and initialisers, giving every value a fresh name."""

    def __init__(self, onnx: Any, dtype: np.dtype):
        self.onnx = onnx
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.names: set[str] = set()
        self.n_values = 0

    def constant(self, name: str, value: Any) -> str:
        """An initialiser in the graph's dtype, added on first use (onnxruntime warns of unused ones)."""
        if name not in self.names:
            array = np.asarray(value, dtype=self.dtype)
            self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
            self.names.add(name)
        return name

    def scalar(self, value: float) -> str:
        return self.constant(f"const/{value!r}", value)

    def op(self, op_type: str, inputs: list[str], scope: str, **attributes: Any) -> str:
        self.n_values += 1
        output = f"{scope}/{op_type}_{self.n_values}"
        self.nodes.append(
            self.onnx.helper.make_node(op_type, inputs, [output], name=output, **attributes)
        )
        return output


def _onnx_gelu(g: _OnnxGraph, z: str, act: Any, scope: str) -> str:
    """``z/2 (1 + tanh(c (z + 0.044715 z^3)))`` from Pow, Mul, Add and Tanh (opset 17)."""
    cube = g.op("Pow", [z, g.scalar(3.0)], scope)
    inner = g.op("Add", [z, g.op("Mul", [cube, g.scalar(act._k)], scope)], scope)
    t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(act._c)], scope)], scope)
    return g.op(
        "Mul",
        [g.op("Mul", [z, g.scalar(0.5)], scope), g.op("Add", [t, g.scalar(1.0)], scope)],
        scope,
    )


def _onnx_leaky_relu(g: _OnnxGraph, z: str, act: Any, scope: str) -> str:
    if g.dtype == np.float32:
        return g.op("LeakyRelu", [z], scope, alpha=act.slope)
    # ONNX attributes are float32, too coarse for a float64 slope: z if z > 0 else slope z.
    negative = g.op("Mul", [z, g.scalar(act.slope)], scope)
    return g.op("Where", [g.op("Greater", [z, g.scalar(0.0)], scope), z, negative], scope)


def _onnx_elu(g: _OnnxGraph, z: str, act: Any, scope: str) -> str:
    if g.dtype == np.float32:
        return g.op("Elu", [z], scope, alpha=act.alpha)
    # onnxruntime has no float64 Elu: z if z > 0 else alpha (exp(min(z, 0)) - 1).
    zero, one = g.scalar(0.0), g.scalar(1.0)
    expm1 = g.op("Sub", [g.op("Exp", [g.op("Min", [z, zero], scope)], scope), one], scope)
    negative = g.op("Mul", [expm1, g.scalar(act.alpha)], scope)
    return g.op("Where", [g.op("Greater", [z, zero], scope), z, negative], scope)


def _onnx_softplus(g: _OnnxGraph, z: str, act: Any, scope: str) -> str:
    if g.dtype == np.float32:
        return g.op("Softplus", [z], scope)
    # onnxruntime has no float64 Softplus: max(z, 0) + log(1 + exp(-|z|)).
    tail = g.op("Exp", [g.op("Neg", [g.op("Abs", [z], scope)], scope)], scope)
    return g.op(
        "Add",
        [g.op("Relu", [z], scope), g.op("Log", [g.op("Add", [tail, g.scalar(1.0)], scope)], scope)],
        scope,
    )


_ONNX_ACTIVATIONS: dict[str, Callable[[_OnnxGraph, str, Any, str], str]] = {
    "identity": lambda g, z, act, scope: z,
    "sigmoid": lambda g, z, act, scope: g.op("Sigmoid", [z], scope),
    "tanh": lambda g, z, act, scope: g.op("Tanh", [z], scope),
    "relu": lambda g, z, act, scope: g.op("Relu", [z], scope),
    "leaky_relu": _onnx_leaky_relu,
    "elu": _onnx_elu,
    "softplus": _onnx_softplus,
    "gelu": _onnx_gelu,
    "softmax": lambda g, z, act, scope: g.op("Softmax", [z], scope, axis=1),
}
"""glassnet activation name -> writer of its ONNX nodes: (graph, z, activation, scope) -> a."""


def _onnx_dense(g: _OnnxGraph, layer: Any, a: str, scope: str) -> str:
    return g.op("Gemm", [a, f"{scope}.W", f"{scope}.b"], scope, transB=1)


def _onnx_residual(g: _OnnxGraph, layer: Any, a: str, scope: str) -> str:
    return g.op("Add", [a, _onnx_layers(g, layer.layers, a, f"{scope}.")], scope)


ONNX_LAYERS: dict[str, Callable[[Any, Any, str, str], str]] = {
    "Dense": _onnx_dense,
    "Residual": _onnx_residual,
    "Dropout": lambda g, layer, a, scope: a,  # the identity at inference: no node
}
"""Layer type (``layer.config()["type"]``) -> writer of its ONNX nodes before the activation:
(graph, layer, input value, scope) -> z."""

_ONNX_SCALER_OPS = {"sub_div": ("Sub", "Div", "mean", "scale"),
                    "mul_add": ("Mul", "Add", "scale", "offset")}
"""Scaler form -> (first op, second op, names of its two constants)."""


def to_onnx(net: Network, path: str | os.PathLike) -> Any:
    """Write the network to ``path`` as an ONNX model; ``output = net.predict_output(input)``.

    The input is raw: when ``net.scaler`` is set, the graph starts with its preprocessing
    nodes in the scaler's own operations, ``Sub(input, scaler.mean)`` then
    ``Div(., scaler.scale)`` for a ``StandardScaler``, ``Mul(input, scaler.scale)`` then
    ``Add(., scaler.offset)`` for a ``MinMaxScaler`` (nodes and constants in the ``scaler``
    scope). Each ``Dense`` is ``Gemm(a_prev, W, b, transB=1)`` (``W`` stored as (n_out,
    n_in)) followed by its activation: ``Sigmoid``, ``Tanh``, ``Relu``,
    ``LeakyRelu(alpha=slope)``, ``Elu(alpha)``, ``Softplus``, ``Softmax(axis=1)``; GELU is
    written out in its tanh form from ``Pow``, ``Mul``, ``Add`` and ``Tanh``, because the
    ``Gelu`` op needs opset 20. A ``Residual`` adds its input to its inner layers' output with
    ``Add`` before its activation. A ``Dropout`` writes no node (the identity at inference).

    The graph has opset 17, one input ``input`` of shape (batch, n_in) and one output
    ``output`` of shape (batch, n_out), with a dynamic batch dimension; initialisers are named
    as ``net.params()`` (``0.W``, ``0.b``, ...). The tensors have the network's dtype.

    Parameters
    ----------
    net : Network
    path : str or path-like
        Written atomically: a temporary file beside it, renamed over it.

    Returns
    -------
    onnx.ModelProto
        The model written, already passed through ``onnx.checker.check_model``.

    Raises
    ------
    ImportError
        Without the onnx package (``pip install 'glassnet[onnx]'``).
    TypeError
        For a layer type with no ONNX form (the message names it).
    ValueError
        For a custom activation or an input scaler with no ONNX form.

    Notes
    -----
    A float64 network gives a float64 model. onnxruntime's CPU kernels include ``Gemm``,
    ``Sigmoid``, ``Tanh``, ``Relu`` and ``Softmax`` for doubles but not ``Elu`` nor
    ``Softplus``, and ONNX attributes such as ``LeakyRelu``'s ``alpha`` are float32, so in
    float64 models leaky_relu, elu and softplus are written out from basic ops (``Greater``,
    ``Where``, ``Exp``, ``Log``, ...) with float64 constants and the same values. Run a float64
    model with float64 inputs; ``net.astype('float32')`` exports a float32 one.

    Examples
    --------
    >>> from glassnet import mlp
    >>> model = to_onnx(mlp([4, 8, 3], loss="cross_entropy"), "net.onnx")  # doctest: +SKIP
    """
    onnx = _require("onnx", "to_onnx")
    importlib.import_module("onnx.numpy_helper")  # onnx.numpy_helper, also on old onnx
    from . import __version__

    _check_network(net, "to_onnx", ONNX_LAYERS)
    g = _OnnxGraph(onnx, net.dtype)
    a = "input"
    if net.scaler is not None:
        form, p, q = _scaler_form(net.scaler, "to_onnx")
        first, second, p_name, q_name = _ONNX_SCALER_OPS[form]
        a = g.op(first, [a, g.constant(f"scaler.{p_name}", to_numpy(p))], "scaler")
        a = g.op(second, [a, g.constant(f"scaler.{q_name}", to_numpy(q))], "scaler")
    for key, param in net.params().items():
        g.constant(key, to_numpy(param))

    output = _onnx_layers(g, net.layers, a, "")
    if output == "input":  # nothing but Dropout: the graph still needs a node
        output = g.op("Identity", [output], "output")
    for node in g.nodes:  # the last value computed becomes the graph's output
        node.output[:] = ["output" if name == output else name for name in node.output]

    elem_type = onnx.helper.np_dtype_to_tensor_dtype(net.dtype)
    graph = onnx.helper.make_graph(
        g.nodes,
        "glassnet",
        [onnx.helper.make_tensor_value_info("input", elem_type, ["batch", net.n_in])],
        [onnx.helper.make_tensor_value_info("output", elem_type, ["batch", net.n_out])],
        initializer=g.initializers,
        doc_string=repr(net),
    )
    model = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", ONNX_OPSET)],
        ir_version=_ONNX_IR_VERSION,
        producer_name="glassnet",
        producer_version=__version__,
    )
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return model


def _onnx_layers(g: _OnnxGraph, layers: list[Layer], a: str, prefix: str) -> str:
    for i, layer in enumerate(layers):
        scope = f"{prefix}{i}"
        z = ONNX_LAYERS[_layer_type(layer)](g, layer, a, scope)
        act: ActivationLike | None = getattr(layer, "activation", None)
        a = z if act is None else _ONNX_ACTIVATIONS[act.name](g, z, act, scope)
    return a


# ---------------------------------------------------------------------------- scikit-learn
_SKLEARN_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
"""scikit-learn's ``activation`` -> glassnet activation."""

_SKLEARN_OUTPUT = {
    "softmax": ("softmax", "cross_entropy"),
    "logistic": ("sigmoid", "binary_cross_entropy"),
    "identity": ("identity", "mse"),
}
"""scikit-learn's ``out_activation_`` -> (glassnet output activation, loss)."""


def from_sklearn(fitted_mlp: Any, *, dtype: Any = None) -> Network:
    """A fitted ``MLPClassifier`` or ``MLPRegressor`` as a glassnet network.

    Layer ``i`` gets ``W = coefs_[i].T`` (scikit-learn stores (n_in, n_out)) and
    ``b = intercepts_[i]``; hidden layers get ``activation`` (identity, logistic -> sigmoid,
    tanh, relu) and the output layer ``out_activation_``, which fixes the loss:

    ======================  ===============  ==========================================
    out_activation_         glassnet output  loss
    ======================  ===============  ==========================================
    softmax (multi-class)   softmax          cross_entropy, y = index into ``classes_``
    logistic (binary)       sigmoid, 1 unit  binary_cross_entropy, y = index (0 or 1)
    logistic (multi-label)  sigmoid          binary_cross_entropy, y = 0/1 indicators
    identity (regressor)    identity         mse
    ======================  ===============  ==========================================

    Parameters
    ----------
    fitted_mlp : MLPClassifier or MLPRegressor
        Already fitted.
    dtype : {'float32', 'float64'}, optional
        Default: the dtype of ``coefs_`` (float64 unless fitted on float32 data).

    Returns
    -------
    Network
        ``net.forward(X)`` equals ``predict_proba(X)`` for a multi-class classifier,
        ``predict_proba(X)[:, 1:]`` for a binary one, and ``predict(X)`` (as a column) for a
        regressor.

    Raises
    ------
    ImportError
        Without scikit-learn (``pip install 'glassnet[data]'``).
    TypeError
        For anything but an MLPClassifier or MLPRegressor.
    ValueError
        For an unfitted model, or a regressor fitted with ``loss='poisson'`` (its ``exp``
        output has no glassnet counterpart).

    Notes
    -----
    What matches scikit-learn's training loss: for classifiers glassnet's loss is the data
    term of scikit-learn's ``log_loss`` / ``binary_log_loss`` (mean over samples, summed over
    units; scikit-learn also clips probabilities to ``[eps, 1 - eps]``). For regressors
    scikit-learn's ``squared_error`` is ``0.5 * mean over samples and outputs`` while glassnet's
    mse sums over outputs, so it is ``n_outputs_`` times larger (equal for one output).
    Neither includes scikit-learn's L2 term ``0.5 * alpha * sum ||W||^2 / n_samples`` (on the
    weights only): add ``alpha * W / n_samples`` to each ``dW`` to get scikit-learn's gradients.

    Examples
    --------
    >>> from sklearn.neural_network import MLPClassifier  # doctest: +SKIP
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=500).fit(X, y)  # doctest: +SKIP
    >>> net = from_sklearn(clf)  # doctest: +SKIP
    >>> np.allclose(net.forward(X), clf.predict_proba(X))  # doctest: +SKIP
    True
    """
    _require("sklearn", "from_sklearn")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if not isinstance(fitted_mlp, (MLPClassifier, MLPRegressor)):
        raise TypeError(
            f"from_sklearn takes a fitted sklearn MLPClassifier or MLPRegressor; got "
            f"{type(fitted_mlp).__name__}."
        )
    name = type(fitted_mlp).__name__
    if not hasattr(fitted_mlp, "coefs_"):
        raise ValueError(f"This {name} is not fitted yet. Call fit(X, y) before from_sklearn.")
    if fitted_mlp.out_activation_ not in _SKLEARN_OUTPUT:
        raise ValueError(
            f"from_sklearn cannot import a {name} with output activation "
            f"{fitted_mlp.out_activation_!r} (loss={fitted_mlp.loss!r}); supported output "
            f"activations: {', '.join(_SKLEARN_OUTPUT)}."
        )
    if fitted_mlp.activation not in _SKLEARN_HIDDEN:
        raise ValueError(
            f"from_sklearn cannot import the hidden activation {fitted_mlp.activation!r}; "
            f"supported: {', '.join(_SKLEARN_HIDDEN)}."
        )
    if dtype is None:
        dtype = fitted_mlp.coefs_[0].dtype
        dtype = dtype if dtype in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype).name
    output, loss = _SKLEARN_OUTPUT[fitted_mlp.out_activation_]
    hidden = _SKLEARN_HIDDEN[fitted_mlp.activation]
    pairs = list(zip(fitted_mlp.coefs_, fitted_mlp.intercepts_))
    layers: list[Layer] = [
        _dense_from_arrays(coef.T, intercept, output if i == len(pairs) - 1 else hidden, dtype,
                           f"coefs_[{i}] / intercepts_[{i}]")
        for i, (coef, intercept) in enumerate(pairs)
    ]
    return Network(layers, loss=loss, dtype=dtype)


def _dense_from_arrays(W: np.ndarray, b: np.ndarray, activation: Any, dtype: str,
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
