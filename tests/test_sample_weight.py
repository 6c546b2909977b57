"""Every API that takes ``sample_weight`` checks it the one way (validation.check_sample_weight):
the wrong shape, a NaN, an inf or a negative weight is a ValueError naming the entry, at fit, the
loss, backprop, the curvature products and the per-sample gradients alike."""

import numpy as np
import pytest

import glassnet
from glassnet import Curvature, per_sample_grad_norms, per_sample_grads
from glassnet.validation import check_sample_weight

N = 12


def _net():
    return glassnet.mlp([3, 5, 2], "tanh", output="softmax", loss="cross_entropy",
                        dtype="float64", seed=0)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, 3)), np.arange(N) % 2


CALLERS = {
    "fit": lambda net, X, y, w: net.fit(X, y, epochs=1, sample_weight=w, progress=False),
    "Network.loss": lambda net, X, y, w: net.loss(X, y, sample_weight=w),
    "Network.backprop": lambda net, X, y, w: net.backprop(X, y, sample_weight=w),
    "Curvature": lambda net, X, y, w: Curvature(net, X, y, sample_weight=w),
    "per_sample_grads": lambda net, X, y, w: per_sample_grads(net, X, y, sample_weight=w),
    "per_sample_grad_norms": lambda net, X, y, w: per_sample_grad_norms(net, X, y,
                                                                        sample_weight=w),
}

BAD = {
    "short": (np.ones(N - 1), r"must have shape \(12,\), one weight per sample; got shape \(11,\)"),
    "column": (np.ones((N, 1)), r"must have shape \(12,\).*got shape \(12, 1\)"),
    "nan": (np.r_[np.ones(4), np.nan, np.ones(N - 5)], r"finite weights >= 0; got nan at index 4"),
    "inf": (np.r_[np.inf, np.ones(N - 1)], r"finite weights >= 0; got inf at index 0"),
    "negative": (np.r_[np.ones(N - 1), -0.5], r"finite weights >= 0; got -0.5 at index 11"),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("bad", BAD)
def test_every_caller_refuses_a_bad_sample_weight_naming_it(caller, bad):
    w, match = BAD[bad]
    X, y = _data()
    net = _net()
    before = net.theta.copy()
    with pytest.raises(ValueError, match=match):
        CALLERS[caller](net, X, y, w)
    np.testing.assert_array_equal(net.theta, before)  # nothing trained on a refused weight


@pytest.mark.parametrize("caller", CALLERS)
def test_every_caller_takes_good_weights(caller):
    X, y = _data()
    CALLERS[caller](_net(), X, y, np.linspace(0, 2, N))


def test_fit_refuses_weights_that_are_all_zero_the_loss_does_not():
    X, y = _data()
    with pytest.raises(ValueError, match="0 for every sample: nothing would be learned"):
        _net().fit(X, y, epochs=1, sample_weight=np.zeros(N), progress=False)
    assert _net().loss(X, y, sample_weight=np.zeros(N)) == 0.0  # a batch may weigh nothing


def test_a_weight_that_is_not_numbers_is_a_type_error():
    with pytest.raises(TypeError, match="must be an array of numbers of shape"):
        check_sample_weight(["a", "b"], 2, "fit")
