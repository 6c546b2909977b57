"""glassnet's default recipe against scikit-learn's MLPClassifier defaults, and the same
hyperparameters in glassnet, scikit-learn and PyTorch, on the digits data, over 5 seeds.

Run by hand: ``python bench/digits_recipe.py [--seeds 5]``. Prints two Markdown tables:

1. test accuracy and wall time of ``glassnet train``'s default recipe (``build_recipe`` with
   ``TRAIN_DEFAULTS``) and of ``sklearn.neural_network.MLPClassifier()`` with its defaults,
   both on the same stratified 80/20 split per seed with standardised inputs;
2. one architecture (64-100-10, relu, batch 200, 200 epochs, no regularisation) trained with
   SGD + Nesterov momentum and with Adam by glassnet, by scikit-learn and by a plain PyTorch
   loop started from glassnet's initial weights: final training loss and test accuracy.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from glassnet import mlp
from glassnet.cli import TRAIN_DEFAULTS, build_recipe
from glassnet.data import StandardScaler, load_data, train_test_split


def split(seed):
    d = load_data("digits")
    return train_test_split(d.X, d.y, test_size=0.2, stratify=True, seed=seed)


def default_recipe(seed):
    X_tr, X_te, y_tr, y_te = split(seed)
    settings = dict(TRAIN_DEFAULTS, seed=seed)
    start = time.perf_counter()
    net, fit_kwargs = build_recipe(settings, X_tr, 10, True)
    net.fit(X_tr, y_tr, progress=False, **fit_kwargs)
    seconds = time.perf_counter() - start
    return float(np.mean(net.predict(X_te) == y_te)), seconds


def sklearn_defaults(seed, **params):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X_tr, X_te, y_tr, y_te = split(seed)
    start = time.perf_counter()
    scaler = StandardScaler().fit(X_tr)
    clf = MLPClassifier(random_state=seed, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(scaler.transform(X_tr), y_tr)
    seconds = time.perf_counter() - start
    return float(clf.score(scaler.transform(X_te), y_te)), seconds, clf


SAME = dict(hidden=100, batch_size=200, epochs=200)


def glassnet_same(seed, solver):
    X_tr, X_te, y_tr, y_te = split(seed)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    net = mlp([64, SAME["hidden"], 10], loss="cross_entropy", seed=seed, dtype="float64")
    initial = {k: v.copy() for k, v in net.params().items()}
    if solver == "sgd":
        from glassnet.optim import SGD
        opt = SGD(learning_rate=0.001, momentum=0.9, nesterov=True)
    else:
        from glassnet.optim import Adam
        opt = Adam(learning_rate=0.001)
    history = net.fit(X_tr, y_tr, epochs=SAME["epochs"], batch_size=SAME["batch_size"],
                      optimizer=opt, seed=seed, progress=False)
    return history["loss"][-1], float(np.mean(net.predict(X_te) == y_te)), initial


def torch_same(seed, solver, initial):
    import torch

    torch.set_num_threads(2)
    X_tr, X_te, y_tr, y_te = split(seed)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    model = torch.nn.Sequential(torch.nn.Linear(64, SAME["hidden"]), torch.nn.ReLU(),
                                torch.nn.Linear(SAME["hidden"], 10)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(initial["0.W"]))
        model[0].bias.copy_(torch.from_numpy(initial["0.b"]))
        model[2].weight.copy_(torch.from_numpy(initial["1.W"]))
        model[2].bias.copy_(torch.from_numpy(initial["1.b"]))
    opt = (torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, nesterov=True)
           if solver == "sgd" else torch.optim.Adam(model.parameters(), lr=0.001))
    X, y = torch.from_numpy(X_tr), torch.from_numpy(y_tr)
    rng = np.random.default_rng(seed)
    for _ in range(SAME["epochs"]):
        total = 0.0
        for idx in np.array_split(rng.permutation(len(X)), -(-len(X) // SAME["batch_size"])):
            idx_t = torch.from_numpy(idx)
            loss = torch.nn.functional.cross_entropy(model(X[idx_t]), y[idx_t])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(X_te)).argmax(1).numpy() == y_te).mean())
    return total / len(X), acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    seeds = range(args.seeds)

    rows = {"glassnet default recipe": [], "scikit-learn MLPClassifier()": []}
    for seed in seeds:  # alternate the two, so that load on the machine hits both alike
        rows["glassnet default recipe"].append(default_recipe(seed))
        rows["scikit-learn MLPClassifier()"].append(sklearn_defaults(seed)[:2])
    print(f"Digits, stratified 80/20 splits, seeds 0..{args.seeds - 1}\n")
    print("| recipe | test accuracy per seed | mean | mean fit time (s) |")
    print("|---|---|---|---|")
    for name, results in rows.items():
        accs = [a for a, _ in results]
        print(f"| {name} | {' '.join(f'{a:.4f}' for a in accs)} | {np.mean(accs):.4f} | "
              f"{np.mean([t for _, t in results]):.2f} |")

    print(f"\nSame hyperparameters: 64-{SAME['hidden']}-10 relu, batch {SAME['batch_size']}, "
          f"{SAME['epochs']} epochs, lr 0.001, no regularisation (mean ± std over seeds)\n")
    print("| solver | library | final training loss | test accuracy |")
    print("|---|---|---|---|")
    for solver in ("sgd", "adam"):
        results: dict[str, list[tuple[float, float]]] = {"glassnet": [], "PyTorch": [],
                                                          "scikit-learn": []}
        for seed in seeds:
            loss, acc, initial = glassnet_same(seed, solver)
            results["glassnet"].append((loss, acc))
            results["PyTorch"].append(torch_same(seed, solver, initial))
            extra = dict(solver="sgd", momentum=0.9, nesterovs_momentum=True) if solver == "sgd" \
                else dict(solver="adam")
            acc, _, clf = sklearn_defaults(seed, hidden_layer_sizes=(SAME["hidden"],), alpha=0.0,
                                           batch_size=SAME["batch_size"], max_iter=SAME["epochs"],
                                           learning_rate_init=0.001, tol=0.0,
                                           n_iter_no_change=SAME["epochs"], **extra)
            results["scikit-learn"].append((clf.loss_curve_[-1], acc))
        for lib, values in results.items():
            losses, accs = np.array(values).T
            print(f"| {solver} | {lib} | {losses.mean():.4f} ± {losses.std():.4f} | "
                  f"{accs.mean():.4f} ± {accs.std():.4f} |")


if __name__ == "__main__":
    main()
