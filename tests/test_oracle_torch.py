"""Forward outputs, losses, parameter and input gradients equal PyTorch autograd's (float64)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from glassnet import ACTIVATIONS, LOSSES, Dense, Network, Residual, gradcheck, input_gradient  # noqa: E402
from oracle import torch_backprop  # noqa: E402

pytestmark = pytest.mark.torch
REQUIRED = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}


def build(n_in, widths, hidden, loss, residual, seed):
    """Dense layers n_in -> widths...; with ``residual``, hidden layers of equal width are blocks."""
    rng = np.random.default_rng(seed)
    layers, prev = [], n_in
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        act = REQUIRED.get(loss, hidden) if last else hidden
        if residual and not last and width == prev:
            layers.append(Residual(Dense(prev, width, hidden, seed=rng, dtype="float64"),
                                   Dense(width, width, act, seed=rng, dtype="float64")))
        else:
            layers.append(Dense(prev, width, act, seed=rng, dtype="float64"))
        prev = width
    for layer in layers:  # nonzero biases, so that db and the bias path are really tested
        for key, p in layer.params().items():
            if key.endswith("b"):
                p[...] = rng.normal(scale=0.5, size=p.shape)
    return Network(layers, loss=loss, dtype="float64")


def targets(loss, n, n_out, rng):
    if loss == "cross_entropy":
        return rng.integers(0, n_out, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, n_out))
    return rng.normal(size=(n, n_out))


def assert_rel(actual, expected, rtol):
    scale = max(np.abs(expected).max(), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def check_against_torch(net, X, y, rtol=1e-10):
    a_t, loss_t, grads_t, grad_x_t = torch_backprop(net, X, y)
    loss = net.backprop(X, y, input_grad=True)
    assert loss == pytest.approx(loss_t, rel=rtol)
    assert_rel(net.forward(X), a_t, rtol)
    grads = net.grads()
    assert grads.keys() == grads_t.keys()
    for key in grads:
        assert_rel(grads[key], grads_t[key], rtol)
    assert_rel(input_gradient(net, X, y), grad_x_t, rtol)


CASES = [(act, loss, depth, residual)
         for act in sorted(ACTIVATIONS) for loss in sorted(LOSSES)
         for depth in (1, 2, 3, 4) for residual in (False, True)
         if not (depth <= 2 and residual)]  # a residual block needs a hidden layer after the first


@pytest.mark.parametrize("act,loss,depth,residual", CASES)
def test_matches_torch_and_finite_differences(act, loss, depth, residual):
    rng = np.random.default_rng(depth * 7 + residual)
    widths = [5] * (depth - 1) + [3]
    net = build(4, widths, act, loss, residual, seed=depth)
    if residual:
        assert any(isinstance(layer, Residual) for layer in net.layers)
    X = rng.normal(size=(6, 4))
    y = targets(loss, 6, 3, rng)
    check_against_torch(net, X, y)
    report = gradcheck(net, X, y)
    assert report.passed, report.table()
    assert report.max_rel_error < 1e-6


@settings(max_examples=40, deadline=None)
@given(
    n_in=st.integers(1, 12),
    widths=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    n=st.integers(1, 16),
    act=st.sampled_from(sorted(ACTIVATIONS)),
    loss=st.sampled_from(sorted(LOSSES)),
    residual=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_architectures_match_torch(n_in, widths, n, act, loss, residual, seed):
    rng = np.random.default_rng(seed)
    net = build(n_in, widths, act, loss, residual, seed)
    X = rng.normal(size=(n, n_in))
    check_against_torch(net, X, targets(loss, n, widths[-1], rng))
