import numpy as np
import pytest
from user_parts import Cube

from glassnet import ACTIVATIONS, Dense, Network, get_activation, gradcheck

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


# ---------------------------------------------------------------------- second order


def _away_from_nonsmooth(act, z, margin=1e-3):
    """``z`` with every entry moved off the activation's nonsmooth points by at least ``margin``."""
    for point in act.nonsmooth:
        close = np.abs(z - point) < margin
        z = np.where(close, point + 10 * margin, z)
    return z


@pytest.mark.parametrize("name", NAMES)
def test_second_derivative_matches_central_differences_of_the_first(name):
    """f''(z) against (f'(z + eps) - f'(z - eps)) / (2 eps); for softmax the diagonal term."""
    act = get_activation(name)
    z = _away_from_nonsmooth(act, np.random.default_rng(2).normal(scale=3, size=(6, 4)))
    eps = 1e-6
    if name == "softmax":  # d^2 a_j / dz_j^2: the first derivative a_j (1 - a_j) moved along z_j
        numeric = np.empty_like(z)
        for j in range(z.shape[1]):
            dz = np.zeros_like(z); dz[:, j] = eps
            up, down = act.forward(z + dz), act.forward(z - dz)
            numeric[:, j] = (up[:, j] * (1 - up[:, j]) - down[:, j] * (1 - down[:, j])) / (2 * eps)
    else:
        fp = lambda x: act.derivative(x, act.forward(x))  # noqa: E731
        numeric = (fp(z + eps) - fp(z - eps)) / (2 * eps)
    np.testing.assert_allclose(act.second_derivative(z, act.forward(z)), numeric,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_backward_tangent_is_the_directional_derivative_of_backward(name):
    """d/de backward(z + e dz, grad_a + e dg) at e = 0, by central differences, every row."""
    act = get_activation(name)
    rng = np.random.default_rng(3)
    z = _away_from_nonsmooth(act, rng.normal(scale=2, size=(5, 4)), margin=1e-2)
    g, dz, dg = (rng.normal(size=(5, 4)) for _ in range(3))
    eps = 1e-6

    def delta(e):
        zz = z + e * dz
        return act.backward(zz, act.forward(zz), g + e * dg)

    numeric = (delta(eps) - delta(-eps)) / (2 * eps)
    tangent = act.backward_tangent(z, act.forward(z), g, dz, dg)
    np.testing.assert_allclose(tangent, numeric, rtol=1e-6, atol=1e-8)
    out = np.empty_like(z)  # into out=, the same numbers
    assert act.backward_tangent(z, act.forward(z), g, dz, dg, out=out) is out or name == "identity"
    np.testing.assert_allclose(out if name != "identity" else dg, tangent)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_second_order_finite_and_silent_at_extremes(name, dtype):
    act = get_activation(name)
    z = np.array([[-1e4, -50.0, 0.5, 50.0, 1e4]], dtype=dtype)
    with np.errstate(all="raise"):
        a = act.forward(z)
        f2 = act.second_derivative(z, a)
        t = act.backward_tangent(z, a, np.ones_like(z), np.ones_like(z), np.ones_like(z))
    for out in (f2, t):
        assert np.all(np.isfinite(out)), (name, out)
        assert out.dtype == np.dtype(dtype)


def test_a_users_activation_without_second_derivative_says_what_to_write():
    z = np.ones((2, 3))
    with pytest.raises(NotImplementedError, match="'cube' has no second_derivative"):
        Cube().backward_tangent(z, z, z, z, z)

    class CubeTwice(Cube):
        def second_derivative(self, z, a):  # written without out=
            return 6 * z

    np.testing.assert_allclose(CubeTwice().backward_tangent(z, z, 2 * z, z, z), 3 + 12)


def test_a_foreign_activation_object_forwards_its_second_order_methods():
    class Square:  # not an Activation subclass
        name = "square"

        def forward(self, z):
            return z * z

        def derivative(self, z, a):
            return 2 * z

        def backward(self, z, a, grad_a):
            return grad_a * 2 * z

        def jvp(self, z, a, dz):
            return dz * 2 * z

        def second_derivative(self, z, a):
            return np.full_like(z, 2.0)

    act = get_activation(Square())
    z = np.full((1, 2), 3.0)
    np.testing.assert_allclose(act.second_derivative(z, z), 2.0)
    # d_delta = dg * 2z + g * 2 * dz = 1 * 6 + 1 * 2 * 1
    np.testing.assert_allclose(act.backward_tangent(z, z, np.ones_like(z), np.ones_like(z),
                                                    np.ones_like(z)), 8.0)
