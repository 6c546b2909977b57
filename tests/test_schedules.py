"""Learning-rate schedules: closed forms, torch.optim.lr_scheduler and scikit-learn as oracles."""

from __future__ import annotations

import itertools
import json
import math
import re
import warnings

import numpy as np
import pytest

from glassnet.optim import SGD
from glassnet.schedules import (
    SCHEDULES,
    Constant,
    Cosine,
    Exponential,
    InverseScaling,
    ReduceOnPlateau,
    Schedule,
    Step,
    get_schedule,
)

T = range(60)


def test_constant():
    s = Constant(learning_rate=0.3)
    assert [s(t) for t in T] == [0.3] * len(T)


def test_step_closed_form():
    s = Step(step_size=7, gamma=0.5, learning_rate=0.2)
    assert [s(t) for t in T] == pytest.approx([0.2 * 0.5 ** (t // 7) for t in T], rel=1e-15)
    assert s(6) == 0.2 and s(7) == 0.1


def test_exponential_closed_form():
    s = Exponential(gamma=0.9, learning_rate=0.2)
    assert [s(t) for t in T] == pytest.approx([0.2 * 0.9**t for t in T], rel=1e-15)


def test_cosine_closed_form_with_warmup():
    s = Cosine(total=50, warmup=10, min_lr=0.001, learning_rate=0.1)
    lrs = [s(t) for t in T]
    assert lrs[:10] == pytest.approx([0.1 * t / 10 for t in range(10)], rel=1e-15)
    assert lrs[0] == 0.0 and lrs[10] == pytest.approx(0.1, rel=1e-15)
    expected = [0.001 + 0.099 * (1 + math.cos(math.pi * (t - 10) / 40)) / 2 for t in range(10, 50)]
    assert lrs[10:50] == pytest.approx(expected, rel=1e-14)
    assert lrs[30] == pytest.approx((0.1 + 0.001) / 2, rel=1e-14)  # half-way
    assert lrs[50:] == [0.001] * 10  # stays at min_lr after total
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))  # monotone after warm-up


def test_inverse_scaling_closed_form():
    s = InverseScaling(power_t=0.25, learning_rate=0.5)
    assert [s(t) for t in T] == pytest.approx([0.5 / (t + 1) ** 0.25 for t in T], rel=1e-15)
    assert s(0) == 0.5 and s(3) == pytest.approx(0.5 / 2**0.5)


def test_inverse_scaling_matches_sklearn():
    pytest.importorskip("sklearn")
    from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

    ref = SGDOptimizer([np.zeros(2)], learning_rate_init=0.1, lr_schedule="invscaling", power_t=0.3)
    s = InverseScaling(power_t=0.3, learning_rate=0.1)
    for samples_seen in range(0, 2000, 97):  # sklearn passes the number of samples seen
        ref.iteration_ends(samples_seen)
        assert s(samples_seen) == pytest.approx(ref.learning_rate, rel=1e-15)


def _torch_lrs(torch, make_scheduler, lr0, n):
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=lr0)
    sched = make_scheduler(opt)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(n - 1):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return lrs


@pytest.mark.torch
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: Step(step_size=5, gamma=0.3, learning_rate=0.1),
            lambda torch, o: torch.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.3),
        ),
        (
            lambda: Exponential(gamma=0.93, learning_rate=0.1),
            lambda torch, o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.93),
        ),
        (
            lambda: Cosine(total=40, learning_rate=0.1),
            lambda torch, o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40),
        ),
        (
            lambda: Cosine(total=25, min_lr=0.01, learning_rate=0.1),
            lambda torch, o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=25, eta_min=0.01),
        ),
    ],
    ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "CosineAnnealingLR-eta_min"],
)
def test_matches_torch_lr_scheduler(ours, theirs):
    torch = pytest.importorskip("torch")
    s = ours()
    n = getattr(s, "total", 40) + 1  # cosine: up to and including total
    expected = _torch_lrs(torch, lambda o: theirs(torch, o), 0.1, n)
    assert [s(t) for t in range(n)] == pytest.approx(expected, rel=1e-12, abs=1e-15)


# --- ReduceOnPlateau -------------------------------------------------------------------------


