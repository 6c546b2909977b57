"""The classic MNIST results, reproduced from MNIST IDX files that you supply.

    python bench/mnist_classic.py --data mnist:DIR                 # all three networks
    python bench/mnist_classic.py --data mnist:DIR --net derivation --epochs 30

DIR holds MNIST's four files, plain or gzipped, under their usual names:
train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
t10k-labels-idx1-ubyte. Pixels are read as values in [0, 1]; the 10000 test images are
scored after training on the 60000 training images.

The networks (``--net``), each through ``glassnet.mlp`` and ``net.fit``:

``derivation``
    The back-propagation derivation's network: 784-30-10 sigmoid, the quadratic cost
    ``0.5 ||a - y||^2`` on one-hot targets (loss ``'mse'``), plain SGD with eta 3.0,
    mini-batches of 10, 30 epochs, weights and biases drawn from N(0, 1). About 95% in the
    literature.
``cross-entropy``
    784-100-10 sigmoid with sigmoid outputs and the cross-entropy cost (loss
    ``'binary_cross_entropy'`` on one-hot targets), L2 with lambda 5.0 (``l2 = lambda / n``),
    plain SGD with eta 0.5, mini-batches of 10, 30 epochs, weights from N(0, 1/n_in). About
    98% in the literature.
``tuned``
    glassnet's tuned recipe: 784-1024-10 ReLU with softmax + cross-entropy, dropout 0.2,
    L2 1e-5, Adam (learning rate 1e-3, cosine decay to 0), batches of 128, 30 epochs, the
    weights of the best epoch on a 10% validation split restored. Target: at least 98.4%.

Each prints its test accuracy and training time; ``--epochs`` shortens every run.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from glassnet import mlp
from glassnet.data import load_data, one_hot
from glassnet.optim import SGD, Adam
from glassnet.schedules import Cosine

_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
          "t10k-labels-idx1-ubyte")


def derivation(X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> tuple[Any, dict[str, Any]]:
    net = mlp([X.shape[1], 30, 10], activation="sigmoid", output="sigmoid", loss="mse",
              init="normal", seed=seed)
    return net, {"Y": one_hot(y, 10), "epochs": epochs, "batch_size": 10,
                 "optimizer": SGD(learning_rate=3.0)}


def cross_entropy(X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> tuple[Any, dict[str, Any]]:
    net = mlp([X.shape[1], 100, 10], activation="sigmoid", output="sigmoid",
              loss="binary_cross_entropy", init="scaled_normal", l2=5.0 / len(X), seed=seed)
    return net, {"Y": one_hot(y, 10), "epochs": epochs, "batch_size": 10,
                 "optimizer": SGD(learning_rate=0.5)}


def tuned(X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> tuple[Any, dict[str, Any]]:
    net = mlp([X.shape[1], 1024, 10], activation="relu", loss="cross_entropy", dropout=0.2,
              l2=1e-5, seed=seed)
    return net, {"Y": y, "epochs": epochs, "batch_size": 128, "optimizer": Adam(learning_rate=1e-3),
                 "lr_schedule": Cosine(total=epochs), "validation_split": 0.1,
                 "early_stopping": epochs}


NETS = {"derivation": (derivation, 30, "about 95% in the literature"),
        "cross-entropy": (cross_entropy, 30, "about 98% in the literature"),
        "tuned": (tuned, 30, "the target is at least 98.4%")}


def run(name: str, X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
        epochs: int | None, seed: int) -> float:
    build, default_epochs, quoted = NETS[name]
    epochs = epochs or default_epochs
    start = time.perf_counter()
    net, kwargs = build(X, y, epochs, seed)
    Y = kwargs.pop("Y")
    history = net.fit(X, Y, progress=False, seed=seed, **kwargs)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(net.predict_output(X_test).argmax(axis=1) == y_test))
    print(f"{name}: {net}, {len(history)} epochs in {seconds:.1f} s: test accuracy "
          f"{accuracy:.4f} (on the full MNIST: {quoted})", flush=True)
    return accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, metavar="mnist:DIR",
                        help="the folder of MNIST's IDX files, as mnist:DIR")
    parser.add_argument("--net", choices=[*NETS, "all"], default="all")
    parser.add_argument("--epochs", type=int, default=None, help="override every net's epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.data.startswith(("mnist:", "fashion-mnist:")):
        print(f"mnist_classic: error: --data must be mnist:DIR; got {args.data!r}", file=sys.stderr)
        return 2
    try:
        data = load_data(args.data)
    except FileNotFoundError as err:
        folder = args.data.partition(":")[2]
        print(f"mnist_classic: error: {err}\nPut MNIST's four IDX files (plain or .gz) into "
              f"{folder}: {', '.join(_FILES)}.", file=sys.stderr)
        return 1
    print(f"data: {args.data}, {len(data.X)} train / {len(data.X_test)} test images")
    for name in NETS if args.net == "all" else [args.net]:
        run(name, data.X, data.y, data.X_test, data.y_test, args.epochs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
