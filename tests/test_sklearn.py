"""glassnet.sklearn: scikit-learn's estimator checks, the sklearn conventions, the glass box."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import glassnet
from glassnet.sklearn import MLPClassifier, MLPRegressor

# Small max_iter keeps the checks fast; not converging is expected and checked on its own below.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EXPECTED_FAILED: dict[str, str] = {}  # every check passes; failures would be listed with reasons

CHECKED = [MLPClassifier(max_iter=50, random_state=0), MLPRegressor(max_iter=200, random_state=0)]


@parametrize_with_checks(CHECKED, expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def small(**kwargs):
    params = {"hidden_layer_sizes": (8,), "learning_rate_init": 0.01, "max_iter": 200,
              "random_state": 0}
    return MLPClassifier(**{**params, **kwargs})


def test_string_labels_binary_one_sigmoid_unit(iris):
    X, y = iris
    labels = np.array(["setosa", "other"])[(y > 0).astype(int)]
    clf = small().fit(X, labels)
    assert clf.classes_.tolist() == ["other", "setosa"]
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert clf.network_.loss_fn.name == "binary_cross_entropy"
    assert set(clf.predict(X)) <= {"other", "setosa"}
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 2)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12)


def test_multiclass_softmax_and_multilabel_sigmoids(iris):
    X, y = iris
    clf = small().fit(X, y)
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3
    assert clf.score(X, y) > 0.9
    Y = np.column_stack([y == 0, y == 2, X[:, 0] > 0]).astype(int)
    multi = small().fit(X, Y)
    assert multi.out_activation_ == "logistic" and multi.n_outputs_ == 3
    assert multi.predict(X).shape == (150, 3) and multi.predict_proba(X).shape == (150, 3)


def test_coefs_are_sklearn_shaped_live_views(iris):
    X, y = iris
    clf = MLPClassifier((5, 4), max_iter=5, random_state=0).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(4, 5), (5, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(5,), (4,), (3,)]
    assert clf.n_layers_ == 4
    clf.coefs_[0][0, 0] = 7.0
    assert clf.network_.layers[0].W[0, 0] == 7.0


def test_alpha_is_l2_over_batch_size(iris):
    """scikit-learn's alpha / (2 n_b) ||W||^2 per batch: the loss of one full batch matches it."""
    X, y = iris
    clf = MLPClassifier((6,), alpha=3.0, max_iter=1, batch_size=150, shuffle=False,
                        solver="sgd", learning_rate_init=1e-12, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.network_.l2 == pytest.approx(3.0 / 150)
    from sklearn.metrics import log_loss

    penalty = 3.0 / (2 * 150) * sum(float((c ** 2).sum()) for c in clf.coefs_)
    expected = log_loss(y, clf.predict_proba(X)) + penalty
    assert clf.loss_curve_[0] == pytest.approx(expected, rel=1e-6)


def test_sample_weighted_full_batch_loss_is_sklearns(iris):
    """With weights: sum_i w_i c_i / sum_i w_i + alpha / (2 sum_i w_i) ||W||^2 for one full batch."""
    X, y = iris
    w = np.random.default_rng(0).uniform(0.5, 3.0, len(X))
    clf = MLPClassifier((6,), alpha=3.0, max_iter=1, batch_size=150, shuffle=False,
                        solver="sgd", learning_rate_init=1e-12, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y, sample_weight=w)
    from sklearn.metrics import log_loss

    penalty = 3.0 / (2 * w.sum()) * sum(float((c ** 2).sum()) for c in clf.coefs_)
    expected = log_loss(y, clf.predict_proba(X), sample_weight=w) + penalty
    assert clf.loss_curve_[0] == pytest.approx(expected, rel=1e-6)


def test_float32_stays_float32(iris):
    X, y = iris
    clf = small().fit(X.astype(np.float32), y)
    assert clf.network_.dtype == np.float32 and clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32
    assert small().fit(X, y).network_.dtype == np.float64
    assert small(dtype="float32").fit(X, y).network_.dtype == np.float32


def test_sparse_input_is_refused_clearly(iris):
    sparse = pytest.importorskip("scipy.sparse")
    X, y = iris
    with pytest.raises(TypeError, match="dense data is required"):
        small().fit(sparse.csr_matrix(X), y)


def test_tol_stopping_and_convergence_warning(iris):
    X, y = iris
    clf = small(tol=10.0, n_iter_no_change=3).fit(X, y)
    assert clf.n_iter_ == 5  # the first epoch improves on inf; 4 > 3 bad epochs follow
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier((4,), max_iter=3, random_state=0).fit(X, y)


def test_early_stopping_history_and_validation_scores(iris):
    X, y = iris
    clf = small(early_stopping=True, n_iter_no_change=5, max_iter=300).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert {"loss", "penalty", "val_loss", "val_score", "learning_rate"} <= set(clf.history_.keys())
    # loss_curve_ is scikit-learn's: the loss plus each batch's alpha penalty; history_ keeps
    # glassnet's loss (the data term) and the penalty apart
    assert all(c > l for c, l in zip(clf.loss_curve_, clf.history_["loss"]))


def test_adaptive_learning_rate_divides_by_five(iris):
    X, y = iris
    clf = small(solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=2,
                max_iter=7)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    rates = clf.history_["learning_rate"]
    # epochs 2, 3, 4 fail to improve by tol; after the 4th (3 > 2) the rate is divided by 5
    assert rates[:4] == [0.01] * 4 and rates[4] == pytest.approx(0.002)


def test_invscaling_counts_samples(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning):
        clf = small(solver="sgd", learning_rate="invscaling", max_iter=2).fit(X, y)
    assert clf.t_ == 300
    assert clf.history_["learning_rate"][-1] == pytest.approx(0.01 / 301 ** 0.5)


def test_partial_fit_needs_classes_then_continues(iris):
    X, y = iris
    clf = small()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    clf.partial_fit(X[50:], y[50:])
    assert clf.n_iter_ == 2 and clf.t_ == 150 and len(clf.loss_curve_) == 2
    assert clf.history_["epoch"] == [1, 2]
    assert all(c > l for c, l in zip(clf.loss_curve_, clf.history_["loss"]))
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_warm_start_keeps_weights(iris):
    X, y = iris
    clf = small(warm_start=True, max_iter=20)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    W = clf.coefs_[0].copy()
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.t_ == 40 * 150 and not np.array_equal(W, clf.coefs_[0])


def test_glassnet_extras_per_layer_activations_residual_dropout(iris):
    X, y = iris
    clf = MLPClassifier((8, 8, 8), activation=["tanh", "logistic", "gelu"], residual=True,
                        dropout=0.1, max_iter=50, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    kinds = [type(layer).__name__ for layer in clf.network_.layers]
    assert kinds == ["Dense", "Dropout", "Residual", "Dropout", "Residual", "Dropout", "Dense"]
    block = clf.network_.layers[2]  # the identity skip a = x + logistic(W x + b), glassnet's sigmoid
    assert not hasattr(block, "activation") and block.layers[0].activation.name == "sigmoid"
    assert [a.shape for a in clf.activations(X)] == [(150, 8)] * 3
    with pytest.raises(ValueError, match="a list of 2 activations for 3 hidden layers"):
        MLPClassifier((8, 8, 8), activation=["tanh", "relu"]).fit(X, y)


def test_optimizer_object_is_copied_not_changed(iris):
    from glassnet.optim import AdamW

    X, y = iris
    opt = AdamW(learning_rate=0.01)
    clf = small(optimizer=opt).fit(X, y)
    assert opt.iterations == 0 and clf.network_.optimizer.iterations > 0
    assert clf.score(X, y) > 0.9


def test_lbfgs_matches_sklearn_accuracy(iris):
    X, y = iris
    clf = MLPClassifier((10,), solver="lbfgs", max_iter=300, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.97 and clf.loss_ < 0.1


def test_glass_box_gradients_deltas_input_gradient(iris):
    X, y = iris
    clf = small(batch_size=150, shuffle=False).fit(X, y)
    assert set(clf.gradients_) == set(clf.network_.params())
    assert len(clf.delta_norms_) == 2 and all(d > 0 for d in clf.delta_norms_)
    g = clf.input_gradient(X[:5], y[:5])
    assert g.shape == (5, 4)
    # finite differences on the loss the estimator minimises
    net, eps = clf.network_, 1e-6
    Y = clf._label_binarizer.transform(y[:5])
    Xp = X[:5].copy()
    Xp[2, 1] += eps
    Xm = X[:5].copy()
    Xm[2, 1] -= eps
    fd = (net.loss(Xp, Y) - net.loss(Xm, Y)) / (2 * eps)
    assert g[2, 1] == pytest.approx(fd, rel=1e-5)


def test_jacobian_and_explain_delegate_or_say_missing(iris):
    X, y = iris
    clf = small().fit(X, y)
    if not hasattr(glassnet, "jacobian"):
        with pytest.raises(NotImplementedError, match="glassnet.jacobian"):
            clf.jacobian(X[:2])
    else:
        assert np.asarray(clf.jacobian(X[:2])).shape[0] == 2
    if not hasattr(glassnet, "explain"):
        with pytest.raises(NotImplementedError, match="glassnet.explain"):
            clf.explain(X[0], y[0])


def test_pipeline_cross_val_and_grid_search_with_two_jobs(iris):
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    pipe = make_pipeline(StandardScaler(), small())
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.85
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.85
    assert clone(small(optimizer=glassnet.optim.SGD(0.1))).optimizer.learning_rate == 0.1


def test_pickle_round_trip(iris):
    X, y = iris
    clf = small().fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("labels", [np.array(["a", "b", "c"]), np.array([10, 20, 30]),
                                    np.array([-1.0, 0.0, 2.0])])
def test_save_and_load_keep_classes_and_predictions(iris, tmp_path, labels):
    X, y = iris
    clf = small().fit(X, labels[y])
    clf.save(tmp_path / "clf.npz")
    again = MLPClassifier.load(tmp_path / "clf.npz")
    assert again.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    assert again.loss_curve_ == clf.loss_curve_ and again.get_params() == clf.get_params()
    assert glassnet.load(tmp_path / "clf.npz").info["sklearn"]["classes"] == labels.tolist()
    again.partial_fit(X, labels[y])  # the optimiser's state came back too
    with pytest.raises(ValueError, match="not a MLPRegressor"):
        MLPRegressor.load(tmp_path / "clf.npz")


def test_regressor_multi_output_huber_and_save(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5], np.sin(X[:, 0])])
    reg = MLPRegressor((32,), solver="lbfgs", random_state=0, max_iter=500).fit(X, Y)
    assert reg.predict(X).shape == (200, 2) and reg.score(X, Y) > 0.95
    huber = MLPRegressor((16,), loss="huber", max_iter=300, random_state=0).fit(X, Y[:, 0])
    assert huber.network_.loss_fn.name == "huber" and huber.predict(X).shape == (200,)
    reg.save(tmp_path / "reg.npz")
    np.testing.assert_array_equal(MLPRegressor.load(tmp_path / "reg.npz").predict(X),
                                  reg.predict(X))


@pytest.mark.parametrize("params, match", [
    ({"activation": "swish"}, "The 'activation' parameter of MLPClassifier must be one of"),
    ({"solver": "newton"}, "The 'solver' parameter of MLPClassifier must be one of"),
    ({"alpha": -1.0}, "The 'alpha' parameter of MLPClassifier must be a float >= 0"),
    ({"batch_size": 0}, "The 'batch_size' parameter of MLPClassifier must be 'auto' or an int"),
    ({"learning_rate": "cosine"}, "The 'learning_rate' parameter of MLPClassifier must be"),
    ({"dtype": "float16"}, "The 'dtype' parameter of MLPClassifier must be 'auto'"),
    ({"max_fun": 10}, "'max_fun' parameter of MLPClassifier is kept for compatibility"),
    ({"hidden_layer_sizes": (0,)}, "'hidden_layer_sizes' parameter of MLPClassifier must hold"),
    ({"loss": "hinge"}, "The 'loss' parameter of MLPClassifier must be 'log_loss' or 'mse'"),
    ({"dropout": 0.5, "solver": "lbfgs"}, "dropout needs a stochastic solver"),
])
def test_parameter_errors(iris, params, match):
    X, y = iris
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**params).fit(X, y)


