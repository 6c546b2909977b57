"""One playground session: its data, its network, the training step, and what the page draws.

A session belongs to one browser tab. It holds the data set (generated or uploaded), the
network built from the :class:`~glassnet.web.settings.Settings` (``build.py``), its optimiser
and the training state. One training step is :func:`glassnet.training.train_step`, the step
``fit`` takes (the network's forward and backward pass, the L1/L2 penalty its own, then
``optimizer.step``), with the network in training mode, so that its Dropout layers drop units;
everything else (the drawings, explain, gradcheck, the drivers of a weight, export) runs in
inference mode, where Dropout is the identity. Nothing here is asynchronous: the server
(``app.py``) runs these methods in a worker thread under the session's lock.

Every method that changes the setup (:meth:`Session.apply`, :meth:`Session.use_upload`,
:meth:`Session.reset`) is all-or-nothing: when it raises, the session is put back exactly as
it was, so a refused request never leaves a half-changed session behind.
"""

from __future__ import annotations

import base64
import functools
import math
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..data import make_2d, train_test_split
from ..explain import explain as glassnet_explain
from ..gradcheck import gradcheck
from ..io import save
from ..layers import Dense, Layer
from ..per_sample import weight_drivers
from ..training import train_step
from .build import build_network, make_optimizer, set_penalty
from .drivers import answer, parameter_key, parse_request
from .pycode import python_source
from .settings import FEATURE_CODE, Settings, SettingsError, feature_matrix, shown
from .stepper import diagram
from .upload import Upload

__all__ = ["Session", "build_network", "make_optimizer", "set_penalty"]

DOMAIN = 6.0
"""The synthetic data sets lie in about [-6, 6]^2, the Playground's square."""
NEURON_GRID = 20
"""Resolution of the small heat map drawn inside each neuron."""
MAX_DRAWN_UNITS = 16
"""Per layer, the diagram draws at most this many neurons (and their links)."""
MAX_HISTORY = 1000
"""Loss-curve points kept; beyond this every other point is dropped."""

Method = TypeVar("Method", bound=Callable[..., Any])


def all_or_nothing(method: Method) -> Method:
    """Make a Session method transactional: if it raises, every attribute is put back.

    The methods it wraps rebind attributes (new data, a new network) rather than change arrays
    in place, and make their few changes in place last, after everything that can fail; so
    restoring the attribute table restores the session.
    """
    @functools.wraps(method)
    def wrapper(self: "Session", *args: Any, **kwargs: Any) -> Any:
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper  # type: ignore[return-value]


