"""The training hot path: the delta recursion of :mod:`glassnet.network` on preallocated buffers.

``fit`` uses it for chains of :class:`~glassnet.layers.Dense` layers, each optionally followed by
a :class:`~glassnet.layers.Dropout` (no Residual, no memory-mapped inputs). It computes what
``Network._backprop`` computes, the same equations in the same order (the tests compare the
two), but

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

The same code runs on CuPy arrays for a network on a GPU: the buffers are made with the
network's array module ``xp``, and NumPy's functions dispatch to CuPy's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .layers import Dense, Dropout

if TYPE_CHECKING:
    from .network import Network

__all__ = ["FastPath"]


class _Batch:
    """The buffers for one batch size ``n``: inputs, targets, and per layer z, a, grad_a_prev."""

    def __init__(self, n: int, fast: "FastPath", Y_width: int):
        net, layers, drops = fast.net, fast.layers, fast.drops
        dtype, empty = net.dtype, net.xp.empty
        self.X = empty((n, net.n_in), dtype)
        self.Y = empty((n, Y_width), dtype)
        self.w = empty(n, dtype)
        self.z = [empty((n, layer.n_out), dtype) for layer in layers]
        # the outputs after dropout, a * mask, where a Dropout follows the layer
        self.d = [empty((n, layer.n_out), dtype) if drop is not None else None
                  for layer, drop in zip(layers, drops)]
        self.a = [empty((n, layer.n_out), dtype) for layer in layers]
        self.tmp = [empty((n, layer.n_out), dtype) for layer in layers]
        self.mask = [empty((n, layer.n_out), bool) for layer in layers]
        # grad_a of layer l - 1 = delta^l @ W^l, not needed below the first layer
        self.grad = [None] + [empty((n, layer.n_in), dtype) for layer in layers[1:]]
        # the output layer's row maxima and sums (softmax), and one more scratch array
        self.m = empty(n, dtype)
        self.s = empty(n, dtype)
        # ones for sums as matrix-vector products (BLAS, 2-3 times numpy's reductions here):
        # db = ones_n @ delta, the softmax's row sums a @ ones_out
        self.ones_n = net.xp.ones(n, dtype)
        self.ones_out = net.xp.ones(layers[-1].n_out, dtype)
        self.u = empty((n, layers[-1].n_out), dtype)


class FastPath:
    """Preallocated forward and backward passes for ``fit``; see the module docstring.

    Build with :meth:`build`, which returns None for networks it does not cover.
    """

    def __init__(self, net: "Network"):
        self.net = net
        self.xp = net.xp  # numpy, or cupy on a GPU
        # the Dense layers, the Dropout after each (or None), and each one's index in net.layers
        self.layers: list[Dense] = []
        self.drops: list[Dropout | None] = []
        index: list[int] = []
        for i, layer in enumerate(net.layers):
            if isinstance(layer, Dropout):
                self.drops[-1] = layer
            else:
                self.layers.append(layer)  # type: ignore[arg-type]
                self.drops.append(None)
                index.append(i)
        self.fused = net.fused and net.loss_fn.name in ("cross_entropy", "binary_cross_entropy")
        self.out_name = self.layers[-1].activation.name
        sizes = [layer.W.size + layer.b.size for layer in self.layers]
        self.theta = self.xp.empty(sum(sizes), net.dtype)
        self.grad = self.xp.zeros(sum(sizes), net.dtype)
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
        self.grads = {f"{index[i]}.{k}": g for i in range(len(self.layers))
                      for k, g in (("W", self.dW[i]), ("b", self.db[i]))}
        self._batches: dict[int, _Batch] = {}

    @classmethod
    def build(cls, net: "Network") -> "FastPath | None":
        """The fast path for ``net``; None unless it is Dense layers, each with optional Dropout."""
        kinds = "".join("D" if type(layer) is Dense else "d" if type(layer) is Dropout else "?"
                        for layer in net.layers)
        if "?" in kinds or "dd" in kinds or kinds[0] != "D" or kinds[-1] != "D":
            return None
        net_layers = [layer for layer in net.layers if type(layer) is Dense]
        if any(layer.W.dtype != net.dtype or not layer.W.flags.c_contiguous
               for layer in net_layers):
            return None
        return cls(net)

    def batch(self, n: int, Y_width: int) -> _Batch:
        buf = self._batches.get(n)
        if buf is None:
            buf = self._batches[n] = _Batch(n, self, Y_width)
        return buf

    # ------------------------------------------------------------------ one step
    def backprop(self, X: np.ndarray, Y: np.ndarray, rows: np.ndarray,
                 w: np.ndarray | None = None, scale: float = 1.0) -> float:
        """Forward and backward on the samples ``rows`` of ``(X, Y, w)``; returns the batch loss.

        Leaves ``scale * dC/dW`` and ``scale * dC/db`` in ``self.grad`` (the layers' ``dW``, ``db``).
        """
        n = len(rows)
        buf = self.batch(n, Y.shape[1])
        X_b, Y_b = self._take(X, rows, buf.X), self._take(Y, rows, buf.Y)
        w_b = None if w is None else self._take(w, rows, buf.w)
        layers, last, xp = self.layers, len(self.layers) - 1, self.xp

        # forward: z = a_prev @ W.T + b, a = f(z)
        a = X_b
        for i, layer in enumerate(layers):
            layer.a_prev = a
            z = xp.matmul(a, layer.W.T, out=buf.z[i])
            z += layer.b
            a = self._activate(layer, i, z, buf) if i < last or not self.fused else buf.a[i]
            layer.z, layer.a = z, a
            drop = self.drops[i]
            if drop is not None:  # while training, the next layer sees a * mask
                if drop.training and drop.p:
                    a = xp.multiply(a, drop.draw_mask(a), out=buf.d[i])
                else:
                    drop.mask = None

        # output delta (and the loss value from the same pieces)
        out = layers[last]
        if self.fused:
            loss_sum, delta = self._fused_output(buf, Y_b, w_b, scale)
        else:
            loss = self.net.loss_fn.value(a, Y_b, w_b)
            grad_a = self.net.loss_fn.grad(a, Y_b, w_b)
            if scale != 1.0:
                grad_a *= scale
            delta = out.activation.backward(out.z, a, grad_a)

        # backward: dW = delta.T @ a_prev, db = delta.sum(0), grad_a_prev = delta @ W
        for i in range(last, -1, -1):
            layer = layers[i]
            if i < last:
                grad_a, drop = buf.grad[i + 1], self.drops[i]
                if drop is not None and drop.mask is not None:
                    grad_a *= drop.mask  # through the dropout: dC/da = dC/d(a * mask) * mask
                delta = self._derivative(layer, i, grad_a, buf)
            layer.delta = delta
            xp.matmul(delta.T, layer.a_prev, out=self.dW[i])
            xp.matmul(buf.ones_n, delta, out=self.db[i])  # db = delta.sum(axis=0)
            layer.dW, layer.db = self.dW[i], self.db[i]
            if i > 0:
                xp.matmul(delta, layer.W, out=buf.grad[i])
        if self.net.l2 or self.net.l1:
            for layer in layers:
                if self.net.l2:
                    layer.dW += (scale * self.net.l2) * layer.W
                if self.net.l1:
                    layer.dW += (scale * self.net.l1) * xp.sign(layer.W)
        if self.fused:  # on a GPU the step's one wait for the device, after all was queued
            loss = float(loss_sum) / n
        return loss + self.net.penalty() if self.net.l2 or self.net.l1 else loss

    def _take(self, A: np.ndarray, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``A[rows]`` written into ``out``."""
        if self.xp is np:  # mode="clip": with out= and mode="raise", numpy copies via a temporary
            return A.take(rows, axis=0, out=out, mode="clip")
        return self.xp.take(A, self.xp.asarray(rows), axis=0, out=out)

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
        name, a, xp = layer.activation.name, buf.a[i], self.xp
        if name == "relu":
            return xp.maximum(z, 0, out=a)
        if name == "tanh":
            return xp.tanh(z, out=a)
        if name == "identity":
            return z
        return layer.activation.forward(z)

    def _derivative(self, layer: Dense, i: int, grad_a: np.ndarray, buf: _Batch) -> np.ndarray:
        """``delta = grad_a * f'(z)``, in place in ``grad_a`` from the cached output ``a``."""
        name, a, xp = layer.activation.name, layer.a, self.xp
        if name == "relu":  # f'(z) = 1 where a > 0 (z > 0), else 0
            grad_a *= xp.greater(a, 0, out=buf.mask[i])
            return grad_a
        if name == "tanh":  # f'(z) = 1 - a^2
            t = xp.multiply(a, a, out=buf.tmp[i])
            xp.subtract(1, t, out=t)
            grad_a *= t
            return grad_a
        if name == "sigmoid":  # f'(z) = a (1 - a)
            t = xp.subtract(1, a, out=buf.tmp[i])
            t *= a
            grad_a *= t
            return grad_a
        if name == "identity":
            return grad_a
        return layer.activation.backward(layer.z, a, grad_a)

    def _fused_output(self, buf: _Batch, Y: np.ndarray, w: np.ndarray | None,
                      scale: float) -> tuple[Any, np.ndarray]:
        """Output ``a``, ``n C`` from the logits (0-d), and ``delta = scale * w (a - y) / n``."""
        i = len(self.layers) - 1
        z, a, t, u = buf.z[i], buf.a[i], buf.tmp[i], buf.u
        n, xp = len(z), self.xp
        if self.out_name == "softmax":
            m, s = buf.m, buf.s  # a = exp(z - m) / s: m row maxima, s row sums
            _reduce_rows(xp, "max", z, m)
            m, s = m[:, None], s[:, None]
            xp.subtract(z, m, out=a)
            xp.exp(a, out=a)
            xp.matmul(a, buf.ones_out, out=buf.s)
            a /= s
            xp.log(s, out=s)  # log-sum-exp: lse = m + log s
            s += m
            xp.subtract(s, z, out=t)  # c_i = -sum_j y_ij (z_ij - lse_i)
            t *= Y
        else:
            e = xp.abs(z, out=t)  # e = exp(-|z|): no overflow for any z
            xp.negative(e, out=e)
            xp.exp(e, out=e)
            xp.add(e, 1, out=u)  # a = (1 if z >= 0 else e) / (1 + e)
            xp.copyto(a, e)
            xp.copyto(a, 1, where=xp.greater_equal(z, 0, out=buf.mask[i]))
            a /= u
            xp.log1p(e, out=e)  # c = max(z, 0) - y z + log1p(e), per unit
            t += xp.maximum(z, 0, out=u)
            t -= xp.multiply(Y, z, out=u)
        # sum_i w_i c_i, still an array: on a GPU, backprop waits for it only at its end
        loss_sum = t.sum() if w is None else (w * t.sum(axis=1)).sum()
        delta = xp.subtract(a, Y, out=t)  # dC/dz^L = w (a - y) / n
        if w is None:
            delta *= scale / n
        else:
            delta *= (w * (scale / n))[:, None]
        self.layers[i].a = a
        return loss_sum, delta


def predict(net: "Network", X: np.ndarray, batch_size: int) -> np.ndarray | None:
    """``a^L`` for checked ``X`` in batches, into one output array; None when not all Dense.

    Inference only (no caches kept, Dropout is the identity): per layer ``z = a_prev @ W.T``,
    ``z += b``, ``a = f(z)`` in place in ``z``, the last layer's straight into its rows of the
    output.
    """
    layers = [layer for layer in net.layers if type(layer) is not Dropout]
    if not all(type(layer) is Dense for layer in layers):
        return None
    last, xp = len(layers) - 1, net.xp
    out = xp.empty((len(X), net.n_out), net.dtype)
    n = min(batch_size, len(X))
    bufs = [xp.empty((n, layer.n_out), net.dtype) for layer in layers[:-1]]
    row = xp.empty(n, net.dtype)  # the softmax's row maxima, then its row sums
    with np.errstate(under="ignore"):  # exp underflows to 0 in softmax and sigmoid, harmlessly
        for start in range(0, len(X), batch_size):
            a = X[start:start + batch_size]
            m = len(a)
            for i, layer in enumerate(layers):
                z = xp.matmul(a, layer.W.T, out=out[start:start + m] if i == last else bufs[i][:m])
                z += layer.b
                a = _activate_in_place(xp, layer.activation, z, row[:m])
    return out


def _activate_in_place(xp: Any, activation: Any, z: np.ndarray, row: np.ndarray) -> np.ndarray:
    """``f(z)`` written over ``z``; ``row`` is scratch of shape (len(z),)."""
    name = activation.name
    if name == "relu":
        return xp.maximum(z, 0, out=z)
    if name == "tanh":
        return xp.tanh(z, out=z)
    if name == "softmax":  # exp(z - max) / sum, per row
        z -= _reduce_rows(xp, "max", z, row)[:, None]
        xp.exp(z, out=z)
        z /= _reduce_rows(xp, "sum", z, row)[:, None]
        return z
    if name != "identity":
        z[...] = activation.forward(z)
    return z


def _reduce_rows(xp: Any, how: str, z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``z.max(axis=1)`` or ``z.sum(axis=1)`` (``how``) into ``out``; by columns for a few columns.

    numpy reduces each short row in a call of its own: for 10 classes a loop over the
    columns, each one operation on all rows, is about 4 times faster. (On a GPU, where each
    operation is a kernel launch, one reduction.)
    """
    if z.shape[1] > 16 or xp is not np:
        return getattr(xp, how)(z, axis=1, out=out)
    ufunc = np.maximum if how == "max" else np.add
    np.copyto(out, z[:, 0])
    for j in range(1, z.shape[1]):
        ufunc(out, z[:, j], out=out)
    return out
