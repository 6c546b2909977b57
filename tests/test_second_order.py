"""Hessian-vector products, Gauss-Newton, sharpness and the worked HVP, against finite
differences of gradients and closed forms (tests/test_second_order_torch.py: against torch)."""

import numpy as np
import pytest
from user_parts import Scale

from glassnet import ACTIVATIONS, Dense, Network, Residual, mlp
from glassnet.activations import Activation
from glassnet.explain_hvp import explain_hvp
from glassnet.layers import Dropout
from glassnet.optim import SGD, Adam
from glassnet.second_order import R_RULES, Curvature, ggn_diagonal, gnvp, hessian, hvp
from glassnet.sharpness import (
    Sharpness,
    hessian_eigenvalues,
    lanczos,
    power_iteration,
    sharpness,
    stability_edge,
)


def small(act="tanh", loss="mse", l2=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}.get(loss, act)
    net = Network([Dense(3, 4, act, seed=rng, dtype="float64"),
                   Residual(Dense(4, 4, act, seed=rng, dtype="float64")),
                   Dense(4, 2, out, seed=rng, dtype="float64")], loss=loss, dtype="float64",
                  l2=l2)
    for key, p in net.params().items():
        if key.endswith("b"):
            p[...] = rng.normal(scale=0.5, size=p.shape)
    return net


def batch(net, n=6, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, net.n_in))
    if net.loss_fn.name == "cross_entropy":
        return X, rng.integers(0, net.n_out, n)
    if net.loss_fn.name == "binary_cross_entropy":
        return X, rng.integers(0, 2, (n, net.n_out))
    return X, rng.normal(size=(n, net.n_out))


def fd_hvp(net, X, y, v, eps=1e-5, w=None):
    """(grad(theta + eps v) - grad(theta - eps v)) / (2 eps)."""
    theta = net.theta.copy()
    grads = []
    for s in (eps, -eps):
        net.theta[...] = theta + s * v
        net.backprop(X, y, sample_weight=w)
        grads.append(net.grad.copy())
    net.theta[...] = theta
    return (grads[0] - grads[1]) / (2 * eps)


