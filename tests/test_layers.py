"""Layers: shapes and dtypes, the backward contract, Residual, initialisers and Dropout."""

import re

import numpy as np
import pytest

from glassnet import ACTIVATIONS, INITIALIZERS, Dense, Network, Residual, gradcheck
from glassnet.init import RELU_FAMILY, default_init, get_init
from glassnet.layers import Dropout
from finite_diff import central_diff

DTYPES = ["float32", "float64"]


# ---------------------------------------------------------------------- Dense shapes and dtypes
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_dense_shapes_and_dtypes(dtype, activation):
    n_samples, n_in, n_out = 5, 3, 4
    layer = Dense(n_in, n_out, activation, seed=0, dtype=dtype)
    assert layer.W.shape == (n_out, n_in) and layer.W.dtype == dtype
    assert layer.b.shape == (n_out,) and layer.b.dtype == dtype
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_samples, n_in)).astype(dtype)
    a = layer.forward(x)
    assert a is layer.a
    for name in ("z", "a"):
        arr = getattr(layer, name)
        assert arr.shape == (n_samples, n_out), name
        assert arr.dtype == dtype, name
    grad_a = rng.standard_normal((n_samples, n_out)).astype(dtype)
    grad_prev = layer.backward(grad_a)
    assert grad_prev.shape == (n_samples, n_in) and grad_prev.dtype == dtype
    assert layer.delta.shape == (n_samples, n_out) and layer.delta.dtype == dtype
    assert layer.dW.shape == (n_out, n_in) and layer.dW.dtype == dtype
    assert layer.db.shape == (n_out,) and layer.db.dtype == dtype
    assert set(layer.grads()) == set(layer.params()) == {"W", "b"}


