"""docs/derivation.md and docs/teaching.md reproduce: their commands run, their outputs match."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

from glassnet import get_activation
from glassnet.cli import main
from glassnet.mistakes import MISTAKES

ROOT = Path(__file__).resolve().parents[1]
TEACHING = (ROOT / "docs" / "teaching.md").read_text()
DERIVATION = (ROOT / "docs" / "derivation.md").read_text()


def _block(doc, label, nth=0):
    """The fenced block after ``<!-- doc-test: label -->`` (``nth`` further blocks on)."""
    start = doc.index(f"<!-- doc-test: {label} -->")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", doc[start:], flags=re.S)
    return blocks[nth]


def test_steps_example_prints_what_the_page_says():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_block(TEACHING, "steps"), {})
    assert out.getvalue() == _block(TEACHING, "steps", 1)


def test_playground_example_prints_what_the_page_says():
    pytest.importorskip("starlette", reason="the playground needs the web extra")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(_block(TEACHING, "playground"), {})
    assert out.getvalue() == _block(TEACHING, "playground", 1)


def test_check_example_prints_what_the_page_says(tmp_path, capsys):
    path = tmp_path / "student.py"
    path.write_text(_block(TEACHING, "student.py"))
    command, *expected = _block(TEACHING, "check").splitlines()
    assert command == "$ glassnet check student.py"
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == expected + [""]  # the report, then print's newline
    said = re.sub(r"\s+", " ", TEACHING[TEACHING.index("and one line on standard error"):])
    assert "`" + err.strip() + "`" in said


def test_worksheet_example_writes_what_the_page_says(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command, output = _block(TEACHING, "worksheet").splitlines()
    assert main(command.split()[2:]) == 0
    assert capsys.readouterr().out.strip() == output
    solution = (tmp_path / "sheet" / "solution.md").read_text()
    for line in _block(TEACHING, "solution").splitlines():
        assert line in solution.splitlines()


def test_pictures_exist():
    for name in re.findall(r"\]\((img/[^)]+\.png)\)", TEACHING):
        assert (ROOT / "docs" / name).stat().st_size > 10_000, name


def test_derivation_worked_example_is_what_explain_prints(capsys):
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    block = re.search(r"```\n(delta\^2 = .*?)```", DERIVATION, flags=re.S).group(1)
    for line in block.strip().splitlines():
        assert line.strip() in out, line


def test_derivation_claims_hold():
    sigmoid = get_activation("sigmoid")
    z = np.linspace(-8, 8, 16001)
    fprime = sigmoid.derivative(z, sigmoid.forward(z))
    assert fprime.max() == 0.25 and z[fprime.argmax()] == 0  # sigma' <= 1/4, only at z = 0
    a = sigmoid.forward(z)
    assert a.min() > 0 and a.max() < 1  # the sigmoid's range is (0, 1)
    names = [n for pair in re.findall(r"\| `(\w+)`(?:, `(\w+)`)? \|$", DERIVATION, flags=re.M)
             for n in pair if n]
    assert len(names) == 10 and all(n in MISTAKES for n in names), names
    for heading in ["## The four equations", "## The sigmoid's derivative is at most 1/4",
                    "## The gradient through an identity skip",
                    "## Forward mode: the Jacobian-vector product"]:
        assert heading in DERIVATION


def test_docs_stand_on_their_own():
    """No doc or docstring cites the derivation texts that are not in the repository."""
    files = [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py"),
             *(ROOT / "docs").rglob("*.ipynb")]
    for path in files:
        text = path.read_text()
        assert not re.search(r"\b(derivation|text)s? 00\d", text, flags=re.I), path