class Session:
    """A tab's experiment. ``id`` is a random token; ``last_seen`` is on the server's clock."""

    def __init__(self, settings: Settings, now: float):
        self.id = secrets.token_urlsafe(16)
        self.last_seen = now
        self.settings = settings
        self.custom: Upload | None = None
        self.error: str | None = None
        self._make_data()
        self.reset()

    # ------------------------------------------------------------------ setup
    @all_or_nothing
    def apply(self, settings: Settings) -> None:
        """Switch to ``settings``: new data and weights when they depend on what changed."""
        if settings.dataset == "custom":
            if self.custom is None:
                raise SettingsError("dataset", "The 'custom' data set needs an uploaded CSV first.")
            if settings.problem == "classification" and self.custom.classes is None:
                raise SettingsError("problem", "The uploaded labels are numbers, not class "
                                    "labels, so they make a regression problem. Upload whole-"
                                    f"number labels (2 to {settings.limits.max_classes} classes, "
                                    "such as 0/1 or -1/1) to classify.")
        old, self.settings = self.settings, settings
        if settings.data_key() != old.data_key():
            self._make_data()
        if settings.data_key() != old.data_key() or settings.network_key() != old.network_key():
            self.reset()
            return
        if settings.grid != old.grid:
            self._make_grids()
        if settings.optimizer != old.optimizer:
            self.optimizer = make_optimizer(settings)  # a new optimiser starts with no state
        # the changes in place come last: nothing after them can fail
        set_penalty(self.net, settings)
        if settings.optimizer == old.optimizer:
            self.optimizer.learning_rate = settings.learning_rate  # keeps its state

    @all_or_nothing
    def reset(self) -> None:
        """Fresh weights (from the seed), a fresh optimiser, epoch 0, empty loss curves."""
        self.net = build_network(self.settings, len(self.classes or ()))
        if self.settings.dataset == "custom" and self.classes is not None:
            self.net.classes = list(self.classes)  # predict answers in the uploaded labels
        set_penalty(self.net, self.settings)
        self.optimizer = make_optimizer(self.settings)
        self.rng = np.random.default_rng(self.settings.seed)
        self.epoch = 0
        self.order = np.arange(0)
        self.position = 0
        self.history: list[list[float | None]] = []
        self.error = None
        self._make_grids()

    @all_or_nothing
    def use_upload(self, upload: Upload) -> Settings:
        """Make a checked upload (:func:`~glassnet.web.upload.parse_csv`) the data set.

        The problem type becomes the upload's; returns the new settings.
        """
        self.custom = upload
        self.settings = replace(self.settings, dataset="custom", problem=upload.problem)
        self._make_data()
        self.reset()
        return self.settings

    def _make_data(self) -> None:
        """The points and labels, split; ``classes``: the class labels (None for regression)."""
        s = self.settings
        classify = s.problem == "classification"
        if s.dataset == "custom" and self.custom is not None:
            points = self.custom.points
            labels = self.custom.indices if classify else self.custom.values
            classes = list(self.custom.classes) if classify and self.custom.classes else None
            self.domain = float(math.ceil(np.max(np.abs(points)) * 1.1 * 10) / 10) or 1.0
        else:
            points, labels = make_2d(s.dataset, s.n_samples, s.noise, s.seed)
            classes = list(range(int(labels.max()) + 1)) if classify else None
            self.domain = DOMAIN
        split = train_test_split(points, labels, test_size=1 - s.train_ratio, stratify=classify,
                                 seed=s.seed)
        self.classes = classes
        self.points_train, self.points_test, self.y_train, self.y_test = split

    def _make_grids(self) -> None:
        """The inputs of the boundary grid and of the neurons' grid, and the data's features."""
        s = self.settings
        self.X_train = feature_matrix(self.points_train, s.features)
        self.X_test = feature_matrix(self.points_test, s.features)
        self.grid_X = feature_matrix(_grid(s.grid, self.domain), s.features)
        self.neuron_X = feature_matrix(_grid(NEURON_GRID, self.domain), s.features)

    # ------------------------------------------------------------------ training
    def train_for(self, seconds: float, until: Callable[[], bool] | None = None) -> None:
        """Mini-batch steps for about ``seconds`` (at least one), carrying on across epochs.

        Stops sooner, after a step, once ``until()`` is true (the page asking for a frame).
        """
        end = time.perf_counter() + seconds
        while True:
            self._batch_step()
            if self.error or time.perf_counter() >= end or (until is not None and until()):
                return

    def step(self) -> None:
        """Train to the end of the current epoch (one epoch from a fresh start)."""
        epoch = self.epoch
        while self.epoch == epoch and not self.error:
            self._batch_step()

    def _batch_step(self) -> None:
        s = self.settings
        if self.position >= len(self.order):
            self.order = self.rng.permutation(len(self.X_train))
            self.position = 0
        batch = self.order[self.position:self.position + s.batch_size]
        self.position += len(batch)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            X_b, Y_b = self.net.check_Xy(self.X_train[batch], self.y_train[batch])
            self.net.training = True  # Dropout drops units in this step only
            try:
                loss = train_step(self.net, self.optimizer, X_b, Y_b)
            finally:
                self.net.training = False
        if not math.isfinite(loss) or not all(np.all(np.isfinite(p))
                                              for p in self.net.params().values()):
            self.error = (f"Training diverged (the loss became {loss}). Lower the learning rate, "
                          "then press reset.")
        if self.position >= len(self.order):
            self.epoch += 1

    # ------------------------------------------------------------------ what the page draws
    def frame(self) -> dict[str, Any]:
        """The live state: losses, the boundary, each neuron's heat map, weights, ||delta||.

        The losses are those of the data, without the L1/L2 penalty, so that curves stay
        comparable across regularisation settings. Everything is computed in inference mode
        (Dropout the identity).

        ``neurons[l]`` holds the maps of drawn layer ``l + 1`` (the Dense layers and residual
        blocks; the inputs are drawn by the page).

        Heat maps are quantised to bytes, ``round((clip(v, -1, 1) + 1) * 127.5)``, row by row
        from the top (x2 = +domain) and sent as base64; a classifier's output p (the boundary,
        the output neurons) is drawn as ``2p - 1``. With three or more classes ``boundary`` is
        None and ``regions`` holds, per grid cell, the most probable class (one byte each) and
        its probability ``p`` as ``2 (p - 1/k) / (1 - 1/k) - 1`` (-1: no better than chance).
        """
        net, layers = self.net, self.drawn_layers()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            loss_train = net.backprop(self.X_train, self.y_train)  # the loss: no penalty
            delta_norms = [float(np.linalg.norm(layer.delta)) for layer in layers]  # type: ignore[attr-defined]
            loss_test = net.loss(self.X_test, self.y_test)
            out = net.forward(self.grid_X)
            net.forward(self.neuron_X)
            maps = [layer.a.T for layer in layers]  # type: ignore[attr-defined]
        boundary, regions = out[:, 0], None
        if self.settings.problem == "classification":
            maps[-1] = 2 * maps[-1] - 1
            boundary = 2 * boundary - 1
            if net.n_out > 1:
                k = net.n_out
                confidence = (out.max(axis=1) - 1 / k) / (1 - 1 / k)
                boundary = None
                regions = {"class": _classes(out.argmax(axis=1)),
                           "confidence": _bytes(2 * confidence - 1)}
        if not math.isfinite(loss_train) and not self.error:  # finite weights, a loss beyond
            self.error = (f"Training diverged (the loss on the training set became "
                          f"{loss_train}). Lower the learning rate, then press reset.")
        point = [self.epoch, _finite(loss_train), _finite(loss_test)]
        if not self.history or self.history[-1] != point:
            self.history.append(point)
            if len(self.history) > MAX_HISTORY:
                self.history = self.history[::2]
        return {
            "epoch": self.epoch,
            "loss_train": point[1],
            "loss_test": point[2],
            "error": self.error,
            "boundary": None if boundary is None else _bytes(boundary),
            "regions": regions,
            "neurons": [[_bytes(unit) for unit in m[:MAX_DRAWN_UNITS]] for m in maps],
            "weights": [_weights(layer) for layer in layers],
            "delta_norms": [_finite(v) for v in delta_norms],
        }

    def drawn_layers(self) -> list[Layer]:
        """The layers the diagram draws as columns: all but those that are the identity at
        inference (Dropout), in the order of the network (explain numbers them 1, 2, ...)."""
        return [layer for layer in self.net.layers if not layer.identity_at_inference]

    def snapshot(self) -> dict[str, Any]:
        """Everything the page needs after a change: the frame, the data and the layout.

        ``classes`` lists the class labels (the uploaded ones, or 0 .. k-1; None for a
        regression); the points' labels are indices into it.
        """
        s = self.settings
        return {
            "session": self.id,
            "settings": s.to_json(),
            "domain": self.domain,
            "grid": s.grid,
            "neuron_grid": NEURON_GRID,
            "sizes": self.net.sizes,
            "residual": [bool(layer.children()) for layer in self.drawn_layers()],
            "classes": self.classes,
            "train": _points(self.points_train, self.y_train),
            "test": _points(self.points_test, self.y_test),
            "history": self.history,
            "custom_rows": None if self.custom is None else len(self.custom.points),
            **self.frame(),
        }

    # ------------------------------------------------------------------ tools
    def point(self, index: int) -> tuple[np.ndarray, Any, str]:
        """Features, label and ``'train'``/``'test'`` of point ``index`` (train points first)."""
        n_train = len(self.X_train)
        if not (isinstance(index, int) and not isinstance(index, bool)
                and 0 <= index < n_train + len(self.X_test)):
            raise SettingsError("index", f"The 'index' must be an integer in "
                                f"[0, {n_train + len(self.X_test) - 1}]; got {shown(index)}.")
        if index < n_train:
            return self.X_train[index], self.y_train[index], "train"
        return self.X_test[index - n_train], self.y_test[index - n_train], "test"

    def explain(self, index: int) -> dict[str, Any]:
        """``glassnet.explain`` on one point, with the session's learning rate for the step.

        ``text`` is the derivation written out, ``explanation`` the same :class:`Explanation`
        as data (``to_dict()``: the steps with their numbers), and ``diagram`` says, step by
        step, which neurons and weights of the page's diagram each equation touches
        (:func:`~glassnet.web.stepper.diagram`).

        Raises
        ------
        SettingsError
            Field ``'index'`` for a point that does not exist; field ``'network'`` for weights
            that are not finite (training diverged) or a network that explain does not write
            out (its message says why).
        """
        x, y, part = self.point(index)
        self._check_finite("explain")
        try:
            with np.errstate(all="ignore"):  # huge finite weights: inf and NaN are shown as such
                e = glassnet_explain(self.net, x, y, learning_rate=self.settings.learning_rate)
        except (TypeError, ValueError) as err:
            raise SettingsError("network", f"Explain this step cannot show this network: {err}") \
                from None
        with np.errstate(all="ignore"):
            return {"index": index, "part": part, "x": x.tolist(), "y": float(y),
                    "features": list(self.settings.features), "epoch": self.epoch,
                    "source": "glassnet.explain", "text": e.text(), "explanation": e.to_dict(),
                    "diagram": diagram(e)}

    def drivers(self, body: Any) -> dict[str, Any]:
        """Which training points drive the weight ``W^layer[j, k]``: ``weight_drivers`` on the
        training set at the current weights, in inference mode.

        ``body`` is the request, ``{"layer": l, "j": j, "k": k}`` with an optional ``"top"``
        (:func:`~glassnet.web.drivers.parse_request`); ``layer`` counts the diagram's columns
        from 1, as explain does. The answer is :func:`~glassnet.web.drivers.answer`; the
        points' ``index`` is the one explain takes (train points come first).

        Raises
        ------
        SettingsError
            The request's field for a request that names no weight of the network; field
            ``'network'`` for weights that are not finite (training diverged), or a network
            weight_drivers does not take apart (its message says why).
        """
        weighted = [_weighted(layer) for layer in self.drawn_layers()]
        request = parse_request(body, [dense.W.shape for dense in weighted], len(self.X_train))
        self._check_finite("drivers")
        key = parameter_key(self.net, weighted[request.layer - 1])
        try:
            with np.errstate(all="ignore"):  # huge finite weights: inf and NaN go out as null
                d = weight_drivers(self.net, self.X_train, self.y_train, key,
                                   (request.j, request.k), top=request.top)
        except (TypeError, ValueError) as err:
            raise SettingsError("network", "Which points drive a weight cannot be shown for "
                                f"this network: {err}") from None
        with np.errstate(all="ignore"):
            return {**answer(d, request, self.points_train, self.y_train, self.net),
                    "epoch": self.epoch}

    def gradcheck(self, n_samples: int = 8, max_full: int = 600) -> dict[str, Any]:
        """glassnet's gradcheck on the current network and a few training points.

        Every entry is compared up to ``max_full`` parameters; above that, random directions.

        Raises
        ------
        SettingsError
            Field ``'network'`` for weights that are not finite (training diverged): a finite
            difference of NaN says nothing, so there is no verdict to give.
        """
        self._check_finite("gradcheck")
        n = min(n_samples, len(self.X_train))
        fast = self.net.n_params > max_full
        try:
            report = gradcheck(self.net, self.X_train[:n], self.y_train[:n], fast=fast)
        except ValueError as err:  # finite weights whose cost or gradient is not finite
            raise SettingsError("network", f"{err} Press reset and train again.") from None
        rows = [{"layer": r.layer, "tensor": r.name, "shape": list(r.shape),
                 "max_abs_error": r.max_abs_error, "max_rel_error": r.max_rel_error,
                 "passed": r.passed, "verdict": r.verdict, "unresolved": r.unresolved,
                 "skipped": r.skipped} for r in report.rows]
        return {"passed": report.passed, "verdict": report.verdict, "fast": fast, "n_samples": n,
                "rows": rows, "table": report.table()}

    def export(self) -> bytes:
        """The network in glassnet's model format (``glassnet.load`` reads it back).

        Raises
        ------
        SettingsError
            Field ``'network'`` when training diverged (weights that are not finite).
        """
        self._check_finite()
        extra = {"playground": self.settings.to_json(), "features": list(self.settings.features),
                 "epoch": self.epoch}
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.npz"
            save(self.net, path, extra=extra)
            return path.read_bytes()

    def export_python(self) -> str:
        """The network as Python code that rebuilds it with glassnet, the weights exact.

        Running the code defines ``net`` and ``features(points)``; ``net.predict_output(
        features(points))`` equals this network's output on the same points bit for bit
        (:func:`~glassnet.web.pycode.python_source`).

        Raises
        ------
        SettingsError
            Field ``'network'`` when training diverged (weights that are not finite).
        """
        self._check_finite()
        s = self.settings
        comments = [
            "A network trained in the glassnet playground, rebuilt with glassnet.",
            (f"data set {s.dataset!r}, epoch {self.epoch}, network "
             f"{'-'.join(map(str, self.net.sizes))}, loss {self.net.loss_fn.name!r}"),
            ("Run it (python this_file.py) to print the network, or import it: "
             "from this_file import net, features."),
            "net.predict_output(features(points)) gives the playground's output, bit for bit.",
        ]
        return python_source(self.net, comments=comments,
                             features={name: FEATURE_CODE[name] for name in s.features})

    def _check_finite(self, what: str = "export") -> None:
        if not all(np.all(np.isfinite(p)) for p in self.net.params().values()):
            thing = {"export": "model to export", "explain": "step to explain",
                     "gradcheck": "gradient to check", "drivers": "gradient to take apart"}[what]
            raise SettingsError("network", f"The weights are not finite (training diverged), so "
                                f"there is no {thing}. Press reset and train again.")


