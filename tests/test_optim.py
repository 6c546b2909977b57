"""Optimisers: torch.optim as the oracle, in-place/dtype contract, state round trip, errors."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

from glassnet.network import Flat
from glassnet.optim import (
    LBFGS,
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    clip_grad_norm,
    get_optimizer,
)

SHAPES = {"0.W": (5, 3), "0.b": (5,), "1.W": (2, 5), "1.b": (2,), "2.W": (1, 2)}

# (registry name, glassnet kwargs); every variant sets learning_rate so torch's defaults for
# the other hyperparameters are compared with ours.
VARIANTS = [
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"learning_rate": 0.1, "weight_decay": 0.05}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.05}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {"learning_rate": 0.01}),
    ("adam", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("adam", {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}),
    ("adamw", {"learning_rate": 0.01}),
    ("adamw", {"learning_rate": 0.01, "weight_decay": 0.0}),
    ("adamw", {"learning_rate": 0.05, "weight_decay": 0.3, "beta_1": 0.8}),
    ("rmsprop", {"learning_rate": 0.01}),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.9}),
    ("rmsprop", {"learning_rate": 0.02, "rho": 0.9, "epsilon": 1e-4, "weight_decay": 0.1}),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.5, "weight_decay": 0.2}),
    ("adagrad", {"learning_rate": 0.1}),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.3}),
    ("adagrad", {"learning_rate": 0.1, "epsilon": 1e-3, "weight_decay": 0.1}),
]
VARIANT_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in VARIANTS]


def make_params(seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def make_grads(n: int = 20, seed: int = 1, dtype=np.float64) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()} for _ in range(n)]


def run(opt: Optimizer, params, grads) -> None:
    for g in grads:
        opt.step(params, g)


def torch_optimizer(torch, name: str, kwargs: dict, tensors: list):
    kw = dict(kwargs)
    tkw = {"lr": kw.pop("learning_rate"), "foreach": False}
    if "beta_1" in kw or "beta_2" in kw:
        tkw["betas"] = (kw.pop("beta_1", 0.9), kw.pop("beta_2", 0.999))
    if "epsilon" in kw:
        tkw["eps"] = kw.pop("epsilon")
    if "rho" in kw:
        tkw["alpha"] = kw.pop("rho")
    tkw.update(kw)  # momentum, nesterov, weight_decay, initial_accumulator_value
    cls = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
    }[name]
    return cls(tensors, **tkw)


def test_variants_cover_every_first_order_optimizer():
    assert {n for n, _ in VARIANTS} == set(OPTIMIZERS) - {"lbfgs"}


@pytest.mark.torch
@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    params = make_params()
    grads = make_grads()
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    topt = torch_optimizer(torch, name, kwargs, list(tparams.values()))
    opt = get_optimizer(name, **kwargs)
    start = {k: v.copy() for k, v in params.items()}
    for g in grads:
        opt.step(params, g)
        for k, t in tparams.items():
            t.grad = torch.from_numpy(g[k].copy())
        topt.step()
    for k in params:
        assert not np.array_equal(params[k], start[k])
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-10, atol=1e-10)
    assert opt.iterations == len(grads)


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_inplace_and_grads_untouched(name, kwargs):
    # params are views into one flat buffer, as a network may hold them
    flat = np.random.default_rng(3).standard_normal(sum(int(np.prod(s)) for s in SHAPES.values()))
    params, offset = {}, 0
    for k, s in SHAPES.items():
        n = int(np.prod(s))
        params[k] = flat[offset : offset + n].reshape(s)
        offset += n
    ids = {k: id(v) for k, v in params.items()}
    before = flat.copy()
    grads = make_grads(5)
    grads_copy = [{k: v.copy() for k, v in g.items()} for g in grads]
    run(get_optimizer(name, **kwargs), params, grads)
    assert {k: id(v) for k, v in params.items()} == ids
    assert not np.array_equal(flat, before)  # the updates landed in the shared buffer
    for g, gc in zip(grads, grads_copy):
        for k in g:
            np.testing.assert_array_equal(g[k], gc[k])


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_float32_stays_float32(name, kwargs):
    params32 = make_params(dtype=np.float32)
    params64 = make_params(dtype=np.float64)
    opt32 = get_optimizer(name, **kwargs)
    run(opt32, params32, make_grads(dtype=np.float32))
    run(get_optimizer(name, **kwargs), params64, make_grads())
    for k in SHAPES:
        assert params32[k].dtype == np.float32
        np.testing.assert_allclose(params32[k], params64[k], rtol=1e-4, atol=1e-4)
    _, arrays = opt32.state_dict()
    assert all(a.dtype == np.float32 for a in arrays.values())


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_state_dict_round_trip_is_bit_identical(name, kwargs):
    grads = make_grads(20)
    full = make_params()
    run(get_optimizer(name, **kwargs), full, grads)

    half = make_params()
    first = get_optimizer(name, **kwargs)
    run(first, half, grads[:10])
    config, arrays = first.state_dict()
    config = json.loads(json.dumps(config))  # must be JSON-able
    saved = {k: v.copy() for k, v in arrays.items()}
    for v in arrays.values():  # state_dict returns copies
        v[...] = 123.0
    second = Optimizer.from_state_dict(config, saved)
    assert type(second) is type(first)
    assert second.iterations == 10
    for v in saved.values():  # load_state_dict copies too
        v[...] = -7.0
    resumed = {k: v.copy() for k, v in half.items()}
    run(second, resumed, grads[10:])
    run(first, half, grads[10:])  # the original is unaffected by the writes above
    for k in SHAPES:
        np.testing.assert_array_equal(resumed[k], full[k])
        np.testing.assert_array_equal(half[k], full[k])


# ---------------------------------------------------------------------- step_flat


def flat_params(dtype=np.float64, seed: int = 0):
    """``theta`` and the Flat dict of views into it (make_params' values), as a network has them."""
    params = make_params(seed, dtype)
    theta = np.concatenate([p.ravel() for p in params.values()])
    return theta, Flat(theta, views_of(theta, params))


def flat_grads(n: int = 20, dtype=np.float64) -> list[np.ndarray]:
    return [np.concatenate([g.ravel() for g in grads.values()]) for grads in make_grads(n, 1, dtype)]


def views_of(flat: np.ndarray, like: dict) -> dict[str, np.ndarray]:
    out, offset = {}, 0
    for k, p in like.items():
        out[k] = flat[offset : offset + p.size].reshape(p.shape)
        offset += p.size
    return out


def assert_same_state(a: Optimizer, b: Optimizer) -> None:
    (config_a, arrays_a), (config_b, arrays_b) = a.state_dict(), b.state_dict()
    assert config_a == config_b
    assert arrays_a.keys() == arrays_b.keys()
    for k in arrays_a:
        assert arrays_a[k].dtype == arrays_b[k].dtype
        np.testing.assert_array_equal(arrays_a[k], arrays_b[k], err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_flat_and_separate_arrays_step_alike_bit_for_bit(name, kwargs, dtype):
    """net.params() (views into one theta) and a dict of separate arrays: the same steps."""
    theta, params = flat_params(dtype)
    separate = make_params(0, dtype)
    flat, per_key = get_optimizer(name, **kwargs), get_optimizer(name, **kwargs)
    for g in flat_grads(dtype=dtype):
        before = g.copy()
        flat.step(params, Flat(g, views_of(g, params)))
        np.testing.assert_array_equal(g, before)  # the gradient is read, never written
        per_key.step(separate, {k: v.copy() for k, v in views_of(g, params).items()})
    assert not np.array_equal(theta, flat_params(dtype)[0])
    assert theta.dtype == dtype
    np.testing.assert_array_equal(theta, np.concatenate([p.ravel() for p in separate.values()]))
    assert_same_state(flat, per_key)


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_flat_and_separate_steps_take_turns_on_one_state(name, kwargs):
    """Flat, then separate arrays, then a saved and loaded state, then flat again."""
    grads = flat_grads(40)
    theta_ref, params_ref = flat_params()
    reference = get_optimizer(name, **kwargs)
    for g in grads:
        reference.step(params_ref, Flat(g, views_of(g, params_ref)))

    theta, params = flat_params()
    opt = get_optimizer(name, **kwargs)
    for g in grads[:10]:
        opt.step(params, Flat(g, views_of(g, params)))
    for g in grads[10:20]:  # the same arrays, not seen as one flat array: packed
        opt.step(dict(params), views_of(g, params))
    config, arrays = opt.state_dict()
    for v in arrays.values():  # state_dict returns copies
        v[...] = 123.0
    opt.step(params, Flat(grads[20], views_of(grads[20], params)))
    config, arrays = opt.state_dict()
    resumed = Optimizer.from_state_dict(config, arrays)
    for g in grads[21:]:
        resumed.step(params, Flat(g, views_of(g, params)))
    np.testing.assert_array_equal(theta, theta_ref)
    assert_same_state(resumed, reference)


def test_step_after_reset_and_load_starts_from_that_state():
    theta, params = flat_params()
    opt = Adam(learning_rate=0.01)
    grads = [Flat(g, views_of(g, params)) for g in flat_grads(3)]
    opt.step(params, grads[0])
    opt.reset()
    assert opt.state_dict()[1] == {}
    fresh_theta, fresh_params = flat_params()
    fresh = Adam(learning_rate=0.01)
    for g in grads[1:]:
        opt.step(params, g)
        fresh.step(fresh_params, g)
    assert_same_state(opt, fresh)
    config, arrays = fresh.state_dict()
    opt.load_state_dict(config, {k: np.full_like(v, 0.5) for k, v in arrays.items()})
    opt.step(params, grads[0])
    _, after = opt.state_dict()
    np.testing.assert_allclose(after["v.0.W"], 0.999 * 0.5 + 0.001 * grads[0]["0.W"]**2)


def test_fit_calls_a_subclass_step_with_the_networks_flat_dicts():
    from glassnet import mlp

    class Recording(SGD):
        def step(self, params, grads, closure=None):
            self.seen = {k: g.copy() for k, g in grads.items()}
            self.flat = params.flat
            return super().step(params, grads, closure)

    net = mlp([3, 4, 2], seed=0)
    opt = Recording(learning_rate=0.1)
    net.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, batch_size=4, optimizer=opt,
            progress=False)
    assert opt.iterations == 1 and opt.flat is net.theta
    for k, g in net.grads().items():
        np.testing.assert_array_equal(opt.seen[k], g)


def test_loaded_state_must_fit_the_parameters():
    theta, params = flat_params()
    opt = Adam()
    opt.step(params, Flat(theta.copy(), views_of(theta.copy(), params)))
    config, arrays = opt.state_dict()
    shapes = dict(SHAPES, **{"0.W": (3, 5)})
    other = {k: np.zeros(s) for k, s in shapes.items()}
    loaded = Adam()
    loaded.load_state_dict(config, arrays)
    with pytest.raises(ValueError, match=r"'m' state of parameter '0\.W' has shape \(5, 3\); "
                                         r"the parameter has shape \(3, 5\)\. Call reset"):
        loaded.check_state(other)
    with pytest.raises(ValueError, match="Call reset"):
        loaded.step(other, {k: np.zeros(s) for k, s in shapes.items()})
    with pytest.raises(ValueError, match="which the network does not have"):
        loaded.check_state({"9.W": np.zeros(3)})


def test_state_dict_format():
    opt = Adam(learning_rate=0.01, weight_decay=0.1)
    run(opt, make_params(), make_grads(3))
    config, arrays = opt.state_dict()
    assert config == {
        "name": "adam",
        "learning_rate": 0.01,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.1,
        "iterations": 3,
    }
    assert set(arrays) == {f"{s}.{k}" for s in ("m", "v") for k in SHAPES}
    assert arrays["m.0.W"].shape == SHAPES["0.W"]
    sgd_config, sgd_arrays = SGD(momentum=0.9).state_dict()
    assert sgd_arrays == {} and sgd_config["iterations"] == 0 and sgd_config["nesterov"] is False


def test_load_state_dict_restores_hyperparameters_and_checks_name():
    config, arrays = Adam(learning_rate=0.02, beta_1=0.7).state_dict()
    opt = Adam()
    opt.load_state_dict(config, arrays)
    assert opt.learning_rate == 0.02 and opt.beta_1 == 0.7
    with pytest.raises(ValueError, match="saved by optimizer 'adam'"):
        SGD().load_state_dict(config, arrays)
    with pytest.raises(ValueError, match="Unknown state array 'w.0.W'"):
        opt.load_state_dict(config, {"w.0.W": np.zeros(3)})
    with pytest.raises(ValueError, match="must be a float in"):
        Adam().load_state_dict({**config, "beta_1": 1.5}, {})


def test_learning_rate_attribute_is_used_each_step():
    params = {"w": np.array([1.0, 2.0])}
    opt = SGD(learning_rate=0.1)
    opt.step(params, {"w": np.array([1.0, 1.0])})
    opt.learning_rate = np.float64(0.5)  # what a schedule does
    opt.step(params, {"w": np.array([1.0, 1.0])})
    np.testing.assert_allclose(params["w"], [1.0 - 0.6, 2.0 - 0.6])


def test_sgd_closed_form():
    params = {"w": np.array([1.0])}
    opt = SGD(learning_rate=0.5, momentum=0.5)
    for _ in range(3):
        opt.step(params, {"w": np.array([1.0])})
    # v = 1, 1.5, 1.75 -> w = 1 - 0.5 * 4.25
    np.testing.assert_allclose(params["w"], [1.0 - 0.5 * 4.25])


def test_closure_is_called_and_its_loss_returned():
    params = {"w": np.array([3.0])}
    grads = {"w": np.zeros(1)}

    def closure():
        grads["w"][...] = 2 * params["w"]
        return float(params["w"][0] ** 2)

    opt = SGD(learning_rate=0.25)
    assert opt.step(params, grads, closure) == 9.0
    np.testing.assert_allclose(params["w"], [1.5])
    assert opt.step(params, grads) is None


def test_missing_or_misshaped_gradient():
    opt = SGD()
    with pytest.raises(KeyError, match="No gradient for parameter 'b'"):
        opt.step({"w": np.zeros(2), "b": np.zeros(1)}, {"w": np.zeros(2)})
    with pytest.raises(ValueError, match=re.escape("gradient of 'w' has shape (3,)")):
        opt.step({"w": np.zeros(2)}, {"w": np.zeros(3)})


def test_changed_shape_needs_reset():
    opt = Adam()
    opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
    with pytest.raises(ValueError, match="Call reset"):
        opt.step({"w": np.zeros(3)}, {"w": np.ones(3)})
    opt.reset()
    opt.step({"w": np.zeros(3)}, {"w": np.ones(3)})
    assert opt.iterations == 1


@pytest.mark.parametrize(
    ("factory", "exc", "message"),
    [
        (
            lambda: SGD(learning_rate=-0.1),
            ValueError,
            "The 'learning_rate' parameter of SGD must be a float >= 0; got -0.1.",
        ),
        (
            lambda: SGD(learning_rate="0.1"),
            TypeError,
            "The 'learning_rate' parameter of SGD must be a float >= 0; got '0.1'.",
        ),
        (
            lambda: SGD(learning_rate=True),
            TypeError,
            "The 'learning_rate' parameter of SGD must be a float >= 0; got True.",
        ),
        (
            lambda: SGD(learning_rate=float("nan")),
            ValueError,
            "The 'learning_rate' parameter of SGD must be a float >= 0; got nan.",
        ),
        (
            lambda: SGD(momentum=1.0),
            ValueError,
            "The 'momentum' parameter of SGD must be a float in [0, 1); got 1.0.",
        ),
        (
            lambda: SGD(nesterov=1),
            TypeError,
            "The 'nesterov' parameter of SGD must be a bool; got 1.",
        ),
        (
            lambda: SGD(nesterov=True),
            ValueError,
            "The 'nesterov' parameter of SGD requires momentum > 0; got momentum=0.0.",
        ),
        (
            lambda: SGD(weight_decay=-1),
            ValueError,
            "The 'weight_decay' parameter of SGD must be a float >= 0; got -1.0.",
        ),
        (
            lambda: Adam(beta_1=1.0),
            ValueError,
            "The 'beta_1' parameter of Adam must be a float in [0, 1); got 1.0.",
        ),
        (
            lambda: Adam(beta_2=-0.1),
            ValueError,
            "The 'beta_2' parameter of Adam must be a float in [0, 1); got -0.1.",
        ),
        (
            lambda: AdamW(epsilon=-1e-8),
            ValueError,
            "The 'epsilon' parameter of AdamW must be a float >= 0; got -1e-08.",
        ),
        (
            lambda: RMSprop(rho=1.5),
            ValueError,
            "The 'rho' parameter of RMSprop must be a float in [0, 1); got 1.5.",
        ),
        (
            lambda: Adagrad(initial_accumulator_value=-0.5),
            ValueError,
            "The 'initial_accumulator_value' parameter of Adagrad must be a float >= 0; got -0.5.",
        ),
        (
            lambda: LBFGS(max_iter=0),
            ValueError,
            "The 'max_iter' parameter of LBFGS must be an int >= 1; got 0.",
        ),
        (
            lambda: LBFGS(history_size=2.5),
            TypeError,
            "The 'history_size' parameter of LBFGS must be an int >= 1; got 2.5.",
        ),
        (
            lambda: clip_grad_norm({}, 0.0),
            ValueError,
            "The 'max_norm' parameter of clip_grad_norm must be a float > 0; got 0.0.",
        ),
    ],
)
def test_parameter_validation(factory, exc, message):
    with pytest.raises(exc, match=f"^{re.escape(message)}$"):
        factory()


def test_numpy_scalars_are_accepted():
    opt = Adam(learning_rate=np.float32(0.5), beta_1=np.float64(0.8))
    assert type(opt.learning_rate) is float and opt.beta_1 == 0.8
    assert LBFGS(max_iter=np.int64(3)).max_iter == 3


def test_get_optimizer():
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop", "adagrad", "lbfgs"}
    for name, cls in OPTIMIZERS.items():
        opt = get_optimizer(name)
        assert type(opt) is cls and opt.name == name
    opt = get_optimizer("Adam", learning_rate=0.5)
    assert isinstance(opt, Adam) and opt.learning_rate == 0.5
    assert get_optimizer(opt) is opt
    assert isinstance(get_optimizer(RMSprop, rho=0.5), RMSprop)
    with pytest.raises(ValueError) as info:
        get_optimizer("adamax")
    for name in OPTIMIZERS:
        assert repr(name) in str(info.value)
    assert "Unknown optimizer 'adamax'" in str(info.value)
    with pytest.raises(TypeError):
        get_optimizer(opt, learning_rate=0.1)
    with pytest.raises(TypeError):
        get_optimizer(3)


def test_defaults():
    assert SGD().learning_rate == 0.01 and SGD().momentum == 0.0
    adam = Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.weight_decay) == (
        0.001,
        0.9,
        0.999,
        1e-8,
        0.0,
    )
    assert AdamW().weight_decay == 0.01
    rms = RMSprop()
    assert (rms.learning_rate, rms.rho, rms.epsilon, rms.momentum) == (0.01, 0.99, 1e-8, 0.0)
    ada = Adagrad()
    assert (ada.learning_rate, ada.initial_accumulator_value, ada.epsilon) == (0.01, 0.0, 1e-10)
    lb = LBFGS()
    assert (lb.learning_rate, lb.max_iter, lb.history_size) == (1.0, 20, 10)
    assert (lb.tolerance_grad, lb.tolerance_change) == (1e-7, 1e-9)