def test_reduce_on_plateau_constructed_sequence():
    s = ReduceOnPlateau(factor=0.5, patience=2, min_delta=0.1, min_lr=0.0, learning_rate=1.0)
    metrics = [1.0, 0.8, 0.75, 0.74, 0.73, 0.5, 0.45, 0.44, 0.43, 0.42, 0.41, 0.40]
    lrs = [s.update(m) for m in metrics]
    # bad epochs: 0.75, 0.74, 0.73 (3 > patience -> halve); 0.5 improves;
    # 0.45, 0.44, 0.43 bad -> halve; 0.42, 0.41, 0.40 bad -> halve
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    assert s(123) == 0.125  # __call__ returns the current rate
    assert s.best == 0.40  # best follows every strict improvement
    assert not s.should_stop


def test_reduce_on_plateau_best_tracks_small_improvements():
    # 0.95 is not an improvement by min_delta but becomes the best, so 0.86 is bad too
    s = ReduceOnPlateau(factor=0.5, patience=1, min_delta=0.1, min_lr=0.0, learning_rate=1.0)
    assert [s.update(m) for m in [1.0, 0.95, 0.86]] == [1.0, 1.0, 0.5]


def test_reduce_on_plateau_sklearn_documented_two_epochs_and_max_mode():
    s = ReduceOnPlateau(patience=1, min_delta=1e-4, learning_rate=0.1)  # factor 0.2
    assert [s.update(m) for m in [0.5, 0.5, 0.5, 0.5, 0.5]] == pytest.approx(
        [0.1, 0.1, 0.02, 0.02, 0.004]
    )
    up = ReduceOnPlateau(factor=0.5, patience=0, min_delta=0.01, mode="max", learning_rate=1.0)
    assert [up.update(m) for m in [0.5, 0.7, 0.705, 0.9, 0.1]] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_reduce_on_plateau_should_stop_at_min_lr():
    s = ReduceOnPlateau(factor=0.5, patience=0, min_delta=0.01, min_lr=0.3, learning_rate=1.0)
    assert [s.update(1.0) for _ in range(3)] == [1.0, 0.5, 0.25]
    assert not s.should_stop
    assert s.update(1.0) == 0.25  # already <= min_lr: no reduction, stop instead
    assert s.should_stop


