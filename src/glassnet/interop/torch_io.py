"""PyTorch: ``to_torch`` (the network, its input scaler first, as ``nn.Sequential``) and ``from_torch``.

``Linear.weight`` is ``W`` itself (both (n_out, n_in)); a residual block becomes
:class:`TorchResidual`, the input scaler :class:`TorchScaler`. Both classes are made on first
use, so that importing glassnet never imports torch, and are pickled by name as
``glassnet.interop.TorchResidual`` / ``glassnet.interop.TorchScaler``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..activations import ActivationLike
from ..device import to_numpy
from ..layers import Dense, Dropout, Layer, Residual
from ..losses import get_loss
from ..network import Network
from .common import check_network, dense_from_arrays, layer_type, require, scaler_form

__all__ = ["TORCH_LAYERS", "from_torch", "to_torch"]

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
    torch = require("torch", "TorchResidual")

    class TorchResidual(torch.nn.Module):  # type: ignore[name-defined]
        """``a = x + F(x)``: glassnet's :class:`~glassnet.layers.Residual` as a torch module.

        Parameters
        ----------
        body : torch.nn.Module
            ``F``; it must keep the width of ``x``.
        activation : torch.nn.Module, optional
            Applied after the sum; default ``nn.Identity()``, what ``to_torch`` writes.
            ``from_torch`` refuses any other (glassnet's block has nothing after the sum).
        """

        def __init__(self, body: Any, activation: Any = None):
            super().__init__()
            self.body = body
            self.activation = torch.nn.Identity() if activation is None else activation

        def forward(self, x: Any) -> Any:
            return self.activation(x + self.body(x))

    # Pickled by name as glassnet.interop.TorchResidual, which the module __getattr__ gives.
    TorchResidual.__module__ = "glassnet.interop"
    TorchResidual.__qualname__ = "TorchResidual"
    return TorchResidual


@functools.cache
def _torch_scaler_class() -> Any:
    torch = require("torch", "TorchScaler")

    class TorchScaler(torch.nn.Module):  # type: ignore[name-defined]
        """glassnet's input scaler as a torch module: the operations of its ``transform``.

        ``(x - mean) * (1 / scale)`` for a ``StandardScaler`` (0 for a constant feature),
        ``x * scale + offset`` for a ``MinMaxScaler`` (``scaler.operations()``); ``p`` and ``q``
        are buffers (not parameters) in the network's dtype.

        Parameters
        ----------
        config : dict
            The scaler's ``to_dict()``; ``from_torch`` rebuilds the scaler from it.
        form : {'sub_mul', 'mul_add'}
        p, q : torch.Tensor of shape (n_in,)
        """

        def __init__(self, config: dict[str, Any], form: str, p: Any, q: Any):
            super().__init__()
            self.config, self.form = config, form
            self.register_buffer("p", p)
            self.register_buffer("q", q)

        def forward(self, x: Any) -> Any:
            if self.form == "sub_mul":
                return (x - self.p) * self.q
            return x * self.p + self.q

        def extra_repr(self) -> str:
            return f"{self.config['type']}, n_features={len(self.p)}"

    TorchScaler.__module__ = "glassnet.interop"
    TorchScaler.__qualname__ = "TorchScaler"
    return TorchScaler


TORCH_CLASSES = {"TorchResidual": _torch_residual_class, "TorchScaler": _torch_scaler_class}


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
    torch = require("torch", "to_torch")
    check_network(net, "to_torch", TORCH_LAYERS)
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    modules = _torch_modules(torch, net.layers, dtype)
    if net.scaler is not None:
        form, p, q = scaler_form(net.scaler, "to_torch")
        scaler = _torch_scaler_class()(net.scaler.to_dict(), form, _torch_tensor(torch, p, dtype),
                                       _torch_tensor(torch, q, dtype))
        modules.insert(0, scaler)
    return torch.nn.Sequential(*modules)


def _torch_modules(torch: Any, layers: list[Layer], dtype: Any) -> list[Any]:
    return [module for layer in layers
            for module in TORCH_LAYERS[layer_type(layer)](torch, layer, dtype)]


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
        ``nn.Sigmoid`` or a ``Linear``. Options glassnet's losses do not have (``weight``,
        ``pos_weight``, ``label_smoothing``, a ``reduction`` other than ``'mean'``) are refused.
        glassnet's ``mse`` and ``huber`` sum over the output units per sample (``mse`` as the
        derivation's ``0.5 ||a - y||^2``) where torch's mean over every element: with ``k``
        outputs they are ``k / 2`` and ``k`` times torch's value, with the same minimiser.

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
    torch = require("torch", "from_torch")
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
        from ..data import scaler_from_dict

        scaler = scaler_from_dict(children[0][1].config)
        children = children[1:]
    layers = _layers_from_torch(torch, children, np_dtype)
    output = get_loss(loss).output_activation
    last = layers[-1] if layers else None
    if output is not None and layer_type(last) == "Dense" and last.activation.name == "identity":
        layers[-1] = dense_from_arrays(last.W, last.b, output, np_dtype, "the last Linear")
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


_TORCH_LOSS_DEFAULTS: dict[str, Any] = {"reduction": "mean", "weight": None,
                                        "pos_weight": None, "label_smoothing": 0.0}
"""The torch loss options glassnet's losses take as they are; any other value has no
equivalent and is refused (glassnet's losses are unweighted means over the samples)."""


def _loss_from_torch(torch: Any, loss: Any) -> Any:
    if not isinstance(loss, torch.nn.Module):
        return loss
    kind = type(loss).__name__
    if kind not in _TORCH_LOSSES:
        raise ValueError(f"from_torch cannot read the torch loss {kind}; supported: "
                         f"{', '.join(_TORCH_LOSSES)}, or a glassnet loss name.")
    for option, default in _TORCH_LOSS_DEFAULTS.items():
        value = getattr(loss, option, default)
        if (value is None) != (default is None) or (default is not None and value != default):
            shown = "a tensor" if hasattr(value, "shape") else repr(value)
            raise ValueError(
                f"from_torch cannot read {kind}({option}={shown}): glassnet's losses are "
                f"unweighted means over the samples, with no {option} of their own. Pass "
                f"{kind}() or a glassnet loss name, and give per-sample weights to fit "
                "(sample_weight, class_weight) instead.")
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
        if module.beta != 1 or module.threshold != 20:
            raise ValueError(
                f"{where} is nn.Softplus(beta={module.beta}, threshold={module.threshold}); "
                "glassnet's softplus is torch's default (beta=1, threshold=20). Use "
                "nn.Softplus() or another activation."
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
                if act != "identity":
                    raise ValueError(
                        f"{here} applies {type(child.activation).__name__} after the sum: "
                        "glassnet's residual block is a = x + F(x) with nothing after the sum. "
                        "Put the activation inside the body instead.")
                layers.append(Residual(*inner))
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
    return dense_from_arrays(W, b, activation, dtype, where)
