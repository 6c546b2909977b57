"""Loss landscapes: lines, filter-normalised planes, trajectories; and their figures."""

import numpy as np
import pytest

from glassnet import Dense, Network, mlp
from glassnet.landscape import (
    LossLine,
    Trajectory,
    filter_normalized_direction,
    lab_landscapes,
    line,
    plane,
    trajectory_plane,
)


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def net_(seed=0):
    return mlp([3, 8, 2], activation="tanh", loss="cross_entropy", seed=seed, dtype="float64")


def loss_at(net, theta, X, y):
    old = net.theta.copy()
    net.theta[...] = theta
    value = net.loss(X, y)
    net.theta[...] = old
    return value


def test_the_line_passes_through_both_ends_and_leaves_the_weights_alone():
    X, y = data()
    start = net_(1)
    net = net_(0)
    net.fit(X, y, epochs=5, progress=False, seed=0)
    trained = net.theta.copy()
    ln = line(net, X, y, start, n_points=9, t_range=(-0.5, 1.5))
    np.testing.assert_array_equal(net.theta, trained)
    assert ln.t[2] == 0 and ln.t[6] == 1
    assert ln.loss[2] == pytest.approx(loss_at(net, start.theta, X, y), rel=1e-12)
    assert ln.loss[6] == pytest.approx(net.loss(X, y), rel=1e-12)
    mid = 0.5 * (start.theta + trained)
    assert ln.loss[4] == pytest.approx(loss_at(net, mid, X, y), rel=1e-12)
    assert set(ln.to_dict()) == {"t", "loss", "label", "barrier"}


def test_a_convex_loss_has_no_barrier_and_a_bump_has_one():
    X = np.random.default_rng(1).normal(size=(20, 3))
    lin = Network([Dense(3, 1, "identity", dtype="float64")], loss="mse", dtype="float64")
    ln = line(lin, X, X[:, 0], np.zeros(lin.n_params), np.ones(lin.n_params))
    assert ln.barrier == 0.0
    bump = LossLine(t=np.linspace(0, 1, 5), loss=np.array([1.0, 2.0, 3.0, 2.0, 0.5]))
    assert bump.barrier == pytest.approx(2.0)


@pytest.mark.parametrize("theta,match", [
    (np.ones(3), r"shape \(\d+,\) like net.theta"),
    (np.full(34, np.nan), "finite weight vector"),
    (mlp([3, 5, 2], loss="cross_entropy"), "another architecture"),
])
def test_the_line_refuses_other_shapes_and_architectures(theta, match):
    X, y = data()
    net = net_()
    with pytest.raises(ValueError, match=match):
        line(net, X, y, theta)
    with pytest.raises(ValueError, match="'n_points' parameter of line must be an int >= 2"):
        line(net, X, y, net.theta.copy(), n_points=1)
    with pytest.raises(ValueError, match="low < high"):
        line(net, X, y, net.theta.copy(), t_range=(1, 0))


def test_filter_normalised_directions_match_each_row_of_w_and_skip_biases():
    net = net_()
    d = filter_normalized_direction(net, seed=3)
    offset = 0
    for key, p in net.params().items():
        part = d[offset:offset + p.size].reshape(p.shape)
        offset += p.size
        if key.endswith("W"):
            np.testing.assert_allclose(np.linalg.norm(part, axis=1), np.linalg.norm(p, axis=1),
                                       rtol=1e-12)
        else:
            assert not part.any()
    assert not np.array_equal(d, filter_normalized_direction(net, seed=4))
    np.testing.assert_array_equal(d, filter_normalized_direction(net, seed=3))


def test_the_plane_is_centred_on_the_weights_and_matches_the_loss_there():
    X, y = data()
    net = net_()
    net.fit(X, y, epochs=3, progress=False, seed=0)
    theta = net.theta.copy()
    d1, d2 = filter_normalized_direction(net, 1), filter_normalized_direction(net, 2)
    p = plane(net, X, y, span=0.5, resolution=5, directions=(d1, d2), label="x")
    np.testing.assert_array_equal(net.theta, theta)
    assert p.loss.shape == (5, 5) and p.alphas.tolist() == [-0.5, -0.25, 0, 0.25, 0.5]
    assert p.center_loss == pytest.approx(net.loss(X, y), rel=1e-12)
    assert p.loss[4, 1] == pytest.approx(loss_at(net, theta + 0.5 * d1 - 0.25 * d2, X, y),
                                         rel=1e-12)
    assert p.to_dict()["loss"][2][2] == p.center_loss
    same = plane(net, X, y, span=0.5, resolution=5, seed=7)
    np.testing.assert_array_equal(same.loss, plane(net, X, y, span=0.5, resolution=5, seed=7).loss)
    with pytest.raises(ValueError, match="'span' parameter of plane must be a float > 0"):
        plane(net, X, y, span=0)
    with pytest.raises(ValueError, match="'resolution' parameter of plane must be an int >= 2"):
        plane(net, X, y, resolution=1)