def test_reduce_on_plateau_matches_sklearn_adaptive():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(40)
    for tol, n_iter_no_change in [(1e-2, 2), (1e-4, 10), (1e-3, 1)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = MLPRegressor(
                hidden_layer_sizes=(3,),
                solver="sgd",
                learning_rate="adaptive",
                learning_rate_init=0.05,
                tol=tol,
                n_iter_no_change=n_iter_no_change,
                max_iter=400,
                random_state=0,
            ).fit(X, y)
        s = ReduceOnPlateau(patience=n_iter_no_change, min_delta=tol, learning_rate=0.05)
        for loss in model.loss_curve_:
            s.update(loss)
        assert s.lr == pytest.approx(model._optimizer.learning_rate, rel=1e-12)
        assert s.lr < 0.05  # the sequence did trigger reductions
        assert s.should_stop == (model.n_iter_ < 400)


def test_reduce_on_plateau_round_trip_mid_sequence():
    metrics = [1.0, 0.9, 0.9, 0.9, 0.85, 0.85, 0.85, 0.85, 0.84, 0.84, 0.84]
    whole = ReduceOnPlateau(factor=0.5, patience=1, min_delta=0.01, learning_rate=1.0)
    expected = [whole.update(m) for m in metrics]
    first = ReduceOnPlateau(factor=0.5, patience=1, min_delta=0.01, learning_rate=1.0)
    for m in metrics[:6]:
        first.update(m)
    d = json.loads(json.dumps(first.to_dict()))
    second = Schedule.from_dict(d)
    assert isinstance(second, ReduceOnPlateau)
    assert [second.update(m) for m in metrics[6:]] == expected[6:]
    assert expected[-1] < 1.0


# --- registry, serialisation, validation ---------------------------------------------------


EXAMPLES = [
    Constant(learning_rate=0.1),
    Step(step_size=3, gamma=0.5, learning_rate=0.1),
    Exponential(gamma=0.95, learning_rate=0.1),
    Cosine(total=20, warmup=4, min_lr=0.01, learning_rate=0.1),
    InverseScaling(power_t=0.4, learning_rate=0.1),
    ReduceOnPlateau(factor=0.5, patience=3, learning_rate=0.1),
]


def test_examples_cover_registry():
    assert {s.name for s in EXAMPLES} == set(SCHEDULES)
    assert all(SCHEDULES[s.name] is type(s) for s in EXAMPLES)


@pytest.mark.parametrize("schedule", EXAMPLES, ids=lambda s: s.name)
def test_to_dict_from_dict(schedule):
    d = json.loads(json.dumps(schedule.to_dict()))
    assert d["name"] == schedule.name and d["learning_rate"] == 0.1
    for cls in (Schedule, type(schedule)):
        clone = cls.from_dict(d)
        assert type(clone) is type(schedule)
        assert clone.to_dict() == schedule.to_dict()
        assert [clone(t) for t in range(25)] == [schedule(t) for t in range(25)]


def test_from_dict_rejects_wrong_name():
    with pytest.raises(ValueError, match="valid names are"):
        Schedule.from_dict({"name": "warp"})
    with pytest.raises(ValueError, match="Cannot build Step"):
        Step.from_dict(Constant(learning_rate=0.1).to_dict())


def test_get_schedule():
    s = get_schedule("cosine", learning_rate=0.1, total=10)
    assert isinstance(s, Cosine) and s(0) == 0.1
    assert isinstance(get_schedule("adaptive", learning_rate=0.1), ReduceOnPlateau)
    assert isinstance(get_schedule(None, learning_rate=0.1), Constant)
    unbound = Step(step_size=2)
    assert get_schedule(unbound, learning_rate=0.5) is unbound and unbound(2) == 0.05
    with pytest.raises(ValueError) as info:
        get_schedule("warp")
    for name in SCHEDULES:
        assert repr(name) in str(info.value)
    with pytest.raises(TypeError):
        get_schedule(unbound, gamma=0.2)


def test_missing_base_rate_and_bad_t():
    s = Exponential(gamma=0.9)
    with pytest.raises(RuntimeError, match="no base learning rate"):
        s(0)
    s.learning_rate = 0.2
    assert s(1) == pytest.approx(0.18)
    with pytest.raises(ValueError, match="t >= 0"):
        s(-1)
    with pytest.raises(RuntimeError, match="no base learning rate"):
        ReduceOnPlateau().update(1.0)


def test_drives_an_optimizer():
    opt = SGD(learning_rate=0.1)
    schedule = get_schedule("step", learning_rate=opt.learning_rate, step_size=2)
    params = {"w": np.zeros(1)}
    for epoch in range(4):
        opt.learning_rate = schedule(epoch)
        opt.step(params, {"w": np.ones(1)})
    np.testing.assert_allclose(params["w"], [-(0.1 + 0.1 + 0.01 + 0.01)])


@pytest.mark.parametrize(
    ("factory", "exc", "message"),
    [
        (
            lambda: Step(step_size=0),
            ValueError,
            "The 'step_size' parameter of Step must be an int >= 1; got 0.",
        ),
        (
            lambda: Step(step_size=2, gamma=-1),
            ValueError,
            "The 'gamma' parameter of Step must be a float > 0; got -1.0.",
        ),
        (
            lambda: Exponential(gamma="0.9"),
            TypeError,
            "The 'gamma' parameter of Exponential must be a float > 0; got '0.9'.",
        ),
        (
            lambda: Cosine(total=10, warmup=11),
            ValueError,
            "The 'warmup' parameter of Cosine must be <= total=10; got 11.",
        ),
        (
            lambda: Cosine(total=10, min_lr=-0.1),
            ValueError,
            "The 'min_lr' parameter of Cosine must be a float >= 0; got -0.1.",
        ),
        (
            lambda: InverseScaling(power_t=-0.5),
            ValueError,
            "The 'power_t' parameter of InverseScaling must be a float >= 0; got -0.5.",
        ),
        (
            lambda: ReduceOnPlateau(factor=1.0),
            ValueError,
            "The 'factor' parameter of ReduceOnPlateau must be a float in (0, 1); got 1.0.",
        ),
        (
            lambda: ReduceOnPlateau(patience=-1),
            ValueError,
            "The 'patience' parameter of ReduceOnPlateau must be an int >= 0; got -1.",
        ),
        (
            lambda: ReduceOnPlateau(mode="lowest"),
            ValueError,
            "The 'mode' parameter of ReduceOnPlateau must be 'min' or 'max'; got 'lowest'.",
        ),
        (
            lambda: Constant(learning_rate=-0.1),
            ValueError,
            "The 'learning_rate' parameter of Constant must be a float > 0; got -0.1.",
        ),
    ],
)
def test_parameter_validation(factory, exc, message):
    with pytest.raises(exc, match=f"^{re.escape(message)}$"):
        factory()