# --- clip_grad_norm ------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("max_norm", [0.5, 3.0, 1e3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_matches_torch(max_norm, dtype):
    torch = pytest.importorskip("torch")
    grads = make_grads(1, seed=5, dtype=dtype)[0]
    ids = {k: id(v) for k, v in grads.items()}
    tensors = []
    for v in grads.values():
        t = torch.zeros(v.shape, dtype=torch.from_numpy(v).dtype, requires_grad=True)
        t.grad = torch.from_numpy(v.copy())
        tensors.append(t)
    expected = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    norm = clip_grad_norm(grads, max_norm)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert norm == pytest.approx(expected, rel=tol)
    for (k, g), t in zip(grads.items(), tensors):
        assert id(g) == ids[k] and g.dtype == dtype
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol, atol=tol)
    clipped = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
    assert clipped <= max_norm * (1 + 1e-6)
    if max_norm > expected:
        assert clipped == pytest.approx(expected, rel=1e-6)  # left alone


def test_clip_grad_norm_closed_form_and_nonfinite():
    grads = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(grads, 1.0) == 5.0
    np.testing.assert_allclose([grads["a"][0], grads["b"][0, 0]], [0.6, 0.8], rtol=1e-6)
    bad = {"a": np.array([np.inf, 1.0])}
    assert clip_grad_norm(bad, 1.0) == np.inf
    np.testing.assert_array_equal(bad["a"], [np.inf, 1.0])


