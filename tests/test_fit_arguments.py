"""fit's arguments that are not numbers: each wrong one is named with the fix before any work
(validation_data, callbacks), L-BFGS refuses the settings its line search would ignore, and
partial_fit keeps the optimiser it is named by."""

import re

import numpy as np
import pytest

import glassnet
from glassnet import Callback


def _net():
    return glassnet.mlp([3, 5, 2], "tanh", output="softmax", loss="cross_entropy", seed=0)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 3)).astype("float32"), np.arange(20) % 2


@pytest.mark.parametrize("validation_data, got", [
    (lambda X, y: (X, y, None), "a tuple of 3"),
    (lambda X, y: X, "ndarray of shape (20, 3)"),
    (lambda X, y: [X], "a list of 1"),
])
def test_validation_data_must_be_a_pair(validation_data, got):
    X, y = _data()
    net = _net()
    before = net.theta.copy()
    with pytest.raises(TypeError, match=r"'validation_data' parameter of fit must be a pair "
                                        rf"\(X_val, y_val\); got {re.escape(got)}"):
        net.fit(X, y, epochs=1, validation_data=validation_data(X, y), progress=False)
    np.testing.assert_array_equal(net.theta, before)


@pytest.mark.parametrize("callbacks, words", [
    (Callback(), "got one Callback: pass \\[it\\]"),
    ([1], "entry 0 is int 1"),
    ([Callback(), "x"], "entry 1 is str 'x'"),
    (5, "must be a list of Callback objects; got int"),
])
def test_callbacks_must_be_a_list_of_callbacks(callbacks, words):
    X, y = _data()
    with pytest.raises(TypeError, match=words):
        _net().fit(X, y, epochs=1, callbacks=callbacks, progress=False)


@pytest.mark.parametrize("kwargs", [{"learning_rate": 0.1}, {"lr_schedule": "cosine"},
                                    {"clip_norm": 1.0},
                                    {"learning_rate": 0.1, "clip_norm": 1.0}])
def test_lbfgs_refuses_what_its_line_search_would_ignore(kwargs):
    X, y = _data()
    with pytest.raises(ValueError, match="L-BFGS chooses each step by its line search, so "
                                         + ", ".join(kwargs)):
        _net().fit(X, y, epochs=1, optimizer="lbfgs", progress=False, **kwargs)
    _net().fit(X, y, epochs=1, optimizer="lbfgs", progress=False)  # without them it trains


def test_partial_fit_named_by_its_optimizer_keeps_its_state():
    X, y = _data()
    net = _net()
    for _ in range(3):
        net.partial_fit(X, y, optimizer="adam", batch_size=10, progress=False)
    assert net.optimizer.iterations == 6 and len(net.history) == 3
    first = net.optimizer
    net.partial_fit(X, y, optimizer="sgd", batch_size=10, progress=False)  # another: afresh
    assert net.optimizer is not first and net.optimizer.iterations == 2
