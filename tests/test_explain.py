"""explain(): the worked derivation's numbers, its LaTeX, its limits."""

import numpy as np
import pytest

import json

from glassnet import Dense, Layer, Network, Residual, explain, gradcheck, input_gradient, mlp
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


def test_errors_name_what_came_and_the_fix():
    class Custom(Layer):
        n_in = n_out = 2

        def forward(self, a_prev):
            self.z = a_prev
            return a_prev

        def backward(self, grad_a, input_grad=True):
            return grad_a

        def config(self):
            return {"type": "Custom"}

        def astype(self, dtype):
            return self

    net = Network([Dense(2, 2, "tanh"), Custom(), Dense(2, 1)])
    with pytest.raises(TypeError, match=r"explain knows the layer types Dense, Residual, Dropout; "
                                        r"got Custom"):
        explain(net, np.zeros(2), [0.0])
    with pytest.raises(ValueError, match=r"one sample: x of shape \(2,\) or \(1, 2\); got \(3, 2\)"):
        explain(make_net(), np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"needs one sample x and its target y; got None"):
        explain(make_net())
    with pytest.raises(ValueError, match=r"The 'learning_rate' parameter of explain must be a "
                                         r"float > 0; got -1"):
        explain(learning_rate=-1)


# ---------------------------------------------------------------------- every network
def _nets():
    """Every kind of network the playground and the API build (float64, small and odd)."""
    def two_layer_block(**post):
        return Network([Dense(3, 4, "tanh", seed=1),
                        Residual(Dense(4, 4, "sigmoid", seed=2), Dense(4, 4, "tanh", seed=3),
                                 **post),
                        Dense(4, 3, "softmax", seed=4)], loss="cross_entropy", dtype="float64")

    def block_first():
        return Network([Residual(Dense(3, 3, "tanh", seed=5)), Dense(3, 2, "sigmoid", seed=6)],
                       loss="binary_cross_entropy", dtype="float64")

    return {
        "residual sigmoid": (lambda: mlp([3, 4, 4, 4, 2], "sigmoid", loss="mse", residual=True,
                                         seed=1, dtype="float64"), [0.2, 0.7]),
        "residual + dropout": (lambda: mlp([3, 5, 5, 3], "tanh", output="softmax", dropout=0.3,
                                           residual=True, seed=2, dtype="float64"), 1),
        "two-layer block": (two_layer_block, 2),
        "block first, binary cross-entropy": (block_first, [1, 0]),
        "mse on softmax": (lambda: mlp([3, 4, 3], "elu", output="softmax", loss="mse", seed=3,
                                       dtype="float64"), [0.2, 0.3, 0.5]),
        "huber": (lambda: mlp([3, 6, 2], "gelu", loss="huber", seed=4, dtype="float64"),
                  [3.0, -2.0]),
    }


