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

One module per target: :mod:`.torch_io`, :mod:`.onnx_io`, :mod:`.sklearn_io`, and what they
share in :mod:`.common`. The exporters dispatch on ``layer.config()["type"]`` through one registry per target
(:data:`TORCH_LAYERS`, :data:`ONNX_LAYERS`); a layer type, activation or scaler with no entry
is refused with a message naming it, never dropped.
"""


from __future__ import annotations

from typing import Any

from .onnx_io import ONNX_LAYERS, ONNX_OPSET, to_onnx
from .sklearn_io import from_sklearn
from .torch_io import TORCH_CLASSES, TORCH_LAYERS, from_torch, to_torch

__all__ = ["ONNX_LAYERS", "ONNX_OPSET", "TORCH_LAYERS", "from_sklearn", "from_torch", "to_onnx",
           "to_torch"]


def __getattr__(name: str) -> Any:
    """``TorchResidual`` and ``TorchScaler``, made (and torch imported) on first access."""
    if name in TORCH_CLASSES:
        return TORCH_CLASSES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