# --- L-BFGS ----------------------------------------------------------------------------------


def test_lbfgs_minimises_a_quadratic():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(0)
    M = rng.standard_normal((8, 8))
    A = M @ M.T + 8 * np.eye(8)
    b = rng.standard_normal(8)
    params = {"W": np.zeros((2, 3)), "b": np.zeros(2)}
    grads = {k: np.empty_like(v) for k, v in params.items()}
    ids = {k: id(v) for k, v in params.items()}

    def closure():
        x = np.concatenate([params["W"].ravel(), params["b"]])
        g = A @ x - b
        grads["W"][...] = g[:6].reshape(2, 3)
        grads["b"][...] = g[6:]
        return 0.5 * x @ A @ x - b @ x

    opt = LBFGS(max_iter=100, tolerance_grad=1e-10, tolerance_change=0.0)
    loss = opt.step(params, grads, closure)
    x_star = np.linalg.solve(A, b)
    np.testing.assert_allclose(params["W"].ravel(), x_star[:6], atol=1e-6)
    np.testing.assert_allclose(params["b"], x_star[6:], atol=1e-6)
    assert loss == pytest.approx(-0.5 * b @ x_star, rel=1e-10)
    assert {k: id(v) for k, v in params.items()} == ids
    assert np.abs(grads["W"]).max() < 1e-5  # grads belong to the returned params
    assert opt.iterations >= 1
    config, arrays = opt.state_dict()
    assert arrays == {} and json.loads(json.dumps(config))["name"] == "lbfgs"


