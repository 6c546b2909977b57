"""glassnet.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier, same parameters.

On digits, iris, breast_cancer and wine (standardised, a stratified 75/25 split per seed), five
seeds, the defaults and ``solver='sgd'``: test accuracy and fit time. Prints a Markdown table.

    python bench/sklearn_compare.py [--seeds 5] [--threads 1]

BLAS runs single-threaded by default (``--threads 0`` leaves it alone): for layers this small,
threads cost more than they give, and a shared machine makes threaded timings erratic.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from glassnet.sklearn import MLPClassifier as GnMLP

DATASETS = {
    "digits": datasets.load_digits,
    "iris": datasets.load_iris,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
}
CONFIGS = {"defaults (adam)": {}, "solver='sgd'": {"solver": "sgd"}}


def run(cls, params, X_train, X_test, y_train, y_test, seed):
    est = cls(random_state=seed, **params)
    start = time.perf_counter()
    est.fit(X_train, y_train)
    return est.score(X_test, y_test), time.perf_counter() - start, est.n_iter_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (0: leave as is)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    with threadpool_limits(args.threads or None):
        for name, loader in DATASETS.items():
            X, y = loader(return_X_y=True)
            for config, params in CONFIGS.items():
                results: dict[str, list] = {"sklearn": [], "glassnet": []}
                for seed in range(args.seeds):
                    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25,
                                                              stratify=y, random_state=seed)
                    scaler = StandardScaler().fit(X_tr)
                    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
                    for label, cls in (("sklearn", SkMLP), ("glassnet", GnMLP)):
                        results[label].append(run(cls, params, X_tr, X_te, y_tr, y_te, seed))
                sk, gn = (np.array(results[k]) for k in ("sklearn", "glassnet"))
                rows.append((name, config, sk, gn))
    print("| data set | parameters | accuracy scikit-learn | accuracy glassnet | "
          "fit s scikit-learn | fit s glassnet | speed-up | epochs sk / gn |")
    print("|---|---|---|---|---|---|---|---|")
    for name, config, sk, gn in rows:
        print(f"| {name} | {config} | {sk[:, 0].mean():.4f} ± {sk[:, 0].std():.4f} | "
              f"{gn[:, 0].mean():.4f} ± {gn[:, 0].std():.4f} | {sk[:, 1].mean():.3f} | "
              f"{gn[:, 1].mean():.3f} | {sk[:, 1].mean() / gn[:, 1].mean():.2f}x | "
              f"{sk[:, 2].mean():.0f} / {gn[:, 2].mean():.0f} |")


if __name__ == "__main__":
    main()