def test_dense_backward_equations():
    """delta = grad_a * f'(z); dW = delta.T @ a_prev; db = delta.sum(0); return delta @ W."""
    rng = np.random.default_rng(1)
    layer = Dense(3, 2, "tanh", seed=0, dtype="float64")
    x, grad_a = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    a = layer.forward(x)
    out = layer.backward(grad_a)
    delta = grad_a * (1 - a**2)
    np.testing.assert_allclose(layer.delta, delta, rtol=1e-14)
    np.testing.assert_allclose(layer.dW, delta.T @ x, rtol=1e-14)
    np.testing.assert_allclose(layer.db, delta.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(out, delta @ layer.W, rtol=1e-14)


@pytest.mark.parametrize("method", ["backward", "backward_delta", "jvp"])
def test_backward_before_forward_raises(method):
    layer = Dense(3, 2, "relu", seed=0)
    with pytest.raises(RuntimeError, match=rf"Dense\.{method} called before forward\. Run forward"):
        getattr(layer, method)(np.ones((1, 2 if method != "jvp" else 3), dtype="float32"))


def test_grads_before_backward_raises():
    with pytest.raises(RuntimeError, match=r"Dense\.grads\(\) called before backward"):
        Dense(3, 2).grads()


def test_residual_backward_before_forward_raises():
    block = Residual(Dense(2, 2, "tanh", seed=0))
    with pytest.raises(RuntimeError, match=r"Residual\.backward called before forward"):
        block.backward(np.ones((1, 2), dtype="float32"))


@pytest.mark.parametrize("layer_factory", [
    lambda: Dense(3, 3, "sigmoid", seed=0, dtype="float64"),
    lambda: Residual(Dense(3, 3, "tanh", seed=0, dtype="float64"),
                     Dense(3, 3, "tanh", seed=1, dtype="float64")),
], ids=["dense", "residual"])
def test_backward_assigns_not_accumulates(layer_factory):
    rng = np.random.default_rng(2)
    layer = layer_factory()
    x = rng.standard_normal((4, 3))
    g1, g2 = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    layer.forward(x)
    layer.backward(g2)
    expected = {k: v.copy() for k, v in layer.grads().items()}
    layer.forward(x)
    layer.backward(g1)
    first = {k: v.copy() for k, v in layer.grads().items()}
    layer.backward(g2)
    for key, value in layer.grads().items():
        assert not np.allclose(first[key], expected[key]), key  # the two calls really differ
        np.testing.assert_array_equal(value, expected[key], err_msg=key)


def test_input_grad_false_returns_none():
    layer = Dense(3, 2, "tanh", seed=0)
    x = np.ones((2, 3), dtype="float32")
    layer.forward(x)
    assert layer.backward(np.ones((2, 2), dtype="float32"), input_grad=False) is None
    assert layer.dW is not None and layer.dW.shape == (2, 3)  # gradients still set
    assert layer.backward_delta(np.ones((2, 2), dtype="float32"), input_grad=False) is None
    assert layer.backward(np.ones((2, 2), dtype="float32"), input_grad=True).shape == (2, 3)


# ---------------------------------------------------------------------- sizes
@pytest.mark.parametrize("n_in, n_out, exc, message", [
    (0, 3, ValueError, r"The 'n_in' parameter of Dense must be an int >= 1; got 0\."),
    (3, -2, ValueError, r"The 'n_out' parameter of Dense must be an int >= 1; got -2\."),
    (2.5, 3, TypeError, r"The 'n_in' parameter of Dense must be an int >= 1; got 2\.5\."),
    (3, "4", TypeError, r"The 'n_out' parameter of Dense must be an int >= 1; got '4'\."),
    (True, 3, TypeError, r"The 'n_in' parameter of Dense must be an int >= 1; got True\."),
    (3, None, TypeError, r"The 'n_out' parameter of Dense must be an int >= 1; got None\."),
])
def test_bad_sizes_raise(n_in, n_out, exc, message):
    with pytest.raises(exc, match=message):
        Dense(n_in, n_out)


def test_numpy_int_sizes_accepted():
    layer = Dense(np.int64(3), np.int32(2))
    assert (layer.n_in, layer.n_out) == (3, 2) and type(layer.n_in) is int


def test_bad_dtype_raises():
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64'; got float16\."):
        Dense(2, 2, dtype="float16")


# ---------------------------------------------------------------------- Residual
def test_residual_width_change_raises():
    with pytest.raises(ValueError, match=r"Residual needs F\(x\) to keep the width of x, but its "
                                         r"layers map 3 -> 4\. Make the last inner layer output 3"):
        Residual(Dense(3, 5), Dense(5, 4))


def test_residual_inner_chain_mismatch_raises():
    with pytest.raises(ValueError, match=r"Residual: layer 0 outputs 5 units but layer 1 expects 4"):
        Residual(Dense(3, 5), Dense(4, 3))


def test_residual_needs_layers():
    with pytest.raises(ValueError, match=r"Residual needs at least one inner layer"):
        Residual()
    with pytest.raises(TypeError, match=r"Residual takes layers; got int\."):
        Residual(3)


def test_residual_params_keys_and_shapes():
    block = Residual(Dense(3, 4, "tanh", seed=0), Dense(4, 3, seed=1))
    assert list(block.params()) == ["0.W", "0.b", "1.W", "1.b"]
    assert block.params()["0.W"] is block.layers[0].W
    assert block.params()["1.W"].shape == (3, 4)
    assert block.n_params == 3 * 4 + 4 + 4 * 3 + 3
    block.forward(np.ones((2, 3), dtype="float32"))
    block.backward(np.ones((2, 3), dtype="float32"))
    assert list(block.grads()) == list(block.params())
    assert block.grads()["1.b"] is block.layers[1].db


def _tiny_block():
    rng = np.random.default_rng(3)
    block = Residual(Dense(3, 4, "tanh", seed=rng, dtype="float64"),
                     Dense(4, 3, "sigmoid", seed=rng, dtype="float64"))
    for layer in block.layers:
        layer.b[...] = rng.normal(scale=0.3, size=layer.b.shape)
    return block


def test_residual_backward_matches_finite_differences():
    """dC/dx = delta + (dF/dx)^T delta, and every inner dW, db, checked numerically."""
    rng = np.random.default_rng(4)
    block = _tiny_block()
    x, grad_a = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))

    def cost():  # C = sum(grad_a * a), so dC/da = grad_a
        return float(np.sum(grad_a * block.forward(x)))

    cost()
    grad_x = block.backward(grad_a)
    analytic = {k: v.copy() for k, v in block.grads().items()}
    delta = block.delta.copy()
    np.testing.assert_array_equal(delta, grad_a)  # a = x + F(x): dC/d(sum) is dC/da itself
    np.testing.assert_allclose(grad_x, central_diff(cost, x), rtol=1e-7, atol=1e-9)
    for key, param in block.params().items():
        np.testing.assert_allclose(analytic[key], central_diff(cost, param), rtol=1e-7, atol=1e-9,
                                   err_msg=key)
    # The skip's own term: what the block returns minus the path through F is exactly delta.
    cost()
    g = delta
    for layer in reversed(block.layers):
        g = layer.backward(g)
    np.testing.assert_allclose(grad_x - g, delta, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- initialisers
N_OUT, N_IN = 300, 400
_SX = np.sqrt(6 / (N_IN + N_OUT))
_SH = np.sqrt(6 / N_IN)
# name -> (std, bound or None for unbounded, uniform?)
EXPECTED_INIT = {
    "normal": (1.0, None),
    "scaled_normal": (1 / np.sqrt(N_IN), None),
    "xavier_uniform": (_SX / np.sqrt(3), _SX),
    "xavier_normal": (np.sqrt(2 / (N_IN + N_OUT)), None),
    "he_uniform": (_SH / np.sqrt(3), _SH),
    "he_normal": (np.sqrt(2 / N_IN), None),
    "zeros": (0.0, 0.0),
}


def test_every_initializer_is_covered():
    assert set(EXPECTED_INIT) == set(INITIALIZERS)


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializer_statistics(name):
    std, bound = EXPECTED_INIT[name]
    W = get_init(name)(np.random.default_rng(0), N_OUT, N_IN)
    assert W.shape == (N_OUT, N_IN)
    n = W.size
    # mean within 5 standard errors of 0; std within 2%
    assert abs(W.mean()) <= 5 * std / np.sqrt(n) + 1e-15
    assert W.std() == pytest.approx(std, rel=0.02, abs=1e-15)
    if bound is not None:
        assert np.all(np.abs(W) <= bound)
        if bound > 0:  # uniform: the whole interval is used, flat histogram
            assert np.abs(W).max() > 0.99 * bound
            counts, _ = np.histogram(W, bins=10, range=(-bound, bound))
            np.testing.assert_allclose(counts / n, 0.1, atol=0.01)
    elif std > 0:  # normal: about 68% within one std, 95% within two
        assert np.mean(np.abs(W) < std) == pytest.approx(0.6827, abs=0.01)
        assert np.mean(np.abs(W) < 2 * std) == pytest.approx(0.9545, abs=0.01)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_dense_uses_initializer_deterministically(name, dtype):
    a = Dense(40, 30, "tanh", init=name, seed=7, dtype=dtype)
    b = Dense(40, 30, "tanh", init=name, seed=7, dtype=dtype)
    c = Dense(40, 30, "tanh", init=name, seed=8, dtype=dtype)
    assert a.init == name and a.W.dtype == dtype
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.W, get_init(name)(np.random.default_rng(7), 30, 40).astype(dtype))
    np.testing.assert_array_equal(a.b, np.zeros(30))
    if name != "zeros":
        assert not np.array_equal(a.W, c.W)
    gen = np.random.default_rng(7)  # a Generator is used as is, and advances
    d, e = Dense(40, 30, init=name, seed=gen), Dense(40, 30, init=name, seed=gen)
    np.testing.assert_array_equal(d.W, a.W.astype(d.W.dtype))
    if name != "zeros":
        assert not np.array_equal(d.W, e.W)


