"""Central differences for the tests: the reference that analytic gradients are held to."""

import numpy as np


def central_diff(f, x, eps=1e-6):
    """``df/dx`` of a scalar function ``f()`` by central differences, entry by entry (float64).

    ``x`` is changed in place, one entry at a time, and restored.
    """
    grad = np.empty_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        out[i] = (up - down) / (2 * eps)
    return grad
