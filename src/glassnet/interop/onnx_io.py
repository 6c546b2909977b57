"""ONNX: ``to_onnx`` writes the network (its input scaler as the first nodes) node by node.

Opset 17, one input ``input`` of shape (batch, n_in) and one output ``output``; each ``Dense``
is a ``Gemm`` with ``transB=1``, as ``W`` is stored (n_out, n_in).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..activations import ActivationLike
from ..atomic import atomic_write
from ..device import to_numpy
from ..layers import Layer
from ..network import Network
from .common import check_network, layer_type, require, scaler_form

__all__ = ["ONNX_LAYERS", "ONNX_OPSET", "to_onnx"]

ONNX_OPSET = 17
"""The ONNX operator set of exported models (its Gelu op needs 20, so GELU is written out)."""

_ONNX_IR_VERSION = 8
"""The IR version that came with opset 17 (onnx 1.12): the oldest that runtimes must read."""


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

_ONNX_SCALER_OPS = {"sub_mul": ("Sub", "Mul", "mean", "inverse_scale"),
                    "mul_add": ("Mul", "Add", "scale", "offset")}
"""Scaler form -> (first op, second op, names of its two constants)."""


def to_onnx(net: Network, path: str | os.PathLike) -> Any:
    """Write the network to ``path`` as an ONNX model; ``output = net.predict_output(input)``.

    The input is raw: when ``net.scaler`` is set, the graph starts with its preprocessing
    nodes in the scaler's own operations (``scaler.operations()``), ``Sub(input, scaler.mean)``
    then ``Mul(., scaler.inverse_scale)`` for a ``StandardScaler`` (0 for a constant feature), ``Mul(input, scaler.scale)`` then
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
    onnx = require("onnx", "to_onnx")
    importlib.import_module("onnx.numpy_helper")  # onnx.numpy_helper, also on old onnx
    from .. import __version__

    check_network(net, "to_onnx", ONNX_LAYERS)
    g = _OnnxGraph(onnx, net.dtype)
    a = "input"
    if net.scaler is not None:
        form, p, q = scaler_form(net.scaler, "to_onnx")
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
        z = ONNX_LAYERS[layer_type(layer)](g, layer, a, scope)
        act: ActivationLike | None = getattr(layer, "activation", None)
        a = z if act is None else _ONNX_ACTIVATIONS[act.name](g, z, act, scope)
    return a
