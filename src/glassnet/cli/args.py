"""The argument parser and the argument types shared by the subcommands.

Each type turns a flag's text into a value or raises ``argparse.ArgumentTypeError`` with a
one-line reason; :class:`Parser` turns every argparse complaint into a :class:`UsageError`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import UsageError, closest

__all__ = ["Parser", "check_flags", "choice", "count", "epochs", "fraction", "int_list",
           "name_list", "non_negative", "non_negative_int", "number", "on_off_list", "add_limits", "port",
           "positive", "samples", "seed", "show", "steps"]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of printing and exiting."""

    def error(self, message: str) -> Any:  # argparse would print usage and sys.exit(2)
        command = self.prog.removeprefix("glassnet").strip()
        where = f"{command}: " if command else ""
        hint = f"glassnet {command} --help" if command else "glassnet --help"
        raise UsageError(f"{where}{message} (see '{hint}')")


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings]


def _is_flag(token: str) -> bool:
    """``--epochs``, ``-h``; not ``-5`` or ``-0.5`` (a negative value) nor ``-`` alone."""
    if not token.startswith("-") or token in ("-", "--"):
        return False
    try:
        float(token)
        return False
    except ValueError:
        return True


def check_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Refuse an unknown command or ``--flag`` before argparse does, naming the closest valid one.

    argparse's own message lists the unknown words only; this one says, say,
    ``unknown flag --epohcs (did you mean --epochs?)``. Unique prefixes of a long flag are
    fine, as argparse accepts them; negative numbers are values, not flags.
    """
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands = dict(action.choices)
    current, name = parser, ""
    for token in argv:
        if token == "--":
            return
        if not token.startswith("-") and not name:  # the first word is the command
            if token not in commands:
                raise UsageError(f"unknown command {token!r}{closest(token, commands)}; "
                                 f"choose from {', '.join(commands)} (see 'glassnet --help')")
            current, name = commands[token], token
        elif _is_flag(token):
            flag = token.split("=", 1)[0]
            known = _flags(current)
            if flag not in known and sum(k.startswith(flag) for k in known) != 1:
                if any(k.startswith(flag) for k in known):
                    continue  # an ambiguous prefix: argparse names the candidates
                where = f"glassnet {name}" if name else "glassnet"
                raise UsageError(f"{name + ': ' if name else ''}unknown flag {flag}"
                                 f"{closest(flag, known)} (see '{where} --help')")


def int_list(text: str) -> list[int]:
    """``"64,32"`` -> ``[64, 32]``: layer sizes, each > 0."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 64,32; got {text!r}")
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be integers > 0; got {text!r}")
    return sizes


def network_sizes(text: str) -> list[int]:
    """``"2,3,2"`` -> ``[2, 3, 2]``: a network's sizes, input and output included (at least 2)."""
    sizes = int_list(text)
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(
            f"expected at least an input and an output size, like 2,3,2; got {text!r}")
    return sizes


def number(kind: type, valid: Callable[[Any], bool], rule: str) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)`` that passes ``valid``; else a one-line error naming
    ``rule``. A float must be finite first: ``nan``, ``inf``, ``-inf`` and ``1e400`` (which
    reads as inf) are refused here, so that no flag hands them to the optimiser or the network.
    Every numeric flag of every command goes through this (the tests walk the parsers)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}; got {text!r}")
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number; got {text}")
        if not valid(value):
            raise argparse.ArgumentTypeError(f"must be {rule}; got {text}")
        return value
    parse.__name__ = f"{kind.__name__} {rule}"
    parse.kind = kind  # type: ignore[attr-defined]
    return parse


def positive(kind: type) -> Callable[[str], Any]:
    return number(kind, lambda value: value > 0, "> 0")


def count(limit: int, why: str, low: int = 1) -> Callable[[str], int]:
    """An integer in ``low..limit``; ``why`` says where the limit comes from."""
    parse = number(int, lambda value: low <= value <= limit,
                   f"an integer in {low}..{limit:,} ({why})")
    parse.limit = f"{low}..{limit:,}: {why}"  # type: ignore[attr-defined]
    return parse


def add_limits(parser: argparse.ArgumentParser) -> None:
    """Append the range of each bounded count to its flag's help: ``(1..1,000,000: why)``."""
    for action in parser._actions:
        limit = getattr(action.type, "limit", None)
        if limit and action.help:
            action.help = f"{action.help} ({limit})".replace("%", "%%")


fraction = number(float, lambda value: 0 <= value < 1, "in [0, 1)")
non_negative = number(float, lambda value: value >= 0, ">= 0")
non_negative_int = count(2 ** 63 - 1, "a 64-bit integer", low=0)
seed = count(2 ** 32 - 1, "NumPy's seeds are non-negative integers", low=0)
port = number(int, lambda value: 0 < value < 65536, "a port number in 1..65535")
epochs = count(10 ** 6, "a million passes over the data; more is a typo: stop earlier with "
               "--early-stopping")
samples = count(10 ** 7, "ten million rows; every sample's activations are held at once")
steps = count(10 ** 9, "a billion steps")


def choice(options: Iterable[str], what: str) -> Callable[[str], str]:
    """An argparse type for one of ``options``, naming the closest one when it is not."""
    options = list(options)

    def parse(text: str) -> str:
        if text not in options:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}{closest(text, options)}; "
                f"choose from {', '.join(options)}")
        return text
    parse.__name__ = what
    return parse


def name_list(valid: Iterable[str]) -> Callable[[str], list[str]]:
    valid = sorted(valid)

    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        bad = [n for n in names if n not in valid]
        if not names or bad:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated names from {', '.join(valid)}; got {text!r}")
        return names
    return parse


def on_off_list(text: str) -> list[bool]:
    words = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not words or any(w not in ("on", "off") for w in words):
        raise argparse.ArgumentTypeError(f"expected off, on or off,on; got {text!r}")
    return [w == "on" for w in words]


def show(value: Any) -> str:
    """A setting as a flag would spell it: lists comma-separated."""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
