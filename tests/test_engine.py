"""One engine: what ``fit`` and ``predict`` run is the layers' own forward and backward.

The back-propagation a learner reads (``Dense.backward``, ``Network.backward``, the
activations' and losses' own methods) is the code that trains: ``fit`` equals a loop of
``net.backprop`` and ``optimizer.step`` bit for bit, a user's activation or layer is called
exactly as written (whatever its name), parameters are views into one flat ``theta``, and a
float32 network computes in float32 throughout.
"""

import numpy as np
import pytest
from user_parts import Cube

from glassnet import Callback, Dense, Network, mlp
from glassnet.activations import ACTIVATIONS, ReLU
from glassnet.layers import Dropout, Residual, walk
from glassnet.optim import get_optimizer

HIDDEN = ["relu", "tanh", "sigmoid", "identity", "elu", "leaky_relu", "softplus", "gelu"]
OUTPUTS = [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"),
           ("mse", "identity"), ("mse", "sigmoid"), ("huber", "tanh")]


def make(hidden, loss, output, dtype="float64", l2=0.0, n_out=3, residual=False, dropout=0.0):
    rng = np.random.default_rng(0)
    layers = [Dense(4, 5, hidden, seed=1, dtype=dtype)]
    if residual:
        layers.append(Residual(Dense(5, 5, hidden, seed=4, dtype=dtype)))
    if dropout:
        layers.append(Dropout(dropout, seed=5))
    layers += [Dense(5, 6, hidden, seed=2, dtype=dtype), Dense(6, n_out, output, seed=3, dtype=dtype)]
    net = Network(layers, loss=loss, dtype=dtype, l2=l2)
    X = rng.normal(size=(20, 4)).astype(dtype)
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, 20)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (20, n_out))
    else:
        y = rng.normal(size=(20, n_out))
    X, Y = net.check_Xy(X, y)
    return net, X, Y


def manual_fit(net, X, Y, epochs, batch_size, optimizer, seed, w=None, clip_norm=None):
    """fit, written out: shuffle, backprop, clip, step; nothing else."""
    from glassnet.optim import clip_grad_norm

    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        total = 0.0
        net.training = True
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            loss = net.backprop(X[batch], Y[batch],
                                sample_weight=None if w is None else w[batch])
            if clip_norm is not None:
                clip_grad_norm(net.grads(), clip_norm)
            optimizer.step(net.params(), net.grads())
            total += loss * len(batch)
        net.training = False
        losses.append(total / len(X))
    return losses


