"""scikit-learn: ``from_sklearn`` reads a fitted ``MLPClassifier`` / ``MLPRegressor``.

Layer ``i`` gets ``W = coefs_[i].T`` (scikit-learn stores (n_in, n_out)) and ``b = intercepts_[i]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import Layer
from ..network import Network
from .common import dense_from_arrays, require

__all__ = ["from_sklearn"]

_SKLEARN_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
"""scikit-learn's ``activation`` -> glassnet activation."""

_SKLEARN_OUTPUT = {
    "softmax": ("softmax", "cross_entropy"),
    "logistic": ("sigmoid", "binary_cross_entropy"),
    "identity": ("identity", "mse"),
}
"""scikit-learn's ``out_activation_`` -> (glassnet output activation, loss)."""


def from_sklearn(fitted_mlp: Any, *, dtype: Any = None) -> Network:
    """A fitted ``MLPClassifier`` or ``MLPRegressor`` as a glassnet network.

    Layer ``i`` gets ``W = coefs_[i].T`` (scikit-learn stores (n_in, n_out)) and
    ``b = intercepts_[i]``; hidden layers get ``activation`` (identity, logistic -> sigmoid,
    tanh, relu) and the output layer ``out_activation_``, which fixes the loss:

    ======================  ===============  ==========================================
    out_activation_         glassnet output  loss
    ======================  ===============  ==========================================
    softmax (multi-class)   softmax          cross_entropy, y = index into ``classes_``
    logistic (binary)       sigmoid, 1 unit  binary_cross_entropy, y = index (0 or 1)
    logistic (multi-label)  sigmoid          binary_cross_entropy, y = 0/1 indicators
    identity (regressor)    identity         mse
    ======================  ===============  ==========================================

    Parameters
    ----------
    fitted_mlp : MLPClassifier or MLPRegressor
        Already fitted.
    dtype : {'float32', 'float64'}, optional
        Default: the dtype of ``coefs_`` (float64 unless fitted on float32 data).

    Returns
    -------
    Network
        A classifier's labels are its ``classes`` (multi-class and binary), so
        ``net.predict(X)`` equals ``predict(X)``, also after saving. ``net.forward(X)`` equals ``predict_proba(X)`` for a multi-class classifier,
        ``predict_proba(X)[:, 1:]`` for a binary one, and ``predict(X)`` (as a column) for a
        regressor.

    Raises
    ------
    ImportError
        Without scikit-learn (``pip install 'glassnet[data]'``).
    TypeError
        For anything but an MLPClassifier or MLPRegressor.
    ValueError
        For an unfitted model, or a regressor fitted with ``loss='poisson'`` (its ``exp``
        output has no glassnet counterpart).

    Notes
    -----
    What matches scikit-learn's training loss: for classifiers glassnet's loss is the data
    term of scikit-learn's ``log_loss`` / ``binary_log_loss`` (mean over samples, summed over
    units; scikit-learn also clips probabilities to ``[eps, 1 - eps]``). For regressors
    scikit-learn's ``squared_error`` is ``0.5 * mean over samples and outputs`` while glassnet's
    mse sums over outputs, so it is ``n_outputs_`` times larger (equal for one output).
    Neither includes scikit-learn's L2 term ``0.5 * alpha * sum ||W||^2 / n_samples`` (on the
    weights only): add ``alpha * W / n_samples`` to each ``dW`` to get scikit-learn's gradients.

    Examples
    --------
    >>> from sklearn.neural_network import MLPClassifier  # doctest: +SKIP
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=500).fit(X, y)  # doctest: +SKIP
    >>> net = from_sklearn(clf)  # doctest: +SKIP
    >>> np.allclose(net.forward(X), clf.predict_proba(X))  # doctest: +SKIP
    True
    """
    require("sklearn", "from_sklearn")
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if not isinstance(fitted_mlp, (MLPClassifier, MLPRegressor)):
        raise TypeError(
            f"from_sklearn takes a fitted sklearn MLPClassifier or MLPRegressor; got "
            f"{type(fitted_mlp).__name__}."
        )
    name = type(fitted_mlp).__name__
    if not hasattr(fitted_mlp, "coefs_"):
        raise ValueError(f"This {name} is not fitted yet. Call fit(X, y) before from_sklearn.")
    if fitted_mlp.out_activation_ not in _SKLEARN_OUTPUT:
        raise ValueError(
            f"from_sklearn cannot import a {name} with output activation "
            f"{fitted_mlp.out_activation_!r} (loss={fitted_mlp.loss!r}); supported output "
            f"activations: {', '.join(_SKLEARN_OUTPUT)}."
        )
    if fitted_mlp.activation not in _SKLEARN_HIDDEN:
        raise ValueError(
            f"from_sklearn cannot import the hidden activation {fitted_mlp.activation!r}; "
            f"supported: {', '.join(_SKLEARN_HIDDEN)}."
        )
    if dtype is None:
        dtype = fitted_mlp.coefs_[0].dtype
        dtype = dtype if dtype in (np.float32, np.float64) else np.float64
    dtype = np.dtype(dtype).name
    output, loss = _SKLEARN_OUTPUT[fitted_mlp.out_activation_]
    hidden = _SKLEARN_HIDDEN[fitted_mlp.activation]
    pairs = list(zip(fitted_mlp.coefs_, fitted_mlp.intercepts_))
    layers: list[Layer] = [
        dense_from_arrays(coef.T, intercept, output if i == len(pairs) - 1 else hidden, dtype,
                           f"coefs_[{i}] / intercepts_[{i}]")
        for i, (coef, intercept) in enumerate(pairs)
    ]
    net = Network(layers, loss=loss, dtype=dtype)
    labels = getattr(fitted_mlp, "classes_", None)
    if labels is not None and not (output == "sigmoid" and net.n_out > 1):  # not multilabel
        net.classes = np.asarray(labels).tolist()  # predict answers in them, saved with it
    return net
