"""Run what a documentation page shows, and compare what it prints with what the page says.

    python tests/docs_check.py [PAGE ...] [--slow] [--show]

checks the pages of :data:`PAGES` (or the ones named), from the repository root or anywhere
else; ``tests/test_docs.py`` runs the same check in the test suite, one test per page.

What runs, block by block in page order, in one fresh temporary folder per page:

* a fenced block with ``$ `` lines: each ``$ command`` (``\\`` continues it on the next line)
  runs there, and the lines up to the next ``$`` are what it prints (standard output and
  error together, as a terminal shows them). ``glassnet ...`` runs through
  :func:`glassnet.cli.main`; anything else (``python bench/x.py``) runs in a shell, with
  ``python`` this interpreter, ``PYTHONPATH`` this checkout's ``src`` and the folders
  ``src``, ``bench`` and ``docs`` of the checkout reachable as on the page;
* a ``bash`` block without ``$`` lines: each line is a command that prints nothing;
* a ``python`` block with ``>>>`` prompts: a doctest (compared as below);
* any other ``python`` block: executed; it prints exactly the next block when that is a plain
  or ``text`` block right after it, else nothing.

The Python blocks of a page share one namespace. Other blocks (equations, layouts) are text.

Comparison: line by line after collapsing runs of white space; a line ``...`` stands for any
number of lines, and ``...`` inside a line for any text; timings (``0.03s``, ``1.2 s``, ``12 ms``, ``samples/s``) are not compared;
whole numbers must be equal, and a decimal number may differ by one unit in its last shown
digit (a float32 or float64 rounding that flips it) plus the block's ``atol + rtol * |x|``
(both 0 unless the block says).

An HTML comment on the line before a block changes what happens to it; options separated by
``;``:

``<!-- docs-check: skip (reason) -->``
    not run; the reason is required (MNIST files absent, a GPU, an installer, a benchmark).
``<!-- docs-check: slow -->``
    run only with ``--slow`` (``pytest -m slow``).
``<!-- docs-check: file NAME -->``
    not run: written to NAME in the page's folder, for a later command to use.
``<!-- docs-check: contains FILE -->``
    every line of the block is a line of FILE (written by an earlier block), in this order.
``<!-- docs-check: quotes PATH -->``
    the block quotes the checkout's file PATH (``src/glassnet/training.py``): every line of the
    block, its ``#`` comment left out, is a line of PATH (comments left out too), in this
    order; lines between may be left out (a ``...`` line says so to the reader). A page that shows the engine's code stays the engine's code.
``<!-- docs-check: exit N -->``
    the block's commands exit with status N (0 otherwise).
``<!-- docs-check: atol A (reason) -->``, ``<!-- docs-check: rtol R (reason) -->``
    a wider tolerance for the block's numbers: ``atol 1e-6`` lets numbers below 1e-6 stand
    for "rounding noise", such as the error of a finite difference, which moves with the BLAS
    build while everything above it stays put.
"""

from __future__ import annotations

import argparse
import contextlib
import doctest
import functools
import io
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAGES = (
    "README.md",
    "docs/derivation.md",
    "docs/distributed.md",
    "docs/engine.md",
    "docs/files.md",
    "docs/glassbox.md",
    "docs/gpu.md",
    "docs/playground.md",
    "docs/second_order.md",
    "docs/sklearn.md",
    "docs/teaching.md",
    "docs/tutorial.md",
)
"""The pages checked: a page joins by its line here (and leaves :data:`NOT_YET`)."""

NOT_YET: dict[str, str] = {}
"""Pages not checked yet, each with the reason; every other page must be in :data:`PAGES`."""

LINKED_FOLDERS = ("src", "bench", "docs")
"""Checkout folders a shell command on a page can name, as from the repository root."""

