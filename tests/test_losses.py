import numpy as np
import pytest

from glassnet import LOSSES, Dense, Network, get_loss, mlp


@pytest.mark.parametrize("name", ["mse", "huber"])
def test_grad_matches_central_differences(name):
    loss = get_loss(name)
    rng = np.random.default_rng(0)
    a, Y = rng.normal(scale=2, size=(5, 3)), rng.normal(size=(5, 3))
    eps, numeric = 1e-6, np.empty_like(a)
    for idx in np.ndindex(a.shape):
        d = np.zeros_like(a); d[idx] = eps
        numeric[idx] = (loss.value(a + d, Y) - loss.value(a - d, Y)) / (2 * eps)
    np.testing.assert_allclose(loss.grad(a, Y), numeric, rtol=1e-6, atol=1e-10)


def test_mse_is_the_mean_over_samples_of_half_the_squared_norm():
    a, Y = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [3.0, 4.0]])
    assert get_loss("mse").value(a, Y) == pytest.approx((0.5 * 5 + 0.5 * 25) / 2)


def test_huber_closed_form():
    h = get_loss({"name": "huber", "delta": 1.0})
    a, Y = np.array([[0.5, 3.0]]), np.zeros((1, 2))
    assert h.value(a, Y) == pytest.approx(0.125 + (3.0 - 0.5))
    np.testing.assert_allclose(h.grad(a, Y), [[0.5, 1.0]])
    with pytest.raises(ValueError, match="'delta' parameter of Huber must be a float > 0; got 0"):
        get_loss({"name": "huber", "delta": 0})


