"""Network: input checks and their messages, predict, description, parameters, penalties,
sample weights, the input gradient, and learning XOR."""

import re

import numpy as np
import pytest

from glassnet import (
    ACTIVATIONS,
    INITIALIZERS,
    LOSSES,
    Dense,
    Network,
    Residual,
    gradcheck,
    input_gradient,
    mlp,
)
from glassnet.layers import Dropout
from finite_diff import central_diff


def small_net(loss="mse", n_out=2, dtype="float32", hidden="tanh", **kwargs):
    out = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}.get(loss, "identity")
    rng = np.random.default_rng(0)
    return Network([Dense(3, 4, hidden, seed=rng, dtype=dtype), Dense(4, n_out, out, seed=rng, dtype=dtype)],
                   loss=loss, dtype=dtype, **kwargs)


def targets(loss, n, n_out, rng):
    if loss == "cross_entropy":
        return rng.integers(0, n_out, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, n_out)).astype(float)
    return rng.standard_normal((n, n_out))


# ---------------------------------------------------------------------- bad input
X_OK = np.zeros((5, 3))


@pytest.mark.parametrize("X, message", [
    (np.zeros((5, 4)), (r"The network expects X of shape \(n_samples, 3\); got \(5, 4\)\. Give 3 "
                        r"features per sample, or build the first layer with n_in=4\.")),
    (np.zeros(3), (r"expects X of shape \(n_samples, 3\); got 1-D X of shape \(3,\)\. For one sample "
                   r"use X\.reshape\(1, -1\)")),
    (np.zeros((5, 3, 1)), r"got 3-D X of shape \(5, 3, 1\)\. Flatten each sample first"),
    (np.array([[0.0, np.nan, 1.0]]), r"X contains NaN or inf\. Remove or impute"),
    (np.array([[0.0, np.inf, 1.0]]), r"X contains NaN or inf\."),
    (np.array([[0.0, -np.inf, 1.0]]), r"X contains NaN or inf\."),
    (np.zeros((0, 3)), r"X is empty \(0 samples\)\. Pass at least one sample\."),
])
@pytest.mark.parametrize("method", ["forward", "predict", "loss", "backprop", "fit"])
def test_bad_X_raises(X, message, method):
    net = small_net()
    if method in ("forward", "predict"):
        call = lambda: getattr(net, method)(X)
    else:
        y = np.zeros((len(X), 2))
        kwargs = {"progress": False, "epochs": 1} if method == "fit" else {}
        call = lambda: getattr(net, method)(X, y, **kwargs)
    with pytest.raises(ValueError, match=message):
        call()


