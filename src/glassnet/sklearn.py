"""scikit-learn estimators on glassnet networks: ``MLPClassifier`` and ``MLPRegressor``.

Switching from scikit-learn is a one-line import change::

    from glassnet.sklearn import MLPClassifier   # was: from sklearn.neural_network import ...

The parameters keep scikit-learn's names and meanings (``hidden_layer_sizes``, ``activation``,
``solver``, ``alpha``, ``batch_size``, ``learning_rate``, ``tol``, ``n_iter_no_change``, ...);
the fitted attributes too (``coefs_`` as ``(n_in, n_out)`` arrays, ``loss_curve_``, ``n_iter_``,
``t_``, ...). What glassnet adds: per-layer activations, ``loss``, ``dropout``, ``residual``,
``l1``, ``clip_norm``, ``dtype``, an ``optimizer`` object; and, after ``fit``, the glass box:
``network_``, ``history_``, ``gradients_``, ``delta_norms_``, :meth:`activations`,
:meth:`input_gradient`, :meth:`jacobian`, :meth:`explain`, :meth:`save` / :meth:`load`.

Training runs glassnet's one loop, :func:`glassnet.training.fit`, with scikit-learn's rules
(stopping, schedules, validation score, fitted attributes) in a callback.

Mapping of the L2 penalty. scikit-learn adds ``alpha / (2 n_b) sum_l ||W^l||^2`` to the loss of
a mini-batch of ``n_b`` samples and so ``alpha / n_b * W`` to ``dW``. glassnet's
``Network(l2=...)`` adds ``(l2 / 2) ||W||^2``, so before each batch's backprop the estimator
sets ``network_.l2 = alpha / n_b``: the same objective and the same gradient, batch for batch
(the smaller last batch included). After training ``network_.l2`` is left at
``alpha / batch_size``.

With sample weights scikit-learn divides each batch's weighted loss and penalty by the batch's
sum of weights. glassnet's ``fit`` takes fixed weights, so they are rescaled once to mean 1 over
the training set and ``network_.l2 = alpha / (n_b * mean(w))``: per batch, the objective is
scikit-learn's times (mean weight of the batch) / (mean weight of all samples), which is 1 for
full-batch training and on average, and the balance of loss and penalty is scikit-learn's.

Differences from scikit-learn, on purpose or by construction:

* Initial weights, validation split and mini-batch order: scikit-learn's own (the same draws
  from the same ``random_state``, in the same order).
* ``dtype='auto'`` computes in float32 when ``X`` is float32 and in float64 otherwise, as
  scikit-learn does; ``dtype='float32'`` makes float32 the choice for any input (about twice as
  fast on large layers).
* For multi-output regression ``loss_curve_`` is glassnet's squared error, summed over the
  outputs (the quantity whose gradient is followed); scikit-learn reports the mean over them.
* SGD momentum is torch's form (``v <- mu v + g; W <- W - lr v``), equal to scikit-learn's when
  the learning rate is constant.
* Sparse ``X`` is refused with scikit-learn's TypeError (convert with ``X.toarray()``).
* ``max_fun`` is accepted for compatibility; glassnet's L-BFGS caps iterations (``max_iter``)
  and not function evaluations, so only the default 15000 is allowed.
* ``n_iter_`` counts all epochs of successive ``partial_fit`` calls (scikit-learn resets it).
"""

from __future__ import annotations

import copy
import numbers
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .activations import ACTIVATIONS
from .data._checks import as_dtype
from .layers import Dense, Dropout, Layer, Residual, iter_layers
from .losses import Loss, get_loss
from .network import Network
from .network import input_gradient as _input_gradient
from .optim import LBFGS, OPTIMIZERS, SGD, Adam, Optimizer, get_optimizer
from .schedules import InverseScaling
from .training import Callback, History, TrainingDivergedError, fit, gradient

__all__ = ["MLPClassifier", "MLPRegressor"]

ACTIVATION_ALIASES = {"logistic": "sigmoid"}
"""scikit-learn activation names that glassnet spells differently."""

OUT_ACTIVATION_NAMES = {"sigmoid": "logistic"}
"""glassnet output activation -> scikit-learn's ``out_activation_`` spelling."""

REGRESSION_LOSSES = {"squared_error": "mse"}
"""scikit-learn regression loss names -> glassnet loss names."""

_STOCHASTIC = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


