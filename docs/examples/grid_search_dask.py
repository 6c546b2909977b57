"""A hyperparameter sweep on a Dask cluster through joblib: GridSearchCV's fits run as tasks.

scikit-learn parallelises ``GridSearchCV`` with joblib; inside ``joblib.parallel_config
(backend="dask")`` joblib hands each (parameters, fold) fit to the Dask scheduler of the
active ``distributed.Client``. Here the cluster is a ``LocalCluster`` on this machine; for
several machines, start ``dask scheduler`` on one and ``dask worker tcp://HOST:8786`` on the
others and give ``Client("tcp://HOST:8786")`` instead: nothing else changes.

Run: ``python docs/examples/grid_search_dask.py``.
"""

from __future__ import annotations

import warnings

import joblib
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from glassnet.sklearn import MLPClassifier

GRID = {"hidden_layer_sizes": [(16,), (32,)], "learning_rate_init": [1e-3, 1e-2]}
ESTIMATOR = MLPClassifier(max_iter=30, random_state=0)


def main(n_workers: int = 2) -> GridSearchCV:
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        search = GridSearchCV(ESTIMATOR, GRID, cv=3, n_jobs=-1)
        with joblib.parallel_config(backend="dask"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=30: a short sweep
            search.fit(X, y)
    return search


if __name__ == "__main__":
    result = main()
    print(f"best {result.best_params_}  cv accuracy {result.best_score_:.4f}")