@pytest.mark.parametrize("loss", ["mse", "huber", "cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_hvp_matches_finite_differences_of_gradients(act, loss):
    net = small(act, loss, l2=0.2)
    X, y = batch(net)
    w = np.random.default_rng(2).uniform(0.5, 2, len(X))
    v = np.random.default_rng(3).normal(size=net.n_params)
    Hv = hvp(net, X, y, v, sample_weight=w)
    expected = fd_hvp(net, X, y, v, w=w)
    np.testing.assert_allclose(Hv, expected, rtol=1e-6, atol=1e-7 * np.abs(expected).max())


def test_a_dict_direction_equals_the_flat_one_and_net_grad_is_the_gradient():
    net = small()
    X, y = batch(net)
    v = np.random.default_rng(4).normal(size=net.n_params)
    cv = Curvature(net, X, y)
    as_dict = cv.views(v)
    np.testing.assert_array_equal(cv.hvp(as_dict), cv.hvp(v))
    loss = net.backprop(X, y)
    np.testing.assert_allclose(cv.grad, net.grad, rtol=1e-14)
    assert cv.loss == pytest.approx(loss, rel=1e-14)
    assert cv.n_products == 2


def test_the_hessian_is_symmetric_and_its_columns_are_hvps():
    net = small("sigmoid", "cross_entropy", l2=0.1)
    X, y = batch(net)
    H = hessian(net, X, y)
    np.testing.assert_allclose(H, H.T, atol=1e-13)
    v = np.random.default_rng(5).normal(size=net.n_params)
    np.testing.assert_allclose(H @ v, hvp(net, X, y, v), rtol=1e-10, atol=1e-13)


def test_gauss_newton_is_psd_its_diagonal_exact_and_equal_to_h_for_a_linear_mse_net():
    net = small("gelu", "cross_entropy")
    X, y = batch(net, n=8)
    cv = Curvature(net, X, y)
    G = np.stack([cv.gnvp(e) for e in np.eye(net.n_params)], axis=1)
    np.testing.assert_allclose(G, G.T, atol=1e-13)
    assert np.linalg.eigvalsh(G).min() > -1e-12
    np.testing.assert_allclose(ggn_diagonal(net, X, y), np.diag(G), rtol=1e-10, atol=1e-14)
    v = np.ones(net.n_params)
    np.testing.assert_allclose(gnvp(net, X, y, v), G @ v, rtol=1e-10, atol=1e-13)
    # one identity layer and mse: the network is linear in each sample's output, the loss
    # quadratic, so G = H (no curvature of the network itself)
    lin = Network([Dense(3, 2, "identity", seed=0, dtype="float64")], loss="mse", dtype="float64")
    Xl, yl = batch(lin)
    cl = Curvature(lin, Xl, yl)
    e = np.eye(lin.n_params)
    np.testing.assert_allclose(np.stack([cl.gnvp(c) for c in e]),
                               np.stack([cl.hvp(c) for c in e]), atol=1e-14)


def test_dropout_in_training_mode_uses_its_frozen_mask():
    rng = np.random.default_rng(6)
    net = Network([Dense(3, 5, "tanh", seed=rng, dtype="float64"), Dropout(0.5, seed=rng),
                   Dense(5, 2, "identity", seed=rng, dtype="float64")], dtype="float64")
    X, y = batch(net)
    net.training = True
    net.layers[1].freeze_mask = True
    net.forward(X)
    v = rng.normal(size=net.n_params)
    H_train = hvp(net, X, y, v)
    np.testing.assert_allclose(H_train, fd_hvp(net, X, y, v), rtol=1e-6, atol=1e-9)
    net.training = False  # the identity at inference: another function, another Hessian
    H_infer = hvp(net, X, y, v)
    np.testing.assert_allclose(H_infer, fd_hvp(net, X, y, v), rtol=1e-6, atol=1e-9)
    assert not np.allclose(H_train, H_infer)


def test_nested_residual_blocks_with_dropout_inside_and_first():
    rng = np.random.default_rng(14)
    net = Network([Dropout(0.3, width=3, seed=1), Dense(3, 4, "tanh", seed=rng, dtype="float64"),
                   Residual(Residual(Dense(4, 4, "softplus", seed=rng, dtype="float64")),
                            Dropout(0.2, seed=2), Dense(4, 4, "elu", seed=rng, dtype="float64")),
                   Dense(4, 2, "sigmoid", seed=rng, dtype="float64")],
                  loss="binary_cross_entropy", dtype="float64", l2=0.1)
    X, y = batch(net, n=5)
    net.training = True
    for layer in net.random_layers():
        layer.freeze_mask = True
    net.forward(X)
    v = rng.normal(size=net.n_params)
    np.testing.assert_allclose(hvp(net, X, y, v), fd_hvp(net, X, y, v), rtol=1e-6, atol=1e-9)


def test_unknown_layers_and_activations_without_second_derivative_are_refused():
    net = Network([Dense(3, 3, "tanh", dtype="float64"), Scale(3)], dtype="float64")
    with pytest.raises(ValueError, match="layer 1 is 'Scale'.*R_RULES"):
        Curvature(net, np.ones((2, 3)), np.zeros((2, 3)))
    assert "Scale" not in R_RULES

    class Cube(Activation):
        name = "cube"

        def forward(self, z):
            return z ** 3

        def derivative(self, z, a):
            return 3 * z * z

    net = Network([Dense(3, 3, "tanh", dtype="float64"), Dense(3, 2, Cube(), dtype="float64")],
                  dtype="float64")
    with pytest.raises(TypeError, match="Layer 1's activation 'cube' has no second derivative"):
        Curvature(net, np.ones((2, 3)), np.zeros((2, 2)))


@pytest.mark.parametrize("v,match", [
    (np.ones(3), r"shape \(46,\) like net.theta"),
    (np.ones((46, 1)), r"shape \(46,\)"),
    (np.full(46, np.nan), "NaN or inf"),
    ({"0.W": np.ones((4, 3))}, r"lacks the parameters \['0.b'"),
    (dict(small().params(), **{"0.W": np.ones((3, 4))}),
     r"wrong shape: 0.W \(3, 4\) \(wants \(4, 3\)\)"),
    (np.full(46, 1e308), None),
])
def test_bad_directions_are_refused(v, match):
    net = small()
    if match is None:  # huge but finite: its sum overflows, yet it is a direction
        assert Curvature(net, *batch(net)).direction(v).shape == (46,)
        return
    with pytest.raises(ValueError, match=match):
        hvp(net, *batch(net), v)
    with pytest.raises(TypeError, match="must hold real numbers; got dtype complex128"):
        hvp(net, *batch(net), np.ones(46, dtype=complex))


def test_a_curvature_refuses_products_after_the_weights_changed():
    net = small()
    X, y = batch(net)
    cv = Curvature(net, X, y)
    net.theta[0] += 1e-3
    with pytest.raises(RuntimeError, match="weights changed since this Curvature was built"):
        cv.hvp(np.ones(net.n_params))
    net.theta[0] -= 1e-3
    cv.hvp(np.ones(net.n_params))


def test_hessian_refuses_big_networks_and_bad_sample_weights():
    net = mlp([20, 30, 10], dtype="float64")
    X = np.ones((2, 20))
    with pytest.raises(ValueError, match="more than max_params=100"):
        hessian(net, X, np.zeros((2, 10)), max_params=100)
    with pytest.raises(ValueError,
                       match=r"'sample_weight' parameter of Curvature must have shape \(2,\)"):
        Curvature(net, X, np.zeros((2, 10)), sample_weight=[1.0])


def test_hvp_on_a_float32_network_is_close_to_float64():
    net = mlp([5, 8, 3], activation="tanh", loss="cross_entropy", seed=0)
    X, y = np.random.default_rng(7).normal(size=(10, 5)), np.arange(10) % 3
    v = np.random.default_rng(8).normal(size=net.n_params)
    Hv32 = hvp(net, X, y, v)
    Hv64 = hvp(net.astype("float64"), X, y, v)
    np.testing.assert_allclose(Hv32, Hv64, rtol=1e-4, atol=1e-5 * np.abs(Hv64).max())


# ---------------------------------------------------------------------- eigenvalues


def random_symmetric(n, seed, repeat=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = rng.normal(size=n)
    lam[:repeat] = lam.max() + 1  # the top eigenvalue repeated
    return (Q * lam) @ Q.T, np.sort(lam)[::-1]


@pytest.mark.parametrize("repeat", [0, 3])
def test_lanczos_with_n_steps_is_exact_also_for_repeated_eigenvalues(repeat):
    A, lam = random_symmetric(12, seed=repeat, repeat=repeat)
    e = lanczos(lambda v: A @ v, 12, k=5, iters=12)
    np.testing.assert_allclose(e.values, lam[:5], rtol=1e-10)
    for value, vec in zip(e.values, e.vectors):
        np.testing.assert_allclose(A @ vec, value * vec, atol=1e-9)
    assert e.n_products == 12


def test_lanczos_converges_early_on_a_gap_and_reports_its_residual():
    rng = np.random.default_rng(9)
    Q, _ = np.linalg.qr(rng.normal(size=(200, 200)))
    lam = np.concatenate([[10.0, 7.0], rng.uniform(-1, 1, 198)])
    A = (Q * lam) @ Q.T
    e = lanczos(lambda v: A @ v, 200, k=2, iters=25)
    np.testing.assert_allclose(e.values, [10.0, 7.0], rtol=1e-8)
    assert np.all(e.residuals < 1e-3)
    p = power_iteration(lambda v: A @ v, 200, iters=500, tol=1e-12)
    assert p.values[0] == pytest.approx(10.0, rel=1e-8)


def test_power_iteration_finds_the_largest_magnitude_not_the_largest_value():
    A = np.diag([1.0, -3.0, 0.5])
    assert power_iteration(lambda v: A @ v, 3, iters=200).values[0] == pytest.approx(-3.0)
    assert lanczos(lambda v: A @ v, 3, iters=3).values[0] == pytest.approx(1.0)


def test_sharpness_is_the_top_eigenvalue_of_the_hessian():
    net = small("tanh", "cross_entropy")
    X, y = batch(net, n=10)
    top = np.linalg.eigvalsh(hessian(net, X, y))[-1]
    assert sharpness(net, X, y, iters=net.n_params) == pytest.approx(top, rel=1e-10)
    assert sharpness(net, X, y, iters=25) == pytest.approx(top, rel=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(method="newton"),
     "'method' parameter of hessian_eigenvalues must be one of lanczos, power"),
    (dict(k=0), "'k' parameter of hessian_eigenvalues must be an int >= 1; got 0"),
    (dict(iters=2.5), "'iters' parameter .* got 2.5"),
    (dict(v0=np.ones(3)), r"start vector v0 must be finite and of shape \(46,\)"),
])
def test_hessian_eigenvalues_refuses_bad_arguments(kwargs, match):
    net = small()
    with pytest.raises(ValueError, match=match):
        hessian_eigenvalues(net, *batch(net), **kwargs)


def test_stability_edges_in_closed_form():
    assert stability_edge(SGD(0.1)) == pytest.approx(20.0)
    assert stability_edge(SGD(0.1, momentum=0.5)) == pytest.approx(30.0)
    assert stability_edge(SGD(0.1, momentum=0.5, nesterov=True)) == pytest.approx(15.0)
    assert stability_edge(SGD(0.1, weight_decay=1.0)) == pytest.approx(19.0)
    assert stability_edge(Adam(0.1)) is None and stability_edge(None) is None


def test_the_stability_edge_is_where_gradient_descent_on_a_quadratic_diverges():
    """glassnet's own SGD steps on C = lam theta^2 / 2: stable just below the edge, not above."""
    for kwargs in (dict(), dict(momentum=0.6), dict(momentum=0.6, nesterov=True),
                   dict(weight_decay=2.0)):
        edge = stability_edge(SGD(0.1, **kwargs))
        for lam, grows in ((0.99 * edge, False), (1.01 * edge, True)):
            opt, theta = SGD(0.1, **kwargs), {"theta": np.array([1.0])}
            for _ in range(3000):
                opt.step(theta, {"theta": lam * theta["theta"]})
            assert bool(abs(theta["theta"][0]) > 1) is grows, (kwargs, lam)


def test_the_sharpness_callback_records_without_changing_training():
    from glassnet.data import make_2d

    X, y = make_2d("moons", 200, noise=0.2, seed=0)
    X = X / 3
    kwargs = dict(epochs=3, batch_size=50, optimizer="sgd", learning_rate=0.5, seed=0,
                  progress=False)
    a, b = mlp([2, 8, 2], activation="tanh", loss="cross_entropy", seed=0, dtype="float64"), \
        mlp([2, 8, 2], activation="tanh", loss="cross_entropy", seed=0, dtype="float64")
    probe = Sharpness(X[:64], y[:64], every=2, iters=30)
    ha = a.fit(X, y, callbacks=[probe], **kwargs)
    hb = b.fit(X, y, **kwargs)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert ha["loss"] == hb["loss"]
    assert [r["step"] for r in probe.records] == [2, 4, 6, 8, 10, 12]
    assert sum(len(r["sharpness"]) for r in ha.epochs) == 6
    last = probe.records[-1]
    assert last["edge"] == pytest.approx(2 / 0.5) and last["learning_rate"] == 0.5
    assert last["sharpness"] == pytest.approx(sharpness(a, X[:64], y[:64], iters=a.n_params),
                                              rel=1e-6)
    with pytest.raises(ValueError, match="'every' parameter of Sharpness must be an int >= 1"):
        Sharpness(X, y, every=0)


def test_full_batch_gradient_descent_sharpens_to_two_over_the_learning_rate_and_stays():
    """The edge of stability (Cohen et al., 2021): with full-batch gradient descent the
    sharpness starts below 2 / eta, rises to it and then hovers at it while the loss falls."""
    from glassnet.data import make_2d

    X, y = make_2d("moons", 200, noise=0.1, seed=1)
    X, Y = X / 3, np.eye(2)[y]
    net = mlp([2, 32, 32, 2], activation="tanh", loss="mse", seed=1, dtype="float64")
    probe = Sharpness(X, Y, every=50, iters=20)
    net.fit(X, Y, epochs=1500, batch_size=200, optimizer="sgd", learning_rate=0.3,
            shuffle=False, callbacks=[probe], progress=False)
    s, edge = np.array([r["sharpness"] for r in probe.records]), 2 / 0.3
    assert probe.records[0]["edge"] == pytest.approx(edge)
    assert s[0] < 0.8 * edge
    assert abs(s[len(s) // 2:].mean() - edge) < 0.1 * edge
    assert probe.records[-1]["loss"] < 0.5 * probe.records[0]["loss"]


# ---------------------------------------------------------------------- the worked example


def test_explain_hvp_entries_equal_their_finite_differences_and_hvp():
    e = explain_hvp()
    net = e.layers  # the default 2-3-2 sigmoid network
    for t in net:
        np.testing.assert_allclose(t.HW, t.HW_numeric, rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(t.Hb, t.Hb_numeric, rtol=1e-7, atol=1e-12)
    s = e.step
    assert abs(s["second"] - s["actual"]) < abs(s["first"] - s["actual"])  # Taylor, one more term
    text = e.text()
    for piece in ("R-forward", "R-backward", "R{delta^2} = R{g^2} ⊙ σ'(z^2) + g^2 ⊙ σ''(z^2)",
                  "R{g^1} = (W^2)^T R{delta^2} + (V^2)^T delta^2", "second order"):
        assert piece in text
    assert "$$R\\{z^{1}\\}" in e.markdown()


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy", "huber"])
def test_explain_hvp_on_other_losses_and_directions(loss):
    net = mlp([3, 4, 2], activation="tanh", loss=loss, seed=0, dtype="float64")
    y = 1 if loss == "cross_entropy" else [1, 0] if loss == "binary_cross_entropy" else [0.3, -2]
    x = [0.1, -0.2, 0.3]
    for v in ("gradient", "ones", np.linspace(-1, 1, net.n_params)):
        e = explain_hvp(net, x, y, v)
        v_flat = np.concatenate([np.concatenate([t.V.ravel(), t.v_b]) for t in e.layers])
        Hv = np.concatenate([np.concatenate([t.HW.ravel(), t.Hb]) for t in e.layers])
        np.testing.assert_allclose(Hv, hvp(net, [x], [y], v_flat), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(Hv, np.concatenate(
            [np.concatenate([t.HW_numeric.ravel(), t.Hb_numeric]) for t in e.layers]),
            rtol=1e-6, atol=1e-9)
        assert "H v, entry by entry" in e.text() and "R-operator" in e.markdown()
    with pytest.raises(ValueError, match="v must be 'gradient', 'ones' or a vector"):
        explain_hvp(net, [0.1, -0.2, 0.3], y, "random")
    with pytest.raises(TypeError, match="Dense layers only"):
        explain_hvp(mlp([3, 3, 3, 2], residual=True, dtype="float64"), [0, 0, 0], [0, 0])