def test_lbfgs_logistic_regression_reaches_the_optimum():
    pytest.importorskip("scipy")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3))
    y = (X @ [1.5, -2.0, 0.5] + 0.3 + rng.standard_normal(60) > 0).astype(float)
    lam = 0.1
    n = len(y)

    def loss_grad(w, b):
        z = X @ w + b
        p = 1 / (1 + np.exp(-z))
        loss = np.mean(np.logaddexp(0, z) - y * z) + 0.5 * lam * w @ w
        return loss, X.T @ (p - y) / n + lam * w, np.mean(p - y), p

    # Newton's method: the reference optimum to machine precision
    w, b = np.zeros(3), 0.0
    for _ in range(50):
        _, gw, gb, p = loss_grad(w, b)
        Xa = np.hstack([X, np.ones((n, 1))])
        H = Xa.T @ (Xa * (p * (1 - p))[:, None]) / n + lam * np.diag([1, 1, 1, 0])
        delta = np.linalg.solve(H, np.append(gw, gb))
        w, b = w - delta[:3], b - delta[3]
    best_loss = loss_grad(w, b)[0]

    params = {"0.W": np.zeros((1, 3)), "0.b": np.zeros(1)}
    grads = {k: np.zeros_like(v) for k, v in params.items()}

    def closure():
        loss, gw, gb, _ = loss_grad(params["0.W"][0], params["0.b"][0])
        grads["0.W"][0] = gw
        grads["0.b"][0] = gb
        return loss

    opt = get_optimizer("lbfgs", max_iter=200, tolerance_grad=1e-10, tolerance_change=0.0)
    final = opt.step(params, grads, closure)
    np.testing.assert_allclose(params["0.W"][0], w, atol=1e-6)
    np.testing.assert_allclose(params["0.b"][0], b, atol=1e-6)
    assert final == pytest.approx(best_loss, rel=1e-10)