@pytest.mark.parametrize("loss,act", [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")])
def test_fused_value_equals_the_plain_formula_on_moderate_logits(loss, act):
    net = mlp([3, 4], output=act, loss=loss, dtype="float64", seed=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    y = rng.integers(0, 4, 6) if loss == "cross_entropy" else rng.integers(0, 2, (6, 4))
    a = net.forward(X)
    Y = net.loss_fn.targets(y, 4, np.float64)
    assert net.loss(X, y) == pytest.approx(net.loss_fn.value(a, Y), rel=1e-12)


@pytest.mark.parametrize("loss,act", [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_losses_finite_at_extreme_logits(loss, act, dtype):
    layer = Dense(2, 3, act, dtype=dtype)
    layer.W[...] = [[1e4, 0], [-1e4, 0], [0, 1e4]]
    net = Network([layer], loss=loss, dtype=dtype)
    X = np.array([[1.0, 0.0], [-1.0, 1.0]])
    y = np.array([1, 0]) if loss == "cross_entropy" else np.array([[1, 0, 1], [1, 1, 0]])
    with np.errstate(all="raise"):
        value = net.backprop(X, y, input_grad=True)
    assert np.isfinite(value) and value > 1e3  # confidently wrong: a large but finite loss
    for g in [*net.grads().values(), net.grad_X]:
        assert np.all(np.isfinite(g))


def test_cross_entropy_targets():
    ce = get_loss("cross_entropy")
    np.testing.assert_array_equal(ce.targets(np.array([2, 0]), 3, np.float64), [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(ce.targets(np.array([2.0, 0.0]), 3, np.float64), [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(ce.targets(np.array([[0.2, 0.8]]), 2, np.float64), [[0.2, 0.8]])
    with pytest.raises(ValueError, match=r"class labels in 0..2 .* got label 3"):
        ce.targets(np.array([0, 3]), 3, np.float64)
    with pytest.raises(ValueError, match=r"got label -1"):
        ce.targets(np.array([0, -1]), 3, np.float64)
    with pytest.raises(ValueError, match="got 1.5, which is not an integer"):
        ce.targets(np.array([0, 1.5]), 3, np.float64)
    with pytest.raises(ValueError, match="probability rows"):
        ce.targets(np.array([[0.5, 0.9]]), 2, np.float64)
    with pytest.raises(TypeError, match="integer class labels; got dtype <U1"):
        ce.targets(np.array(["a", "b"]), 3, np.float64)


def test_binary_cross_entropy_targets():
    bce = get_loss("binary_cross_entropy")
    assert bce.targets(np.array([0, 1, 1]), 1, np.float32).shape == (3, 1)
    with pytest.raises(ValueError, match=r"labels in \[0, 1\].*got 2"):
        bce.targets(np.array([0, 2]), 1, np.float32)
    with pytest.raises(ValueError, match=r"expects y of shape \(n_samples, 2\)"):
        bce.targets(np.array([0, 1]), 2, np.float32)


def test_nan_in_targets_is_refused():
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        get_loss("mse").targets(np.array([1.0, np.nan]), 1, np.float64)
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        get_loss("cross_entropy").targets(np.array([1.0, np.inf]), 3, np.float64)


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown loss 'hinge'. Valid losses: " + ", ".join(LOSSES)):
        get_loss("hinge")


@pytest.mark.parametrize("loss,needs", [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")])
def test_loss_refuses_the_wrong_output_activation(loss, needs):
    with pytest.raises(ValueError, match=f"The {loss} loss needs a {needs} output layer; the last "
                                         "layer's activation is 'relu'"):
        Network([Dense(2, 3, "relu")], loss=loss)


# ---------------------------------------------------------------------- second order


def _loss_targets(name, rng, n, k):
    if name == "cross_entropy":
        return np.eye(k)[rng.integers(0, k, n)]
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, (n, k)).astype(float)
    return rng.normal(size=(n, k))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_hvp_is_the_directional_derivative_of_grad(name, weighted):
    """hvp(a, Y, da, w) against (grad(a + eps da) - grad(a - eps da)) / (2 eps), weights too."""
    loss = get_loss(name)
    rng = np.random.default_rng(4)
    a = rng.uniform(0.1, 0.9, size=(6, 3)) if loss.classifier else rng.normal(scale=2, size=(6, 3))
    Y, da = _loss_targets(name, rng, 6, 3), rng.normal(size=(6, 3))
    w = rng.uniform(0.5, 2, 6) if weighted else None
    if name == "huber":  # away from the kinks |a - y| = delta
        a = np.where(np.abs(np.abs(a - Y) - loss.delta) < 1e-2, a + 0.1, a)
    eps = 1e-6
    numeric = (loss.grad(a + eps * da, Y, w) - loss.grad(a - eps * da, Y, w)) / (2 * eps)
    np.testing.assert_allclose(loss.hvp(a, Y, da, w), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,act", [("cross_entropy", "softmax"),
                                      ("binary_cross_entropy", "sigmoid")])
def test_hvp_logits_is_the_directional_derivative_of_the_fused_delta(name, act, weighted):
    from glassnet import get_activation

    loss, f = get_loss(name), get_activation(act)
    rng = np.random.default_rng(5)
    z, dz = rng.normal(scale=2, size=(6, 4)), rng.normal(size=(6, 4))
    Y = _loss_targets(name, rng, 6, 4)
    w = rng.uniform(0.5, 2, 6) if weighted else None
    eps = 1e-6

    def delta(e):
        zz = z + e * dz
        return loss.value_and_delta(zz, f.forward(zz), Y, w)[1]

    numeric = (delta(eps) - delta(-eps)) / (2 * eps)
    np.testing.assert_allclose(loss.hvp_logits(z, f.forward(z), Y, dz, w), numeric,
                               rtol=1e-6, atol=1e-9)


def test_a_users_loss_without_unit_hvp_says_what_to_write():
    from glassnet.losses import Loss

    class Quartic(Loss):
        name = "quartic"

        def per_sample(self, a, Y):
            return np.sum((a - Y) ** 4, axis=1)

        def unit_grad(self, a, Y):
            return 4 * (a - Y) ** 3

    with pytest.raises(NotImplementedError, match="quartic loss has no unit_hvp"):
        Quartic().hvp(np.ones((2, 2)), np.zeros((2, 2)), np.ones((2, 2)))


@pytest.mark.parametrize("loss", ["mse", "huber", "binary_cross_entropy"])
def test_class_labels_given_to_a_loss_of_one_hot_targets_name_the_fix(loss):
    with pytest.raises(ValueError, match=r"For class labels 0\.\.2 one-hot encode them "
                                         r"\(np\.eye\(3\)\[y\]\) or use loss='cross_entropy'"):
        get_loss(loss).targets(np.array([0, 2, 1]), 3, np.float64)
    with pytest.raises(ValueError) as err:  # quantities: no talk of classes
        get_loss(loss).targets(np.array([0.5, 2.0, 1.0]), 3, np.float64)
    assert "class" not in str(err.value)
