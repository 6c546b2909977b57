"""The training hot path (glassnet.fastpath) computes what Network._backprop computes.

Also: no float64 anywhere on a float32 training path (caches, gradients, optimiser state).
"""

import numpy as np
import pytest

import glassnet.training as training
from glassnet import Callback, Dense, Network, mlp
from glassnet.fastpath import FastPath
from glassnet.layers import Dropout

HIDDEN = ["relu", "tanh", "sigmoid", "identity", "elu", "leaky_relu"]
OUTPUTS = [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"),
           ("mse", "identity"), ("mse", "sigmoid"), ("huber", "tanh")]


def make(hidden, loss, output, dtype="float64", l2=0.0, n_out=3):
    rng = np.random.default_rng(0)
    net = Network([Dense(4, 5, hidden, seed=1, dtype=dtype), Dense(5, 6, hidden, seed=2, dtype=dtype),
                   Dense(6, n_out, output, seed=3, dtype=dtype)], loss=loss, dtype=dtype, l2=l2)
    X = rng.normal(size=(20, 4)).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, 20)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (20, n_out))
    else:
        y = rng.normal(size=(20, n_out))
    X, Y = net.check_Xy(X, y)
    return net, X, Y


def snapshot(net):
    return [{k: np.array(getattr(layer, k)) for k in ("z", "a", "delta", "dW", "db")}
            for layer in net.layers]


@pytest.mark.parametrize("loss,output", OUTPUTS)
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("weighted", [False, True])
def test_fast_backprop_equals_backprop(hidden, loss, output, weighted):
    net, X, Y = make(hidden, loss, output, l2=0.01 if weighted else 0.0)
    rows = np.array([3, 1, 4, 15, 9, 2, 6, 5, 13])
    w = np.linspace(0.5, 2.0, len(X)) if weighted else None
    expected_loss = net._backprop(X[rows], Y[rows], w=None if w is None else w[rows])
    expected = snapshot(net)
    fast = FastPath.build(net)
    loss_value = fast.backprop(X, Y, rows, w)
    assert loss_value == pytest.approx(expected_loss, rel=1e-12)
    for layer, ref in zip(net.layers, expected):
        for k, v in ref.items():
            np.testing.assert_allclose(getattr(layer, k), v, rtol=1e-10, atol=1e-14, err_msg=k)
    assert net.grads().keys() == fast.grads.keys()


def test_scale_multiplies_every_gradient_and_unscale_undoes_it():
    net, X, Y = make("relu", "cross_entropy", "softmax")
    fast = FastPath.build(net)
    rows = np.arange(8)
    fast.backprop(X, Y, rows)
    plain = {k: g.copy() for k, g in fast.grads.items()}
    fast.backprop(X, Y, rows, scale=0.25)
    for k, g in fast.grads.items():
        np.testing.assert_allclose(g, 0.25 * plain[k], rtol=1e-12)
    fast.unscale(0.25)
    for k, g in fast.grads.items():
        np.testing.assert_allclose(g, plain[k], rtol=1e-12)


def test_parameters_are_live_views_into_one_flat_array():
    net, X, Y = make("tanh", "mse", "identity")
    before = [p.copy() for p in net.params().values()]
    fast = FastPath.build(net)
    for p, old in zip(net.params().values(), before):
        np.testing.assert_array_equal(p, old)
        assert np.shares_memory(p, fast.theta)
    fast.theta -= 1.0
    np.testing.assert_array_equal(net.layers[0].W, before[0] - 1.0)


def test_build_covers_dense_with_dropout_and_refuses_the_rest():
    assert FastPath.build(mlp([4, 4, 4, 2], residual=True)) is None
    assert FastPath.build(Network([Dense(4, 8), Dropout(0.5), Dropout(0.5), Dense(8, 2)])) is None
    assert FastPath.build(Network([Dense(4, 8), Dropout(0.5)])) is None
    fast = FastPath.build(mlp([4, 8, 8, 2], dropout=0.5))
    assert [type(d).__name__ if d else None for d in fast.drops] == ["Dropout", "Dropout", None]
    assert list(fast.grads) == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]  # net.params()' keys


@pytest.mark.parametrize("hidden", ["relu", "tanh"])
@pytest.mark.parametrize("p", [0.3, 0.0])
def test_dropout_on_the_fast_path_equals_the_reference_path(monkeypatch, hidden, p):
    X, y = np.random.default_rng(1).normal(size=(40, 4)), np.arange(40) % 3
    results = []
    for use_fast in (True, False):
        net = mlp([4, 9, 7, 3], hidden, "softmax", dropout=p, seed=2, dtype="float64")
        with monkeypatch.context() as m:
            if not use_fast:
                m.setattr(training.FastPath, "build", classmethod(lambda cls, net: None))
            history = net.fit(X, y, epochs=3, batch_size=8, seed=0, progress=False,
                              optimizer="adam", learning_rate=0.01)
        results.append((net, history))
    (fast, h_fast), (ref, h_ref) = results
    assert FastPath.build(fast) is not None
    np.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=1e-10)
    for key, param in ref.params().items():
        np.testing.assert_allclose(fast.params()[key], param, rtol=1e-10, atol=1e-13)
    # the two paths drew the same masks from the same generators
    for d_fast, d_ref in zip(fast._dropouts, ref._dropouts):
        assert d_fast.rng.bit_generator.state == d_ref.rng.bit_generator.state
    # inference: dropout is the identity, on the preallocated path as on the layer path
    from glassnet.fastpath import predict

    out = predict(fast, X, batch_size=16)
    np.testing.assert_allclose(out, np.concatenate([fast._forward(X[i:i + 16]) for i in range(0, 40, 16)]),
                               rtol=1e-12)


