"""jacobian(): reverse and forward mode against each other, finite differences, input_gradient
and torch.func.jacrev / jacfwd (float64, 1e-9 relative)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassnet import ACTIVATIONS, Dense, Network, Residual, input_gradient, jacobian, mlp
from glassnet.jacobian import numeric_jacobian

SMOOTH = sorted(set(ACTIVATIONS) - {"relu", "leaky_relu"})  # no kinks for finite differences


def build(n_in, widths, act, residual, seed, out="identity"):
    rng = np.random.default_rng(seed)
    layers, prev = [], n_in
    for i, width in enumerate(widths):
        last = i == len(widths) - 1
        if residual and not last and width == prev:
            layers.append(Residual(Dense(prev, width, act, seed=rng, dtype="float64"),
                                   Dense(width, width, act, seed=rng, dtype="float64")))
        else:
            layers.append(Dense(prev, width, out if last else act, seed=rng, dtype="float64"))
        prev = width
    for key, p in Network(layers, dtype="float64").params().items():
        if key.endswith("b"):
            p[...] = rng.normal(scale=0.5, size=p.shape)
    return Network(layers, dtype="float64")


def assert_rel(actual, expected, rtol):
    scale = max(np.abs(expected).max(), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize("residual", [False, True])
def test_modes_agree_with_finite_differences(act, residual):
    net = build(4, [5, 5, 3], act, residual, seed=3, out="softmax" if act == "tanh" else "identity")
    X = np.random.default_rng(0).normal(size=(6, 4))
    J_rev, J_fwd = jacobian(net, X, mode="reverse"), jacobian(net, X, mode="forward")
    assert J_rev.shape == (6, 3, 4)
    assert_rel(J_fwd, J_rev, 1e-12)
    assert_rel(J_rev, numeric_jacobian(net, X), 1e-9)


def test_jacobian_contracted_with_dC_da_is_input_gradient():
    """dC/dX = sum_j dC/da_j J[:, j, :], for a fused loss too."""
    rng = np.random.default_rng(1)
    for loss, out, y in [("mse", "tanh", rng.normal(size=(7, 3))),
                         ("cross_entropy", "softmax", rng.integers(0, 3, 7))]:
        net = mlp([4, 6, 6, 3], activation="tanh", output=out, loss=loss, residual=True,
                  seed=2, dtype="float64")
        X = rng.normal(size=(7, 4))
        a = net.forward(X)
        _, Y = net.check_Xy(X, y)
        expected = np.einsum("nj,nji->ni", net.loss_fn.grad(a, Y), jacobian(net, X))
        assert_rel(input_gradient(net, X, y), expected, 1e-12)


def test_auto_picks_the_cheaper_mode(monkeypatch):
    calls = []
    wide_out = build(2, [5], "tanh", False, seed=0)  # n_in < n_out: forward
    near = build(7, [5], "tanh", False, seed=0)  # n_in < 1.5 n_out: forward, the measured crossover
    narrow_out = build(8, [5], "tanh", False, seed=0)  # n_in >= 1.5 n_out: reverse
    for net, expected in [(wide_out, "forward"), (near, "forward"), (narrow_out, "reverse")]:
        X = np.ones((3, net.n_in))
        vjp = net.vjp
        monkeypatch.setattr(net, "vjp", lambda g, vjp=vjp: calls.append("reverse") or vjp(g))
        J = jacobian(net, X)
        assert ("reverse" in calls) == (expected == "reverse")
        assert_rel(J, jacobian(net, X, mode="forward"), 1e-12)
        calls.clear()


def test_bad_mode_and_shape():
    net = build(3, [2], "tanh", False, seed=0)
    with pytest.raises(ValueError, match=r"'mode' parameter of jacobian must be one of auto, "
                                         r"reverse, forward; got 'sideways'"):
        jacobian(net, np.ones((1, 3)), mode="sideways")
    with pytest.raises(ValueError, match=r"expects X of shape \(n_samples, 3\)"):
        jacobian(net, np.ones((1, 4)))


def test_vjp_needs_a_forward_first():
    net = build(3, [2], "tanh", False, seed=0)
    with pytest.raises(RuntimeError, match="before forward"):
        net.vjp(np.ones((1, 2)))


# ---------------------------------------------------------------- PyTorch as the oracle
def _torch_jacobians(net, X):
    torch = pytest.importorskip("torch")
    from oracle import torch_forward_fn

    f = torch_forward_fn(net)
    x = torch.tensor(X, dtype=torch.float64)
    rev = torch.stack([torch.func.jacrev(f)(row) for row in x]).numpy()
    fwd = torch.stack([torch.func.jacfwd(f)(row) for row in x]).numpy()
    return rev, fwd


@pytest.mark.torch
# torch.func.jacfwd loads its forward-mode decompositions through torch.jit.script on first use,
# which warns in torch 2.13; that is torch's own business, not ours.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@settings(max_examples=15, deadline=None)
@given(
    n_in=st.integers(1, 7),
    widths=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    n=st.integers(1, 4),
    act=st.sampled_from(sorted(ACTIVATIONS)),
    out=st.sampled_from(["identity", "sigmoid", "softmax"]),
    residual=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_architectures_match_torch_func(n_in, widths, n, act, out, residual, seed):
    net = build(n_in, widths, act, residual, seed, out=out)
    X = np.random.default_rng(seed).normal(size=(n, n_in))
    rev_t, fwd_t = _torch_jacobians(net, X)
    for mode in ("reverse", "forward", "auto"):
        J = jacobian(net, X, mode=mode)
        assert_rel(J, rev_t, 1e-9)
        assert_rel(J, fwd_t, 1e-9)
