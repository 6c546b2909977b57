"""PyTorch as the oracle: the same network written with torch ops, gradients by autograd.

Imported only by tests marked ``torch``; each such test module calls
``pytest.importorskip("torch")`` first, so the suite skips them cleanly without torch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from glassnet import Dense, Network, Residual

TORCH_ACTIVATIONS = {
    "identity": lambda z, act: z,
    "sigmoid": lambda z, act: torch.sigmoid(z),
    "tanh": lambda z, act: torch.tanh(z),
    "relu": lambda z, act: torch.relu(z),
    "leaky_relu": lambda z, act: F.leaky_relu(z, act.slope),
    "elu": lambda z, act: F.elu(z, act.alpha),
    "softplus": lambda z, act: F.softplus(z),
    "gelu": lambda z, act: F.gelu(z, approximate="tanh"),
    "softmax": lambda z, act: torch.softmax(z, dim=1),
}


def torch_activation(act, z):
    return TORCH_ACTIVATIONS[act.name](z, act)


def torch_loss(net: Network, a, z_out, Y):
    """The batch loss in torch: the mean over samples of the per-sample sum over units."""
    n, name = a.shape[0], net.loss_fn.name
    if name == "mse":
        return 0.5 * ((a - Y) ** 2).sum() / n
    if name == "huber":
        return F.huber_loss(a, Y, reduction="sum", delta=net.loss_fn.delta) / n
    if name == "cross_entropy":
        return -(Y * torch.log_softmax(z_out, dim=1)).sum() / n
    if name == "binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(z_out, Y, reduction="sum") / n
    raise KeyError(name)


def torch_backprop(net: Network, X: np.ndarray, y):
    """Forward output, loss, parameter gradients (same keys as net.params()) and dC/dX."""
    _, Y = net.check_Xy(X, y)
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in net.params().items()}
    x = torch.tensor(np.asarray(X, dtype=np.float64), requires_grad=True)

    def run(layer, h, prefix):
        if isinstance(layer, Dense):
            z = h @ params[prefix + "W"].T + params[prefix + "b"]
        elif isinstance(layer, Residual):  # a = x + F(x)
            f = h
            for j, inner in enumerate(layer.layers):
                f, _ = run(inner, f, f"{prefix}{j}.")
            return h + f, h + f
        else:
            raise TypeError(type(layer))
        return torch_activation(layer.activation, z), z

    a = x
    for i, layer in enumerate(net.layers):
        a, z = run(layer, a, f"{i}.")
    loss = torch_loss(net, a, z, torch.tensor(Y, dtype=torch.float64))
    loss.backward()
    loss = loss.detach()
    grads = {k: p.grad.numpy() for k, p in params.items()}
    return a.detach().numpy(), loss.item(), grads, x.grad.numpy()


def torch_forward_fn(net: Network):
    """``x -> a^L`` for one sample ``x`` of shape (n_in,), in torch float64 (for torch.func)."""
    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in net.params().items()}

    def run(layer, h, prefix):
        if isinstance(layer, Dense):
            z = h @ params[prefix + "W"].T + params[prefix + "b"]
        elif isinstance(layer, Residual):  # a = x + F(x)
            f = h
            for j, inner in enumerate(layer.layers):
                f = run(inner, f, f"{prefix}{j}.")
            return h + f
        else:
            raise TypeError(type(layer))
        return torch_activation(layer.activation, z)

    def forward(x):
        a = x.reshape(1, -1)
        for i, layer in enumerate(net.layers):
            a = run(layer, a, f"{i}.")
        return a[0]

    return forward