def fit_both(monkeypatch, **kwargs):
    """The same fit with the fast path and with the reference path (fast path disabled)."""
    nets = []
    for use_fast in (True, False):
        net, X, Y = make("relu", "cross_entropy", "softmax", dtype="float64")
        with monkeypatch.context() as m:
            if not use_fast:
                m.setattr(training.FastPath, "build", classmethod(lambda cls, net: None))
            history = net.fit(X, Y, epochs=3, batch_size=6, seed=0, progress=False, **kwargs)
        nets.append((net, history))
    return nets


@pytest.mark.parametrize("kwargs", [
    dict(optimizer="sgd", learning_rate=0.1),  # the learning rate folded into the delta
    dict(optimizer="adam", learning_rate=0.01),  # the optimisers step the flat arrays at once
    dict(optimizer="adamw", learning_rate=0.01),
    dict(optimizer="rmsprop", learning_rate=0.01),
    dict(optimizer="adagrad", learning_rate=0.1),
    dict(optimizer="adam", learning_rate=0.01, clip_norm=0.5),
    dict(optimizer="sgd", learning_rate=0.1, clip_norm=0.5),
    dict(optimizer="sgd", learning_rate=0.1, callbacks=[Callback()]),
])
def test_fit_on_the_fast_path_equals_the_reference_path(monkeypatch, kwargs):
    (fast, h_fast), (ref, h_ref) = fit_both(monkeypatch, **kwargs)
    np.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=1e-10)
    for key, p in ref.params().items():
        np.testing.assert_allclose(fast.params()[key], p, rtol=1e-10, atol=1e-13)
    for key, g in ref.grads().items():  # dC/dW of the last batch, whatever the path
        np.testing.assert_allclose(fast.grads()[key], g, rtol=1e-9, atol=1e-13)


def test_callbacks_see_this_batchs_gradients_on_the_fast_path():
    net, X, Y = make("tanh", "cross_entropy", "softmax")
    seen = []

    class Record(Callback):
        def on_batch_end(self, net, step, loss):
            seen.append(net.layers[0].dW.copy())

    net.fit(X, Y, epochs=1, batch_size=10, optimizer="sgd", learning_rate=0.5, shuffle=False,
            progress=False, callbacks=[Record()])
    check = make("tanh", "cross_entropy", "softmax")[0]
    check.backprop(X[:10], Y[:10])
    np.testing.assert_allclose(seen[0], check.layers[0].dW, rtol=1e-12)


# ------------------------------------------------------------------ float32 stays float32
def float32_arrays(net):
    for i, layer in enumerate(net.layers):
        for k in ("a_prev", "z", "a", "delta", "dW", "db", "W", "b"):
            yield f"{i}.{k}", getattr(layer, k)
    opt = net.optimizer
    if opt is not None:
        for slot, store in opt._state.items():
            for key, arr in store.items():
                yield f"{slot}.{key}", arr
        for key, bufs in opt._scratch.items():
            for j, arr in enumerate(bufs):
                yield f"scratch{j}.{key}", arr


@pytest.mark.parametrize("loss,output", OUTPUTS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("fast_path", [True, False])
def test_no_float64_on_a_float32_training_step(monkeypatch, loss, output, optimizer, fast_path):
    net, X, Y = make("tanh", loss, output, dtype="float32", l2=1e-3)
    w = np.linspace(0.5, 1.5, len(X))
    if not fast_path:
        monkeypatch.setattr(training.FastPath, "build", classmethod(lambda cls, net: None))
    history = net.fit(X, Y, epochs=2, batch_size=7, optimizer=optimizer, sample_weight=w,
                      learning_rate=0.01, progress=False, seed=0)
    assert np.isfinite(history["loss"]).all()
    arrays = dict(float32_arrays(net))
    assert arrays and all(a.dtype == np.float32 for a in arrays.values()), \
        {k: a.dtype for k, a in arrays.items() if a.dtype != np.float32}
    assert net.predict_output(X).dtype == np.float32
    assert net.backprop(X, Y) == pytest.approx(net.loss(X, Y), rel=1e-5)
    assert all(g.dtype == np.float32 for g in net.grads().values())
    assert net.layers[0].z.dtype == net.layers[-1].delta.dtype == np.float32


def test_fit_is_silent_about_underflow_even_when_numpy_raises():
    net, X, Y = make("relu", "cross_entropy", "softmax", dtype="float32")
    X = X * 1e3  # logits far apart: exp(z - max) underflows to 0
    with np.errstate(all="raise"):
        history = net.fit(X, Y, epochs=1, batch_size=5, optimizer="sgd", learning_rate=1e-6,
                          progress=False, seed=0)
    assert np.isfinite(history["loss"]).all()


# ------------------------------------------------------------------ inference
@pytest.mark.parametrize("n_out", [1, 3, 40])  # a few classes: the softmax reduces by columns
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("loss,output", OUTPUTS)
def test_predict_equals_forward(loss, output, hidden, n_out):
    net, X, _ = make(hidden, loss, output, n_out=n_out)
    X = X * 50.0  # large logits: the softmax must not overflow
    expected = net.forward(X)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(net.predict_output(X, batch_size=7), expected, rtol=1e-12,
                               atol=1e-300)
