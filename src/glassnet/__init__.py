"""glassnet: fully connected neural networks with back-propagation written out by hand.

Forward: ``z = a_prev @ W.T + b``, ``a = f(z)``. Backward: ``delta = dC/dz``, output layer
``delta = dC/da * f'(z)`` (or the fused ``(a - y) / n``), hidden layers
``delta = (delta_next @ W_next) * f'(z)``, gradients ``dW = delta.T @ a_prev``,
``db = delta.sum(axis=0)``.
"""

from .activations import ACTIVATIONS, get_activation
from .check import check_backprop
from .device import get_device, set_device
from .diagnostics import (ExplodingGradientWarning, GradientMonitor, VanishingGradientWarning,
                          explain)
from .gradcheck import GradcheckReport, gradcheck
from .init import INITIALIZERS
from .io import load, save
from .jacobian import jacobian
from .layers import Dense, Layer, Residual
from .losses import LOSSES, get_loss
from .network import Network, input_gradient, mlp
from .per_sample import per_sample_grad_norms, per_sample_grads
from .second_order import Curvature, ggn_diagonal, gnvp, hessian, hvp
from .sharpness import Sharpness
from .training import Callback, History
from .worksheet import make_worksheet

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "Callback",
    "Curvature",
    "Dense",
    "ExplodingGradientWarning",
    "GradcheckReport",
    "GradientMonitor",
    "History",
    "INITIALIZERS",
    "LOSSES",
    "Layer",
    "Network",
    "Residual",
    "Sharpness",
    "VanishingGradientWarning",
    "check_backprop",
    "explain",
    "get_activation",
    "get_device",
    "get_loss",
    "ggn_diagonal",
    "gnvp",
    "gradcheck",
    "hessian",
    "hvp",
    "input_gradient",
    "jacobian",
    "load",
    "make_worksheet",
    "mlp",
    "per_sample_grad_norms",
    "per_sample_grads",
    "save",
    "set_device",
]