def test_a_dropout_network_is_measured_in_inference_mode():
    X, y = data()
    net = mlp([3, 8, 2], activation="tanh", loss="cross_entropy", dropout=0.5, seed=0,
              dtype="float64")
    p1 = plane(net, X, y, resolution=3)
    p2 = plane(net, X, y, resolution=3)
    np.testing.assert_array_equal(p1.loss, p2.loss)  # no random masks
    assert p1.center_loss == pytest.approx(net.loss(X, y), rel=1e-12)


def test_the_trajectory_plane_puts_the_path_on_its_principal_directions():
    X, y = data(80)
    net = net_()
    path = Trajectory(every=5)
    net.fit(X, y, epochs=4, batch_size=10, optimizer="sgd", learning_rate=0.5,
            callbacks=[path], progress=False, seed=0)
    assert path.steps == [0, 5, 10, 15, 20, 25, 30, 32]  # and the end: 4 epochs of 8 batches
    np.testing.assert_array_equal(path.thetas[-1], net.theta)
    tp = trajectory_plane(net, X, y, path.thetas, resolution=7)
    assert tp.path.shape == (8, 2)
    np.testing.assert_allclose(tp.path[-1], 0, atol=1e-12)  # the plane's origin is the end
    assert 0 < tp.explained[1] <= tp.explained[0] and sum(tp.explained) <= 1 + 1e-12
    assert tp.alphas[0] < tp.path[:, 0].min() and tp.alphas[-1] > tp.path[:, 0].max()
    M = np.stack(path.thetas) - net.theta  # coordinates are the projections of theta_t - theta_T
    Vt = np.linalg.svd(M, full_matrices=False)[2]
    np.testing.assert_allclose(np.abs(tp.path), np.abs(M @ Vt[:2].T), rtol=1e-10, atol=1e-12)
    epochs = Trajectory()
    net_().fit(X, y, epochs=3, callbacks=[epochs], progress=False)
    assert len(epochs.thetas) == 4  # the start and each epoch
    with pytest.raises(ValueError, match="at least 3 weight vectors"):
        trajectory_plane(net, X, y, path.thetas[:2])
    with pytest.raises(ValueError, match="less than two directions"):
        trajectory_plane(net, X, y, [net.theta.copy()] * 3)


def test_the_lab_gives_a_plain_and_a_residual_landscape():
    plain, res = lab_landscapes(depth=3, width=8, epochs=2, n_samples=100, resolution=5)
    assert plain.loss.shape == res.loss.shape == (5, 5)
    assert plain.label.startswith("plain") and res.label.startswith("residual")
    assert np.all(np.isfinite(plain.loss)) and np.all(np.isfinite(res.loss))


def test_the_figures_are_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    from glassnet import plots

    X, y = data(80)
    net = net_()
    path = Trajectory(every=4)
    net.fit(X, y, epochs=2, batch_size=10, callbacks=[path], progress=False, seed=0)
    ln = line(net, X, y, path.thetas[0], n_points=7, label="init -> trained")
    p = plane(net, X, y, resolution=5)
    tp = trajectory_plane(net, X, y, path.thetas, resolution=5)
    for name, draw in {"line.png": lambda f: plots.plot_loss_line([ln, ln], path=f),
                       "contour.png": lambda f: plots.plot_landscape(tp, path=f),
                       "surface.png": lambda f: plots.plot_landscape(p, "surface", path=f),
                       "pair.png": lambda f: plots.plot_landscape_pair(p, tp, path=f)}.items():
        draw(tmp_path / name)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="kind must be 'contour' or 'surface'"):
        plots.plot_landscape(p, "heatmap")
    with pytest.raises(ValueError, match="at least one LossLine"):
        plots.plot_loss_line([])


def test_the_sharpness_figure_needs_sharpness_records(tmp_path):
    pytest.importorskip("matplotlib")
    from glassnet import plots
    from glassnet.sharpness import Sharpness

    X, y = data(40)
    net = net_()
    probe = Sharpness(X, y, every=2, iters=5)
    history = net.fit(X, y, epochs=2, batch_size=10, optimizer="sgd", callbacks=[probe],
                      progress=False)
    plots.plot_sharpness(history, path=tmp_path / "s.png")
    plots.plot_sharpness(history.to_dict())  # as JSON has it
    plots.plot_sharpness(probe.records)
    plots.plot_training_curves(history)  # the records' lists are not drawn as curves
    assert (tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(ValueError, match="Sharpness callback"):
        plots.plot_sharpness(net_().fit(X, y, epochs=1, progress=False))
