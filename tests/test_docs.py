"""The documentation reproduces: every command and code block of README.md and docs/ prints
what its page shows (tests/docs_check.py), and the pages' links and claims hold."""

import re
import textwrap

import numpy as np
import pytest

from docs_check import (
    NOT_YET,
    PAGES,
    ROOT,
    PageError,
    check_page,
    check_text,
    differences,
    missing_references,
    parse,
    same_line,
    shell_commands,
    unlisted_pages,
)
from glassnet import get_activation
from glassnet.mistakes import MISTAKES


def _failures(outcomes):
    return "\n\n".join(f"{o.block.where} ({o.block.kind}):\n{o.detail}"
                       for o in outcomes if o.status == "failed")


def _slow_selected(config) -> bool:
    expression = config.getoption("markexpr") or ""
    return "slow" in expression and "not slow" not in expression


# ------------------------------------------------------------------------------- the pages

@pytest.mark.parametrize("page", PAGES)
def test_page_prints_what_it_shows(page):
    pytest.importorskip("sklearn")  # load_data('digits'), the tutorial's estimator
    outcomes = check_page(page)
    assert not _failures(outcomes), _failures(outcomes)
    for outcome in outcomes:  # every block that does not run says why
        assert outcome.status == "passed" or outcome.detail, outcome.block.where


SLOW_PAGES = [p for p in PAGES if any("slow" in b.options for b in parse((ROOT / p).read_text()))]


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_PAGES)
def test_slow_blocks_print_what_the_page_shows(page, request):
    if not _slow_selected(request.config):
        pytest.skip("blocks marked <!-- docs-check: slow --> run with pytest -m slow")
    outcomes = check_page(page, slow=True)
    assert not _failures(outcomes), _failures(outcomes)


def test_every_page_is_checked_or_excused():
    assert unlisted_pages() == []
    assert not set(PAGES) & set(NOT_YET)
    assert all(reason for reason in NOT_YET.values())


@pytest.mark.parametrize("page", PAGES)
def test_links_and_paths_name_files(page):
    assert missing_references(page) == []


def test_most_blocks_run():
    """Skipping is for what CI cannot do (MNIST files, a GPU, installers, benchmarks)."""
    blocks = [b for p in PAGES for b in parse((ROOT / p).read_text(), p) if b.kind != "text"]
    skipped = [b.where for b in blocks if b.kind == "skip"]
    assert len(blocks) > 40 and len(skipped) <= len(blocks) // 4, (len(blocks), skipped)


# ------------------------------------------------------------------ claims the pages make

def test_derivation_claims_hold():
    derivation = (ROOT / "docs" / "derivation.md").read_text()
    sigmoid = get_activation("sigmoid")
    z = np.linspace(-8, 8, 16001)
    fprime = sigmoid.derivative(z, sigmoid.forward(z))
    assert fprime.max() == 0.25 and z[fprime.argmax()] == 0  # sigma' <= 1/4, only at z = 0
    a = sigmoid.forward(z)
    assert a.min() > 0 and a.max() < 1  # the sigmoid's range is (0, 1)
    rows = re.findall(r"\| `(\w+)`(?:, `(\w+)`)? \|$", derivation, flags=re.MULTILINE)
    names = [n for pair in rows for n in pair if n]
    assert len(names) == 10 and all(n in MISTAKES for n in names), names
    for heading in ["## The four equations", "## The sigmoid's derivative is at most 1/4",
                    "## The gradient through an identity skip",
                    "## Forward mode: the Jacobian-vector product"]:
        assert heading in derivation


def test_docs_stand_on_their_own():
    """No doc or docstring cites the derivation texts that are not in the repository."""
    files = [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py"),
             *(ROOT / "docs").rglob("*.ipynb")]
    for path in files:
        text = path.read_text()
        assert not re.search(r"\b(derivation|text)s? 00\d", text, flags=re.IGNORECASE), path


# --------------------------------------------------------------------- the checker itself

