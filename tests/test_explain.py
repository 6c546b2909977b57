"""explain(): the worked derivation's numbers, its LaTeX, its limits."""

import numpy as np
import pytest

from glassnet import Dense, Network, Residual, explain, gradcheck, mlp
from test_derivation import X, Y, make_net


def test_default_is_the_worked_example():
    e = explain()
    l1, l2 = e.layers
    np.testing.assert_allclose(l1.z, [0.3775, 0.3925, 0.4075], rtol=1e-14)
    np.testing.assert_allclose(l2.a, [0.803158003805714, 0.842207627430201], rtol=1e-13)
    assert e.loss == pytest.approx(0.325471102195438, rel=1e-13)
    np.testing.assert_allclose(l2.delta, [0.1253944928569, -0.0196407106526367], rtol=1e-12)
    np.testing.assert_allclose(l1.delta, [0.00949648742243507, 0.0107417277393387,
                                          0.0119785003908809], rtol=1e-12)
    assert l2.W_new[0, 0] == pytest.approx(0.40 - 0.5 * 0.0743927897874979, rel=1e-13)
    assert e.loss_after < e.loss


def test_numbers_equal_the_networks_gradients_and_finite_differences():
    net = make_net()
    e = net.explain(X, Y, learning_rate=0.25)
    net.backprop(X, Y)
    for trace, layer in zip(e.layers, net.layers):
        np.testing.assert_allclose(trace.dW, layer.dW, rtol=1e-15)
        np.testing.assert_allclose(trace.db, layer.db, rtol=1e-15)
        np.testing.assert_allclose(trace.dW_numeric, layer.dW, rtol=1e-8, atol=1e-11)
        np.testing.assert_allclose(trace.db_numeric, layer.db, rtol=1e-8, atol=1e-11)
        np.testing.assert_allclose(trace.W_new, layer.W - 0.25 * layer.dW, rtol=1e-15)
    np.testing.assert_allclose(e.layers[1].W, make_net().layers[1].W)  # net itself unchanged


@pytest.mark.parametrize("loss,out,y", [("mse", "tanh", [0.3, -0.2, 0.5]),
                                        ("cross_entropy", "softmax", 2),
                                        ("binary_cross_entropy", "sigmoid", [1, 0, 1]),
                                        ("mse", "softmax", [0.2, 0.3, 0.5])])
def test_any_small_architecture(loss, out, y):
    net = mlp([4, 5, 6, 3], activation="tanh", output=out, loss=loss, seed=3, dtype="float64")
    x = np.random.default_rng(0).normal(size=4)
    e = explain(net, x, y)
    assert len(e.layers) == 3
    report = gradcheck(net, x.reshape(1, -1), np.reshape(y, (1, -1)) if np.ndim(y) else [y])
    assert report.passed
    net.backprop(x.reshape(1, -1), np.reshape(y, (1, -1)) if np.ndim(y) else [y])
    for trace, layer in zip(e.layers, net.layers):
        np.testing.assert_allclose(trace.delta, layer.delta[0], rtol=1e-12)
        np.testing.assert_allclose(trace.dW_numeric, trace.dW, rtol=1e-8, atol=1e-12)
    text = e.text()
    if net.fused:
        assert "delta^3 = a^3 - y" in text and "fused form" in text
    assert "delta^1 = ((W^2)^T delta^2) ⊙ tanh'(z^1)" in text


def test_markdown_has_the_latex_of_every_step():
    md = explain().markdown()
    for step in [
        r"$$z^{1} = W^{1} a^{0} + b^{1} = \begin{bmatrix}0.15 & 0.2 \\",
        r"$$a^{2} = \sigma(z^{2}) = \begin{bmatrix}0.803158 \\ 0.842208\end{bmatrix}$$",
        r"$$C = \tfrac{1}{2}\lVert a^{2} - y \rVert^{2} = 0.325471$$",
        r"$$\delta^{2} = (a^{2} - y) \odot \sigma'(z^{2}) = ",
        r"$$\delta^{1} = \left((W^{2})^{T} \delta^{2}\right) \odot \sigma'(z^{1}) = ",
        r"$$\frac{\partial C}{\partial W^{2}} = \delta^{2} (a^{1})^{T} = \begin{bmatrix}0.0743928",
        r"$$\frac{\partial C}{\partial b^{1}} = \delta^{1} = ",
        r"| $W^{2}_{11}$ | 7.439279e-02 | 7.439279e-02 |",
        r"$$W^{2} \leftarrow W^{2} - \eta \frac{\partial C}{\partial W^{2}} = \begin{bmatrix}0.362804",
        r"Learning rate $\eta = 0.5$.",
    ]:
        assert step in md, step


def test_text_has_each_step_with_numbers():
    text = explain().text()
    for line in ["z^1 = W^1 a^0 + b^1 = [0.3775, 0.3925, 0.4075]",
                 "delta^2 = (a^2 - y) ⊙ σ'(z^2)", "= [0.125394, -0.0196407]",
                 "[1,1]   7.439279e-02  ( 7.439279e-02)", "learning rate eta = 0.5",
                 "loss before 0.325471, after"]:
        assert line in text, line


def test_size_limit_and_layer_types():
    with pytest.raises(ValueError, match=r"at most 16 units per layer \(inputs included\); "
                                         r"got sizes 64-10"):
        explain(mlp([64, 10]), np.zeros(64), np.zeros(10))
    with pytest.raises(ValueError, match=r"at most 6 layers; got 7"):
        explain(mlp([2] * 8), np.zeros(2), np.zeros(2))
    net = Network([Dense(2, 2, "tanh"), Residual(Dense(2, 2)), Dense(2, 1)])
    with pytest.raises(TypeError, match=r"Dense layers only; layer 1 is Residual"):
        explain(net, np.zeros(2), [0.0])
    with pytest.raises(ValueError, match=r"one sample: x of shape \(2,\) or \(1, 2\); got \(3, 2\)"):
        explain(make_net(), np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"needs one sample x and its target y; got None"):
        explain(make_net())
