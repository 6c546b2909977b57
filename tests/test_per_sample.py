"""Per-sample gradients, their norms, gradient noise, which samples drive a weight, DP-SGD.

Every quantity is held against a loop over the samples (one backprop per sample, n = 1);
tests/test_second_order_torch.py holds them against torch.func.vmap(grad).
"""

import numpy as np
import pytest
from user_parts import Scale

from glassnet import Dense, Network, Residual, mlp
from glassnet.layers import Dropout
from glassnet.per_sample import (
    PER_SAMPLE,
    PrivateGradient,
    gradient_noise,
    layer_gradient_noise,
    per_sample_grad_norms,
    per_sample_grads,
    weight_drivers,
)
from glassnet.training import SingleProcess

LOSS_ACT = [("mse", "tanh"), ("huber", "identity"), ("cross_entropy", "softmax"),
            ("binary_cross_entropy", "sigmoid")]


def build(loss, out_act, *, residual=True, dropout=False, l2=0.0, seed=0):
    rng = np.random.default_rng(seed)
    layers = [Dense(4, 5, "tanh", seed=rng, dtype="float64")]
    if residual:
        layers.append(Residual(Dense(5, 5, "gelu", seed=rng, dtype="float64"),
                               Dense(5, 5, "sigmoid", seed=rng, dtype="float64")))
    if dropout:
        layers.append(Dropout(0.3, seed=rng))
    layers.append(Dense(5, 3, out_act, seed=rng, dtype="float64"))
    net = Network(layers, loss=loss, dtype="float64", l2=l2)
    for key, p in net.params().items():  # nonzero biases
        if key.endswith("b"):
            p[...] = rng.normal(scale=0.5, size=p.shape)
    return net


def targets(loss, n, rng):
    if loss == "cross_entropy":
        return rng.integers(0, 3, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, 3))
    return rng.normal(size=(n, 3))


def loop_grads(net, X, y, w=None):
    """g_i by one backprop per sample (n = 1, so dC/dtheta is sample i's own gradient)."""
    out = {key: [] for key in net.params()}
    for i in range(len(X)):
        sw = None if w is None else w[i:i + 1]
        net.backprop(X[i:i + 1], y[i:i + 1], sample_weight=sw)
        for key, g in net.grads().items():  # less the penalty's gradient, which is no sample's
            out[key].append(g - (net.l2 * net.params()[key] if key.endswith("W") else 0))
    return {key: np.stack(v) for key, v in out.items()}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss,act", LOSS_ACT)
def test_per_sample_grads_equal_a_loop_over_samples(loss, act, weighted):
    rng = np.random.default_rng(1)
    net = build(loss, act)
    X, y = rng.normal(size=(7, 4)), targets(loss, 7, rng)
    w = rng.uniform(0.2, 3, 7) if weighted else None
    g = per_sample_grads(net, X, y, sample_weight=w)
    expected = loop_grads(net, X, y, w)
    assert g.keys() == expected.keys() == net.params().keys()
    for key in g:
        assert g[key].shape == (7,) + net.params()[key].shape
        np.testing.assert_allclose(g[key], expected[key], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss,act", LOSS_ACT)
def test_the_mean_of_the_per_sample_grads_is_the_batch_gradient_less_the_penalty(loss, act):
    rng = np.random.default_rng(2)
    net = build(loss, act, l2=0.3)
    X, y = rng.normal(size=(6, 4)), targets(loss, 6, rng)
    g = per_sample_grads(net, X, y)
    for key, layer_grad in net.grads().items():
        penalty = 0.3 * net.params()[key] if key.endswith("W") else 0
        np.testing.assert_allclose(g[key].mean(axis=0), layer_grad - penalty, rtol=1e-12,
                                   atol=1e-14)


@pytest.mark.parametrize("loss,act", LOSS_ACT)
def test_norms_need_no_outer_products_and_equal_the_full_grads(loss, act):
    rng = np.random.default_rng(3)
    net = build(loss, act)
    X, y = rng.normal(size=(9, 4)), targets(loss, 9, rng)
    w = rng.uniform(0.5, 2, 9)
    full = per_sample_grads(net, X, y, sample_weight=w)
    flat = np.concatenate([g.reshape(9, -1) for g in full.values()], axis=1)
    np.testing.assert_allclose(per_sample_grad_norms(net, X, y, sample_weight=w),
                               np.linalg.norm(flat, axis=1), rtol=1e-12)
    by_key = per_sample_grad_norms(net, X, y, sample_weight=w, per_parameter=True)
    for key, g in full.items():
        np.testing.assert_allclose(by_key[key], np.linalg.norm(g.reshape(9, -1), axis=1),
                                   rtol=1e-12)


def test_dropout_masks_are_in_the_per_sample_grads():
    rng = np.random.default_rng(4)
    net = build("mse", "identity", dropout=True)
    drop = next(layer for layer in net.layers if isinstance(layer, Dropout))
    X, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    net.training, drop.freeze_mask = True, True
    net.forward(X)  # draw the mask once, then keep it
    mask = drop.mask.copy()
    g = per_sample_grads(net, X, y)
    assert np.any(mask == 0)
    for i in range(6):  # sample i alone, with its own row of the mask
        drop.mask = mask[i:i + 1]
        net.backprop(X[i:i + 1], y[i:i + 1])
        for key, gi in net.grads().items():
            np.testing.assert_allclose(g[key][i], gi, rtol=1e-12, atol=1e-14)


def test_dropout_first_nested_residual_blocks_and_list_inputs():
    rng = np.random.default_rng(13)
    net = Network([Dropout(0.3, width=4, seed=1), Dense(4, 5, "tanh", seed=rng, dtype="float64"),
                   Residual(Residual(Dense(5, 5, "softplus", seed=rng, dtype="float64")),
                            Dropout(0.2, seed=2), Dense(5, 5, "elu", seed=rng, dtype="float64")),
                   Dense(5, 3, "sigmoid", seed=rng, dtype="float64")],
                  loss="binary_cross_entropy", dtype="float64")
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 2, (6, 3))
    g = per_sample_grads(net, X.tolist(), y.tolist())  # lists are array-like inputs too
    expected = loop_grads(net, X, y)
    assert set(g) == {"1.W", "1.b", "2.0.0.W", "2.0.0.b", "2.2.W", "2.2.b", "3.W", "3.b"}
    for key in g:
        np.testing.assert_allclose(g[key], expected[key], rtol=1e-12, atol=1e-14)


