"""Per-sample gradients, Hessian-vector products, Hessians and Gauss-Newton products against
torch.func in float64, to 1e-10: vmap(grad); jvp(grad), the forward-over-reverse HVP;
hessian; jacrev. Every activation, every loss, residual blocks, dropout masks, sample weights
and the L1/L2 penalties."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.func import grad, hessian, jacrev, jvp, vmap

from glassnet import ACTIVATIONS, LOSSES, Dense, Network, Residual
from glassnet.activations import Softmax
from glassnet.layers import Dropout
from glassnet.per_sample import per_sample_grad_norms, per_sample_grads
from glassnet.second_order import Curvature
from glassnet.sharpness import hessian_eigenvalues
from oracle import flatten, torch_functional, torch_params, unflatten

# torch.func's forward mode (jvp, hessian) scripts its decompositions once, on first use, with
# torch.jit.script, which warns that it is deprecated: that warning is torch's, not ours
pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning")]
REQUIRED = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
ARCHS = ("plain", "residual", "dropout")
RTOL = 1e-10


def build(hidden, loss, arch, *, l2=0.0, l1=0.0, seed=0, out_act=None):
    """4 -> 5 (-> residual block of two layers, or dropout) -> 5 -> 3, nonzero biases."""
    rng = np.random.default_rng(seed)
    out_act = out_act or REQUIRED.get(loss, hidden)
    layers = [Dense(4, 5, hidden, seed=rng, dtype="float64")]
    if arch == "residual":
        layers.append(Residual(Dense(5, 5, hidden, seed=rng, dtype="float64"),
                               Dense(5, 5, hidden, seed=rng, dtype="float64")))
    if arch == "dropout":
        layers.append(Dropout(0.4, seed=rng))
    layers += [Dense(5, 5, hidden, seed=rng, dtype="float64"),
               Dense(5, 3, out_act, seed=rng, dtype="float64")]
    net = Network(layers, loss=loss, dtype="float64", l2=l2, l1=l1)
    for key, p in net.params().items():
        if key.endswith("b"):
            p[...] = rng.normal(scale=0.5, size=p.shape)
    return net


def data(net, n, seed):
    rng = np.random.default_rng(seed + 100)
    X = rng.normal(size=(n, 4))
    name = net.loss_fn.name
    if name == "cross_entropy":
        y = rng.integers(0, 3, n)
    elif name == "binary_cross_entropy":
        y = rng.integers(0, 2, (n, 3))
    else:
        y = rng.normal(size=(n, 3))
    return X, y, net.targets(y)


def freeze_masks(net, X):
    """Training mode with frozen dropout masks: the masks as torch tensors, keyed by layer."""
    from glassnet.layers import walk

    masks = {}
    drops = [(k, layer) for k, layer in walk(net.layers) if isinstance(layer, Dropout)]
    if drops:
        net.training = True
        for _, layer in drops:
            layer.freeze_mask = True
        net.forward(X)
        masks = {k: torch.tensor(layer.mask) for k, layer in drops}
        assert any(bool((m == 0).any()) for m in masks.values())
    return masks


def assert_rel(actual, expected, rtol=RTOL):
    expected = np.asarray(expected)
    scale = max(np.abs(expected).max(), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def t(x):
    return torch.tensor(np.asarray(x), dtype=torch.float64)


CASES = [(act, loss, arch) for act in sorted(ACTIVATIONS) for loss in sorted(LOSSES)
         for arch in ARCHS]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("act,loss,arch", CASES)
def test_per_sample_grads_equal_vmap_grad(act, loss, arch, weighted):
    net = build(act, loss, arch, l2=0.2)
    X, y, Y = data(net, 6, seed=len(act) + len(loss))
    w = np.random.default_rng(1).uniform(0.2, 3, 6) if weighted else None
    masks = freeze_masks(net, X)
    output, output_loss, _, _ = torch_functional(net, masks)

    def sample_loss(params, x, y_i, w_i, m_i):  # w_i c_i of one sample: the penalty is no sample's
        return output_loss(output(params, x, m_i), y_i, w_i)

    w_t = t(np.ones(6) if w is None else w)
    expected = vmap(grad(sample_loss), in_dims=(None, 0, 0, 0, 0))(
        torch_params(net), t(X), t(Y), w_t, masks)
    g = per_sample_grads(net, X, y, sample_weight=w)
    assert g.keys() == expected.keys()
    for key in g:
        assert_rel(g[key], expected[key].numpy())
    flat = torch.cat([e.reshape(6, -1) for e in expected.values()], dim=1)
    assert_rel(per_sample_grad_norms(net, X, y, sample_weight=w), flat.norm(dim=1).numpy())


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("act,loss,arch", CASES)
def test_hvp_equals_torch_jvp_of_grad(act, loss, arch, weighted):
    net = build(act, loss, arch, l2=0.3, l1=0.05)
    X, y, Y = data(net, 5, seed=len(act) * 3 + len(arch))
    w = np.random.default_rng(2).uniform(0.2, 3, 5) if weighted else None
    masks = freeze_masks(net, X)
    _, _, loss_fn, _ = torch_functional(net, masks)
    w_t = None if w is None else t(w)
    f = lambda theta: loss_fn(unflatten(net, theta), t(X), t(Y), w_t)
    theta = flatten(torch_params(net))
    cv = Curvature(net, X, y, sample_weight=w)
    rng = np.random.default_rng(3)
    for _ in range(2):
        v = rng.normal(size=net.n_params)
        _, expected = jvp(grad(f), (theta,), (t(v),))  # forward over reverse: H v
        assert_rel(cv.hvp(v), expected.numpy())
    g_t = grad(f)(theta)
    assert_rel(cv.grad, g_t.numpy())
    assert cv.loss + net.penalty() == pytest.approx(float(f(theta)), rel=1e-12)


HESSIAN_CASES = ([(act, "mse", "residual") for act in sorted(ACTIVATIONS)]
                 + [("tanh", loss, arch) for loss in sorted(LOSSES) for arch in ARCHS])


@pytest.mark.parametrize("act,loss,arch", HESSIAN_CASES)
def test_hessian_equals_torch_hessian(act, loss, arch):
    net = build(act, loss, arch, l2=0.1)
    X, y, Y = data(net, 4, seed=7)
    w = np.random.default_rng(4).uniform(0.5, 2, 4)
    masks = freeze_masks(net, X)
    _, _, loss_fn, _ = torch_functional(net, masks)
    f = lambda theta: loss_fn(unflatten(net, theta), t(X), t(Y), t(w))
    expected = hessian(f)(flatten(torch_params(net))).numpy()
    H = Curvature(net, X, y, sample_weight=w).hessian()
    assert_rel(H, expected)
    top = hessian_eigenvalues(net, X, y, k=3, iters=net.n_params, sample_weight=w)
    assert_rel(top.values, np.sort(np.linalg.eigvalsh(expected))[::-1][:3])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("arch", ARCHS)
def test_gauss_newton_equals_jacobian_t_h_jacobian(loss, arch, weighted):
    net = build("gelu", loss, arch, l2=0.2)
    X, y, Y = data(net, 5, seed=11)
    w = np.random.default_rng(5).uniform(0.2, 3, 5) if weighted else None
    masks = freeze_masks(net, X)
    output, output_loss, _, _ = torch_functional(net, masks)
    theta = flatten(torch_params(net))
    o = output(unflatten(net, theta), t(X))
    J = jacrev(lambda th: output(unflatten(net, th), t(X)))(theta).reshape(-1, net.n_params)
    w_t = None if w is None else t(w)
    H_out = hessian(lambda oo: output_loss(oo.reshape(o.shape), t(Y), w_t))(o.reshape(-1))
    l2 = np.concatenate([(0.2 if key.endswith("W") else 0.0) * np.ones(p.size)
                         for key, p in net.params().items()])
    G = (J.T @ H_out @ J).numpy() + np.diag(l2)
    cv = Curvature(net, X, y, sample_weight=w)
    v = np.random.default_rng(6).normal(size=net.n_params)
    assert_rel(cv.gnvp(v), G @ v)
    assert_rel(cv.ggn_diagonal(), np.diag(G))
    assert np.linalg.eigvalsh(G).min() > -1e-10 * np.abs(G).max()  # positive semi-definite


def test_a_users_softmax_goes_through_cross_entropy_unfused():
    class MySoftmax(Softmax):
        """Not glassnet's own softmax: the network cannot fuse it with cross-entropy."""

    rng = np.random.default_rng(8)
    net = Network([Dense(4, 5, "tanh", seed=rng, dtype="float64"),
                   Dense(5, 3, MySoftmax(), seed=rng, dtype="float64")],
                  loss="cross_entropy", dtype="float64")
    assert not net.fused
    X, y, Y = data(net, 5, seed=9)
    _, _, loss_fn, _ = torch_functional(net)
    f = lambda theta: loss_fn(unflatten(net, theta), t(X), t(Y))
    expected = hessian(f)(flatten(torch_params(net))).numpy()
    assert_rel(Curvature(net, X, y).hessian(), expected)