def test_X_of_strings_raises_type_error():
    with pytest.raises(TypeError, match=r"X must hold real numbers \(integers or floats\); got dtype <U1\."):
        small_net().forward(np.array([["a", "b", "c"]]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_check_of_X(dtype):
    net = small_net()
    big = np.full((4, 3), np.finfo(net.dtype).max / 2)  # finite, but the sums overflow
    assert net.check_X(big).shape == (4, 3)
    X = np.zeros((1000, 3), dtype)
    X[517, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf"):
        net.check_X(X)


@pytest.mark.parametrize("loss", ["mse", "huber", "binary_cross_entropy", "cross_entropy"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_in_y_raises(loss, bad):
    net = small_net(loss)
    y = targets(loss, 5, 2, np.random.default_rng(0)).astype(float)
    y[(2, 0) if y.ndim == 2 else 2] = bad
    with pytest.raises(ValueError, match=r"y contains NaN or inf\. Remove or impute those targets"):
        net.loss(X_OK, y)


@pytest.mark.parametrize("label", [3, 7, -1])
def test_labels_out_of_range_raise(label):
    net = small_net("cross_entropy", n_out=3)
    y = np.array([0, 1, 2, label, 0])
    with pytest.raises(ValueError, match=rf"cross_entropy expects class labels in 0\.\.2 for a network "
                                         rf"with 3 outputs; got label {label}\."):
        net.backprop(X_OK, y)


def test_non_integer_labels_raise():
    net = small_net("cross_entropy", n_out=3)
    with pytest.raises(ValueError, match=r"cross_entropy expects integer class labels 0\.\.2; got 1\.5, "
                                         r"which is not an integer"):
        net.loss(X_OK, np.array([0, 1.5, 2, 0, 1]))
    np.testing.assert_array_equal(  # integral floats are fine
        net.loss(X_OK, np.array([0.0, 1, 2, 0, 1])), net.loss(X_OK, np.array([0, 1, 2, 0, 1])))


def test_bad_probability_rows_raise():
    net = small_net("cross_entropy", n_out=2)
    with pytest.raises(ValueError, match=r"cross_entropy expects 2-D y to hold probability rows"):
        net.loss(X_OK, np.full((5, 2), 0.7))


def test_bce_labels_out_of_range_raise():
    net = small_net("binary_cross_entropy", n_out=1)
    with pytest.raises(ValueError, match=r"binary_cross_entropy expects labels in \[0, 1\] \(0/1 "
                                         r"labels\); got 2\.0\."):
        net.loss(X_OK, np.array([0, 1, 2, 0, 1]))


def test_y_of_wrong_width_raises():
    with pytest.raises(ValueError, match=r"The mse loss expects y of shape \(n_samples, 2\); got \(5, 3\)"):
        small_net().loss(X_OK, np.zeros((5, 3)))


@pytest.mark.parametrize("n_y", [4, 6])
def test_different_lengths_raise(n_y):
    with pytest.raises(ValueError, match=rf"X and y have different numbers of samples: 5 and {n_y}\. "
                                         r"Give one target per sample\."):
        small_net().backprop(X_OK, np.zeros((n_y, 2)))


def test_unknown_activation_lists_valid_ones():
    valid = re.escape(", ".join(ACTIVATIONS))
    with pytest.raises(ValueError, match=rf"Unknown activation 'relu6'\. Valid activations: {valid}\."):
        Dense(2, 2, "relu6")
    with pytest.raises(ValueError, match=rf"Unknown activation 'Tanh'\. Valid activations: {valid}\."):
        mlp([2, 3, 1], activation="Tanh")


def test_unknown_loss_lists_valid_ones():
    valid = re.escape(", ".join(LOSSES))
    with pytest.raises(ValueError, match=rf"Unknown loss 'hinge'\. Valid losses: {valid}\."):
        Network([Dense(2, 1)], loss="hinge")
    with pytest.raises(ValueError, match=rf"Unknown loss 'l2'\. Valid losses: {valid}\."):
        mlp([2, 3, 1], loss="l2")


def test_unknown_initializer_lists_valid_ones():
    valid = re.escape(", ".join(INITIALIZERS))
    with pytest.raises(ValueError, match=rf"Unknown initializer 'glorot'\. Valid initializers: {valid}\."):
        mlp([2, 3, 1], init="glorot")


@pytest.mark.parametrize("sizes, message", [
    ([3, 0, 2], r"The 'n_out' parameter of Dense must be an int >= 1; got 0\."),
    ([3, -4, 2], r"The 'n_out' parameter of Dense must be an int >= 1; got -4\."),
    ([0, 4, 2], r"The 'n_in' parameter of Dense must be an int >= 1; got 0\."),
    ([3], r"mlp needs at least an input and an output size; got sizes=\[3\]\."),
])
def test_bad_layer_sizes_raise(sizes, message):
    with pytest.raises(ValueError, match=message):
        mlp(sizes)


def test_residual_changing_width_raises():
    with pytest.raises(ValueError, match=r"Residual needs F\(x\) to keep the width of x, but its layers "
                                         r"map 4 -> 5"):
        Network([Dense(3, 4), Residual(Dense(4, 5)), Dense(5, 2)])


def test_layers_that_do_not_chain_raise():
    with pytest.raises(ValueError, match=r"Network: layer 0 outputs 4 units but layer 1 expects 5 inputs"):
        Network([Dense(3, 4), Dense(5, 2)])


@pytest.mark.parametrize("bad", [3, "dense", np.zeros((2, 2)), Dense])
def test_network_of_non_layers_raises(bad):
    with pytest.raises(TypeError, match=rf"Network takes Layer objects; got {type(bad).__name__}\."):
        Network([Dense(2, 2), bad])


def test_empty_network_raises():
    with pytest.raises(ValueError, match=r"A Network needs at least one layer"):
        Network([])


def test_first_dropout_needs_width():
    with pytest.raises(ValueError, match=r"A Dropout as the first layer needs its width: "
                                         r"Dropout\(p, width=n_features\)\."):
        Network([Dropout(0.5), Dense(3, 2)])
    net = Network([Dropout(0.5, width=3), Dense(3, 2)])
    assert net.n_in == 3


def test_fused_loss_needs_its_output_activation():
    with pytest.raises(ValueError, match=r"The cross_entropy loss needs a softmax output layer; the last "
                                         r"layer's activation is 'sigmoid'"):
        Network([Dense(3, 2, "sigmoid")], loss="cross_entropy")


@pytest.mark.parametrize("name, value, error", [("l2", -0.1, ValueError), ("l1", float("nan"), ValueError),
                                               ("l2", "0.1", TypeError), ("l1", True, TypeError)])
def test_bad_penalty_raises(name, value, error):
    with pytest.raises(error, match=rf"The '{name}' parameter of Network must be a float >= 0; got"):
        Network([Dense(2, 1)], **{name: value})


# ---------------------------------------------------------------------- predict
def test_predict_cross_entropy_gives_argmax_labels():
    net = small_net("cross_entropy", n_out=3)
    X = np.random.default_rng(1).standard_normal((20, 3))
    labels = net.predict(X)
    assert labels.shape == (20,) and np.issubdtype(labels.dtype, np.integer)
    np.testing.assert_array_equal(labels, net.predict_output(X).argmax(axis=1))
    assert len(set(labels.tolist())) > 1  # not a constant answer


@pytest.mark.parametrize("n_out", [1, 3])
def test_predict_binary_cross_entropy_gives_0_1(n_out):
    net = small_net("binary_cross_entropy", n_out=n_out)
    net.layers[-1].b[...] = 0  # keep the outputs near 0.5, so both labels occur
    X = 3 * np.random.default_rng(2).standard_normal((40, 3))
    pred = net.predict(X)
    a = net.predict_output(X)
    expected = (a > 0.5).astype(np.int64)
    assert set(np.unique(pred).tolist()) == {0, 1}
    if n_out == 1:
        assert pred.shape == (40,)
        np.testing.assert_array_equal(pred, expected[:, 0])
    else:
        assert pred.shape == (40, n_out)
        np.testing.assert_array_equal(pred, expected)


@pytest.mark.parametrize("n_out", [1, 2])
def test_predict_mse_gives_outputs(n_out):
    net = small_net("mse", n_out=n_out)
    X = np.random.default_rng(3).standard_normal((7, 3))
    pred = net.predict(X)
    a = net.forward(X)
    assert pred.dtype == np.float32
    if n_out == 1:
        assert pred.shape == (7,)
        np.testing.assert_array_equal(pred, a[:, 0])
    else:
        assert pred.shape == (7, 2)
        np.testing.assert_array_equal(pred, a)


def test_predict_output_in_batches_equals_forward():
    net = small_net()
    X = np.random.default_rng(4).standard_normal((10, 3))
    np.testing.assert_allclose(net.predict_output(X, batch_size=3), net.forward(X), rtol=1e-6)


def test_predict_turns_dropout_off():
    net = Network([Dense(3, 50, "tanh", seed=0), Dropout(0.5, seed=0), Dense(50, 2, seed=1)])
    X = np.ones((4, 3))
    net.training = True
    out = net.predict_output(X)
    assert net.training is True  # restored
    net.training = False
    np.testing.assert_array_equal(out, net.forward(X))


# ---------------------------------------------------------------------- description
def test_summary_lists_layers_and_total():
    net = Network([Dense(3, 4, "relu", seed=0), Residual(Dense(4, 4, "tanh", seed=1)),
                   Dropout(0.25), Dense(4, 2, "softmax", seed=2)], loss="cross_entropy")
    text = net.summary()
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "shape", "activation", "params"]
    assert re.search(r"^0\s+Dense\s+3 -> 4\s+relu\s+16$", text, re.MULTILINE)
    assert re.search(r"^1\s+Residual\s+4 -> 4 \(\+skip\)\s+20$", text, re.MULTILINE)
    assert re.search(r"^\s+1\.0\s+Dense\s+4 -> 4\s+tanh\s+20$", text, re.MULTILINE)
    assert re.search(r"^2\s+Dropout\s+4 -> 4 \(p=0\.25\)\s+0$", text, re.MULTILINE)
    assert re.search(r"^3\s+Dense\s+4 -> 2\s+softmax\s+10$", text, re.MULTILINE)
    assert lines[-1].startswith(f"total parameters: {16 + 20 + 10}")
    assert "loss: cross_entropy" in lines[-1] and "dtype: float32" in lines[-1]


def test_repr():
    assert repr(small_net()) == "Network(3-4-2, loss='mse', dtype='float32', params=26)"
    net = mlp([5, 8, 8, 3], loss="cross_entropy", dropout=0.1, dtype="float64")
    assert repr(net) == "Network(5-8-8-3, loss='cross_entropy', dtype='float64', params=147)"


def test_n_params():
    net = small_net()
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2
    assert net.n_params == sum(p.size for p in net.params().values())
    assert mlp([10, 20, 20, 5], residual=True).n_params == 10 * 20 + 20 + 20 * 20 + 20 + 20 * 5 + 5


# ---------------------------------------------------------------------- astype, params, grads
def test_astype_returns_independent_copy():
    net = small_net("cross_entropy", n_out=3)
    net.info["note"] = "x"
    X = np.random.default_rng(5).standard_normal((6, 3))
    before = {k: v.copy() for k, v in net.params().items()}
    out32 = net.predict_output(X)
    copy = net.astype("float64")
    assert copy is not net and copy.dtype == np.float64 and net.dtype == np.float32
    assert all(p.dtype == np.float64 for p in copy.params().values())
    assert all(p.dtype == np.float32 for p in net.params().values())
    assert list(copy.params()) == list(net.params())
    np.testing.assert_allclose(copy.predict_output(X), out32, rtol=1e-5, atol=1e-6)
    assert copy.info == net.info and copy.info is not net.info
    for p in copy.params().values():
        p += 1.0
    for key, p in net.params().items():
        np.testing.assert_array_equal(p, before[key])
    np.testing.assert_array_equal(net.predict_output(X), out32)
    same = net.astype("float32")
    assert all(a is not b for a, b in zip(same.params().values(), net.params().values()))


def test_params_and_grads_same_keys_and_live():
    net = mlp([3, 4, 4, 2], activation="tanh", residual=True)
    keys = list(net.params())
    assert keys == ["0.W", "0.b", "1.0.W", "1.0.b", "2.W", "2.b"]
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    net.backprop(X, y)
    assert list(net.grads()) == keys
    for key in keys:
        assert net.grads()[key].shape == net.params()[key].shape
    assert net.grads()["0.W"] is net.layers[0].dW
    assert net.grads()["1.0.b"] is net.layers[1].layers[0].db
    net.params()["0.W"][0, 0] = 42.0
    assert net.layers[0].W[0, 0] == 42.0
    net.params()["1.0.W"][...] = 0
    assert not net.layers[1].layers[0].W.any()
    old = net.forward(X).copy()
    net.params()["2.b"] += 1
    np.testing.assert_allclose(net.forward(X), old + 1, rtol=1e-6)


def test_mlp_residual_builds_blocks_for_equal_widths():
    net = mlp([3, 8, 8, 8, 5, 5, 2], activation="relu", residual=True)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Dense", "Residual", "Residual", "Dense", "Residual", "Dense"]
    for block in (net.layers[1], net.layers[2], net.layers[4]):
        assert not hasattr(block, "activation")  # a = x + relu(W x + b): an identity skip
        assert block.n_in == block.n_out
        assert len(block.layers) == 1 and block.layers[0].activation.name == "relu"
    assert net.sizes == [3, 8, 8, 8, 5, 5, 2]
    plain = mlp([3, 8, 8, 8, 5, 5, 2], residual=False)
    assert all(type(layer) is Dense for layer in plain.layers)
    assert plain.n_params == net.n_params


def test_mlp_residual_keeps_deep_sigmoid_gradients_alive():
    """The skip's "1 +" term: a deep sigmoid stack's first-layer delta stays near the last's."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 8)), rng.integers(0, 3, 16)
    sizes = [8] + [16] * 12 + [3]
    ratios = {}
    for residual in (False, True):
        net = mlp(sizes, activation="sigmoid", loss="cross_entropy", residual=residual,
                  dtype="float64", seed=0)
        net.backprop(X, y)
        hidden = [layer for layer in net.layers[:-1]]
        first, last = hidden[0].delta, hidden[-1].delta
        ratios[residual] = np.linalg.norm(first) / np.linalg.norm(last)
    assert ratios[False] < 1e-4   # sigmoid' <= 1/4 per layer, 11 layers deep
    assert ratios[True] > 0.1     # the identity skips carry the gradient down


def test_mlp_dropout_follows_hidden_layers():
    net = mlp([3, 6, 6, 2], dropout=0.3)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert net.layers[1].n_in == 6 and net.layers[1].p == 0.3


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_input_gradient_equals_finite_differences(loss):
    rng = np.random.default_rng(7)
    net = small_net(loss, n_out=3, dtype="float64")
    X = rng.standard_normal((4, 3))
    y = targets(loss, 4, 3, rng)
    grad = input_gradient(net, X, y)
    assert grad.shape == X.shape
    numeric = central_diff(lambda: net.loss(X, y), X)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    assert np.abs(grad).max() > 1e-3


def test_penalties_in_loss_biases_excluded():
    rng = np.random.default_rng(8)
    l2, l1 = 0.3, 0.05
    plain = small_net(dtype="float64")
    for p in plain.params().values():
        p[...] = rng.normal(size=p.shape)  # biases far from zero: they must not count
    penalised = Network([layer.astype("float64") for layer in plain.layers], dtype="float64", l2=l2, l1=l1)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    Ws = [layer.W for layer in plain.layers]
    expected = 0.5 * l2 * sum(np.sum(W**2) for W in Ws) + l1 * sum(np.sum(np.abs(W)) for W in Ws)
    assert penalised.penalty() == pytest.approx(expected, rel=1e-14)
    # the loss is the data term alone; the cost adds the penalty, and the gradients are the cost's
    assert penalised.loss(X, y) == pytest.approx(plain.loss(X, y), rel=1e-14)
    assert penalised.cost(X, y) == pytest.approx(plain.loss(X, y) + expected, rel=1e-14)
    assert penalised.backprop(X, y) == pytest.approx(plain.backprop(X, y), rel=1e-14)
    for lp, lq in zip(plain.layers, penalised.layers):
        np.testing.assert_allclose(lq.dW, lp.dW + l2 * lp.W + l1 * np.sign(lp.W), rtol=1e-13)
        np.testing.assert_array_equal(lq.db, lp.db)


@pytest.mark.parametrize("l2, l1", [(0.1, 0.0), (0.0, 0.02), (0.5, 0.1)])
def test_gradcheck_passes_with_penalties(l2, l1):
    rng = np.random.default_rng(9)
    net = small_net(dtype="float64", hidden="tanh", l2=l2, l1=l1)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    report = gradcheck(net, X, y)
    assert report.passed, report.table()


def test_gradcheck_catches_a_missing_penalty_gradient(monkeypatch):
    net = small_net(dtype="float64", l2=0.5)
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    monkeypatch.setattr(Network, "penalty", lambda self: 0.0)  # the loss forgets the term
    assert not gradcheck(net, X, y).passed


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["W", "b"])
@pytest.mark.parametrize("layer", [0, -1])
def test_gradcheck_gives_no_verdict_on_weights_that_are_not_finite(bad, where, layer):
    """A finite difference of NaN is NaN, which once read as 'a kink, skipped': every tensor
    'passed'. Diverged weights are refused instead, whichever tensor holds them."""
    net = small_net(dtype="float64")
    getattr(net.layers[layer], where)[0] = bad
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    with pytest.raises(ValueError, match="not finite"):
        gradcheck(net, X, y)


def test_gradcheck_fails_a_step_whose_loss_is_not_finite_and_skips_only_kinks():
    from glassnet.gradcheck import _central, _row

    assert np.isnan(_central([1.0, None, 1.0, 1.0], 1e-4))  # a kink: no derivative, skipped
    assert _central([np.inf, 1.0, 1.0, 1.0], 1e-4) == np.inf
    assert _central([np.nan, 1.0, 1.0, 1.0], 1e-4) == np.inf
    row = _row("0", "W", (2,), np.array([1.0, 2.0]), np.array([1.0, np.inf]), 1e-6, 1e-9)
    assert not row.passed and row.skipped == 0
    row = _row("0", "W", (2,), np.array([1.0, 2.0]), np.array([1.0, np.nan]), 1e-6, 1e-9)
    assert row.passed and row.skipped == 1


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_sample_weights(loss):
    rng = np.random.default_rng(10)
    net = small_net(loss, n_out=3, dtype="float64")
    X = rng.standard_normal((6, 3))
    X, Y = net.check_Xy(X, targets(loss, 6, 3, rng))
    w = rng.uniform(0.1, 3.0, 6)
    per_sample = np.array([net.backprop(X[i:i + 1], Y[i:i + 1]) for i in range(6)])
    grads_i = []
    for i in range(6):
        net.backprop(X[i:i + 1], Y[i:i + 1])
        grads_i.append({k: g.copy() for k, g in net.grads().items()})
    weighted = net.backprop(X, Y, sample_weight=w)
    assert weighted == pytest.approx(np.mean(w * per_sample), rel=1e-12)
    for key, g in net.grads().items():
        expected = sum(w[i] * grads_i[i][key] for i in range(6)) / 6
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-14, err_msg=key)
    unweighted = net.backprop(X, Y)
    plain_grads = {k: g.copy() for k, g in net.grads().items()}
    assert unweighted != pytest.approx(weighted, rel=1e-6)
    assert net.backprop(X, Y, sample_weight=np.ones(6)) == pytest.approx(unweighted, rel=1e-14)
    for key, g in net.grads().items():
        np.testing.assert_allclose(g, plain_grads[key], rtol=1e-14, err_msg=key)


# ---------------------------------------------------------------------- learning
def test_xor_learned_by_plain_gradient_descent():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0], dtype=float)
    rng = np.random.default_rng(0)
    net = Network([Dense(2, 4, "sigmoid", seed=rng), Dense(4, 1, "sigmoid", seed=rng)], loss="mse")
    assert np.mean((net.predict(X) > 0.5) == y) < 1  # not solved by the initial weights
    history = net.fit(X, y, optimizer="sgd", learning_rate=5.0, epochs=500, batch_size=4, seed=0,
                      progress=False)
    out = net.predict(X)
    assert out.shape == (4,)
    np.testing.assert_array_equal(out > 0.5, y.astype(bool))
    assert np.max(np.abs(out - y)) < 0.25
    assert history["loss"][-1] < 0.01 < history["loss"][0]