def test_a_plain_mlp_in_float32_works_and_keeps_its_dtype():
    net = mlp([3, 8, 2], activation="relu", loss="cross_entropy", seed=0)
    X = np.random.default_rng(5).normal(size=(10, 3))
    g = per_sample_grads(net, X, np.arange(10) % 2)
    assert all(v.dtype == np.float32 for v in g.values())
    norms = per_sample_grad_norms(net, X, np.arange(10) % 2)
    assert norms.shape == (10,) and norms.dtype == np.float32 and np.all(norms >= 0)


def test_an_unknown_layer_type_is_refused_by_name():
    net = Network([Dense(3, 3, "tanh", dtype="float64"), Scale(3)], dtype="float64")
    X, y = np.ones((4, 3)), np.zeros((4, 3))
    for call in (lambda: per_sample_grads(net, X, y), lambda: per_sample_grad_norms(net, X, y),
                 lambda: gradient_noise(net, X, y)):
        with pytest.raises(ValueError, match="layer 1 is 'Scale'.*PER_SAMPLE"):
            call()
    assert "Scale" not in PER_SAMPLE


def test_calls_before_a_backward_pass_raise_runtime_error():
    net = mlp([3, 4, 2], dtype="float64")
    with pytest.raises(RuntimeError, match="no cached a_prev and delta.*backprop"):
        layer_gradient_noise(net.layers[0])


# ---------------------------------------------------------------------- gradient noise


@pytest.mark.parametrize("loss,act", LOSS_ACT)
def test_gradient_noise_is_the_variance_of_the_per_sample_grads(loss, act):
    rng = np.random.default_rng(6)
    net = build(loss, act)
    X, y = rng.normal(size=(12, 4)), targets(loss, 12, rng)
    g = per_sample_grads(net, X, y)
    noise = gradient_noise(net, X, y)
    assert set(noise) == {"0", "1.0", "1.1", "2"}
    for layer_key, stats in noise.items():
        flat = np.concatenate([g[f"{layer_key}.{p}"].reshape(12, -1) for p in ("W", "b")], axis=1)
        var = flat.var(axis=0, ddof=1).sum()
        assert stats["grad_var"] == pytest.approx(var, rel=1e-10)
        assert stats["grad_snr"] == pytest.approx(np.sum(flat.mean(0) ** 2) / var, rel=1e-10)


def test_gradient_noise_of_one_sample_or_identical_samples():
    net = mlp([3, 4, 2], activation="tanh", dtype="float64")
    assert gradient_noise(net, np.ones((1, 3)), np.zeros((1, 2)))["0"] == \
        {"grad_var": None, "grad_snr": None}
    stats = gradient_noise(net, np.ones((5, 3)), np.zeros((5, 2)))["0"]
    assert stats["grad_var"] == pytest.approx(0, abs=1e-12)  # no spread: no SNR to speak of


