import numpy as np
import pytest

from glassnet import ACTIVATIONS, Dense, Network, get_activation, gradcheck
from glassnet.activations import Activation

NAMES = sorted(ACTIVATIONS)
ELEMENTWISE = [n for n in NAMES if n != "softmax"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_differences(name):
    act = get_activation(name)
    z = np.random.default_rng(0).normal(scale=3, size=(7, 5))
    z = z[np.abs(z) > 1e-3].reshape(-1, 1)  # away from the relu kinks
    eps = 1e-6
    numeric = (act.forward(z + eps) - act.forward(z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.derivative(z, act.forward(z)), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_backward_and_jvp_match_the_jacobian(name):
    act = get_activation(name)
    rng = np.random.default_rng(1)
    z, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    a = act.forward(z)
    eps = 1e-6
    for i in range(4):
        J = np.empty((3, 3))  # J[j, k] = da_j / dz_k for sample i
        for k in range(3):
            dz = np.zeros((1, 3)); dz[0, k] = eps
            J[:, k] = ((act.forward(z[i:i + 1] + dz) - act.forward(z[i:i + 1] - dz)) / (2 * eps))[0]
        np.testing.assert_allclose(act.backward(z, a, g)[i], J.T @ g[i], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(act.jvp(z, a, g)[i], J @ g[i], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_finite_and_silent_at_extremes(name, dtype):
    act = get_activation(name)
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], dtype=dtype)
    with np.errstate(all="raise"):  # overflow, underflow, invalid, divide all raise
        a = act.forward(z)
        d = act.derivative(z, a)
        g = act.backward(z, a, np.ones_like(z))
    for out in (a, d, g):
        assert np.all(np.isfinite(out)), (name, out)
        assert out.dtype == np.dtype(dtype)


def test_sigmoid_range_is_zero_to_one_not_minus_one():
    """A classic slip gives (-1, 1); sigmoid's range is (0, 1), tanh's is (-1, 1)."""
    z = np.linspace(-30, 30, 101)[None, :]
    a = get_activation("sigmoid").forward(z)
    assert a.min() >= 0 and a.max() <= 1 and a.min() < 1e-12
    assert get_activation("tanh").forward(z).min() < -0.99


def test_sigmoid_derivative_never_exceeds_a_quarter():
    z = np.linspace(-10, 10, 2001)[None, :]
    act = get_activation("sigmoid")
    d = act.derivative(z, act.forward(z))
    assert d.max() == pytest.approx(0.25) and d.max() <= 0.25


def test_softmax_rows_sum_to_one_and_survive_huge_logits():
    a = get_activation("softmax").forward(np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]]))
    np.testing.assert_allclose(a.sum(axis=1), 1)
    np.testing.assert_allclose(a[0], [1, 0, 0])
    np.testing.assert_allclose(a[1], [1 / 3] * 3)


def test_parameters_and_registry():
    assert get_activation({"name": "leaky_relu", "slope": 0.2}).slope == 0.2
    assert get_activation("elu").alpha == 1.0
    with pytest.raises(ValueError, match="Unknown activation 'relu6'. Valid activations: identity"):
        get_activation("relu6")
    with pytest.raises(TypeError, match="must be a name, a config dict or an object"):
        get_activation(3)
    with pytest.raises(ValueError, match="The 'slope' parameter of LeakyReLU must be a finite float; got nan"):
        get_activation({"name": "leaky_relu", "slope": float("nan")})


class Cube(Activation):
    name = "cube"

    def forward(self, z):
        return z ** 3

    def derivative(self, z, a):
        return 3 * z ** 2


class WrongCube(Cube):
    def derivative(self, z, a):
        return 2 * z ** 2  # a wrong derivative: gradcheck must notice


def test_user_activation_is_accepted_and_verified_by_gradcheck():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    good = Network([Dense(3, 4, Cube(), seed=0), Dense(4, 2, seed=1)], dtype="float64")
    bad = Network([Dense(3, 4, WrongCube(), seed=0), Dense(4, 2, seed=1)], dtype="float64")
    assert gradcheck(good, X, y).passed
    report = gradcheck(bad, X, y)
    assert not report.passed
    assert [r.passed for r in report.rows if r.layer == "0"] == [False, False]