def test_unknown_initializer_lists_valid_ones():
    valid = ", ".join(INITIALIZERS)
    with pytest.raises(ValueError, match=re.escape(f"Unknown initializer 'bogus'. Valid initializers: {valid}.")):
        Dense(2, 3, init="bogus")
    with pytest.raises(ValueError, match=r"Valid initializers: .*he_normal"):
        get_init("He")


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_default_init_he_for_relu_family_else_xavier(activation):
    expected = "he_normal" if activation in {"relu", "leaky_relu", "elu", "gelu"} else "xavier_uniform"
    assert default_init(activation) == expected
    layer = Dense(N_IN, N_OUT, activation, seed=0, dtype="float64")
    assert layer.init == expected
    std, _ = EXPECTED_INIT[expected]
    assert layer.W.std() == pytest.approx(std, rel=0.02)


def test_relu_family_names_are_activations():
    assert RELU_FAMILY <= set(ACTIVATIONS)


# ---------------------------------------------------------------------- Dropout
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_identity_when_not_training(dtype):
    layer = Dropout(0.5, width=4, seed=0)
    assert layer.training is False
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(dtype)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, x)
    assert out.dtype == dtype and layer.mask is None
    g = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(g), g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_inverted_scaling_keeps_the_mean(p, dtype):
    layer = Dropout(p, width=500, seed=1)
    layer.training = True
    x = np.full((400, 500), 2.0, dtype=dtype)
    out = layer.forward(x)
    assert out.dtype == dtype and out.shape == x.shape
    kept = out != 0
    assert kept.mean() == pytest.approx(1 - p, abs=0.01)
    np.testing.assert_allclose(out[kept], 2.0 / (1 - p), rtol=1e-6)
    assert out.mean() == pytest.approx(2.0, rel=0.03)
    g = np.ones_like(x)  # backward uses the same mask and scale
    np.testing.assert_array_equal(layer.backward(g), np.where(kept, 1 / (1 - p), 0).astype(dtype))


