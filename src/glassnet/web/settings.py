"""The playground's settings: what a page may ask for, the limits, and their validation.

Everything the page sends is checked here before it reaches the engine: a bad value raises
:class:`SettingsError`, which the server turns into an HTTP 422 with the field and the message.
The settings are plain JSON, the same keys the page keeps in its URL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..activations import ACTIVATIONS
from ..data import SYNTHETIC_TASKS

__all__ = [
    "ACTIVATION_CHOICES",
    "DATASETS",
    "FEATURES",
    "FEATURE_CODE",
    "LIMITS",
    "OPTIMIZERS",
    "Limits",
    "Settings",
    "SettingsError",
    "feature_matrix",
    "parse_settings",
    "shown",
]


@dataclass(frozen=True)
class Limits:
    """Bounds on what one session, and the server as a whole, may use."""

    max_sessions: int = 32
    session_ttl_s: float = 600.0
    max_json_bytes: int = 16_384
    max_csv_bytes: int = 262_144
    max_hidden_layers: int = 10
    max_units: int = 128
    min_grid: int = 10
    max_grid: int = 100
    min_samples: int = 10
    max_samples: int = 2000
    max_batch_size: int = 1000
    max_noise: float = 0.5
    max_learning_rate: float = 10.0
    max_regularization_rate: float = 1.0
    max_abs_value: float = 1e6
    """Largest magnitude of an uploaded coordinate or label: x1^2 and the grid stay finite."""
    max_dropout: float = 0.9
    """Largest dropout probability of a hidden layer (Dropout needs p < 1)."""
    max_classes: int = 8
    """Most classes an uploaded CSV may have (the page's palette has this many colours)."""


LIMITS = Limits()

FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}
"""Input feature name -> its value from the point's coordinates ``(x1, x2)``."""

FEATURE_CODE: dict[str, str] = {
    "x1": "x1", "x2": "x2", "x1^2": "x1 * x1", "x2^2": "x2 * x2", "x1*x2": "x1 * x2",
    "sin(x1)": "np.sin(x1)", "sin(x2)": "np.sin(x2)",
}
"""Each feature as the NumPy expression the exported Python code computes it with (the same
operations as :data:`FEATURES`, so the same bits)."""

DATASETS: dict[str, str] = {**SYNTHETIC_TASKS, "custom": "any"}
"""Data set name -> its problem type ('custom' is an uploaded CSV, of either type)."""

ACTIVATION_CHOICES = tuple(name for name in ACTIVATIONS if name != "softmax")
PROBLEMS = ("classification", "regression")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop", "adagrad")
"""The page's optimisers: plain gradient descent, SGD with momentum 0.9, and glassnet.optim's
Adam, RMSprop and Adagrad with their default hyperparameters (see ``session.make_optimizer``)."""
REGULARIZATIONS = ("none", "l1", "l2")


class SettingsError(ValueError):
    """A setting out of range; ``field`` names it (the server answers HTTP 422)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Settings:
    """One experiment: the data, the network and the training hyperparameters."""

    dataset: str = "circles"
    n_samples: int = 500
    noise: float = 0.0
    train_ratio: float = 0.5
    seed: int = 0
    problem: str = "classification"
    features: tuple[str, ...] = ("x1", "x2")
    layers: tuple[tuple[int, str, float], ...] = ((4, "tanh", 0.0), (2, "tanh", 0.0))
    """Hidden layers as ``(units, activation, dropout)``; ``(units, activation)`` means no
    dropout."""
    residual: bool = False
    learning_rate: float = 0.03
    batch_size: int = 10
    optimizer: str = "sgd"
    regularization: str = "none"
    regularization_rate: float = 0.0
    grid: int = 50
    limits: Limits = field(default=LIMITS, compare=False, repr=False)

    def __post_init__(self) -> None:
        layers = tuple((units, act, float(rest[0]) if rest else 0.0)
                       for units, act, *rest in self.layers)
        object.__setattr__(self, "layers", layers)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("limits")
        data["features"] = list(self.features)
        data["layers"] = [{"units": units, "activation": act, "dropout": p}
                          for units, act, p in self.layers]
        return data

    def data_key(self) -> tuple[Any, ...]:
        """What the data depend on: a change here regenerates them."""
        return (self.dataset, self.problem, self.n_samples, self.noise, self.train_ratio,
                self.seed)

    def network_key(self) -> tuple[Any, ...]:
        """What the network's shape depends on: a change here rebuilds it (new weights)."""
        return (self.problem, self.features, self.layers, self.residual, self.seed)


