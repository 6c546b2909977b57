"""What a playground session trains: the network, its penalty and its optimiser, from the settings.

The page's choices map onto glassnet's own objects, nothing of the playground's own: the layers
are :class:`~glassnet.layers.Dense`, :class:`~glassnet.layers.Residual` and
:class:`~glassnet.layers.Dropout`, the losses those of :mod:`glassnet.losses`, the optimisers
those of :mod:`glassnet.optim`.
"""

from __future__ import annotations

import numpy as np

from ..layers import Dense, Dropout, Layer, Residual
from ..network import Network
from ..optim import SGD, Optimizer, get_optimizer
from .settings import Settings

__all__ = ["build_network", "make_optimizer", "set_penalty"]


def build_network(settings: Settings, n_classes: int = 2) -> Network:
    """The network of ``settings``: input features -> hidden layers -> the output layer.

    The output depends on the problem: two classes end in one sigmoid unit trained with binary
    cross-entropy, ``n_classes >= 3`` in a softmax layer of ``n_classes`` units trained with
    cross-entropy (both with the fused ``delta^L = a^L - y``), regression in one identity unit
    trained with the mean squared error.

    With ``residual``, a hidden layer as wide as the one before it becomes the identity-skip
    block of the derivation, ``a = a_prev + f(W a_prev + b)`` (``Residual(Dense(w, w,
    activation=f))``, nothing applied after the sum), so ``dC/da_prev = delta + W^T (delta *
    f'(z))`` keeps the gradient of the layers below alive however small ``f'`` is. A hidden
    layer with dropout ``p > 0`` is followed by ``Dropout(p)``, which drops units only while
    training (the identity for the drawings, explain and export).

    Parameters
    ----------
    settings : Settings
    n_classes : int, default=2
        Number of classes of a classification problem (ignored for regression).
    """
    rng = np.random.default_rng(settings.seed)
    layers: list[Layer] = []
    n_in = len(settings.features)
    for units, activation, dropout in settings.layers:
        if settings.residual and layers and units == n_in:
            layers.append(Residual(Dense(n_in, units, activation, seed=rng)))
        else:
            layers.append(Dense(n_in, units, activation, seed=rng))
        if dropout > 0:
            layers.append(Dropout(dropout, seed=rng))
        n_in = units
    if settings.problem == "regression":
        layers.append(Dense(n_in, 1, "identity", seed=rng))
        return Network(layers, loss="mse", dtype="float64", device="cpu")
    if n_classes >= 3:
        layers.append(Dense(n_in, n_classes, "softmax", seed=rng))
        return Network(layers, loss="cross_entropy", dtype="float64", device="cpu")
    layers.append(Dense(n_in, 1, "sigmoid", seed=rng))
    return Network(layers, loss="binary_cross_entropy", dtype="float64", device="cpu")


def make_optimizer(settings: Settings) -> Optimizer:
    """The optimiser of ``settings``: 'momentum' is SGD with momentum 0.9, the others are
    ``glassnet.optim``'s optimisers of that name with their default hyperparameters."""
    if settings.optimizer == "momentum":
        return SGD(learning_rate=settings.learning_rate, momentum=0.9)
    return get_optimizer(settings.optimizer, learning_rate=settings.learning_rate)


def set_penalty(net: Network, settings: Settings) -> None:
    """Give ``net`` the L1 or L2 penalty of ``settings`` (rate 0 for the other, or for 'none')."""
    rate = settings.regularization_rate
    net.l1 = rate if settings.regularization == "l1" else 0.0
    net.l2 = rate if settings.regularization == "l2" else 0.0
