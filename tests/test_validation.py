"""One parameter checker for the whole public API: a wrong type is a TypeError, a bad value
(NaN, inf, out of range) a ValueError, and every message reads
"The 'name' parameter of Owner must be ...; got value."."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet
from glassnet import Dense, Network, gradcheck, mlp
from glassnet.activations import ELU, LeakyReLU
from glassnet.data import MinMaxScaler, StandardScaler, make_2d
from glassnet.diagnostics import GradientMonitor
from glassnet.layers import Dropout
from glassnet.losses import Huber
from glassnet.optim import LBFGS, SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm
from glassnet.schedules import Cosine, Exponential, InverseScaling, ReduceOnPlateau, Step
from glassnet.training import EarlyStopping
from glassnet.validation import check_scalar

X2, Y2 = np.ones((4, 2)), np.zeros((4, 1))


def _fit(**kw):
    return mlp([2, 3, 1]).fit(X2, Y2, progress=False, **kw)


# (owner name in the message, parameter, a call taking the value, int parameter?)
PARAMETERS = [
    ("SGD", "learning_rate", lambda v: SGD(learning_rate=v), False),
    ("SGD", "momentum", lambda v: SGD(momentum=v), False),
    ("SGD", "weight_decay", lambda v: SGD(weight_decay=v), False),
    ("Adam", "beta_1", lambda v: Adam(beta_1=v), False),
    ("Adam", "beta_2", lambda v: Adam(beta_2=v), False),
    ("Adam", "epsilon", lambda v: Adam(epsilon=v), False),
    ("AdamW", "weight_decay", lambda v: AdamW(weight_decay=v), False),
    ("RMSprop", "rho", lambda v: RMSprop(rho=v), False),
    ("Adagrad", "initial_accumulator_value", lambda v: Adagrad(initial_accumulator_value=v), False),
    ("LBFGS", "max_iter", lambda v: LBFGS(max_iter=v), True),
    ("LBFGS", "tolerance_grad", lambda v: LBFGS(tolerance_grad=v), False),
    ("clip_grad_norm", "max_norm", lambda v: clip_grad_norm({"w": np.ones(2)}, v), False),
    ("Step", "step_size", lambda v: Step(step_size=v), True),
    ("Step", "gamma", lambda v: Step(step_size=2, gamma=v), False),
    ("Exponential", "gamma", lambda v: Exponential(gamma=v), False),
    ("Cosine", "total", lambda v: Cosine(total=v), True),
    ("Cosine", "min_lr", lambda v: Cosine(total=3, min_lr=v), False),
    ("InverseScaling", "power_t", lambda v: InverseScaling(power_t=v), False),
    ("ReduceOnPlateau", "factor", lambda v: ReduceOnPlateau(factor=v), False),
    ("ReduceOnPlateau", "patience", lambda v: ReduceOnPlateau(patience=v), True),
    ("EarlyStopping", "patience", lambda v: EarlyStopping(patience=v), True),
    ("EarlyStopping", "min_delta", lambda v: EarlyStopping(min_delta=v), False),
    ("GradientMonitor", "every", lambda v: GradientMonitor(every=v), True),
    ("GradientMonitor", "vanish_ratio", lambda v: GradientMonitor(vanish_ratio=v), False),
    ("Network", "l2", lambda v: Network([Dense(2, 1)], l2=v), False),
    ("Network", "l1", lambda v: Network([Dense(2, 1)], l1=v), False),
    ("Dense", "n_in", lambda v: Dense(v, 2), True),
    ("Dense", "n_out", lambda v: Dense(2, v), True),
    ("Dropout", "p", lambda v: Dropout(v), False),
    ("Dropout", "width", lambda v: Dropout(0.5, width=v), True),
    ("mlp", "dropout", lambda v: mlp([2, 3, 1], dropout=v), False),
    ("LeakyReLU", "slope", lambda v: LeakyReLU(slope=v), False),
    ("ELU", "alpha", lambda v: ELU(alpha=v), False),
    ("Huber", "delta", lambda v: Huber(delta=v), False),
    ("StandardScaler", "floor", lambda v: StandardScaler(floor=v), False),
    ("MinMaxScaler", "floor", lambda v: MinMaxScaler(floor=v), False),
    ("make_2d", "n_samples", lambda v: make_2d("moons", n_samples=v), True),
    ("make_2d", "noise", lambda v: make_2d("moons", noise=v), False),
    ("gradcheck", "eps", lambda v: gradcheck(mlp([2, 3, 1]), X2, Y2, eps=v), False),
    ("gradcheck", "tol", lambda v: gradcheck(mlp([2, 3, 1]), X2, Y2, tol=v), False),
    ("gradcheck", "atol", lambda v: gradcheck(mlp([2, 3, 1]), X2, Y2, atol=v), False),
    ("gradcheck", "n_directions",
     lambda v: gradcheck(mlp([2, 3, 1]), X2, Y2, fast=True, n_directions=v), True),
    ("explain", "learning_rate", lambda v: glassnet.explain(learning_rate=v), False),
    ("explain", "eps", lambda v: glassnet.explain(eps=v), False),
    ("fit", "epochs", lambda v: _fit(epochs=v), True),
    ("fit", "batch_size", lambda v: _fit(batch_size=v), True),
    ("fit", "clip_norm", lambda v: _fit(clip_norm=v), False),
    ("fit", "validation_split", lambda v: _fit(validation_split=v), False),
    ("predict_output", "batch_size", lambda v: mlp([2, 3, 1]).predict_output(X2, batch_size=v),
     True),
]
IDS = [f"{owner}.{name}" for owner, name, _, _ in PARAMETERS]
NONE_MEANS_DEFAULT = {"GradientMonitor.every", "Dropout.width", "fit.batch_size", "fit.clip_norm"}


@pytest.mark.parametrize("owner, name, call, integer", PARAMETERS, ids=IDS)
@pytest.mark.parametrize("value", ["1", True, None, [1], 1j])
def test_a_wrong_type_is_a_type_error(owner, name, call, integer, value):
    if value is None and f"{owner}.{name}" in NONE_MEANS_DEFAULT:
        call(None)  # the documented default
        return
    with pytest.raises(TypeError, match=rf"^The '{name}' parameter of {owner} must be "):
        call(value)


@pytest.mark.parametrize("owner, name, call, integer", PARAMETERS, ids=IDS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_are_value_errors(owner, name, call, integer, value):
    error = TypeError if integer else ValueError  # an int parameter takes no float at all
    with pytest.raises(error, match=rf"^The '{name}' parameter of {owner} must be .*; got "):
        call(value)


@pytest.mark.parametrize("owner, name, call, integer", [p for p in PARAMETERS if p[3]],
                         ids=[i for i, p in zip(IDS, PARAMETERS) if p[3]])
def test_int_parameters_refuse_floats_and_too_small_values(owner, name, call, integer):
    with pytest.raises(TypeError, match=rf"The '{name}' parameter of {owner} must be an int"):
        call(2.5)
    with pytest.raises(ValueError, match=rf"The '{name}' parameter of {owner} must be an int >= "):
        call(-1)


def test_the_wording():
    with pytest.raises(ValueError, match=r"^The 'x' parameter of f must be a float in \(0, 1\]; "
                                         r"got 0\.0\.$"):
        check_scalar(0, "x", "f", low=0, high=1, low_open=True)
    assert check_scalar(np.float32(0.5), "x", "f") == 0.5 and check_scalar(np.int64(3), "n", "f",
                                                                          kind=int) == 3