def test_dropout_same_seed_same_mask():
    x = np.ones((20, 10))
    masks = []
    for seed in (3, 3, 4):
        layer = Dropout(0.5, width=10, seed=seed)
        layer.training = True
        layer.forward(x)
        masks.append(layer.mask.copy())
    np.testing.assert_array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[0], masks[2])


def test_dropout_new_mask_each_forward_unless_frozen():
    layer = Dropout(0.5, width=10, seed=0)
    layer.training = True
    x = np.ones((20, 10))
    first = layer.forward(x).copy()
    assert not np.array_equal(layer.forward(x), first)
    layer.freeze_mask = True
    frozen = layer.forward(x).copy()
    np.testing.assert_array_equal(layer.forward(x), frozen)


@pytest.mark.parametrize("p, error", [(-0.1, ValueError), (1.0, ValueError), (1.5, ValueError),
                                      (float("nan"), ValueError), (True, TypeError),
                                      ("0.5", TypeError), (None, TypeError)])
def test_dropout_bad_p_raises(p, error):
    with pytest.raises(error, match=r"The 'p' parameter of Dropout must be a float in \[0, 1\); got"):
        Dropout(p)


def test_dropout_bad_width_raises():
    with pytest.raises(ValueError, match=r"The 'width' parameter of Dropout must be an int >= 1; got 0\."):
        Dropout(0.5, width=0)


def _dropout_net():
    rng = np.random.default_rng(5)
    net = Network([Dense(4, 6, "tanh", seed=rng, dtype="float64"), Dropout(0.5, seed=0),
                   Dense(6, 2, "identity", seed=rng, dtype="float64")], loss="mse", dtype="float64")
    X, y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    drop = net.layers[1]
    drop.training, drop.freeze_mask = True, True
    net.forward(X)  # creates the mask that gradcheck's copy keeps
    assert drop.n_in == 6
    assert np.any(drop.mask == 0) and np.any(drop.mask != 0)
    return net, X, y


def test_dropout_frozen_mask_passes_gradcheck():
    net, X, y = _dropout_net()
    mask = net.layers[1].mask.copy()
    report = gradcheck(net, X, y)
    assert report.passed, report.table()
    np.testing.assert_array_equal(net.layers[1].mask, mask)
    # the mask really acts: the loss with it differs from the loss without it
    assert net.loss(X, y) != pytest.approx(_loss_no_mask(net, X, y), rel=1e-3)


def _loss_no_mask(net, X, y):
    copy = net.astype("float64")
    copy.layers[1].training = False
    return copy.loss(X, y)


def test_gradcheck_catches_dropout_backward_without_mask(monkeypatch):
    """If backward forgot the mask, gradcheck of the frozen-mask net must fail."""
    net, X, y = _dropout_net()
    monkeypatch.setattr(Dropout, "backward", lambda self, grad_a, input_grad=True: grad_a)
    report = gradcheck(net, X, y)
    assert not report.passed
    failed = {(row.layer, row.name) for row in report.rows if not row.passed}
    assert ("0", "W") in failed and ("-", "input") in failed
    assert ("2", "W") not in failed  # above the dropout nothing changes


def test_gradcheck_fails_without_frozen_mask():
    net, X, y = _dropout_net()
    net.layers[1].freeze_mask = False  # a new mask every forward: the loss is not a function
    assert not gradcheck(net, X, y).passed