def _grid(resolution: int, domain: float) -> np.ndarray:
    """Cell centres of a resolution x resolution grid on [-domain, domain]^2, top row first."""
    step = 2 * domain / resolution
    centres = -domain + step * (np.arange(resolution) + 0.5)
    x1, x2 = np.meshgrid(centres, centres[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def _classes(index: np.ndarray) -> str:
    """Class indices (< 256), one byte each, as base64."""
    return base64.b64encode(np.asarray(index, dtype=np.uint8).tobytes()).decode("ascii")


def _bytes(values: np.ndarray) -> str:
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    q = np.rint((np.clip(v, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def _weighted(layer: Layer) -> Dense:
    """The Dense layer holding ``layer``'s weights (a residual block's first inner layer)."""
    dense = layer.children()[0] if layer.children() else layer
    if "W" not in dense.param_names:
        raise TypeError(f"The playground draws Dense layers; got {type(dense).__name__}.")
    return dense  # type: ignore[return-value]


def _weights(layer: Layer) -> dict[str, Any]:
    dense = _weighted(layer)
    W, b = dense.W[:MAX_DRAWN_UNITS, :MAX_DRAWN_UNITS], dense.b[:MAX_DRAWN_UNITS]
    return {"W": [_round(row) for row in W], "b": _round(b)}


def _round(values: np.ndarray, digits: int = 4) -> list[float | None]:
    return [_finite(round(float(v), digits)) for v in values]


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    value = float(value)
    return value if math.isfinite(value) else None


def _points(points: np.ndarray, labels: np.ndarray) -> list[list[float]]:
    return [[round(float(p[0]), 4), round(float(p[1]), 4), float(v)]
            for p, v in zip(points, labels)]