def parse_settings(data: Any, base: Settings | None = None) -> Settings:
    """Validate ``data`` (a JSON object; missing keys keep ``base``'s values) into Settings.

    Raises
    ------
    SettingsError
        For an unknown key or a value of the wrong type or out of range; the message says which
        values are allowed.
    """
    base = base or Settings()
    lim = base.limits
    if not isinstance(data, dict):
        raise SettingsError("", f"Settings must be a JSON object; got {type(data).__name__}.")
    known = set(base.to_json())
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(unknown[0][:60], f"Unknown setting {shown(unknown[0])}. "
                            f"Known settings: {', '.join(sorted(known))}.")
    v: dict[str, Any] = {}
    if "dataset" in data:
        v["dataset"] = _choice("dataset", data["dataset"], DATASETS)
    if "problem" in data:
        v["problem"] = _choice("problem", data["problem"], PROBLEMS)
    if "optimizer" in data:
        v["optimizer"] = _choice("optimizer", data["optimizer"], OPTIMIZERS)
    if "regularization" in data:
        v["regularization"] = _choice("regularization", data["regularization"], REGULARIZATIONS)
    if "n_samples" in data:
        v["n_samples"] = _int("n_samples", data["n_samples"], lim.min_samples, lim.max_samples)
    if "seed" in data:
        v["seed"] = _int("seed", data["seed"], 0, 2**31 - 1)
    if "batch_size" in data:
        v["batch_size"] = _int("batch_size", data["batch_size"], 1, lim.max_batch_size)
    if "grid" in data:
        v["grid"] = _int("grid", data["grid"], lim.min_grid, lim.max_grid)
    if "noise" in data:
        v["noise"] = _float("noise", data["noise"], 0.0, lim.max_noise)
    if "train_ratio" in data:
        v["train_ratio"] = _float("train_ratio", data["train_ratio"], 0.1, 0.9)
    if "learning_rate" in data:
        v["learning_rate"] = _float("learning_rate", data["learning_rate"], 0.0,
                                    lim.max_learning_rate, open_low=True)
    if "regularization_rate" in data:
        v["regularization_rate"] = _float("regularization_rate", data["regularization_rate"],
                                          0.0, lim.max_regularization_rate)
    if "residual" in data:
        if not isinstance(data["residual"], bool):
            raise SettingsError("residual", f"'residual' must be true or false; "
                                f"got {shown(data['residual'])}.")
        v["residual"] = data["residual"]
    if "features" in data:
        v["features"] = _features(data["features"])
    if "layers" in data:
        v["layers"] = _layers(data["layers"], lim)
    settings = replace(base, **v)
    task = DATASETS[settings.dataset]
    if task != "any" and task != settings.problem:
        raise SettingsError("dataset", f"The {settings.dataset!r} data set is for "
                            f"{task}; the problem type is {settings.problem}. Choose one of "
                            f"{', '.join(k for k, t in DATASETS.items() if t == settings.problem)}.")
    return settings


def feature_matrix(points: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
    """The network's input for ``points`` of shape (n_samples, 2): one column per feature."""
    x1, x2 = points[:, 0], points[:, 1]
    return np.stack([FEATURES[name](x1, x2) for name in features], axis=1)


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: messages quote what came, not all of it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _choice(name: str, value: Any, choices: Any) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SettingsError(name, f"The {name!r} setting must be one of "
                            f"{', '.join(map(repr, choices))}; got {shown(value)}.")
    return value


def _int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(name, f"The {name!r} setting must be an integer in [{low}, {high}]; "
                            f"got {shown(value)}.")
    if not low <= value <= high:
        raise SettingsError(name, f"The {name!r} setting must be an integer in [{low}, {high}]; "
                            f"got {shown(value)}.")
    return value


def _float(name: str, value: Any, low: float, high: float, open_low: bool = False) -> float:
    bounds = f"{'(' if open_low else '['}{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(name, f"The {name!r} setting must be a number in {bounds}; "
                            f"got {shown(value)}.")
    try:
        number = float(value)
    except OverflowError:  # an integer past the float range
        number = math.inf
    if not math.isfinite(number) or number > high or number < low or (open_low and number == low):
        raise SettingsError(name, f"The {name!r} setting must be a number in {bounds}; "
                            f"got {shown(value)}.")
    return number


def _features(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SettingsError("features", "The 'features' setting must be a non-empty list of "
                            f"{', '.join(FEATURES)}; got {shown(value)}.")
    for name in value:
        _choice("features", name, FEATURES)
    if len(set(value)) != len(value):
        raise SettingsError("features", "The 'features' setting lists a feature twice: "
                            f"{shown(value)}.")
    return tuple(name for name in FEATURES if name in value)  # the page's fixed order


def _layers(value: Any, lim: Limits) -> tuple[tuple[int, str, float], ...]:
    if not isinstance(value, list) or len(value) > lim.max_hidden_layers:
        raise SettingsError("layers", f"The 'layers' setting must be a list of at most "
                            f"{lim.max_hidden_layers} hidden layers; got "
                            f"{len(value) if isinstance(value, list) else shown(value)}"
                            f"{' layers' if isinstance(value, list) else ''}.")
    layers = []
    for i, layer in enumerate(value):
        if not isinstance(layer, dict) or set(layer) - {"units", "activation", "dropout"}:
            raise SettingsError("layers", f"Hidden layer {i} must be an object "
                                f'{{"units": int, "activation": str, "dropout": float}}; got '
                                f"{shown(layer)}.")
        units = _int(f"layers[{i}].units", layer.get("units"), 1, lim.max_units)
        act = _choice(f"layers[{i}].activation", layer.get("activation", "tanh"),
                      ACTIVATION_CHOICES)
        dropout = _float(f"layers[{i}].dropout", layer.get("dropout", 0.0), 0.0, lim.max_dropout)
        layers.append((units, act, dropout))
    return tuple(layers)