@pytest.mark.parametrize("want, got", [
    ("loss 0.7033  lr 0.005  0.04s", "loss 0.7033  lr 0.005  1.73s"),      # a timing
    ("trained 67 epochs in 1.97 s; took 0.33 s more", "trained 67 epochs in 12.5 s; took 3 s more"),
    ("W1  89,352 samples/s", "W1  1,200 samples/s"),
    ("test accuracy: 0.9749", "test accuracy: 0.9750"),                   # a rounding flip
    ("error 4.67e-11", "error 4.68e-11"),
    ("a   b    c", " a b c "),                                            # white space
])
def test_same_line_ignores_timings_rounding_and_spacing(want, got):
    assert same_line(want, got)


@pytest.mark.parametrize("want, got", [
    ("test accuracy: 0.9749", "test accuracy: 0.9752"),                   # two units off
    ("67 epochs", "68 epochs"),                                           # whole numbers exact
    ("params=9610", "params=9611"),
    ("error 4.67e-11", "error 4.67e-10"),                                 # the exponent
    ("loss 0.7033", "loss -0.7033"),                                      # the sign
    ("PASSED, worst error 2e-12", "FAILED, worst error 2e-12"),           # the words
    ("[0.79, -0.14]", "[0.79, -0.14, 0.5]"),                              # one number more
    ("loss 0.70", "loss 0.70s"),                                          # a timing is not a loss
])
def test_same_line_catches_changed_numbers_and_words(want, got):
    assert not same_line(want, got)


def test_tolerances_widen_only_what_they_say():
    assert same_line("err 2.58e-12", "err 9.10e-11", atol=1e-6)
    assert not same_line("err 2.58e-12", "err 3.00e-06", atol=1e-6)
    assert not same_line("params 30", "params 31", atol=1e-6)
    assert same_line("loss 1.000", "loss 1.004", rtol=1e-2)


def test_ellipsis_lines_skip_any_lines_in_order():
    got = "a 1\nb 2\nc 3\nd 4\ne 5\n"
    assert differences("a 1\n...\nc 3\n...\n", got) == ""
    assert differences("...\nd 4\ne 5", got) == ""
    assert differences("a 1\n...\ne 5", got) == ""
    assert differences(got, got) == ""
    assert "c 3" in differences("a 1\n...\nd 4\n...\nc 3\n...", got)  # out of order
    assert differences("a 1\nb 2", got)                              # output goes on
    assert differences("a 1\nb 2\nc 3\nd 4\ne 5\nf 6", got)          # output stops short
    assert differences("...\nb 2", got)                              # the end is anchored
    assert differences("b 2\n...", got)                              # so is the start
    assert differences("a 1\n...\nb 2\nc 4\n...", got)               # a number inside a skip run


def test_shell_blocks_split_commands_outputs_and_continuations():
    text = "$ glassnet a \\\n    --b 1\nout 1\nout 2\n$ glassnet c\n"
    assert shell_commands(text) == [("glassnet a --b 1", "out 1\nout 2"), ("glassnet c", "")]
    assert shell_commands("# a comment\nglassnet a \\\n  --b 1\n") == [("glassnet a --b 1", "")]


PAGE = """\
# A page

<!-- docs-check: atol 1e-6 (finite-difference errors are rounding noise) -->
```
$ glassnet gradcheck --sizes 3,4,2 --activation tanh
{gradcheck}
```

```python
import numpy as np
print(np.arange(3).sum() + {offset})
```

```text
3
```

```python
>>> np.float64({offset}) + 1
np.float64(1.0)

```

<!-- docs-check: file net.py -->
```python
ACTIVATION = "sigmoid"
```

<!-- docs-check: exit {status} -->
```
$ glassnet info missing.npz
{error}
```

```
equations: z = W a + b, not run
```
"""


def _page(tmp_path, **changes):
    values = dict(offset=0, status=2, error="glassnet: error: No model file at ...",
                  gradcheck="...")
    values.update(changes)
    return PAGE.format(**values)


def test_a_true_page_passes(tmp_path):
    outcomes = check_text(_page(tmp_path))
    assert [o.status for o in outcomes] == ["passed"] * 5, _failures(outcomes)
    assert [o.block.kind for o in outcomes] == ["shell", "python", "doctest", "file", "shell"]


