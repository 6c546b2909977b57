"""docs/files.md is a doctest: every output it shows is the output the code produces."""

import doctest
from pathlib import Path

FILES = Path(__file__).resolve().parent.parent / "docs" / "files.md"


def test_files_page_runs_as_shown():
    result = doctest.testfile(str(FILES), module_relative=False, report=True,
                              optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 10
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
