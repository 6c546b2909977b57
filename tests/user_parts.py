"""Parts a user writes, for the tests of what glassnet does with types it has no rule for:
``Scale``, a layer ``a = a_prev * s`` (per-sample gradients, the R-operator), and ``Cube``, an
activation ``f(z) = z^3`` written without ``out=`` arguments or a second derivative."""

from __future__ import annotations

import numpy as np

from glassnet.activations import Activation
from glassnet.layers import Layer


class Scale(Layer):
    """``a = a_prev * s`` feature by feature: ``ds = sum_i grad_a_i * a_prev_i``."""

    param_names = ("s",)

    def __init__(self, n: int):
        self.n_in = self.n_out = n
        self.s = np.ones(n)

    def forward(self, a_prev):
        self.a_prev = a_prev
        self.a = a_prev * self.s
        return self.a

    def backward(self, grad_a, input_grad=True):
        self.ds = (grad_a * self.a_prev).sum(0)
        return grad_a * self.s

    def config(self):
        return {"type": "Scale", "n": self.n_in}


class Cube(Activation):
    """``f(z) = z^3``, ``f'(z) = 3 z^2``: the protocol's two required methods, nothing else."""

    name = "cube"

    def forward(self, z):
        return z ** 3

    def derivative(self, z, a):
        return 3 * z ** 2
