"""The worst gradcheck error over the test suite's activation x loss x depth x residual matrix.

Run by hand: ``PYTHONPATH=src python bench/gradcheck_matrix.py``. Builds each network of
``tests/test_oracle_torch.py``'s CASES (float64) and prints the worst relative error of
``glassnet.gradcheck`` (fourth-order central differences, every entry) and where it occurs.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_oracle_torch import CASES, build, targets  # noqa: E402

from glassnet import gradcheck  # noqa: E402

worst, where = 0.0, None
for act, loss, depth, residual in CASES:
    rng = np.random.default_rng(depth * 7 + residual)
    net = build(4, [5] * (depth - 1) + [3], act, loss, residual, seed=depth)
    X = rng.normal(size=(6, 4))
    report = gradcheck(net, X, targets(loss, 6, 3, rng))
    if report.max_rel_error > worst:
        worst, where = report.max_rel_error, (act, loss, depth, residual)
print(f"{len(CASES)} networks; worst relative error {worst:.1e} at "
      f"activation={where[0]}, loss={where[1]}, depth={where[2]}, residual={where[3]}")
