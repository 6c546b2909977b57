"""glassnet.sklearn: scikit-learn's estimator checks, the sklearn conventions, the glass box."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import glassnet  # noqa: E402
from glassnet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

EXPECTED_FAILED = {}

CHECKED = [MLPClassifier(max_iter=50, random_state=0), MLPRegressor(max_iter=200, random_state=0)]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CHECKED, expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