@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_initial_weights_are_scikit_learns(iris, activation):
    """The same random_state gives the same starting network as scikit-learn's MLP."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = iris
    kwargs = dict(hidden_layer_sizes=(7, 5), activation=activation, solver="sgd", momentum=0.0,
                  learning_rate_init=1e-12, max_iter=1, random_state=3)
    ours, theirs = MLPClassifier(**kwargs), SkMLPClassifier(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    for mine, reference in [*zip(ours.coefs_, theirs.coefs_),
                            *zip(ours.intercepts_, theirs.intercepts_)]:
        np.testing.assert_allclose(mine, reference, atol=1e-9)  # one step of 1e-12 apart


def test_plain_sgd_follows_scikit_learn_step_for_step(iris):
    """Same initial weights and the same mini-batch order: the same weights after 3 epochs."""
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = iris
    kwargs = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, learning_rate_init=0.05,
                  batch_size=32, alpha=1e-3, max_iter=3, random_state=0, tol=0.0)
    ours, theirs = MLPClassifier(**kwargs), SkMLPClassifier(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    for mine, reference in [*zip(ours.coefs_, theirs.coefs_),
                            *zip(ours.intercepts_, theirs.intercepts_)]:
        np.testing.assert_allclose(mine, reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("data, solver", [("digits", "sgd"), ("digits", "adam"),
                                          ("breast_cancer", "adam"), ("diabetes", "adam")])
def test_early_stopping_holds_out_and_orders_as_scikit_learn(data, solver):
    """The validation split is scikit-learn's (stratified only for one output unit, rows in the
    split's shuffled order), so the whole run is: the same epochs and the same scores."""
    from sklearn import datasets
    from sklearn import neural_network as sk

    X, y = getattr(datasets, f"load_{data}")(return_X_y=True)
    X = (X - X.mean(0)) / (X.std(0) + 1e-12)
    regress = data == "diabetes"
    ours, theirs = (MLPRegressor, sk.MLPRegressor) if regress else (MLPClassifier,
                                                                     sk.MLPClassifier)
    kwargs = dict(random_state=0, early_stopping=True, solver=solver, hidden_layer_sizes=(16,),
                  max_iter=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b = ours(**kwargs).fit(X, y), theirs(**kwargs).fit(X, y)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(a.validation_scores_, b.validation_scores_, rtol=1e-4, atol=1e-6)