def test_gradient_monitor_records_noise_when_asked():
    from glassnet import GradientMonitor
    from glassnet.plots import plot_gradient_norms

    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(64, 4)), rng.integers(0, 3, 64)
    net = mlp([4, 8, 3], activation="tanh", loss="cross_entropy", seed=0, dtype="float64")
    history = net.fit(X, y, epochs=2, batch_size=16, callbacks=[GradientMonitor(noise=True)],
                      progress=False, seed=0)
    for record in history.epochs:
        for layer in record["gradients"][-1]["layers"].values():
            assert layer["grad_var"] > 0 and layer["grad_snr"] > 0
    plain = mlp([4, 8, 3], activation="tanh", loss="cross_entropy", seed=0, dtype="float64")
    h = plain.fit(X, y, epochs=1, callbacks=[GradientMonitor()], progress=False)
    assert "grad_var" not in h.epochs[0]["gradients"][0]["layers"]["0"]
    plot_gradient_norms(history, quantity="grad_snr")  # the monitor plots draw them
    with pytest.raises(TypeError, match="'noise' parameter of GradientMonitor must be a bool"):
        GradientMonitor(noise="yes")


# ---------------------------------------------------------------------- the drivers of a weight


def test_weight_drivers_are_the_terms_of_the_gradient_entry():
    rng = np.random.default_rng(8)
    net = build("cross_entropy", "softmax")
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    g = per_sample_grads(net, X, y)
    for key, index in (("0.W", (2, 1)), ("1.1.W", (4, 0)), ("2.b", 1), ("1.0.b", (3,))):
        d = weight_drivers(net, X, y, key, index, top=20)
        idx = (index,) if isinstance(index, int) else index
        entry = g[key][(slice(None),) + idx]
        np.testing.assert_allclose(d.per_sample, entry[d.samples], rtol=1e-12)
        assert d.total == pytest.approx(entry.mean(), rel=1e-10, abs=1e-15)
        assert np.all(np.diff(np.abs(d.per_sample)) <= 0)  # largest first
        assert sorted(d.samples) == list(range(20))
        assert d.contributions.sum() == pytest.approx(d.total, rel=1e-12, abs=1e-15)
        assert d.shares.sum() == pytest.approx(1.0, rel=1e-12)  # every sample listed
    top = weight_drivers(net, X, y, "0.W", (0, 0), top=3)
    assert len(top.samples) == 3
    text = top.text()
    assert "dC/d0.W[0, 0]" in text and "n delta_ij a_prev_ik" in text and "%" in text
    np.testing.assert_allclose(top.delta * top.a_prev, top.per_sample, rtol=1e-12)


@pytest.mark.parametrize("key,index,match", [
    ("9.W", (0, 0), "unknown parameter '9.W'"),
    ("0.W", (5, 0), r"index \(5, 0\) is outside 0.W of shape \(5, 4\)"),
    ("0.W", (0,), r"index \(0,\) is outside"),
    ("0.b", (-1,), r"index \(-1,\) is outside"),
])
def test_weight_drivers_refuses_bad_keys_and_indices(key, index, match):
    net = build("mse", "identity")
    with pytest.raises(ValueError, match=match):
        weight_drivers(net, np.ones((3, 4)), np.zeros((3, 3)), key, index)
    with pytest.raises(ValueError, match="'top' parameter of weight_drivers must be an int >= 1"):
        weight_drivers(net, np.ones((3, 4)), np.zeros((3, 3)), "0.W", (0, 0), top=0)


# ---------------------------------------------------------------------- DP-SGD


def dp_reference(net, X, y, clip, w=None):
    """(1/n) sum_i g_i min(1, C / ||g_i||), by a loop over the samples."""
    g = loop_grads(net, X, y, w)
    n = len(X)
    flat = np.concatenate([v.reshape(n, -1) for v in g.values()], axis=1)
    scale = np.minimum(1, clip / np.linalg.norm(flat, axis=1))
    return (flat * scale[:, None]).mean(axis=0), np.linalg.norm(flat, axis=1)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss,act", LOSS_ACT)
def test_private_gradient_equals_clipping_in_a_loop(loss, act, weighted):
    rng = np.random.default_rng(9)
    net = build(loss, act, l2=0.1)
    X, y = rng.normal(size=(8, 4)), targets(loss, 8, rng)
    w = rng.uniform(0.3, 2, 8) if weighted else None
    expected, norms = dp_reference(net, X, y, clip=0.05, w=w)
    assert np.sum(norms > 0.05) >= 2  # some samples really are clipped
    Xc, Y = net.check_Xy(X, y)
    step = PrivateGradient(0.05)
    loss_value = step(net, Xc, Y, w)
    assert loss_value == pytest.approx(net.loss(X, y, sample_weight=w), rel=1e-12)
    np.testing.assert_allclose(step.last_norms, norms, rtol=1e-12)
    penalty = np.concatenate([(0.1 * p if k.endswith("W") else 0 * p).ravel()
                              for k, p in net.params().items()])
    np.testing.assert_allclose(net.grad - penalty, expected, rtol=1e-11, atol=1e-15)