@pytest.mark.parametrize("changes, failing", [
    (dict(offset=1), ["python", "doctest"]),                    # the code prints other numbers
    (dict(status=0), ["shell 2"]),                              # the command fails otherwise
    (dict(error="glassnet: error: no such thing"), ["shell 2"]),  # or says something else
    (dict(gradcheck="...\ngradcheck FAILED\n..."), ["shell 1"]),  # a verdict it does not print
    (dict(gradcheck="layer  type   shape   activation  params"), ["shell 1"]),  # half the output
    (dict(gradcheck="...\n1      Dense  4 -> 3  identity    10\n..."), ["shell 1"]),  # a width
])
def test_a_page_that_says_something_else_fails(tmp_path, changes, failing):
    outcomes = check_text(_page(tmp_path, **changes), "page.md")
    names = ["shell 1", "python", "doctest", "file", "shell 2"]
    failed = [name for name, o in zip(names, outcomes) if o.status == "failed"]
    assert failed == failing, _failures(outcomes)


def test_code_that_prints_without_shown_output_fails():
    outcomes = check_text("```python\nprint('hello')\n```\n\nSome prose.\n\n```\nhello\n```\n")
    assert outcomes[0].status == "failed" and "hello" in outcomes[0].detail


def test_code_that_raises_fails():
    outcomes = check_text("```python\nimport glassnet\nglassnet.mlp([2, 0, 1])\n```\n")
    assert outcomes[0].status == "failed" and "ValueError" in outcomes[0].detail


def test_contains_compares_with_a_file_an_earlier_block_wrote():
    made = "```\n$ glassnet worksheet --seed 3 --out sheet\n...\n```\n\n" \
           "<!-- docs-check: contains sheet/solution.md -->\n```\n{}\n```\n"
    right, wrong = (made.format(f"# Back-propagation worksheet {n}: solution") for n in (3, 4))
    assert check_text(right)[-1].status == "passed"
    assert check_text(wrong)[-1].status == "failed"


@pytest.mark.parametrize("code, status", [
    ("def gradient(net: \"Network\", X_b: np.ndarray, Y_b: np.ndarray,\n"
     "    net.propagate(X_b)  # the forward pass", "passed"),  # comments may differ
    ("net.propagate(X_b)\n...\nreturn net.backward(Y_b, w_b, after_layer=after_layer)", "passed"),
    ("return net.backward(Y_b, w_b, after_layer=after_layer)\nnet.propagate(X_b)", "failed"),
    ("net.propagate(X_b)\nreturn net.backward(Y_b, w_b)", "failed"),  # not the engine's line
])
def test_quotes_holds_a_block_to_the_source_it_shows(code, status):
    text = f"<!-- docs-check: quotes src/glassnet/training.py -->\n```python\n{code}\n```\n"
    assert check_text(text)[-1].status == status


def test_skipped_and_slow_blocks_do_not_run():
    text = textwrap.dedent("""\
        <!-- docs-check: skip (needs the MNIST files) -->
        ```
        $ glassnet train --data mnist:nowhere
        ```

        <!-- docs-check: slow -->
        ```
        $ glassnet info nowhere.npz
        ```
        """)
    outcomes = check_text(text)
    assert [(o.status, o.detail) for o in outcomes] == [
        ("skipped", "needs the MNIST files"), ("skipped", "slow (run with --slow)")]
    assert check_text(text, slow=True)[1].status == "failed"  # it ran, and exited 1


@pytest.mark.parametrize("comment, match", [
    ("skip", "reason"), ("skip needs MNIST", "reason"), ("skipp (x)", "unknown"),
    ("exit", "needs a value"), ("file", "needs a value"), ("rtol", "needs a value"),
])
def test_a_page_the_checker_cannot_read_is_an_error(comment, match):
    with pytest.raises(PageError, match=match):
        parse(f"<!-- docs-check: {comment} -->\n```\n$ glassnet info\n```\n", "p.md")
    with pytest.raises(PageError, match="never closed"):
        parse("```python\nprint(1)\n", "p.md")


def test_a_shell_block_with_output_before_its_command_is_an_error():
    with pytest.raises(PageError, match=r"p.md:1: .*before its first \$ command"):
        parse("```\nsaved model\n$ glassnet train\n```\n", "p.md")
