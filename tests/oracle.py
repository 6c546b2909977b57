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


# ---------------------------------------------------------------------- for torch.func


def torch_functional(net: Network, masks=None):
    """``(output, loss)`` functions of a parameter dict, in torch float64, for torch.func.

    ``output(params, X)`` gives the network's output and ``loss(params, X, Y, w)`` the cost
    ``(1/n) sum_i w_i c_i + penalty``. The output is the logits ``z^L`` for the fused losses
    (softmax + cross-entropy, sigmoid + binary cross-entropy), else ``a^L``; ``output_loss(o,
    Y, w)`` is the loss as a function of it. Dropout layers multiply by ``masks[key]`` (the
    mask rows of the samples given, or None for the identity). Works on one sample as well
    (X of shape (n_in,)), for vmap.
    """
    from glassnet.layers import walk

    masks = masks or {}
    layer_keys = {id(layer): key for key, layer in walk(net.layers)}
    fused = net.fused

    def run(layer, h, params, X_masks):
        key = layer_keys[id(layer)]
        kind = layer.config()["type"]
        if kind == "Dense":
            z = h @ params[key + ".W"].T + params[key + ".b"]
            return torch_activation(layer.activation, z), z
        if kind == "Residual":
            f = h
            for inner in layer.layers:
                f, _ = run(inner, f, params, X_masks)
            return h + f, None
        if kind == "Dropout":
            m = X_masks.get(key)
            return (h if m is None else h * m), None
        raise TypeError(kind)

    def output(params, X, X_masks=None):
        one = X.ndim == 1
        a, z = (X.reshape(1, -1) if one else X), None
        for layer in net.layers:
            a, z = run(layer, a, params, X_masks if X_masks is not None else masks)
        o = z if fused else a
        return o[0] if one else o

    def output_loss(o, Y, w=None):
        o2, Y2 = (o.reshape(1, -1), Y.reshape(1, -1)) if o.ndim == 1 else (o, Y)
        n, name = o2.shape[0], net.loss_fn.name
        if name == "mse":
            per = 0.5 * ((o2 - Y2) ** 2).sum(1)
        elif name == "huber":  # written out: F.huber_loss has no forward-mode derivative
            r, d = (o2 - Y2).abs(), net.loss_fn.delta
            per = torch.where(r <= d, 0.5 * r * r, d * (r - 0.5 * d)).sum(1)
        elif name == "cross_entropy":
            log_a = torch.log_softmax(o2, dim=1) if fused else torch.log(o2)
            per = -(Y2 * log_a).sum(1)
        elif name == "binary_cross_entropy":
            per = (F.binary_cross_entropy_with_logits(o2, Y2, reduction="none") if fused
                   else F.binary_cross_entropy(o2, Y2, reduction="none")).sum(1)
        else:
            raise KeyError(name)
        if w is not None:
            per = per * w
        return per.sum() / n

    def penalty(params):
        total = 0.0
        for key, layer in walk(net.layers):
            for name in layer.penalized:
                W = params[f"{key}.{name}"]
                total = total + 0.5 * net.l2 * (W ** 2).sum() + net.l1 * W.abs().sum()
        return total

    def loss(params, X, Y, w=None, X_masks=None):
        return output_loss(output(params, X, X_masks), Y, w) + penalty(params)

    return output, output_loss, loss, penalty


def torch_params(net: Network):
    """``net.params()`` as torch float64 tensors (the same keys)."""
    return {k: torch.tensor(np.asarray(v), dtype=torch.float64) for k, v in net.params().items()}


def flatten(params):
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten(net: Network, theta):
    """A flat torch vector laid out like ``net.theta`` as a dict keyed like ``net.params()``."""
    out, offset = {}, 0
    for key, p in net.params().items():
        out[key] = theta[offset:offset + p.size].reshape(p.shape)
        offset += p.size
    return out