def test_fit_with_per_sample_clip_and_noise_is_one_dp_sgd_step_per_batch():
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    net = build("cross_entropy", "softmax")
    before = net.theta.copy()
    expected, _ = dp_reference(net, X, y, clip=0.5)
    noise = np.random.default_rng(123).standard_normal(net.n_params) * 1.3 * 0.5 / 8
    net.fit(X, y, epochs=1, batch_size=8, optimizer="sgd", learning_rate=0.1, shuffle=False,
            per_sample_clip=0.5, noise_multiplier=1.3, seed=123, progress=False)
    np.testing.assert_allclose(net.theta, before - 0.1 * (expected + noise), rtol=1e-10,
                               atol=1e-14)


def test_a_huge_clip_without_noise_is_plain_training():
    rng = np.random.default_rng(11)
    X, y = rng.normal(size=(32, 4)), rng.normal(size=(32, 3))
    a, b = build("mse", "identity"), build("mse", "identity")
    ha = a.fit(X, y, epochs=2, batch_size=8, seed=0, progress=False)
    hb = b.fit(X, y, epochs=2, batch_size=8, seed=0, progress=False, per_sample_clip=1e30)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-12)
    assert ha["loss"] == pytest.approx(hb["loss"], rel=1e-12)


def test_noisy_training_resumes_bit_for_bit(tmp_path):
    rng = np.random.default_rng(12)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    kwargs = dict(batch_size=8, per_sample_clip=0.3, noise_multiplier=1.0, seed=5, progress=False)
    whole = build("cross_entropy", "softmax")
    whole.fit(X, y, epochs=3, **kwargs)
    part = build("cross_entropy", "softmax")
    part.fit(X, y, epochs=2, checkpoint_dir=tmp_path, **kwargs)
    resumed = build("cross_entropy", "softmax")
    resumed.fit(X, y, epochs=3, checkpoint_dir=tmp_path, resume=True, **kwargs)
    np.testing.assert_array_equal(resumed.theta, whole.theta)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(per_sample_clip=0), ValueError,
     "'per_sample_clip' parameter of fit must be a float > 0; got 0"),
    (dict(per_sample_clip=-1.0), ValueError, "must be a float > 0; got -1.0"),
    (dict(per_sample_clip=float("inf")), ValueError, "must be a float > 0; got inf"),
    (dict(per_sample_clip="1"), ValueError, "must be a float > 0; got '1'"),
    (dict(per_sample_clip=True), ValueError, "must be a float > 0; got True"),
    (dict(per_sample_clip=1.0, noise_multiplier=-0.5), ValueError,
     "'noise_multiplier' parameter of fit must be a float >= 0; got -0.5"),
    (dict(per_sample_clip=1.0, noise_multiplier=float("nan")), ValueError, "got nan"),
    (dict(noise_multiplier=1.0), ValueError, "needs per_sample_clip"),
    (dict(per_sample_clip=1.0, optimizer="lbfgs"), ValueError, "first-order optimizer"),
    (dict(per_sample_clip=1.0, noise_multiplier=1.0,
          distributed=type("Ranks", (SingleProcess,), {})),
     ValueError, "noise_multiplier runs in one process"),
])
def test_fit_refuses_bad_dp_settings(kwargs, error, match):
    net = mlp([4, 3], dtype="float64")
    if "distributed" in kwargs:
        kwargs = dict(kwargs, distributed=kwargs["distributed"](net))
    theta = net.theta.copy()
    with pytest.raises(error, match=match):
        net.fit(np.ones((4, 4)), np.zeros((4, 3)), epochs=1, progress=False, **kwargs)
    np.testing.assert_array_equal(net.theta, theta)  # nothing trained


def test_an_order_source_seed_cannot_draw_noise():
    class Order:
        def permutation(self, n):
            return np.arange(n)

    net = mlp([4, 3], dtype="float64")
    with pytest.raises(ValueError, match="draws the noise from its seed"):
        net.fit(np.ones((4, 4)), np.zeros((4, 3)), per_sample_clip=1.0, noise_multiplier=1.0,
                seed=Order(), progress=False)
    net.fit(np.ones((4, 4)), np.zeros((4, 3)), per_sample_clip=1.0, seed=Order(), progress=False)