@pytest.mark.parametrize("kwargs", [
    dict(optimizer="sgd", learning_rate=0.1),
    dict(optimizer="sgd", learning_rate=0.1, momentum=0.9),
    dict(optimizer="adam", learning_rate=0.01),
    dict(optimizer="adamw", learning_rate=0.01),
    dict(optimizer="rmsprop", learning_rate=0.01),
    dict(optimizer="adagrad", learning_rate=0.1),
    dict(optimizer="adam", learning_rate=0.01, clip_norm=0.5),
    dict(optimizer="sgd", learning_rate=0.1, weighted=True, l2=0.01),
])
@pytest.mark.parametrize("arch", ["plain", "residual", "dropout"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_is_a_loop_of_backprop_and_step_bit_for_bit(kwargs, arch, dtype):
    kwargs = dict(kwargs)
    weighted, l2, clip = kwargs.pop("weighted", False), kwargs.pop("l2", 0.0), kwargs.pop("clip_norm", None)
    name, lr = kwargs.pop("optimizer"), kwargs.pop("learning_rate")
    nets = []
    for _ in range(2):
        nets.append(make("tanh", "cross_entropy", "softmax", dtype=dtype, l2=l2,
                         residual=arch == "residual", dropout=0.3 if arch == "dropout" else 0.0))
    (fitted, X, Y), (manual, _, _) = nets
    w = np.linspace(0.5, 2.0, len(X)).astype(dtype) if weighted else None
    history = fitted.fit(X, Y, epochs=3, batch_size=6, seed=0, progress=False, sample_weight=w,
                         optimizer=get_optimizer(name, learning_rate=lr, **kwargs), clip_norm=clip)
    losses = manual_fit(manual, X, Y, 3, 6, get_optimizer(name, learning_rate=lr, **kwargs), 0,
                        w=w, clip_norm=clip)
    assert history["loss"] == losses
    np.testing.assert_array_equal(fitted.theta, manual.theta)
    np.testing.assert_array_equal(fitted.grad, manual.grad)


class CountingDense(Dense):
    """A user's subclass: counts the calls of the layer's own forward and backward."""

    calls = {"forward": 0, "backward": 0, "backward_delta": 0}

    def forward(self, a_prev):
        CountingDense.calls["forward"] += 1
        return super().forward(a_prev)

    def backward(self, grad_a, input_grad=True):
        CountingDense.calls["backward"] += 1
        return super().backward(grad_a, input_grad)

    def backward_delta(self, delta, input_grad=True):
        CountingDense.calls["backward_delta"] += 1
        return super().backward_delta(delta, input_grad)


def test_fit_runs_dense_backward_itself():
    CountingDense.calls = dict.fromkeys(CountingDense.calls, 0)
    net = Network([CountingDense(4, 6, "relu", seed=0), CountingDense(6, 3, "softmax", seed=1)],
                  loss="cross_entropy")
    X, y = np.random.default_rng(0).normal(size=(40, 4)), np.arange(40) % 3
    net.fit(X, y, epochs=2, batch_size=8, progress=False, optimizer="adam")
    steps = 2 * 5
    assert CountingDense.calls["backward"] == steps  # the hidden layer: delta = grad_a * f'(z)
    assert CountingDense.calls["backward_delta"] == 2 * steps  # both layers form dW, db there
    assert CountingDense.calls["forward"] >= 2 * steps
    before = dict(CountingDense.calls)
    net.predict(X)  # inference goes through infer, which needs no backward
    assert CountingDense.calls["backward"] == before["backward"]


class MyReLU:
    """A user's activation named like a built-in, with a derivative of its own (0.5 for z < 0)."""

    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0)

    def derivative(self, z, a):
        return np.where(z > 0, 1.0, 0.5).astype(z.dtype)

    def backward(self, z, a, grad_a):
        return grad_a * self.derivative(z, a)

    def jvp(self, z, a, dz):
        return dz * self.derivative(z, a)


class MyReLUSubclass(ReLU):
    """The same, as a subclass of glassnet's ReLU that overrides the derivative only."""

    def derivative(self, z, a):
        return np.where(z > 0, 1.0, 0.5).astype(z.dtype)


@pytest.mark.parametrize("activation", [MyReLU, MyReLUSubclass])
def test_a_users_activation_named_relu_trains_as_its_own_backward_says(activation):
    X, y = np.random.default_rng(1).normal(size=(30, 4)), np.arange(30) % 3

    def build(act):
        return Network([Dense(4, 8, act, seed=0, dtype="float64"),
                        Dense(8, 3, "softmax", seed=1, dtype="float64")],
                       loss="cross_entropy", dtype="float64")

    mine, builtin = build(activation()), build("relu")
    h_mine = mine.fit(X, y, epochs=3, batch_size=10, seed=0, progress=False, optimizer="sgd",
                      learning_rate=0.2)
    h_builtin = builtin.fit(X, y, epochs=3, batch_size=10, seed=0, progress=False,
                            optimizer="sgd", learning_rate=0.2)
    assert h_mine["loss"][-1] != pytest.approx(h_builtin["loss"][-1], rel=1e-6)
    # the gradient fit used is the one the user's derivative gives, by hand:
    net = build(activation())
    net.params()["0.W"][...] = mine.params()["0.W"]
    for key, p in mine.params().items():
        net.params()[key][...] = p
    Xc, Yc = net.check_Xy(X[:10], y[:10])
    net.backprop(Xc, Yc)
    hidden, out = net.layers
    z = Xc @ hidden.W.T + hidden.b
    a = np.maximum(z, 0)
    logits = a @ out.W.T + out.b
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    delta_out = (e / e.sum(axis=1, keepdims=True) - Yc) / 10
    delta_hidden = (delta_out @ out.W) * np.where(z > 0, 1.0, 0.5)
    np.testing.assert_allclose(hidden.dW, delta_hidden.T @ Xc, rtol=1e-12)


def test_a_users_activation_without_out_arguments_is_exact_under_fit():
    net = Network([Dense(3, 4, Cube(), seed=0, dtype="float64"), Dense(4, 2, seed=1, dtype="float64")],
                  dtype="float64")
    X, Y = np.random.default_rng(2).normal(size=(6, 3)), np.random.default_rng(3).normal(size=(6, 2))
    net.backprop(X, Y)
    layer = net.layers[0]
    np.testing.assert_allclose(layer.a, layer.z ** 3, rtol=1e-14)
    np.testing.assert_allclose(layer.delta, (net.layers[1].delta @ net.layers[1].W) * 3 * layer.z ** 2,
                               rtol=1e-12)


# ------------------------------------------------------------------ the flat parameters
def test_parameters_and_gradients_are_views_into_theta_and_grad():
    net, X, Y = make("tanh", "mse", "identity")
    assert net.theta.shape == (net.n_params,) and net.grad.shape == (net.n_params,)
    for key, p in net.params().items():
        assert np.shares_memory(p, net.theta), key
    for layer in net.layers:
        assert np.shares_memory(layer.W, net.theta) and np.shares_memory(layer.dW, net.grad)
    net.backprop(X, Y)
    offset = 0
    for key, g in net.grads().items():  # grad is the gradients laid end to end
        np.testing.assert_array_equal(net.grad[offset:offset + g.size], g.ravel())
        offset += g.size
    before = net.layers[0].W.copy()
    net.theta -= 1.0
    np.testing.assert_array_equal(net.layers[0].W, before - 1.0)


def test_assigning_a_parameter_writes_into_the_view_never_rebinds():
    net, X, Y = make("tanh", "mse", "identity")
    layer = net.layers[0]
    view = layer.W
    layer.W = np.ones((5, 4))
    assert layer.W is view and np.all(layer.W == 1)
    assert np.all(net.theta[:20] == 1)
    with pytest.raises(ValueError, match=r"Dense\.W has shape \(5, 4\); got an array of shape \(4, 5\)"):
        layer.W = np.ones((4, 5))


def test_a_users_layer_that_assigns_its_gradients_trains_through_the_flat_arrays():
    class Plain(Dense):
        """A layer written the textbook way: new arrays assigned to dW and db."""

        def backward_delta(self, delta, input_grad=True):
            self.delta = delta
            self.dW = delta.T @ self.a_prev
            self.db = delta.sum(axis=0)
            return delta @ self.W if input_grad else None

    X, y = np.random.default_rng(4).normal(size=(24, 4)), np.arange(24) % 3
    nets = [Network([cls(4, 5, "tanh", seed=0, dtype="float64"),
                     cls(5, 3, "softmax", seed=1, dtype="float64")],
                    loss="cross_entropy", dtype="float64") for cls in (Plain, Dense)]
    for net in nets:
        net.fit(X, y, epochs=3, batch_size=8, seed=0, progress=False, optimizer="adam")
    np.testing.assert_allclose(nets[0].theta, nets[1].theta, rtol=1e-12)
    assert not np.array_equal(nets[0].theta, Network(
        [Plain(4, 5, "tanh", seed=0, dtype="float64"), Plain(5, 3, "softmax", seed=1, dtype="float64")],
        loss="cross_entropy", dtype="float64").theta)


def test_two_networks_on_the_same_layers_the_last_one_owns_them():
    layers = [Dense(3, 4, "tanh", seed=0), Dense(4, 2, seed=1)]
    first = Network(layers)
    first.params()["0.b"][...] = 0.5
    second = Network(layers)
    np.testing.assert_array_equal(second.params()["0.b"], 0.5)  # the values travel
    assert np.shares_memory(layers[0].W, second.theta)


# ------------------------------------------------------------------ float32 stays float32
@pytest.mark.parametrize("loss,output", OUTPUTS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
def test_no_float64_on_a_float32_training_step(loss, output, optimizer):
    net, X, Y = make("tanh", loss, output, dtype="float32", l2=1e-3, residual=True)
    w = np.linspace(0.5, 1.5, len(X))
    history = net.fit(X, Y, epochs=2, batch_size=7, optimizer=optimizer, sample_weight=w,
                      learning_rate=0.01, progress=False, seed=0)
    assert np.isfinite(history["loss"]).all()
    arrays = {"theta": net.theta, "grad": net.grad}
    for key, layer in walk(net.layers):
        for k in ("a_prev", "z", "a", "delta"):
            if getattr(layer, k, None) is not None:
                arrays[f"{key}.{k}"] = getattr(layer, k)
    for slot, store in net.optimizer.state().items():
        arrays.update({f"{slot}.{key}": arr for key, arr in store.items()})
    assert all(a.dtype == np.float32 for a in arrays.values()), \
        {k: a.dtype for k, a in arrays.items() if a.dtype != np.float32}
    assert net.predict_output(X).dtype == np.float32


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
    net, X, _ = make(hidden, loss, output, n_out=n_out, residual=True, dropout=0.5)
    X = X * 50.0  # large logits: the softmax must not overflow
    expected = net.forward(X)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(net.predict_output(X, batch_size=7), expected, rtol=1e-12,
                               atol=1e-300)


def test_forward_returns_a_new_array_each_call():
    net, X, _ = make("tanh", "mse", "identity")
    first = net.forward(X)
    net.theta += 0.1
    second = net.forward(X)
    assert not np.allclose(first, second)


def test_buffers_are_reused_for_a_batch_size_and_kept_for_a_few_sizes():
    net, X, Y = make("tanh", "mse", "identity")
    net.backprop(X[:8], Y[:8])
    z = net.layers[0].z
    net.backprop(X[8:16], Y[8:16])
    assert net.layers[0].z is z  # the same buffer, new values
    for n in range(1, 12):
        net.backprop(X[:n], Y[:n])
    assert len(net.layers[0].__dict__["_arrays"]) <= 4


def test_mlp_fit_on_real_shapes_is_deterministic():
    X, y = np.random.default_rng(5).random((300, 20), dtype=np.float32), np.arange(300) % 4
    runs = []
    for _ in range(2):
        net = mlp([20, 16, 8, 4], "relu", "softmax", seed=3)
        net.fit(X, y, epochs=2, batch_size=32, optimizer="adam", seed=1, progress=False,
                callbacks=[Callback()])
        runs.append(net.theta.copy())
    np.testing.assert_array_equal(*runs)


def test_network_fit_shows_the_real_signature():
    import inspect

    params = inspect.signature(mlp([2, 3, 1]).fit).parameters
    assert list(params)[:2] == ["X", "y"]
    assert {"epochs", "batch_size", "optimizer", "callbacks", "distributed"} <= set(params)
    assert "kwargs" not in params


def test_a_pickled_network_trains_through_its_flat_arrays_again():
    import pickle

    net, X, Y = make("tanh", "cross_entropy", "softmax", residual=True)
    net.fit(X, Y, epochs=1, batch_size=5, optimizer="adam", progress=False)
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.theta, net.theta)
    for key, p in clone.params().items():
        assert np.shares_memory(p, clone.theta), key
    clone.fit(X, Y, epochs=1, batch_size=5, progress=False, seed=1)
    net.fit(X, Y, epochs=1, batch_size=5, progress=False, seed=1)
    np.testing.assert_array_equal(clone.theta, net.theta)  # the same state, the same steps


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_memory_mapped_input_trains_bit_for_bit_as_in_memory(tmp_path, optimizer):
    """The same engine on the same batches: rows read from the file in file order are put back
    in the batch's order, so the sums run in the same order too."""
    X = np.random.default_rng(6).normal(size=(45, 4)).astype("float32")
    y = np.arange(45) % 3
    np.save(tmp_path / "X.npy", X)
    memmapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert isinstance(memmapped, np.memmap)
    nets = []
    for data in (X, memmapped):
        net = mlp([4, 7, 3], "tanh", "softmax", seed=0)
        net.fit(data, y, epochs=3, batch_size=8, optimizer=optimizer, seed=2, progress=False,
                validation_data=(X[:9], y[:9]), metrics=["accuracy"])
        nets.append(net)
    np.testing.assert_array_equal(nets[0].theta, nets[1].theta)
    assert nets[0].history.epochs == [
        {**r, "time": nets[0].history.epochs[i]["time"]} for i, r in enumerate(nets[1].history.epochs)]


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"identity"}))
def test_a_residual_block_is_the_identity_mapping_and_nothing_else(tmp_path, activation):
    """``a = x + F(x)``, one definition: no activation after the sum, built by hand, from a
    config, or from a saved model whose header was edited to ask for one."""
    with pytest.raises(ValueError, match=r"a = x \+ F\(x\), with nothing applied after the sum"):
        Residual(Dense(3, 3, "tanh"), activation=activation)
    net = Network([Residual(Dense(3, 3, "tanh", seed=0)), Dense(3, 2)], loss="mse",
                  dtype="float64")
    config = net.config()
    config["layers"][0]["activation"] = activation
    with pytest.raises(ValueError, match=r"nothing applied after the sum"):
        Network.from_config(config)
    x = np.random.default_rng(0).standard_normal((4, 3))
    inner = net.layers[0].layers[0]
    np.testing.assert_allclose(net.layers[0].forward(x), x + np.tanh(x @ inner.W.T + inner.b),
                               rtol=1e-12)