class _BaseMLP(BaseEstimator):
    """The shared fit loop; see :class:`MLPClassifier` for the parameters."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        loss=None,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        residual=False,
        l1=0.0,
        clip_norm=None,
        dtype="auto",
        optimizer=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.residual = residual
        self.l1 = l1
        self.clip_norm = clip_norm
        self.dtype = dtype
        self.optimizer = optimizer

    # ------------------------------------------------------------------ subclass hooks
    def _targets(self, y, *, first_pass: bool, incremental: bool) -> np.ndarray:
        """Encoded targets ``Y`` of shape (n_samples, n_out); sets the target attributes."""
        raise NotImplementedError

    def _output(self) -> tuple[str, Loss]:
        """The output activation and the loss for the targets seen by ``_targets``."""
        raise NotImplementedError

    def _score_arrays(self, X, y, sample_weight) -> float:
        raise NotImplementedError

    # ------------------------------------------------------------------ fitted attributes
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights as scikit-learn shapes them: ``coefs_[i]`` of shape (n_in, n_out), live views."""
        check_is_fitted(self, "network_")
        return [layer.W.T for layer in self._dense_layers()]

    @coefs_.setter
    def coefs_(self, values: list[np.ndarray]) -> None:
        for layer, value in zip(self._dense_layers(), values, strict=True):
            layer.W[...] = np.asarray(value).T

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases, ``intercepts_[i]`` of shape (n_out,), live views."""
        check_is_fitted(self, "network_")
        return [layer.b for layer in self._dense_layers()]

    @intercepts_.setter
    def intercepts_(self, values: list[np.ndarray]) -> None:
        for layer, value in zip(self._dense_layers(), values, strict=True):
            layer.b[...] = value

    def _dense_layers(self) -> list[Dense]:
        return [layer for layer in iter_layers(self.network_.layers) if "W" in layer.param_names]

    # ------------------------------------------------------------------ building
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(f"The 'hidden_layer_sizes' parameter of {self._name} must hold "
                                 f"ints >= 1; got {self.hidden_layer_sizes!r}.")
        return [int(s) for s in sizes]

    def _hidden_activations(self, n_hidden: int) -> list[Any]:
        spec = self.activation
        specs = list(spec) if isinstance(spec, (list, tuple)) else [spec] * n_hidden
        if len(specs) != n_hidden:
            raise ValueError(
                f"The 'activation' parameter of {self._name} is a list of {len(specs)} "
                f"activations for {n_hidden} hidden layers; give one per hidden layer.")
        out = []
        for act in specs:
            if isinstance(act, str):
                name = ACTIVATION_ALIASES.get(act, act)
                if name not in ACTIVATIONS:
                    valid = ", ".join([*ACTIVATION_ALIASES, *ACTIVATIONS])
                    raise ValueError(f"The 'activation' parameter of {self._name} must be one of "
                                     f"{valid} (or a list of them); got {act!r}.")
                act = name
            out.append(act)
        return out

    def _dtype(self, X: np.ndarray) -> str:
        if self.dtype == "auto":
            return "float32" if X.dtype == np.float32 else "float64"
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"The 'dtype' parameter of {self._name} must be 'auto', 'float32' "
                             f"or 'float64'; got {self.dtype!r}.")
        return self.dtype

    def _build(self, n_in: int, dtype: str, rng: np.random.Generator) -> Network:
        hidden = self._hidden_sizes()
        acts = self._hidden_activations(len(hidden))
        out_act, loss = self._output()
        sizes = [n_in, *hidden, self.n_outputs_]
        if not (isinstance(self.dropout, numbers.Real) and 0 <= self.dropout < 1):
            raise ValueError(f"The 'dropout' parameter of {self._name} must be a float in "
                             f"[0, 1); got {self.dropout!r}.")
        layers: list[Layer] = []
        for i in range(len(sizes) - 1):
            is_output = i == len(sizes) - 2
            act = out_act if is_output else acts[i]
            if self.residual and not is_output and i > 0 and sizes[i] == sizes[i + 1]:
                inner = Dense(sizes[i], sizes[i + 1], act, seed=rng, dtype=dtype)
                layers.append(Residual(inner))  # the identity skip a = x + f(W x + b)
            else:
                layers.append(Dense(sizes[i], sizes[i + 1], act, seed=rng, dtype=dtype))
            if self.dropout and not is_output:
                layers.append(Dropout(self.dropout, seed=rng))
        return Network(layers, loss=loss, dtype=dtype, l1=self.l1, device="cpu")

    def _init_like_sklearn(self, random_state: Any) -> None:
        """scikit-learn's initial weights, drawn the same way from the same RandomState.

        Layer by layer, ``W`` then ``b``, each ``uniform(-s, s)`` with
        ``s = sqrt(factor / (n_in + n_out))``, ``factor`` 2 for logistic units and 6 otherwise:
        with the same ``random_state`` both libraries start from the same network.
        """
        factor = 2.0 if self.activation == "logistic" else 6.0
        for layer in self._dense_layers():
            bound = np.sqrt(factor / (layer.n_in + layer.n_out))
            layer.W[...] = random_state.uniform(-bound, bound, (layer.n_in, layer.n_out)).T
            layer.b[...] = random_state.uniform(-bound, bound, layer.n_out)

    def _make_optimizer(self) -> Optimizer:
        if self.optimizer is not None:
            if not isinstance(self.optimizer, Optimizer):
                raise TypeError(f"The 'optimizer' parameter of {self._name} must be a glassnet "
                                f"Optimizer (glassnet.optim); got {self.optimizer!r}.")
            return copy.deepcopy(self.optimizer)  # fitting never changes the parameter
        solver = self.solver
        if solver == "sgd":
            return SGD(self.learning_rate_init, momentum=self.momentum,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        if solver == "adam":
            return Adam(self.learning_rate_init, beta_1=self.beta_1, beta_2=self.beta_2,
                        epsilon=self.epsilon)
        if solver == "lbfgs":
            return LBFGS(max_iter=self.max_iter, tolerance_grad=self.tol)
        if solver in OPTIMIZERS:
            return get_optimizer(solver, learning_rate=self.learning_rate_init)
        raise ValueError(f"The 'solver' parameter of {self._name} must be one of "
                         f"{', '.join(OPTIMIZERS)}; got {solver!r}.")

    def _check_params(self) -> None:
        name = self._name
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError(f"The 'learning_rate' parameter of {name} must be 'constant', "
                             f"'invscaling' or 'adaptive'; got {self.learning_rate!r}.")
        for param, low in (("alpha", 0.0), ("tol", 0.0), ("power_t", 0.0), ("l1", 0.0)):
            value = getattr(self, param)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= low:
                raise ValueError(f"The {param!r} parameter of {name} must be a float >= {low:g}; "
                                 f"got {value!r}.")
        for param in ("max_iter",):
            value = getattr(self, param)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"The {param!r} parameter of {name} must be an int >= 1; "
                                 f"got {value!r}.")
        n = self.n_iter_no_change
        if isinstance(n, bool) or not (isinstance(n, numbers.Integral) and n >= 1 or n == np.inf):
            raise ValueError(f"The 'n_iter_no_change' parameter of {name} must be an int >= 1 "
                             f"or numpy.inf; got {n!r}.")
        b = self.batch_size
        if b != "auto" and (isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 1):
            raise ValueError(f"The 'batch_size' parameter of {name} must be 'auto' or an int "
                             f">= 1; got {b!r}.")
        if not (isinstance(self.validation_fraction, numbers.Real)
                and 0 <= self.validation_fraction < 1):
            raise ValueError(f"The 'validation_fraction' parameter of {name} must be a float "
                             f"in [0, 1); got {self.validation_fraction!r}.")
        if self.max_fun != 15000:
            raise ValueError(f"The 'max_fun' parameter of {name} is kept for compatibility: "
                             "glassnet's L-BFGS limits iterations (max_iter), not function "
                             f"evaluations; leave it at 15000. Got {self.max_fun!r}.")

    @property
    def _name(self) -> str:
        return type(self).__name__

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, sample_weight=None):
        """Train from scratch (or from the last fit when ``warm_start``) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            The loss of a batch is ``sum_i w_i c_i / sum_i w_i``, as in scikit-learn.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental: bool):
        self._check_params()
        first_pass = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             reset=first_pass, y_numeric=not isinstance(self, ClassifierMixin))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = self._targets(y, first_pass=first_pass, incremental=incremental)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        # scikit-learn draws the initial weights, the validation split and each epoch's order
        # from this one RandomState, in this order; so does glassnet's estimator
        random_state = check_random_state(self.random_state)
        if first_pass:
            dropout_seed = check_random_state(self.random_state).randint(2**31 - 1)
            self.network_ = self._build(X.shape[1], self._dtype(X),
                                        np.random.default_rng(dropout_seed))
            self._init_like_sklearn(random_state)
        if first_pass:
            self.n_layers_ = len(self._hidden_sizes()) + 2
            out_act = self.network_.layers[-1].activation.name
            self.out_activation_ = OUT_ACTIVATION_NAMES.get(out_act, out_act)
            self.n_iter_, self.t_ = 0, 0
            self.history_ = History()
            self.best_loss_ = None if self.early_stopping else np.inf
            self.best_validation_score_ = -np.inf if self.early_stopping else None
            self.validation_scores_ = [] if self.early_stopping else None
            self.loss_curve_ = []
            self._no_improvement_count = 0
        elif Y.shape[1] != self.network_.n_out:
            raise ValueError(f"y has {Y.shape[1]} outputs; the fitted network has "
                             f"{self.network_.n_out}. Fit again without warm_start.")
        net = self.network_
        X = as_dtype(X, net.dtype)
        Y = as_dtype(Y, net.dtype, "y", fix="Remove or impute those targets first.")
        if self._is_lbfgs():
            self._fit_lbfgs(X, Y, sample_weight)
        else:
            self._fit_stochastic(X, Y, y, sample_weight, random_state, incremental)
        if not all(np.all(np.isfinite(p)) for p in net.params().values()):
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        net.l2 = float(self.alpha) / self._batch_size(len(X))
        net.history = self.history_
        self._record_last_step()
        return self

    def _is_lbfgs(self) -> bool:
        if self.optimizer is not None:
            return isinstance(self.optimizer, LBFGS)
        return self.solver == "lbfgs"

    def _batch_size(self, n: int) -> int:
        return min(200, n) if self.batch_size == "auto" else int(min(self.batch_size, n))

    def _fit_lbfgs(self, X, Y, sample_weight) -> None:
        net = self.network_
        if self.dropout:
            raise ValueError("dropout needs a stochastic solver (sgd, adam, ...): L-BFGS needs a "
                             "deterministic loss. Set dropout=0 or choose another solver.")
        opt = self._make_optimizer()
        w, sw_sum = _normalised_weights(sample_weight, len(X))
        net.l2 = float(self.alpha) / sw_sum
        params, grads = net.params(), net.grads()  # views: the closure's backward fills grads

        def closure() -> float:
            return gradient(net, X, Y, w) + net.penalty()  # the cost: what L-BFGS minimises

        start = time.perf_counter()
        self.loss_ = opt.step(params, grads, closure)
        result = opt.last_result
        self.n_iter_ = int(result.nit)
        self.t_ += len(X) * self.n_iter_  # scikit-learn leaves t_ at 0 for lbfgs
        self.history_.append({"epoch": len(self.history_) + 1, "loss": self.loss_,
                              "iterations": self.n_iter_, "time": time.perf_counter() - start})
        net.optimizer = opt
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={result.status}): {result.message}. Increase max_iter or "
                          "scale the data.", ConvergenceWarning, stacklevel=3)

    def _fit_stochastic(self, X, Y, y, sample_weight, random_state, incremental: bool) -> None:
        """glassnet's ``fit``, with scikit-learn's rules in a callback (:class:`_SklearnRules`)."""
        net = self.network_
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True.")
        if not incremental or getattr(self, "_optimizer", None) is None:
            self._optimizer = self._make_optimizer()
        opt = self._optimizer
        val = None
        if self.early_stopping:
            X, Y, y, sample_weight, val = self._split(X, Y, y, sample_weight, random_state)
        n = len(X)
        if self.batch_size != "auto" and self.batch_size > n:
            warnings.warn("Got `batch_size` larger than the number of samples; it is clipped to "
                          f"{n}.", UserWarning, stacklevel=3)
        if not incremental:
            self.n_iter_ = 0  # as scikit-learn: n_iter_ counts the epochs of this fit
        w, sw_sum = _normalised_weights(sample_weight, n)
        rules = _SklearnRules(self, opt, val, n, l2_numerator=float(self.alpha) * n / sw_sum)
        try:
            history = fit(net, X, Y, epochs=1 if incremental else self.max_iter,
                          batch_size=self._batch_size(n), optimizer=opt, callbacks=[rules],
                          sample_weight=w, clip_norm=self.clip_norm, shuffle=self.shuffle,
                          progress=False, seed=_SklearnOrder(random_state, n))
        except TrainingDivergedError as err:
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.") from err
        for record in history.epochs:
            record["epoch"] = len(self.history_) + 1
            self.history_.append(record)
        if val is not None:
            for key, param in net.params().items():
                param[...] = self._best_params[key]
        if not incremental and not net.stop_training:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          "reached and the optimization hasn't converged yet.",
                          ConvergenceWarning, stacklevel=3)

    def _split(self, X, Y, y, sample_weight, random_state):
        """Hold out ``validation_fraction`` of the samples as scikit-learn does: its
        ``train_test_split`` with the same random state, stratified only for a classifier with one
        output unit (binary), and both parts kept in the split's shuffled order (each epoch's
        shuffle then acts on that order, so the batches are scikit-learn's too)."""
        idx = np.arange(len(X))
        classifier = isinstance(self, ClassifierMixin)
        stratify = y if classifier and Y.shape[1] == 1 else None
        train, held = train_test_split(idx, test_size=self.validation_fraction,
                                       random_state=random_state,
                                       stratify=stratify)
        if len(held) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        w_val = None if sample_weight is None else sample_weight[held]
        self._best_params = {k: v.copy() for k, v in self.network_.params().items()}
        val = (X[held], Y[held], y[held], w_val)
        w_train = None if sample_weight is None else sample_weight[train]
        return X[train], Y[train], y[train], w_train, val

    def _record_last_step(self) -> None:
        """``gradients_`` and ``delta_norms_`` from the layers' state after the last step."""
        layers = [layer for layer in self.network_.layers if not layer.identity_at_inference]
        if any(getattr(layer, "delta", None) is None for layer in layers):
            return
        self.gradients_ = {key: g.copy() for key, g in self.network_.grads().items()}
        self.delta_norms_ = [float(np.linalg.norm(layer.delta)) for layer in layers]

    def _partial_fit(self, X, y, sample_weight):
        if self._is_lbfgs():
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "lbfgs is not stochastic.")
        return self._fit(X, y, sample_weight, incremental=True)

    # ------------------------------------------------------------------ prediction
    def _check_X(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return as_dtype(X, self.network_.dtype)

    def _output_array(self, X) -> np.ndarray:
        """The network output ``a^L`` of shape (n_samples, n_outputs), in inference mode."""
        return self.network_.predict_output(X)

    # ------------------------------------------------------------------ the glass box
    def activations(self, X) -> list[np.ndarray]:
        """Every hidden layer's output ``a^l``, ``l = 1..L-1``, for ``X`` (inference mode).

        Returns
        -------
        list of ndarray
            ``activations(X)[i]`` has shape (n_samples, hidden_layer_sizes[i]).
        """
        X = self._check_X(X)
        net = self.network_
        net.training = False
        net.propagate(net.to_device(X))
        layers = [layer for layer in net.layers if not layer.identity_at_inference]
        return [layer.a.copy() for layer in layers[:-1]]

    def input_gradient(self, X, y) -> np.ndarray:
        """``dC/dX`` of shape (n_samples, n_features): the delta recursion carried to the input.

        ``C`` is the training loss of the batch ``(X, y)`` (mean over its samples, the L2 term
        included, which does not depend on ``X``).
        """
        X = self._check_X(X)
        Y = self._encode(y)
        return _input_gradient(self.network_, X, as_dtype(Y, self.network_.dtype, "y"))

    def jacobian(self, X) -> Any:
        """``d a^L / d X`` for every sample; delegates to ``glassnet.jacobian(network_, X)``."""
        return _glassnet_function("jacobian")(self.network_, self._check_X(X))

    def explain(self, x, y=None) -> Any:
        """Why the network gave its output for ``x``; delegates to ``glassnet.explain``.

        For a classifier ``y`` is a class label and is passed on as its index in ``classes_``.
        """
        check_is_fitted(self)
        if y is not None and isinstance(self, ClassifierMixin):
            y = int(np.flatnonzero(self.classes_ == y)[0])
        return _glassnet_function("explain")(self.network_, x, y)

    def _encode(self, y) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ saving
    def save(self, path) -> None:
        """Write the fitted estimator to a safe glassnet model file (``.npz``, no pickle).

        The header's ``info['sklearn']`` holds the estimator class, its parameters and the
        fitted attributes that are not in the network (``classes_``, ``loss_curve_``, ...).
        A classifier's labels are the network's too (``Network.classes``), so ``glassnet
        predict`` and ``glassnet evaluate`` on the file answer in them (strings, big ints).
        Read it back with ``type(self).load(path)``; ``glassnet.load(path)`` gives the Network.
        """
        check_is_fitted(self)
        from .io import save

        params = {k: (list(v) if isinstance(v, tuple) else v)
                  for k, v in self.get_params().items() if k != "optimizer"}
        state = {k: getattr(self, k) for k in _SAVED_STATE if hasattr(self, k)}
        tuples = [k for k, v in self.get_params().items() if isinstance(v, tuple)]
        info: dict[str, Any] = {"estimator": self._name, "params": params, "tuples": tuples,
                                "state": _jsonable(state)}
        if hasattr(self, "feature_names_in_"):
            info["feature_names_in"] = [str(f) for f in self.feature_names_in_]
        if hasattr(self, "classes_"):
            info["classes"] = self.classes_.tolist()
            info["classes_dtype"] = self.classes_.dtype.str if self.classes_.dtype != object \
                else "object"
            info["y_type"] = self._label_binarizer.y_type_
        self.network_.info["sklearn"] = info
        self.network_.classes = self._network_classes()
        save(self.network_, path)

    def _network_classes(self) -> list[Any] | None:
        """``classes_`` as the network's own labels (``Network.classes``), so that the saved
        model answers in them everywhere: ``glassnet.load(path).predict``, ``glassnet predict``
        and ``glassnet evaluate``. None for a regressor and for multilabel targets (whose
        outputs are 0/1 per label), or labels a Network cannot hold."""
        from .data.labels import classes_problem

        if not hasattr(self, "classes_") or self._label_binarizer.y_type_ not in (
                "binary", "multiclass"):
            return None
        labels = self.classes_.tolist()
        return None if classes_problem(labels, self.network_.n_out) else labels

    @classmethod
    def load(cls, path):
        """Read an estimator written by :meth:`save`.

        Only the estimator's own parameters and the fitted attributes that :meth:`save` writes
        are set (a file cannot add or replace methods), and they are checked against the
        network: the number of features, the outputs, and one class per output.

        Raises
        ------
        ValueError
            When the file holds a plain Network or another estimator class, or its
            estimator part does not fit the network (the message names the file and the part).
        """
        from .io import load

        net = load(path)
        info = net.info.get("sklearn")
        if not isinstance(info, dict) or info.get("estimator") != cls.__name__:
            found = info.get("estimator") if isinstance(info, dict) else None
            found = repr(found) if found is not None else "a plain glassnet Network"
            raise ValueError(f"{path} holds {found}, not a {cls.__name__}. Use "
                             f"glassnet.load(path) for networks, or the matching class.")
        try:
            est = cls._from_saved(net, info)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: the saved {cls.__name__} is invalid: {err}") from None
        return est

    @classmethod
    def _from_saved(cls, net: Network, info: dict[str, Any]):
        """The estimator of a loaded network and its ``info['sklearn']``, every part checked."""
        known = cls().get_params()
        unknown = set(info) - {"estimator", "params", "tuples", "state", "feature_names_in",
                               "classes", "classes_dtype", "y_type"}
        params, tuples, state = info.get("params"), info.get("tuples", []), info.get("state")
        if unknown or not isinstance(params, dict) or not isinstance(state, dict) \
                or not isinstance(tuples, list):
            raise ValueError(f"info['sklearn'] must hold 'params' and 'state' objects"
                             f"{f' and no {sorted(unknown)}' if unknown else ''}")
        bad = sorted(set(params) - set(known)) + sorted(set(state) - set(_SAVED_STATE))
        if bad or not set(tuples) <= set(params):
            raise ValueError(f"unknown attribute {(bad or sorted(set(tuples) - set(params)))[0]!r}"
                             f"; {cls.__name__} has the parameters {', '.join(known)}")
        est = cls(**{k: tuple(v) if k in tuples else v for k, v in params.items()})
        for key, value in state.items():
            setattr(est, key, value)
        if getattr(est, "best_loss_", 0) is None and not est.early_stopping:
            est.best_loss_ = np.inf  # JSON has no inf
        if getattr(est, "n_features_in_", net.n_in) != net.n_in:
            raise ValueError(f"n_features_in_ is {est.n_features_in_!r}; the network has "
                             f"{net.n_in} inputs")
        if getattr(est, "n_outputs_", net.n_out) != net.n_out:
            raise ValueError(f"n_outputs_ is {est.n_outputs_!r}; the network has {net.n_out} "
                             "outputs")
        if isinstance(est, ClassifierMixin) != net.loss_fn.classifier:
            raise ValueError(f"a {cls.__name__} cannot hold a network trained with the "
                             f"{net.loss_fn.name} loss")
        if "feature_names_in" in info:
            names = info["feature_names_in"]
            if not isinstance(names, list) or len(names) != net.n_in \
                    or not all(isinstance(n, str) for n in names):
                raise ValueError(f"feature_names_in must be {net.n_in} strings, one per input")
            est.feature_names_in_ = np.asarray(names, dtype=object)
        if isinstance(est, ClassifierMixin):
            est.classes_, est._label_binarizer = _saved_classes(info, net.n_out)
        est.network_ = net
        est.history_ = net.history or History()
        est._optimizer = net.optimizer
        est._no_improvement_count = 0
        return est


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: ``p(y | x) = softmax(a^L)`` (or sigmoid units), trained on glassnet.

    A drop-in for ``sklearn.neural_network.MLPClassifier``: same parameters, same fitted
    attributes, same stopping rule. Multiclass ``y`` gets a softmax output and cross-entropy,
    binary ``y`` one sigmoid unit and binary cross-entropy, multilabel ``y`` (a 2-D 0/1
    indicator matrix) one sigmoid unit per label. Labels of any type are mapped through
    ``classes_``.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Width of each hidden layer; ``()`` gives (multinomial) logistic regression.
    activation : str or list of str, default='relu'
        scikit-learn's ``'identity', 'logistic', 'tanh', 'relu'`` or any glassnet activation
        (``'leaky_relu', 'elu', 'gelu', 'softplus', 'sigmoid'``); a list gives one per hidden
        layer.
    solver : {'adam', 'sgd', 'lbfgs', 'adamw', 'rmsprop', 'adagrad'}, default='adam'
    alpha : float, default=0.0001
        L2 strength: ``alpha / (2 n_b) sum ||W||^2`` is added to each batch's loss
        (``network_.l2 = alpha / n_b``; see the module notes).
    batch_size : int or 'auto', default='auto'
        ``'auto'`` is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule for ``solver='sgd'`` (or an SGD ``optimizer``): ``'invscaling'`` is
        ``learning_rate_init / (t_ + 1) ** power_t`` after each epoch; ``'adaptive'`` divides
        the rate by 5 whenever the stopping rule fires, and stops below 1e-6.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
    max_iter : int, default=200
        Epochs for the stochastic solvers, iterations for L-BFGS.
    loss : {'log_loss', 'mse'}, optional
        Default ``'log_loss'`` (cross-entropy); ``'mse'`` trains the same outputs on squared error.
    shuffle : bool, default=True
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, the shuffling, dropout and the validation split.
    tol : float, default=1e-4
    verbose : bool, default=False
        Print the loss after every epoch.
    warm_start : bool, default=False
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified) and stop when its accuracy has not improved
        by ``tol`` for ``n_iter_no_change`` epochs; the best weights are restored.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's.
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
        Accepted for compatibility; must stay 15000.
    dropout : float, default=0.0
        glassnet: inverted dropout after every hidden layer while training.
    residual : bool, default=False
        glassnet: consecutive hidden layers of equal width become identity-skip blocks ``a = x + f(W x + b)``.
    l1 : float, default=0.0
        glassnet: L1 penalty ``l1 * sum |W|`` (not divided by the batch size).
    clip_norm : float, optional
        glassnet: rescale each step's gradients to this global L2 norm at most.
    dtype : {'auto', 'float32', 'float64'}, default='auto'
        ``'auto'``: float32 for float32 ``X``, float64 otherwise.
    optimizer : glassnet Optimizer, optional
        Overrides ``solver`` and its hyperparameters; copied, never changed by ``fit``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : list of ndarray of shape (n_in, n_out)
        Live views of the weights (``network_.layers[i].W.T``).
    intercepts_ : list of ndarray of shape (n_out,)
    loss_ : float
    loss_curve_ : list of float
        Mean batch loss of every epoch (stochastic solvers).
    best_loss_ : float or None
    validation_scores_ : list of float or None
    best_validation_score_ : float or None
    n_iter_ : int
    t_ : int
        Training samples seen.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    network_ : glassnet.Network
    history_ : glassnet.History
        One record per epoch: ``loss``, ``learning_rate``, ``time`` and, with early stopping,
        ``val_loss`` and ``val_score``.
    gradients_ : dict of str to ndarray
        The last step's gradients, keyed as ``network_.params()`` (``W`` is (n_out, n_in)).
    delta_norms_ : list of float
        ``||delta^l||`` of every layer at the last step, input side first.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((16,), solver="lbfgs", max_iter=500, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, loss="log_loss",
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dropout=0.0, residual=False, l1=0.0,
                 clip_norm=None, dtype="auto", optimizer=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, loss=loss, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, residual=residual, l1=l1, clip_norm=clip_norm, dtype=dtype,
            optimizer=optimizer)

    def _targets(self, y, *, first_pass, incremental):
        check_classification_targets(y)
        if first_pass and not incremental or not hasattr(self, "classes_"):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes "
                                     f"as in the previous call to fit. Previously got "
                                     f"{self.classes_}, `y` has {classes}.")
            elif len(np.setdiff1d(classes, self.classes_)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{self.classes_}. 'y' has {classes}.")
        Y = self._label_binarizer.transform(y)
        if first_pass:
            self.n_outputs_ = Y.shape[1]
        return Y

    def _output(self):
        multiclass = self._label_binarizer.y_type_ == "multiclass"
        loss = self.loss if self.loss is not None else "log_loss"
        if loss == "log_loss":
            return ("softmax", get_loss("cross_entropy")) if multiclass else \
                ("sigmoid", get_loss("binary_cross_entropy"))
        if loss == "mse":
            return ("softmax" if multiclass else "sigmoid"), get_loss("mse")
        raise ValueError(f"The 'loss' parameter of MLPClassifier must be 'log_loss' or 'mse'; "
                         f"got {self.loss!r}.")

    def _encode(self, y) -> np.ndarray:
        return self._label_binarizer.transform(y)

    def _score_arrays(self, X, y, sample_weight):
        return accuracy_score(y, self._predict_array(X), sample_weight=sample_weight)

    def _predict_array(self, X) -> np.ndarray:
        out = self._output_array(X)
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    @available_if(lambda est: not est._is_lbfgs())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``, keeping the optimiser's state.

        Parameters
        ----------
        classes : array-like of shape (n_classes,)
            Every class of the whole data set; required on the first call.
        """
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"`classes={classes}` is not the same as on the first call to "
                             f"partial_fit ({self.classes_}).")
        return self._partial_fit(X, y, sample_weight)

    def predict(self, X):
        """Class labels of shape (n_samples,), or (n_samples, n_labels) for multilabel ``y``."""
        return self._predict_array(self._check_X(X))

    def predict_proba(self, X):
        """Class probabilities of shape (n_samples, n_classes), columns ordered as ``classes_``."""
        out = self._output_array(self._check_X(X))
        if self.n_outputs_ == 1 and self._label_binarizer.y_type_ != "multilabel-indicator":
            p = out[:, 0]
            return np.column_stack([1 - p, p])
        return out

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: ``y = a^L`` (identity output), trained on glassnet.

    A drop-in for ``sklearn.neural_network.MLPRegressor``; the parameters and attributes are
    those of :class:`MLPClassifier` except:

    Parameters
    ----------
    loss : {'squared_error', 'mse', 'huber'} or glassnet Loss, default='squared_error'
        ``'squared_error'`` (= glassnet ``'mse'``) is ``(1/n) sum_i 0.5 ||a_i - y_i||^2``;
        ``'huber'`` (or ``glassnet.losses.Huber(delta)``) is robust to outliers.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets; ``predict`` returns shape (n_samples,) for one.

    Examples
    --------
    >>> X = np.linspace(-1, 1, 64).reshape(-1, 1); y = X.ravel() ** 2
    >>> reg = MLPRegressor((32,), solver="lbfgs", random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.95
    True
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, loss="squared_error",
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dropout=0.0, residual=False, l1=0.0,
                 clip_norm=None, dtype="auto", optimizer=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, loss=loss, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, residual=residual, l1=l1, clip_norm=clip_norm, dtype=dtype,
            optimizer=optimizer)

    def _targets(self, y, *, first_pass, incremental):
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first_pass:
            self.n_outputs_ = Y.shape[1]
        return Y

    def _output(self):
        loss = self.loss if self.loss is not None else "squared_error"
        if isinstance(loss, str):
            loss = REGRESSION_LOSSES.get(loss, loss)
            if loss not in ("mse", "huber"):
                raise ValueError("The 'loss' parameter of MLPRegressor must be 'squared_error', "
                                 f"'mse', 'huber' or a glassnet Loss; got {self.loss!r}.")
        loss_fn = get_loss(loss)
        if loss_fn.output_activation is not None:
            raise ValueError(f"MLPRegressor needs a regression loss; {loss_fn.name} is for "
                             "classification. Use MLPClassifier.")
        return "identity", loss_fn

    def _encode(self, y) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _score_arrays(self, X, y, sample_weight):
        pred = self._predict_array(X)
        if not np.all(np.isfinite(pred)):
            return np.nan
        return r2_score(y, pred, sample_weight=sample_weight)

    def _predict_array(self, X) -> np.ndarray:
        out = self._output_array(X)
        return out[:, 0] if out.shape[1] == 1 else out

    @available_if(lambda est: not est._is_lbfgs())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, keeping the optimiser's state."""
        return self._partial_fit(X, y, sample_weight)

    def predict(self, X):
        """Predictions of shape (n_samples,), or (n_samples, n_outputs) for several targets."""
        return self._predict_array(self._check_X(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# ---------------------------------------------------------------------- helpers


class _SklearnOrder:
    """The mini-batch order of scikit-learn's MLP, as an order source for :func:`fit`.

    Each epoch shuffles the previous epoch's order with the estimator's RandomState, drawing
    exactly what scikit-learn's ``_fit_stochastic`` draws through ``sklearn.utils.shuffle``
    (``resample`` without replacement: ``random_state.shuffle(np.arange(n))``), without that
    utility's per-call checks.
    """

    def __init__(self, random_state: Any, n: int):
        self.random_state, self.order = random_state, np.arange(n)

    def permutation(self, n: int) -> np.ndarray:
        self.order = self.order[self.random_state.permutation(n)]
        return self.order


class _SklearnRules(Callback):
    """scikit-learn's MLP rules as a callback of glassnet's ``fit``.

    Per batch: ``net.l2 = alpha / n_b``. Per epoch: ``loss_curve_``, ``n_iter_``, ``t_``; the
    validation score under early stopping (and the best weights); the stopping rule (no
    improvement by ``tol`` for more than ``n_iter_no_change`` epochs), which for
    ``learning_rate='adaptive'`` first divides the rate by 5 until it is below 1e-6; the
    ``'invscaling'`` rate ``lr0 / (t_ + 1) ** power_t``. It stops ``fit`` with
    ``net.stop_training`` and writes the estimator's fitted attributes.
    """

    def __init__(self, est: _BaseMLP, opt: Optimizer, val: tuple | None, n: int,
                 l2_numerator: float):
        self.est, self.opt, self.val, self.n = est, opt, val, n
        self.l2_numerator = l2_numerator  # alpha, scaled as the sample weights are
        sgd = isinstance(opt, SGD)
        self.schedule = InverseScaling(est.power_t, learning_rate=opt.learning_rate) \
            if est.learning_rate == "invscaling" and sgd else None
        self.adaptive = est.learning_rate == "adaptive" and sgd
        self.penalty_sum = 0.0

    def on_batch_begin(self, net: Network, step: int, batch: np.ndarray) -> None:
        net.l2 = self.l2_numerator / len(batch)
        # scikit-learn's loss_ is the cost, loss + this batch's penalty at these weights
        self.penalty_sum += net.penalty() * len(batch)

    def on_epoch_end(self, net: Network, epoch: int, record: dict[str, Any]) -> None:
        est, opt = self.est, self.opt
        est.n_iter_ += 1
        est.t_ += self.n
        est.loss_ = record["loss"] + self.penalty_sum / self.n
        self.penalty_sum = 0.0
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        self._count_no_improvement(net, record)
        if self.schedule is not None:
            opt.learning_rate = self.schedule(est.t_)
        record["learning_rate"] = float(opt.learning_rate)  # the next epoch's rate
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.val is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")
            if self.adaptive and opt.learning_rate > 1e-6:
                opt.learning_rate /= 5.0  # glassnet's ReduceOnPlateau defaults
                est._no_improvement_count = 0
                if est.verbose:
                    print(f"{msg} Setting learning rate to {opt.learning_rate:f}")
            else:
                if est.verbose:
                    print(f"{msg} Stopping.")
                net.stop_training = True

    def _count_no_improvement(self, net: Network, record: dict[str, Any]) -> None:
        """An epoch counts as no improvement unless it beats the best by ``tol``."""
        est = self.est
        if self.val is None:
            if est.loss_ > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, est.loss_)
            return
        X_val, Y_val, y_val, w_val = self.val  # fit calls on_epoch_end in inference mode
        net.propagate(X_val)
        record["val_loss"] = net.output_loss(Y_val) + net.penalty()
        score = est._score_arrays(X_val, y_val, w_val)
        record["val_score"] = score
        est.validation_scores_.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_params = {k: v.copy() for k, v in net.params().items()}




def _normalised_weights(w: np.ndarray | None, n: int) -> tuple[np.ndarray | None, float]:
    """Weights rescaled so that glassnet's ``(1/n) sum w_i c_i`` is ``sum w_i c_i / sum w_i``.

    Returns the rescaled weights and ``sum w_i`` (``n`` without weights), the ``n_b`` that
    scikit-learn divides the L2 term by.
    """
    if w is None:
        return None, float(n)
    total = float(w.sum())
    if total <= 0:
        return np.zeros_like(w), 1.0
    return w * (n / total), total


def _glassnet_function(name: str) -> Any:
    import glassnet

    function = getattr(glassnet, name, None)
    if function is None:
        raise NotImplementedError(f"glassnet.{name} is not available in this version of "
                                  "glassnet; the estimator method delegates to it.")
    return function


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


_SAVED_STATE = ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_", "loss_",
                "best_loss_", "best_validation_score_", "loss_curve_", "validation_scores_",
                "n_features_in_")
"""The fitted attributes ``save`` writes and ``load`` sets (nothing else from a file)."""

_Y_TYPES = ("binary", "multiclass", "multilabel-indicator")


def _saved_classes(info: dict[str, Any], n_out: int) -> tuple[np.ndarray, LabelBinarizer]:
    """``classes_`` and its binarizer from a saved classifier, checked against the outputs."""
    classes, kind, y_type = info.get("classes"), info.get("classes_dtype"), info.get("y_type")
    if not isinstance(classes, list) or len(classes) < 1 or y_type not in _Y_TYPES:
        raise ValueError(f"a classifier needs a list 'classes' and a 'y_type' in "
                         f"{', '.join(_Y_TYPES)}")
    if kind == "object":
        dtype: Any = object
    elif isinstance(kind, str) and len(kind) <= 8 and np.dtype(kind).kind in "biufU":
        dtype = np.dtype(kind)
    else:
        raise ValueError(f"classes_dtype must be 'object' or a number or string dtype; got "
                         f"{kind!r}")
    if not all(isinstance(c, (str, int, float)) for c in classes):
        raise ValueError("classes must be numbers or strings")
    values = np.asarray(classes, dtype=dtype)
    if values.ndim != 1 or len(np.unique(values.astype(str))) != len(values):
        raise ValueError("classes must be distinct labels in a flat list")
    width = 1 if y_type == "binary" else len(values)
    if (y_type == "binary" and len(values) != 2) or width != n_out:
        raise ValueError(f"{len(values)} {y_type} classes need {width} outputs; the network has "
                         f"{n_out}")
    return values, _binarizer(values, y_type)


def _binarizer(classes: np.ndarray, y_type: str) -> LabelBinarizer:
    lb = LabelBinarizer()
    if y_type == "multilabel-indicator":
        lb.fit(np.eye(len(classes), dtype=int) if len(classes) > 1 else np.array([[0], [1]]))
    else:
        lb.fit(classes)
    return lb
