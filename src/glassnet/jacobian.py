"""The Jacobian ``dy/dx`` of a network's output with respect to its input, both ways.

For one sample ``x`` the Jacobian is ``J[j, k] = d a^L_j / d x_k``, the product of the
layers' own Jacobians::

    J = diag(f'(z^L)) W^L ... diag(f'(z^1)) W^1

Two ways to evaluate the product without forming any layer's Jacobian:

reverse mode (vector-Jacobian products, one per output unit)
    Seed ``dC/da^L = e_j`` and run the delta recursion down to the input:
    ``delta^l = grad_a^l * f'(z^l)``, ``grad_a^{l-1} = delta^l @ W^l``. The result is row ``j``
    of ``J``. Cost: ``n_out`` backward passes.
forward mode (Jacobian-vector products, one per input unit)
    Seed the input tangent ``da^0 = e_k`` and push it up through the layers:
    ``dz^l = da^{l-1} @ W^l.T``, ``da^l = f'(z^l) * dz^l`` (softmax:
    ``a * (dz - sum(dz * a))``). The result is column ``k`` of ``J``. Cost: ``n_in`` forward
    tangent passes.

Forward mode is the correct form of a "forward propagation of derivatives" (docs/derivation.md):
tangents move forward by the same chain rule, multiplied in the other order; nothing is ever
inverted, nor divided by ``W``.

Both modes batch over samples: a seed is the same unit vector for every row of ``X``, and rows
never mix in a fully connected network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .device import to_numpy
from .gradcheck import _central

if TYPE_CHECKING:
    from .network import Network

__all__ = ["JACOBIAN_MODES", "jacobian", "numeric_jacobian"]

JACOBIAN_MODES = ("auto", "reverse", "forward")
AUTO_CROSSOVER = 1.5
"""``mode='auto'`` pushes tangents forward while ``n_in < AUTO_CROSSOVER * n_out``."""


def jacobian(net: "Network", X: Any, mode: str = "auto") -> np.ndarray:
    """``J[i, j, k] = d a^L_j / d x_k`` at sample ``X[i]``, by reverse or forward mode.

    Parameters
    ----------
    net : Network
        Any network of Dense and Residual layers. Its cached ``z``, ``a`` (and, in reverse
        mode, ``delta``, ``dW``, ``db``) are overwritten.
    X : array-like of shape (n_samples, n_in)
    mode : {'auto', 'reverse', 'forward'}, default='auto'
        ``'reverse'``: one backward pass per output unit; ``'forward'``: one tangent pass per
        input unit; ``'auto'``: forward when ``n_in < 1.5 n_out`` (the measured
        break-even), else reverse.

    Returns
    -------
    ndarray of shape (n_samples, n_out, n_in)
        In the network's dtype; a NumPy array also for a network on a GPU.

    Raises
    ------
    ValueError
        For an unknown ``mode``, or ``X`` of the wrong shape.

    Notes
    -----
    Reverse mode is :meth:`Network.vjp` seeded with ``e_j``; forward mode calls each layer's
    ``jvp``. ``dC/dX`` of a loss equals ``sum_j (dC/da^L_j) J[:, j, :]``, which is what
    :func:`glassnet.input_gradient` computes in one backward pass.

    Examples
    --------
    >>> from glassnet import mlp
    >>> net = mlp([3, 4, 2], activation="tanh", seed=0, dtype="float64")
    >>> J = jacobian(net, np.ones((5, 3)))
    >>> J.shape
    (5, 2, 3)
    >>> bool(np.allclose(J, jacobian(net, np.ones((5, 3)), mode="forward")))
    True
    """
    if mode not in JACOBIAN_MODES:
        raise ValueError(
            f"The 'mode' parameter of jacobian must be one of {', '.join(JACOBIAN_MODES)}; "
            f"got {mode!r}."
        )
    X, xp = net.to_device(net.check_X(X)), net.xp  # on a GPU the passes run there
    if mode == "auto":
        # a reverse pass costs more than a forward one (each layer's backward also forms dW):
        # measured break-even at n_in / n_out of 1.3 to 1.6 for batches of 32 samples
        # (bench/jacobian_crossover.py, docs/glassbox.md)
        mode = "forward" if net.n_in < AUTO_CROSSOVER * net.n_out else "reverse"
    net.propagate(X)
    n_samples = len(X)
    J = xp.empty((n_samples, net.n_out, net.n_in), dtype=net.dtype)
    if mode == "reverse":
        for j in range(net.n_out):  # row j of J: the delta recursion seeded with e_j
            grad_a = xp.zeros((n_samples, net.n_out), dtype=net.dtype)
            grad_a[:, j] = 1
            J[:, j, :] = net.vjp(grad_a)
    else:
        for k in range(net.n_in):  # column k of J: the tangent of input unit k pushed forward
            da = xp.zeros((n_samples, net.n_in), dtype=net.dtype)
            da[:, k] = 1
            for layer in net.layers:
                da = layer.jvp(da)
            J[:, :, k] = da
    return to_numpy(J)


def numeric_jacobian(net: "Network", X: Any, eps: float = 1e-4) -> np.ndarray:
    """``J[i, j, k] ~ (a^L(x_i + eps e_k) - a^L(x_i - eps e_k))_j / (2 eps)``, fourth order.

    The same fourth-order central difference as :func:`glassnet.gradcheck`, on a float64
    copy of ``net``; the result has shape (n_samples, n_out, n_in).
    """
    net64 = net.astype("float64").to("cpu")  # finite differences run on a host copy
    X = net64.check_X(X).copy()
    J = np.empty((len(X), net64.n_out, net64.n_in))
    for k in range(net64.n_in):
        old = X[:, k].copy()
        outputs = []
        for step in (eps, -eps, 2 * eps, -2 * eps):
            X[:, k] = old + step
            outputs.append(net64.infer(X).copy())
        X[:, k] = old
        J[:, :, k] = _central(outputs, eps)
    return J
