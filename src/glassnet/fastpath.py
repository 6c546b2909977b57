"""The training hot path: the delta recursion of :mod:`glassnet.network` on preallocated buffers.

``fit`` uses it for chains of :class:`~glassnet.layers.Dense` layers (no Residual, no Dropout,
no memory-mapped inputs). It computes what ``Network._backprop`` computes, the same equations
in the same order (the tests compare the two), but

* every ``z``, ``a``, ``delta``, ``grad_a``, ``dW``, ``db`` lives in a buffer allocated once per
  batch size and written with ``out=``; the batch is gathered into one buffer too;
* the parameters ``W, b`` of all layers are views into one flat array ``theta``, and the
  gradients views into one flat ``grad``: plain SGD is the single vector operation
  ``theta -= learning_rate * grad``. The layers' ``W`` and ``b`` stay live arrays (views);
* activation derivatives are applied in place from the cached outputs (ReLU ``a > 0``, tanh
  ``1 - a**2``, sigmoid ``a (1 - a)``); other activations use their own ``backward``;
* the fused softmax/cross-entropy and sigmoid/binary-cross-entropy output delta ``(a - y) / n``
  is formed together with the loss value from the same intermediate arrays;
* optionally the output delta is scaled by ``scale`` (``fit`` passes the learning rate for
  plain SGD when no callback reads the gradients): every ``dW``, ``db`` is then
  ``scale * dC/dW``, and the SGD step is ``theta -= grad``. ``unscale`` restores ``dC/dW``.

During ``fit`` the layers' ``z``, ``a``, ``delta``, ``dW`` and ``db`` are these buffers: a
callback that keeps them across batches must copy them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .layers import Dense

if TYPE_CHECKING:
    from .network import Network

__all__ = ["FastPath"]


class _Batch:
    """The buffers for one batch size ``n``: inputs, targets, and per layer z, a, grad_a_prev."""

    def __init__(self, n: int, net: "Network", Y_width: int):
        dtype, layers = net.dtype, net.layers
        self.X = np.empty((n, net.n_in), dtype)
        self.Y = np.empty((n, Y_width), dtype)
        self.w = np.empty(n, dtype)
        self.z = [np.empty((n, layer.n_out), dtype) for layer in layers]
        self.a = [np.empty((n, layer.n_out), dtype) for layer in layers]
        self.tmp = [np.empty((n, layer.n_out), dtype) for layer in layers]
        self.mask = [np.empty((n, layer.n_out), bool) for layer in layers]
        # grad_a of layer l - 1 = delta^l @ W^l, not needed below the first layer
        self.grad = [None] + [np.empty((n, layer.n_in), dtype) for layer in layers[1:]]
        # the output layer's row maxima and sums (softmax), and one more scratch array
        self.m = np.empty((n, 1), dtype)
        self.s = np.empty((n, 1), dtype)
        self.u = np.empty((n, layers[-1].n_out), dtype)


class FastPath:
    """Preallocated forward and backward passes for ``fit``; see the module docstring.

    Build with :meth:`build`, which returns None for networks it does not cover.
    """

    def __init__(self, net: "Network"):
        self.net = net
        self.layers: list[Dense] = list(net.layers)  # type: ignore[arg-type]
        self.fused = net.fused and net.loss_fn.name in ("cross_entropy", "binary_cross_entropy")
        self.out_name = self.layers[-1].activation.name
        sizes = [layer.W.size + layer.b.size for layer in self.layers]
        self.theta = np.empty(sum(sizes), net.dtype)
        self.grad = np.zeros(sum(sizes), net.dtype)
        self.dW: list[np.ndarray] = []
        self.db: list[np.ndarray] = []
        offset = 0
        for layer in self.layers:  # W, b become views into theta; dW, db into grad
            for name, grad_list in (("W", self.dW), ("b", self.db)):
                p = getattr(layer, name)
                self.theta[offset:offset + p.size] = p.ravel()
                setattr(layer, name, self.theta[offset:offset + p.size].reshape(p.shape))
                grad_list.append(self.grad[offset:offset + p.size].reshape(p.shape))
                offset += p.size
        self.grads = {f"{i}.{k}": g for i in range(len(self.layers))
                      for k, g in (("W", self.dW[i]), ("b", self.db[i]))}
        self._batches: dict[int, _Batch] = {}

    @classmethod
    def build(cls, net: "Network") -> "FastPath | None":
        """The fast path for ``net``, or None when a layer is not a plain Dense."""
        if not all(type(layer) is Dense for layer in net.layers):
            return None
        if any(layer.W.dtype != net.dtype or not layer.W.flags.c_contiguous for layer in net.layers):
            return None
        return cls(net)

    def batch(self, n: int, Y_width: int) -> _Batch:
        buf = self._batches.get(n)
        if buf is None:
            buf = self._batches[n] = _Batch(n, self.net, Y_width)
        return buf

    # ------------------------------------------------------------------ one step
    def backprop(self, X: np.ndarray, Y: np.ndarray, rows: np.ndarray,
                 w: np.ndarray | None = None, scale: float = 1.0) -> float:
        """Forward and backward on the samples ``rows`` of ``(X, Y, w)``; returns the batch loss.

        Leaves ``scale * dC/dW`` and ``scale * dC/db`` in ``self.grad`` (the layers' ``dW``, ``db``).
        """
        n = len(rows)
        buf = self.batch(n, Y.shape[1])
        # mode="clip": with out= and the default mode="raise", take copies through a temporary
        X_b = X.take(rows, axis=0, out=buf.X, mode="clip")
        Y_b = Y.take(rows, axis=0, out=buf.Y, mode="clip")
        w_b = None if w is None else w.take(rows, out=buf.w, mode="clip")
        layers, last = self.layers, len(self.layers) - 1

        # forward: z = a_prev @ W.T + b, a = f(z)
        a = X_b
        for i, layer in enumerate(layers):
            layer.a_prev = a
            z = np.matmul(a, layer.W.T, out=buf.z[i])
            z += layer.b
            a = self._activate(layer, i, z, buf) if i < last or not self.fused else buf.a[i]
            layer.z, layer.a = z, a

        # output delta (and the loss value from the same pieces)
        out = layers[last]
        if self.fused:
            loss, delta = self._fused_output(buf, Y_b, w_b, scale)
        else:
            loss = self.net.loss_fn.value(a, Y_b, w_b)
            grad_a = self.net.loss_fn.grad(a, Y_b, w_b)
            if scale != 1.0:
                grad_a *= scale
            delta = out.activation.backward(out.z, a, grad_a)
        if self.net.l2 or self.net.l1:
            loss += self.net.penalty()

        # backward: dW = delta.T @ a_prev, db = delta.sum(0), grad_a_prev = delta @ W
        for i in range(last, -1, -1):
            layer = layers[i]
            if i < last:
                delta = self._derivative(layer, i, buf.grad[i + 1], buf)
            layer.delta = delta
            np.matmul(delta.T, layer.a_prev, out=self.dW[i])
            np.add.reduce(delta, axis=0, out=self.db[i])  # db = delta.sum(axis=0)
            layer.dW, layer.db = self.dW[i], self.db[i]
            if i > 0:
                np.matmul(delta, layer.W, out=buf.grad[i])
        if self.net.l2 or self.net.l1:
            for layer in layers:
                if self.net.l2:
                    layer.dW += (scale * self.net.l2) * layer.W
                if self.net.l1:
                    layer.dW += (scale * self.net.l1) * np.sign(layer.W)
        return loss

    def unscale(self, scale: float) -> None:
        """Turn ``scale * dC/dW`` back into ``dC/dW`` (gradients and the layers' deltas)."""
        if scale != 1.0:
            self.grad /= scale
            for layer in self.layers:
                if layer.delta is not None:
                    layer.delta /= scale

    # ------------------------------------------------------------------ pieces
    def _activate(self, layer: Dense, i: int, z: np.ndarray, buf: _Batch) -> np.ndarray:
        """``a = f(z)`` into the buffer for the common activations, else ``f`` itself."""
        name, a = layer.activation.name, buf.a[i]
        if name == "relu":
            return np.maximum(z, 0, out=a)
        if name == "tanh":
            return np.tanh(z, out=a)
        if name == "identity":
            return z
        return layer.activation.forward(z)

    def _derivative(self, layer: Dense, i: int, grad_a: np.ndarray, buf: _Batch) -> np.ndarray:
        """``delta = grad_a * f'(z)``, in place in ``grad_a`` from the cached output ``a``."""
        name, a = layer.activation.name, layer.a
        if name == "relu":  # f'(z) = 1 where a > 0 (z > 0), else 0
            grad_a *= np.greater(a, 0, out=buf.mask[i])
            return grad_a
        if name == "tanh":  # f'(z) = 1 - a^2
            t = np.multiply(a, a, out=buf.tmp[i])
            np.subtract(1, t, out=t)
            grad_a *= t
            return grad_a
        if name == "sigmoid":  # f'(z) = a (1 - a)
            t = np.subtract(1, a, out=buf.tmp[i])
            t *= a
            grad_a *= t
            return grad_a
        if name == "identity":
            return grad_a
        return layer.activation.backward(layer.z, a, grad_a)

    def _fused_output(self, buf: _Batch, Y: np.ndarray, w: np.ndarray | None,
                      scale: float) -> tuple[float, np.ndarray]:
        """Output ``a``, the loss ``C`` from the logits, and ``delta = scale * w (a - y) / n``."""
        i = len(self.layers) - 1
        z, a, t, u = buf.z[i], buf.a[i], buf.tmp[i], buf.u
        n = len(z)
        if self.out_name == "softmax":
            m, s = buf.m, buf.s
            np.maximum.reduce(z, axis=1, keepdims=True, out=m)  # a = exp(z - m) / s, s row sums
            np.subtract(z, m, out=a)
            np.exp(a, out=a)
            np.add.reduce(a, axis=1, keepdims=True, out=s)
            a /= s
            np.log(s, out=s)  # log-sum-exp: lse = m + log s
            s += m
            np.subtract(s, z, out=t)  # c_i = -sum_j y_ij (z_ij - lse_i)
            t *= Y
        else:
            e = np.abs(z, out=t)  # e = exp(-|z|): no overflow for any z
            np.negative(e, out=e)
            np.exp(e, out=e)
            np.add(e, 1, out=u)  # a = (1 if z >= 0 else e) / (1 + e)
            np.copyto(a, e)
            np.copyto(a, 1, where=np.greater_equal(z, 0, out=buf.mask[i]))
            a /= u
            np.log1p(e, out=e)  # c = max(z, 0) - y z + log1p(e), per unit
            t += np.maximum(z, 0, out=u)
            t -= np.multiply(Y, z, out=u)
        if w is None:
            loss = float(t.sum()) / n
        else:
            loss = float(np.mean(w * t.sum(axis=1)))
        delta = np.subtract(a, Y, out=t)  # dC/dz^L = w (a - y) / n
        if w is None:
            delta *= scale / n
        else:
            delta *= (w * (scale / n))[:, None]
        self.layers[i].a = a
        return loss, delta


def predict(net: "Network", X: np.ndarray, batch_size: int) -> np.ndarray | None:
    """``a^L`` for checked ``X`` in batches, into one output array; None when not all Dense.

    Inference only (no caches kept): per layer ``z = a_prev @ W.T``, ``z += b``, ``a = f(z)``
    in place in ``z``, the last layer's straight into its rows of the output.
    """
    layers = net.layers
    if not all(type(layer) is Dense for layer in layers):
        return None
    last = len(layers) - 1
    out = np.empty((len(X), net.n_out), net.dtype)
    n = min(batch_size, len(X))
    bufs = [np.empty((n, layer.n_out), net.dtype) for layer in layers[:-1]]
    row = np.empty(n, net.dtype)  # the softmax's row maxima, then its row sums
    with np.errstate(under="ignore"):  # exp underflows to 0 in softmax and sigmoid, harmlessly
        for start in range(0, len(X), batch_size):
            a = X[start:start + batch_size]
            m = len(a)
            for i, layer in enumerate(layers):
                z = np.matmul(a, layer.W.T, out=out[start:start + m] if i == last else bufs[i][:m])
                z += layer.b
                a = _activate_in_place(layer.activation, z, row[:m])
    return out


def _activate_in_place(activation: Any, z: np.ndarray, row: np.ndarray) -> np.ndarray:
    """``f(z)`` written over ``z``; ``row`` is scratch of shape (len(z),)."""
    name = activation.name
    if name == "relu":
        return np.maximum(z, 0, out=z)
    if name == "tanh":
        return np.tanh(z, out=z)
    if name == "softmax":  # exp(z - max) / sum, per row
        z -= _reduce_rows(np.maximum, z, row)[:, None]
        np.exp(z, out=z)
        z /= _reduce_rows(np.add, z, row)[:, None]
        return z
    if name != "identity":
        z[...] = activation.forward(z)
    return z


def _reduce_rows(ufunc: np.ufunc, z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(z, axis=1)`` into ``out``; column by column for a few columns.

    numpy reduces each short row in a call of its own: for 10 classes a loop over the
    columns, each one operation on all rows, is about 4 times faster.
    """
    if z.shape[1] > 16:
        return ufunc.reduce(z, axis=1, out=out)
    np.copyto(out, z[:, 0])
    for j in range(1, z.shape[1]):
        ufunc(out, z[:, j], out=out)
    return out
