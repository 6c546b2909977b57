"""The derivation's own formulas, literally, on a 2-3-2 sigmoid network with mse.

The numbers below were worked out by hand (checked to 15 digits with mpmath, at 30 digits);
the code is held to them and to the element-wise form of the four fundamental equations.
"""

import numpy as np
import pytest

from glassnet import Dense, Network

X = np.array([[0.05, 0.10]])
Y = np.array([[0.01, 0.99]])
W1 = np.array([[0.15, 0.20], [0.25, 0.30], [0.35, 0.40]])
B1 = np.array([0.35, 0.35, 0.35])
W2 = np.array([[0.40, 0.45, 0.50], [0.55, 0.60, 0.65]])
B2 = np.array([0.60, 0.60])


def make_net(dtype="float64"):
    l1, l2 = Dense(2, 3, "sigmoid", dtype=dtype), Dense(3, 2, "sigmoid", dtype=dtype)
    l1.W[...], l1.b[...], l2.W[...], l2.b[...] = W1, B1, W2, B2
    return Network([l1, l2], loss="mse", dtype=dtype)


def test_numbers_worked_by_hand():
    net = make_net()
    loss = net.backprop(X, Y)
    l1, l2 = net.layers
    np.testing.assert_allclose(l1.z, [[0.3775, 0.3925, 0.4075]], rtol=1e-14)
    np.testing.assert_allclose(l1.a, [[0.593269992107187, 0.596884378259767, 0.600488274526966]], rtol=1e-13)
    np.testing.assert_allclose(l2.z, [[1.40615010432325, 1.67474650105734]], rtol=1e-13)
    np.testing.assert_allclose(l2.a, [[0.803158003805714, 0.842207627430201]], rtol=1e-13)
    assert loss == pytest.approx(0.325471102195438, rel=1e-13)
    np.testing.assert_allclose(l2.delta, [[0.1253944928569, -0.0196407106526367]], rtol=1e-12)
    np.testing.assert_allclose(
        l1.delta, [[0.00949648742243507, 0.0107417277393387, 0.0119785003908809]], rtol=1e-12)
    np.testing.assert_allclose(l2.dW, [[0.0743927897874979, 0.0748460139060897, 0.075297922650824],
                                       [-0.0116522442538693, -0.011723233366479, -0.0117940164502852]],
                               rtol=1e-12)
    np.testing.assert_allclose(l1.dW, [[0.000474824371121754, 0.000949648742243507],
                                       [0.000537086386966937, 0.00107417277393387],
                                       [0.000598925019544043, 0.00119785003908809]], rtol=1e-12)
    np.testing.assert_allclose(l2.db, l2.delta[0], rtol=0)
    np.testing.assert_allclose(l1.db, l1.delta[0], rtol=0)


def test_matrix_formulas_on_a_batch():
    """delta^L = (a - y) a (1 - a) / n; delta^l = (delta^{l+1} @ W^{l+1}) a (1 - a); dW = delta.T @ a_prev."""
    rng = np.random.default_rng(1)
    Xb, Yb = rng.normal(size=(5, 2)), rng.uniform(size=(5, 2))
    net = make_net()
    net.backprop(Xb, Yb)
    l1, l2 = net.layers
    n = len(Xb)
    delta2 = (l2.a - Yb) * l2.a * (1 - l2.a) / n
    delta1 = (delta2 @ W2) * l1.a * (1 - l1.a)
    np.testing.assert_allclose(l2.delta, delta2, rtol=1e-14)
    np.testing.assert_allclose(l1.delta, delta1, rtol=1e-14)
    np.testing.assert_allclose(l2.dW, delta2.T @ l1.a, rtol=1e-14)
    np.testing.assert_allclose(l1.dW, delta1.T @ Xb, rtol=1e-14)
    np.testing.assert_allclose(l1.db, delta1.sum(axis=0), rtol=1e-14)


def test_element_wise_four_equations():
    """BP1-BP4 written with explicit sums over j and k, as in the derivation's index form."""
    net = make_net()
    net.backprop(X, Y)
    l1, l2 = net.layers
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    x = X[0]
    z1 = [sum(W1[j, k] * x[k] for k in range(2)) + B1[j] for j in range(3)]
    a1 = [sig(v) for v in z1]
    z2 = [sum(W2[j, k] * a1[k] for k in range(3)) + B2[j] for j in range(2)]
    a2 = [sig(v) for v in z2]
    d2 = [(a2[j] - Y[0, j]) * sig(z2[j]) * (1 - sig(z2[j])) for j in range(2)]  # BP1, sign (a - y)
    d1 = [sum(W2[k, j] * d2[k] for k in range(2)) * sig(z1[j]) * (1 - sig(z1[j])) for j in range(3)]  # BP2
    for j in range(2):
        assert l2.db[j] == pytest.approx(d2[j], rel=1e-13)  # BP3
        for k in range(3):
            assert l2.dW[j, k] == pytest.approx(d2[j] * a1[k], rel=1e-13)  # BP4
    for j in range(3):
        assert l1.db[j] == pytest.approx(d1[j], rel=1e-13)
        for k in range(2):
            assert l1.dW[j, k] == pytest.approx(d1[j] * x[k], rel=1e-13)


def test_derivation_slip_sign_of_dC_da_is_caught():
    """A classic slip writes dC/da = (y - a) (docs/derivation.md); with it the gradient points uphill."""
    net = make_net()
    net.backprop(X, Y)
    l2 = net.layers[1]
    wrong = (Y - l2.a) * l2.a * (1 - l2.a)
    assert not np.allclose(l2.delta, wrong)
    np.testing.assert_allclose(l2.delta, -wrong, rtol=1e-14)


def test_one_gradient_descent_step_lowers_the_loss():
    net = make_net()
    before = net.loss(X, Y)
    net.fit(X, Y, epochs=1, batch_size=1, learning_rate=0.5, shuffle=False)
    assert net.layers[1].W[0, 0] == pytest.approx(0.40 - 0.5 * 0.0743927897874979, rel=1e-13)
    assert net.loss(X, Y) < before