@pytest.mark.parametrize("name", list(_nets()))
def test_every_network_is_explained_with_the_engines_numbers(name):
    build, y = _nets()[name]
    net = build()
    x = np.random.default_rng(7).normal(size=net.n_in)
    e = explain(net, x, y)
    yy = np.reshape(y, (1, -1)) if np.ndim(y) else [y]
    net.backprop(x.reshape(1, -1), yy)
    dense = [layer for top in net.layers for layer in [top, *getattr(top, "layers", [])]
             if isinstance(layer, Dense)]
    assert len(e.layers) == len(dense)
    for trace, layer in zip(e.layers, dense):
        np.testing.assert_allclose(trace.z, layer.z[0], rtol=1e-13)
        np.testing.assert_allclose(trace.delta, layer.delta[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(trace.dW, layer.dW, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(trace.dW_numeric, trace.dW, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(trace.db_numeric, trace.db, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(e.input_grad, input_gradient(net, x.reshape(1, -1), yy)[0],
                               rtol=1e-13, atol=1e-15)
    assert gradcheck(net, x.reshape(1, -1), yy).passed
    _chain(e)
    json.dumps(e.to_dict(), allow_nan=False)  # strict JSON: the playground reads it
    assert "Back-propagation worked out" in e.text() and "$$" in e.markdown()


def _chain(e):
    """Follow the steps' own numbers down: each delta = (gradient shown) ⊙ f', each skip sums."""
    for step in e.steps():
        v = step.values
        if step.quantity == "delta" and len(v) == 3 and "y" not in v:
            g, factor, delta = v.values()
            trace = next((t for t in e.layers if t.label == step.layer), None)
            if trace is not None and trace.activation != "softmax":
                np.testing.assert_allclose(g * factor, delta, rtol=1e-12, atol=1e-15)
        if step.quantity in ("skip", "grad_x") and len(v) == 3:
            upper, branch, total = v.values()
            np.testing.assert_allclose(upper + branch, total, rtol=1e-12, atol=1e-15)


def test_identity_skip_gradient_is_shown_with_numbers():
    """dC/da^{l-1} = dC/da^l + (W^l)^T delta^l: the skip hands the upper gradient down intact."""
    net = mlp([2, 3, 3, 3, 2], "sigmoid", loss="mse", residual=True, seed=1, dtype="float64")
    x, y = np.array([0.5, -0.2]), np.array([0.1, 0.9])
    e = net.explain(x, y)
    skips = [s for s in e.steps() if s.quantity == "skip"]
    assert [s.layer for s in skips] == ["3", "2"]
    assert skips[0].rule == "dC/da^2 = dC/da^3 + (W^3)^T delta^3"
    _chain(e)
    # the upper term of the block-3 skip is what layer 4 hands down, (W^4)^T delta^4
    l4 = e.layers[-1]
    np.testing.assert_allclose(skips[0].values["dC/da^3"], l4.delta @ l4.W, rtol=1e-14)
    assert "dC/da^1 = dC/da^2 + (W^2)^T delta^2" in e.text()
    assert r"\frac{\partial C}{\partial a^{1}} = \frac{\partial C}{\partial a^{2}} + (W^{2})^{T} \delta^{2}" \
        in e.markdown()
    forward = [s.rule for s in e.steps() if s.phase == "forward"]
    assert forward[:5] == ["z^1 = W^1 a^0 + b^1", "a^1 = σ(z^1)", "z^2 = W^2 a^1 + b^2",
                           "F^2 = σ(z^2)", "a^2 = a^1 + F^2"]


def test_skip_keeps_the_gradient_of_a_deep_sigmoid_stack():
    x, y = np.full(4, 0.5), np.zeros(2)
    plain = explain(mlp([4] + [8] * 10 + [2], "sigmoid", loss="mse", seed=0, dtype="float64"), x, y)
    skips = explain(mlp([4] + [8] * 10 + [2], "sigmoid", loss="mse", residual=True, seed=0,
                        dtype="float64"), x, y)
    ratio = [np.linalg.norm(e.layers[0].delta) / np.linalg.norm(e.layers[-1].delta)
             for e in (plain, skips)]
    assert ratio[0] < 1e-3 < ratio[1]
    _chain(skips)
    _chain(plain)


@pytest.mark.parametrize("sizes", [[64, 10], [3, 40, 40, 2], [20, 17, 3]])
def test_wide_layers_are_summarised_not_refused(sizes):
    net = mlp(sizes, activation="tanh", loss="mse", residual=True, seed=0, dtype="float64")
    x = np.random.default_rng(1).normal(size=sizes[0])
    e = explain(net, x, np.zeros(sizes[-1]))
    text = e.text()
    wide = next(t for t in e.layers if max(t.W.shape) > 16)
    n_out, n_in = wide.W.shape
    assert f"W^{wide.label}: {n_out}x{n_in}, ||W^{wide.label}|| = " in text
    assert f"largest of {n_out}x{n_in}" in text
    # the largest entries of dW are listed with their finite differences, the rest not computed
    shown = np.isfinite(wide.dW_numeric)
    assert shown.sum() == 3
    top = np.sort(np.abs(wide.dW).ravel())[-3:]
    np.testing.assert_allclose(np.sort(np.abs(wide.dW[shown])), top)
    np.testing.assert_allclose(wide.dW_numeric[shown], wide.dW[shown], rtol=1e-7, atol=1e-11)
    norm = f"{np.linalg.norm(wide.dW):.6g}"
    assert f"||dC/dW^{wide.label}|| = {norm}" in text
    data = json.loads(json.dumps(e.to_dict(), allow_nan=False))
    step = next(s for s in data["steps"] if s["quantity"] == "dW" and s["layer"] == wide.label)
    assert step["values"][f"dC/dW^{wide.label}"]["norm"] == pytest.approx(float(norm), rel=1e-5)
    assert max(len(line) for line in text.splitlines()) < 400  # no row of 64 numbers


def test_steps_one_equation_each_in_the_derivations_order():
    e = explain()
    steps = e.steps()
    assert [(s.phase, s.layer, s.quantity) for s in steps] == [
        ("forward", "1", "z"), ("forward", "1", "a"), ("forward", "2", "z"), ("forward", "2", "a"),
        ("loss", "", "C"), ("backward", "2", "delta"), ("backward", "1", "delta"),
        ("gradient", "2", "dW"), ("gradient", "2", "db"), ("gradient", "1", "dW"),
        ("gradient", "1", "db"), ("input", "1", "grad_x"), ("update", "1", "W"),
        ("update", "1", "b"), ("update", "2", "W"), ("update", "2", "b")]
    assert [s.index for s in steps] == list(range(len(steps)))
    net = make_net()
    net.backprop(X, Y, input_grad=True)
    l1, l2 = net.layers
    np.testing.assert_allclose(steps[0].values["z^1"], l1.z[0], rtol=1e-15)
    np.testing.assert_allclose(steps[5].values["delta^2"], l2.delta[0], rtol=1e-15)
    np.testing.assert_allclose(steps[6].values["((W^2)^T delta^2)"], l2.delta[0] @ l2.W,
                               rtol=1e-15)
    np.testing.assert_allclose(steps[9].values["dC/dW^1"], l1.dW, rtol=1e-15)
    np.testing.assert_allclose(steps[11].values["dC/dx"], net.grad_X[0], rtol=1e-15)
    assert steps[6].uses == ["W^2", "delta^2", "z^1"]
    data = json.loads(json.dumps(e.to_dict(), allow_nan=False))
    assert data["steps"][5]["values"]["delta^2"]["values"] == pytest.approx(list(l2.delta[0]))
    assert data["steps"][7]["table"][0] == {"entry": "W^{2}_{11}", "backprop": pytest.approx(
        0.0743927897874979), "finite_difference": pytest.approx(0.0743927897874979, rel=1e-9)}
    assert steps[5].latex.startswith(r"\delta^{2} = (a^{2} - y) \odot \sigma'(z^{2}) = ")


def test_penalty_is_left_out_and_said():
    net = mlp([2, 3, 2], "sigmoid", loss="mse", l2=0.1, seed=0, dtype="float64")
    x, y = np.array([0.3, 0.1]), np.array([0.0, 1.0])
    e = explain(net, x, y)
    assert "weight penalty (l2=0.1, l1=0) is left out" in e.text()
    plain = mlp([2, 3, 2], "sigmoid", loss="mse", seed=0, dtype="float64")
    plain.backprop(x.reshape(1, -1), y.reshape(1, -1))
    for trace, layer in zip(e.layers, plain.layers):
        np.testing.assert_allclose(trace.dW, layer.dW, rtol=1e-14)
        np.testing.assert_allclose(trace.dW_numeric, layer.dW, rtol=1e-8)


# ---------------------------------------------------------------------- through the real producers
@pytest.mark.parametrize("layers,residual", [
    ([{"units": 8, "activation": "sigmoid"}] * 9, True),   # the 9-layer sigmoid stack with skips
    ([{"units": 128, "activation": "relu"}] * 2, True),    # wider than explain writes in full
    ([{"units": 4, "activation": "tanh"}, {"units": 2, "activation": "tanh"}], False),
])
def test_every_network_the_playground_builds(layers, residual):
    from glassnet.web.session import Session
    from glassnet.web.settings import parse_settings

    import inspect

    session = Session(parse_settings({"layers": layers, "residual": residual}), now=0.0)
    takes_fn = len(inspect.signature(session.explain).parameters) > 1  # before the page used it
    out = session.explain(0, explain) if takes_fn else session.explain(0)
    assert out["source"] == "glassnet.explain" and "Back-propagation worked out" in out["text"]
    x, y, _ = session.point(0)
    e = explain(session.net, x, y)
    assert any(s.quantity == "skip" for s in e.steps()) == residual
    session.net.backprop(x[None], [y], input_grad=True)
    np.testing.assert_allclose(e.input_grad, session.net.grad_X[0], rtol=1e-12, atol=1e-300)
    json.dumps(e.to_dict(), allow_nan=False)


def test_explain_a_model_written_by_train(tmp_path, capsys):
    from glassnet.cli import main

    model = tmp_path / "m.npz"
    assert main(["train", "--data", "iris", "--hidden", "32", "--epochs", "1", "--quiet",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["explain", "--from-model", str(model), "--data", "iris", "--sample", "3"]) == 0
    out = capsys.readouterr().out
    assert "network 4-32-3, loss cross_entropy" in out
    assert "W^1: 32x4, ||W^1|| = " in out and "largest of 32" in out
