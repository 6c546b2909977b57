"""docs/tutorial.md is a doctest: every output it shows is the output the code produces."""

import doctest
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"


@pytest.mark.slow
def test_tutorial_runs_as_shown():
    pytest.importorskip("sklearn")
    result = doctest.testfile(str(TUTORIAL), module_relative=False, report=True,
                              optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} tutorial examples failed"
