"""gradcheck never says PASSED on a wrong gradient: it FAILS, or, where finite differences
cannot tell right from wrong (a huge loss, every step across a kink, a gradient of exactly 0),
it says NOT RESOLVED and names the tensors and the reason."""

import numpy as np
import pytest

import glassnet
from glassnet import Dense, Network, gradcheck, mlp
from glassnet.activations import Activation
from glassnet.cli import main


class DoubledTanh(Activation):
    """tanh with a derivative wrong by a factor ``k``."""

    name = "doubled_tanh"

    def __init__(self, k=2.0):
        self.k = k

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return self.k * (1 - a ** 2)


def wrong_net(k, loss="mse"):
    return Network([Dense(3, 4, DoubledTanh(k), seed=0), Dense(4, 2, seed=1)], loss=loss,
                   dtype="float64")


@pytest.mark.parametrize("k", [0.5, 0.9, 1.1, 2.0])
@pytest.mark.parametrize("scale", [1.0, 1e3, 1e6, 1e9, 1e12, 1e15])
@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_a_wrong_derivative_is_never_passed_whatever_the_size_of_the_loss(k, scale, fast, loss):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), scale * rng.normal(size=(8, 2))
    report = gradcheck(wrong_net(k, loss), X, Y, fast=fast)
    assert report.verdict != "PASSED", report.table()
    assert not report.passed
    first = {(r.layer, r.name): r for r in report.rows}[("0", "W")]
    assert first.verdict in ("FAILED", "not resolved")
    if first.verdict == "not resolved":
        assert "too small against the absolute allowance" in first.unresolved
        assert "not resolved, 0.W" in report.table()


def test_a_smaller_atol_resolves_a_huge_loss_and_then_fails_the_wrong_tensor():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), 1e9 * rng.normal(size=(8, 2))
    assert gradcheck(wrong_net(2.0), X, Y).verdict == "NOT RESOLVED"
    report = gradcheck(wrong_net(2.0), X, Y, atol=1e-11)
    assert report.verdict == "FAILED"
    assert {f"{r.layer}.{r.name}" for r in report.failed} >= {"0.W", "0.b"}
    right = Network([Dense(3, 4, "tanh", seed=0), Dense(4, 2, seed=1)], loss="mse",
                    dtype="float64")
    assert gradcheck(right, X, Y, atol=1e-11).verdict == "PASSED"


@pytest.mark.parametrize("fast", [False, True])
def test_a_tensor_with_nothing_compared_gets_no_verdict(fast):
    """Every step across relu's kink: no entry compared, no verdict (it once said 'yes')."""
    rng = np.random.default_rng(1)
    net = mlp([4, 16, 3], activation="relu", dtype="float64", seed=0)
    X, Y = rng.normal(size=(64, 4)), np.eye(3)[rng.integers(0, 3, 64)]
    report = gradcheck(net, X, Y, eps=10.0, fast=fast)
    assert report.verdict == "NOT RESOLVED", report.table()
    rows = {f"{r.layer}.{r.name}": r for r in report.rows}
    assert rows["0.W"].verdict == "not resolved" and "nothing was compared" in rows["0.W"].unresolved
    assert rows["1.W"].verdict == "passed"  # the output layer has no kink to cross


def test_a_layer_whose_gradients_are_all_zero_is_not_resolved():
    net = mlp([3, 4, 2], activation="relu", dtype="float64", seed=0)
    net.layers[0].b[...] = -100.0  # every hidden unit dead: dW, db of layer 0 are exactly 0
    rng = np.random.default_rng(2)
    report = gradcheck(net, rng.normal(size=(6, 3)), rng.normal(size=(6, 2)))
    assert report.verdict == "NOT RESOLVED"
    assert {f"{r.layer}.{r.name}" for r in report.unresolved} >= {"0.W", "0.b"}


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "elu"])
def test_correct_networks_still_pass(activation):
    rng = np.random.default_rng(3)
    net = mlp([4, 8, 8, 3], activation=activation, loss="cross_entropy", dtype="float64", seed=1)
    report = gradcheck(net, rng.normal(size=(10, 4)), rng.integers(0, 3, 10))
    assert report.verdict == "PASSED", report.table()


def test_the_command_fails_a_check_it_cannot_resolve(capsys):
    status = main(["gradcheck", "--sizes", "4,16,3", "--activation", "relu", "--eps", "10",
                   "--samples", "64"])
    out, err = capsys.readouterr()
    assert status == 1
    assert "gradcheck NOT RESOLVED" in out and "PASSED" not in out
    assert err.startswith("glassnet: error: gradcheck could not judge 0.W") and err.count("\n") == 1


def test_train_on_huge_features_does_not_claim_passed(tmp_path, capsys):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 2)) * [1e30, 1.0]
    y = (X[:, 1] > 0).astype(int)
    rows = "\n".join(f"{float(a)!r},{float(b)!r},{c}" for (a, b), c in zip(X, y))
    (tmp_path / "huge.csv").write_text("a,b,y\n" + rows + "\n")
    status = main(["train", "--data", f"csv:{tmp_path / 'huge.csv'}", "--scale", "none",
                   "--hidden", "4", "--epochs", "2", "--quiet", "--out", str(tmp_path / "m.npz")])
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("gradcheck on"))
    assert "PASSED" not in line, line
    assert status in (0, 1)
    if "NOT RESOLVED" in line:
        assert status == 0 and "could not be judged" in line


@pytest.mark.parametrize("side", [-1, 1])
@pytest.mark.parametrize("offset", [2e-5, -2e-5, 0.0])
def test_a_residual_at_the_losss_kink_is_set_aside_not_failed(side, offset):
    """Huber's c'' jumps at |a - y| = delta (Loss.nonsmooth): a step across it is skipped like a
    step across relu's z = 0, so a correct network is never FAILED there."""
    from glassnet.losses import LOSSES

    kinked = [name for name in LOSSES if getattr(LOSSES[name](), "nonsmooth", ())]
    assert kinked == ["huber"]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4))
    net = glassnet.mlp([4, 6, 3], activation="tanh", loss="huber", seed=0, dtype="float64")
    Y = rng.normal(size=(8, 3))
    Y[0, 0] = net.predict_output(X)[0, 0] - side * (1.0 + offset)  # a - y = side * (1 + offset)
    report = glassnet.gradcheck(net, X, Y)
    assert report.verdict != "FAILED" and report.skipped > 0
    Y[0, 0] -= side * 0.5  # away from the kink: compared, and right
    assert glassnet.gradcheck(net, X, Y).verdict == "PASSED"


def test_a_wrong_gradient_near_the_losss_kink_still_fails():
    from glassnet.losses import Huber

    class Wrong(Huber):
        name = "wrong_huber"

        def unit_grad(self, a, Y):
            return 1.5 * super().unit_grad(a, Y)

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    net = glassnet.mlp([4, 6, 3], activation="tanh", loss=Wrong(), seed=0, dtype="float64")
    Y[0, 0] = net.predict_output(X)[0, 0] - 1.0
    assert glassnet.gradcheck(net, X, Y).verdict == "FAILED"