_FENCE = re.compile(r"^```(\S*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*docs-check:\s*(.*?)\s*-->\s*$")
_TIMING = re.compile(r"\d+(?:\.\d+)?\s?(?:s|ms|us|µs)\b|[\d.,]+\s?(?:samples|it)/s\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(rf"(?P<time>{_TIMING.pattern})|(?P<dots>\.\.\.)|(?P<number>{_NUMBER.pattern})")
_SHELLS = {"bash", "sh", "shell", "console"}
_OUTPUTS = {"", "text", "output"}


class PageError(ValueError):
    """A page that the checker cannot read (an unknown option, a skip without a reason)."""


@dataclass
class Block:
    """One fenced block of a page: where it starts, its language, its text, its options."""

    page: str
    line: int  # of the opening fence, from 1
    lang: str
    text: str
    options: dict[str, str] = field(default_factory=dict)
    end: int = 0  # the line of the closing fence
    output: Block | None = None  # the plain block right after a python block: what it prints

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def kind(self) -> str:
        if "skip" in self.options:
            return "skip"
        if "file" in self.options:
            return "file"
        if "contains" in self.options:
            return "contains"
        if "quotes" in self.options:
            return "quotes"
        if self.lang == "python":
            return "doctest" if re.search(r"^\s*>>> ", self.text, flags=re.MULTILINE) else "python"
        if self.lang in _SHELLS or re.search(r"^\$ ", self.text, flags=re.MULTILINE):
            return "shell"
        return "text"


@dataclass
class Outcome:
    block: Block
    status: str  # "passed", "failed", "skipped"
    detail: str = ""
    seconds: float = 0.0


# ----------------------------------------------------------------------------------- parsing

def _options(comment: str, where: str) -> dict[str, str]:
    options = {}
    for part in filter(None, (p.strip() for p in re.split(r";(?![^()]*\))", comment))):
        name, _, value = part.partition(" ")
        value = value.strip()
        if name != "skip":  # a value may carry its reason: "atol 1e-9 (rounding noise)"
            value = re.sub(r"\s*\(.*\)$", "", value)
        if name not in {"skip", "slow", "file", "contains", "quotes", "exit", "rtol", "atol"}:
            raise PageError(f"{where}: unknown docs-check option {name!r} in {comment!r}.")
        if name == "skip" and not re.fullmatch(r"\(.+\)", value):
            raise PageError(f"{where}: 'skip' needs its reason in brackets: "
                            "<!-- docs-check: skip (needs the MNIST files) -->.")
        if name in {"file", "contains", "quotes", "exit", "rtol", "atol"} and not value:
            raise PageError(f"{where}: docs-check option {name!r} needs a value.")
        options[name] = value.strip("()") if name == "skip" else value
    return options


def parse(text: str, page: str = "<page>") -> list[Block]:
    """The fenced blocks of a page, each python block paired with the output block after it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            i += 1
        if i == len(lines):
            raise PageError(f"{page}:{start + 1}: a code block is never closed.")
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        directive = _DIRECTIVE.match(lines[before]) if before >= 0 else None
        where = f"{page}:{start + 1}"
        blocks.append(Block(page, start + 1, match.group(1),
                            "\n".join(lines[start + 1:i]) + "\n",
                            _options(directive.group(1), where) if directive else {}, i + 1))
        if blocks[-1].kind == "shell":
            try:
                shell_commands(blocks[-1].text)
            except PageError as err:
                raise PageError(f"{where}: {err}") from None
        previous = blocks[-2] if len(blocks) > 1 else None
        if (previous is not None and previous.kind == "python" and not previous.output
                and blocks[-1].lang in _OUTPUTS and blocks[-1].kind == "text"
                and not blocks[-1].options
                and not any(s.strip() for s in lines[previous.end:start])):
            previous.output = blocks.pop()
        i += 1
    return blocks


def shell_commands(text: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a shell block."""
    lines = text.splitlines()
    if not any(line.startswith("$ ") for line in lines):  # a script: commands that print nothing
        script, continued = [], False
        for line in lines:
            if line.strip() and not line.lstrip().startswith("#"):
                script.append(line if continued else f"$ {line}")
            continued = line.rstrip().endswith("\\")
        lines = script
    pairs: list[tuple[str, list[str]]] = []
    k = 0
    while k < len(lines):
        if not lines[k].startswith("$ "):
            if not pairs:
                raise PageError(f"a shell block shows output before its first $ command: "
                                f"{lines[k]!r}")
            pairs[-1][1].append(lines[k])
            k += 1
            continue
        command = lines[k][2:]
        while command.rstrip().endswith("\\") and k + 1 < len(lines):
            k += 1
            command = command.rstrip()[:-1].rstrip() + " " + lines[k].strip()
        pairs.append((command.strip(), []))
        k += 1
    return [(command, "\n".join(out)) for command, out in pairs]


# -------------------------------------------------------------------------------- comparing

@functools.lru_cache(maxsize=4096)
def _pattern(want: str) -> tuple[re.Pattern, tuple[str, ...]]:
    """A regular expression for the lines that can be ``want``, and ``want``'s numbers.

    Text matches itself (white space collapsed), a timing any timing, ``...`` inside a line
    any text, and a number any number, captured to be compared with ``want``'s.
    """
    regex, numbers, at = [], [], 0
    for token in _TOKEN.finditer(want):
        regex.append(re.escape(want[at:token.start()]))
        kind = token.lastgroup
        regex.append({"time": f"(?:{_TIMING.pattern})", "dots": ".*?",
                      "number": f"({_NUMBER.pattern})"}[kind])
        if kind == "number":
            numbers.append(token.group())
        at = token.end()
    regex.append(re.escape(want[at:]))
    return re.compile("".join(regex)), tuple(numbers)


def _close(want: str, got: str, rtol: float, atol: float) -> bool:
    """Equal whole numbers; decimals within a unit of ``want``'s last digit + atol + rtol|want|."""
    mantissa, _, exponent = want.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    unit = 10.0 ** (int(exponent or 0) - decimals) if ("." in want or exponent) else 0.0
    return abs(float(want) - float(got)) <= unit * (1 + 1e-9) + atol + rtol * abs(float(want))


def same_line(want: str, got: str, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """Whether an output line is the page's line, up to timings and number rounding."""
    pattern, numbers = _pattern(" ".join(want.split()))
    match = pattern.fullmatch(" ".join(got.split()))
    return match is not None and all(
        _close(w, g, rtol, atol) for w, g in zip(numbers, match.groups()))


def _trim(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def differences(want: str, got: str, rtol: float = 0.0, atol: float = 0.0) -> str:
    """Empty when ``got`` is what the page shows (``...`` lines skip any lines), else why not."""
    expected, actual = _trim(want), _trim(got)
    segments: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == "...":
            segments.append([])
        else:
            segments[-1].append(line)

    def matches_at(segment: list[str], at: int) -> bool:
        return (at + len(segment) <= len(actual) and
                all(same_line(w, g, rtol, atol) for w, g in zip(segment, actual[at:])))

    def first_miss(segment: list[str], at: int) -> str:
        for k, line in enumerate(segment):
            got_line = actual[at + k] if at + k < len(actual) else "<end of output>"
            if not same_line(line, got_line, rtol, atol):
                return f"line {at + k + 1}: the page has\n    {line}\n  the command printed\n" \
                       f"    {got_line}"
        return "the output goes on after the page's last line"

    if len(segments) == 1:  # no "...": the whole output
        if matches_at(expected, 0) and len(actual) == len(expected):
            return ""
        return first_miss(expected + ["<end of output>"], 0)
    head, *middle, tail = segments
    if not matches_at(head, 0):
        return first_miss(head, 0)
    at = len(head)
    for segment in middle:
        found = next((k for k in range(at, len(actual) - len(segment) + 1)
                      if matches_at(segment, k)), None)
        if found is None:
            return f"these lines of the page are not in the output (from line {at + 1} on):\n" + \
                "\n".join(f"    {line}" for line in segment)
        at = found + len(segment)
    end = len(actual) - len(tail)
    if end < at or not matches_at(tail, end):
        return first_miss(tail, max(at, end))
    return ""


# --------------------------------------------------------------------------------- running

class _Checker(doctest.OutputChecker):
    def __init__(self, block: Block):
        self.block = block

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return not differences(want, got, *_tolerance(self.block))

    def output_difference(self, example, got, optionflags):
        return differences(example.want, got, *_tolerance(self.block)) + "\n"


def _tolerance(block: Block) -> tuple[float, float]:
    return float(block.options.get("rtol", 0)), float(block.options.get("atol", 0))


@contextlib.contextmanager
def _captured():
    """Standard output and error into one buffer, warnings shown as Python shows them."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), \
            warnings.catch_warnings():
        warnings.simplefilter("default")
        yield buffer


def _run_command(command: str, folder: Path) -> tuple[int, str]:
    argv = shlex.split(command)
    if argv and argv[0] == "glassnet":
        from glassnet.cli import main

        with _captured() as out:
            try:
                status = main(argv[1:])
            except SystemExit as exit_:  # --help
                status = int(exit_.code or 0)
        return status, out.getvalue()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MPLBACKEND="Agg",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    command = re.sub(r"(^|[\s;&|(])python3?(?=\s)", rf"\g<1>{shlex.quote(sys.executable)}",
                     command)
    done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    return done.returncode, done.stdout


def _code_line(line: str) -> str:
    """A line of code without its ``#`` comment, white space collapsed ('' for none left)."""
    return " ".join(re.sub(r"(^|\s)#.*$", "", line).split())


def _check_quote(block: Block) -> str:
    """Every code line of ``block`` is a line of its ``quotes`` file, in order."""
    name = block.options["quotes"]
    path = ROOT / name
    if not path.is_file():
        return f"quotes {name}: no such file in the checkout"
    lines = [_code_line(line) for line in path.read_text().splitlines()]
    for want in filter(None, map(_code_line, block.text.splitlines())):
        if want == "...":  # the lines between are left out, as they may be anywhere
            continue
        if want not in lines:
            return f"{name} has no line (after the ones before)\n    {want}"
        lines = lines[lines.index(want) + 1:]
    return ""


def _run_block(block: Block, folder: Path, namespace: dict, show: bool) -> str:
    """Run one block; returns what differs from the page (empty when nothing does)."""
    kind = block.kind
    if kind == "file":
        (folder / block.options["file"]).write_text(block.text)
        return ""
    if kind == "contains":
        path = folder / block.options["contains"]
        if not path.is_file():
            return f"{block.options['contains']} was not written by the blocks before"
        lines = path.read_text().splitlines()
        for want in _trim(block.text):
            found = next((k for k, got in enumerate(lines)
                          if same_line(want, got, *_tolerance(block))), None)
            if found is None:
                return f"{block.options['contains']} has no line (after the ones before)\n" \
                       f"    {want}"
            lines = lines[found + 1:]
        return ""
    if kind == "quotes":
        return _check_quote(block)
    if kind == "doctest":
        test = doctest.DocTestParser().get_doctest(block.text, namespace, block.where,
                                                   block.page, block.line)
        test.globs = namespace  # DocTest copies its globals; the page's blocks share them
        report = io.StringIO()
        runner = doctest.DocTestRunner(checker=_Checker(block), verbose=show,
                                       optionflags=doctest.NORMALIZE_WHITESPACE)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            result = runner.run(test, out=report.write, clear_globs=False)
        if show:
            print(report.getvalue())
        return report.getvalue() if result.failed else ""
    if kind == "python":
        with _captured() as out:
            try:
                exec(compile(block.text, block.where, "exec"), namespace)
            except Exception as err:  # noqa: BLE001 - the page's code failed: say how
                return f"raised {type(err).__name__}: {err}\n{out.getvalue()}"
        if show:
            print(out.getvalue())
        want = block.output.text if block.output else ""
        problem = differences(want, out.getvalue(), *_tolerance(block))
        return problem and f"{problem}\nit printed:\n{out.getvalue()}"
    if kind == "shell":
        expected_status = int(block.options.get("exit", 0))
        for command, want in shell_commands(block.text):
            status, got = _run_command(command, folder)
            if show:
                print(f"$ {command}\n{got}")
            if status != expected_status:
                return f"$ {command}\nexited with status {status}, not {expected_status}:\n{got}"
            problem = differences(want, got, *_tolerance(block))
            if problem:
                return f"$ {command}\n{problem}\nit printed:\n{got}"
        return ""
    return ""


def check_page(page: str, slow: bool = False, show: bool = False) -> list[Outcome]:
    """Run every block of a page (path relative to the repository root) in a fresh folder."""
    return check_text((ROOT / page).read_text(), page, slow, show)


def check_text(text: str, page: str = "<page>", slow: bool = False,
               show: bool = False) -> list[Outcome]:
    """Run every block of a page's text in a fresh folder; one outcome per block that runs."""
    blocks = parse(text, page)
    outcomes = []
    namespace: dict = {"__name__": "__main__"}
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="glassnet-docs-") as tmp:
        folder = Path(tmp)
        for name in LINKED_FOLDERS:
            (folder / name).symlink_to(ROOT / name, target_is_directory=True)
        os.environ.setdefault("MPLBACKEND", "Agg")
        os.chdir(folder)
        try:
            for block in blocks:
                if block.kind == "text":
                    continue
                if block.kind == "skip":
                    outcomes.append(Outcome(block, "skipped", block.options["skip"]))
                    continue
                if "slow" in block.options and not slow:
                    outcomes.append(Outcome(block, "skipped", "slow (run with --slow)"))
                    continue
                start = time.perf_counter()
                problem = _run_block(block, folder, namespace, show)
                outcomes.append(Outcome(block, "failed" if problem else "passed", problem,
                                        time.perf_counter() - start))
        finally:
            os.chdir(here)
    return outcomes


def missing_references(page: str) -> list[str]:
    """The links (``[text](path)``, ``![alt](img.png)``) and the repository paths in backticks
    (``src/...``, ``tests/...``, ``bench/...``, ``docs/...``) of a page that name no file."""
    text = (ROOT / page).read_text()
    here = (ROOT / page).parent
    missing = [target for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text)
               if not re.match(r"[a-z]+:", target) and not (here / target).exists()]
    missing += [path for path in re.findall(r"`((?:src|tests|bench|docs|\.ci)/[\w./-]*\w)`", text)
                if not (ROOT / path).exists()]
    return missing


def unlisted_pages() -> list[str]:
    """Markdown pages of the repository that are neither checked nor excused."""
    pages = ["README.md", *(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))]
    return sorted(p for p in pages if p not in PAGES and p not in NOT_YET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help=f"default: {', '.join(PAGES)}")
    parser.add_argument("--slow", action="store_true", help="run the blocks marked slow too")
    parser.add_argument("--show", action="store_true", help="print what every block prints")
    args = parser.parse_args(argv)
    pages = [Path(p).resolve().relative_to(ROOT).as_posix() if Path(p).exists() else p
             for p in args.pages] or list(PAGES)
    failed = 0
    for page in pages:
        for outcome in check_page(page, slow=args.slow, show=args.show):
            b = outcome.block
            print(f"{b.where:<28} {b.kind:<8} {outcome.status:<7} {outcome.seconds:6.1f} s"
                  + (f"  ({outcome.detail})" if outcome.status == "skipped" else ""))
            if outcome.status == "failed":
                failed += 1
                print("    " + outcome.detail.replace("\n", "\n    "))
    print(f"{failed} block(s) failed" if failed else "every block printed what its page shows")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