def test_lbfgs_needs_a_closure():
    with pytest.raises(TypeError, match="needs a closure"):
        LBFGS().step({"w": np.zeros(1)}, {"w": np.zeros(1)})


def test_lbfgs_without_scipy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(ImportError, match=re.escape("pip install glassnet[scipy]")):
        LBFGS().step({"w": np.zeros(1)}, {"w": np.zeros(1)}, lambda: 0.0)


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_step_allocates_no_arrays_after_the_first(name, kwargs):
    import tracemalloc

    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((400, 500)), "b": rng.standard_normal(400)}
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    theta = np.concatenate([p.ravel() for p in params.values()])
    grad = np.concatenate([g.ravel() for g in grads.values()])
    flat_params_, flat_grads_ = Flat(theta, views_of(theta, params)), Flat(grad, views_of(grad, grads))
    opt, flat = get_optimizer(name, **kwargs), get_optimizer(name, **kwargs)
    opt.step(params, grads)  # allocates state and scratch buffers (and the packed copies)
    flat.step(flat_params_, flat_grads_)
    tracemalloc.start()
    try:
        opt.step(params, grads)
        flat.step(flat_params_, flat_grads_)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < params["W"].nbytes // 10  # no temporary of a parameter's size


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=VARIANT_IDS)
def test_a_learning_rate_of_zero_is_a_valid_state(name, kwargs):
    """A schedule run to its end reaches 0: the optimiser takes it, saves and loads it."""
    opt = get_optimizer(name, **{**kwargs, "learning_rate": 0.0})
    params = make_params()
    before = {k: v.copy() for k, v in params.items()}
    for grads in make_grads(3):
        opt.step(params, grads)
    for k in params:  # AdamW's decay is lr * weight_decay * W: 0 too
        np.testing.assert_array_equal(params[k], before[k])
    config, arrays = opt.state_dict()
    assert Optimizer.from_state_dict(config, arrays).learning_rate == 0.0


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop"])
def test_moving_averages_never_stay_subnormal(name):
    """A gradient that becomes exactly 0 leaves its averages decaying into the subnormal floats,
    where arithmetic is slow: they are flushed to 0 (every FLUSH_EVERY steps)."""
    params = {"w": np.ones(1000, dtype=np.float32)}
    opt = get_optimizer(name, learning_rate=1e-3)
    opt.step(params, {"w": np.full(1000, 1e-18, dtype=np.float32)})
    zero = {"w": np.zeros(1000, dtype=np.float32)}
    tiny = np.finfo(np.float32).tiny
    for _ in range(3 * Optimizer.FLUSH_EVERY):
        opt.step(params, zero)
    for slot, store in opt.state().items():
        state = store["w"]
        assert not np.any((state != 0) & (np.abs(state) < tiny)), slot
