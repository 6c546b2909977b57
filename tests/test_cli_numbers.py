"""Numbers a flag cannot honour are refused by the flag's own type, naming the flag: every float
flag of every command (found by walking the parsers) refuses nan, inf, -inf and 1e400; every
count has an upper bound, named with its reason in the message and in ``--help``."""

from __future__ import annotations

import argparse

import pytest

from cli_lines import one_line_error
from glassnet.cli import build_parser, main
from glassnet.cli.train import _TRAIN_FLAGS


def _actions():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [(name, action) for name, parser in sub.choices.items() for action in parser._actions
            if action.option_strings and action.type is not None]


FLOATS = [(n, a.option_strings[-1]) for n, a in _actions()
          if getattr(a.type, "kind", None) is float]
COUNTS = [(n, a.option_strings[-1], a.type) for n, a in _actions() if hasattr(a.type, "limit")]
WIDTHS = {"vanishing --width", "landscape --width"}  # bounded by preflight.network_size


fails = one_line_error


def test_every_numeric_flag_goes_through_a_checked_type():
    """No flag parses with bare int or float (which take nan, inf, any size)."""
    bare = [f"{n} {a.option_strings[-1]}" for n, a in _actions() if a.type in (int, float)]
    assert bare == []
    unbounded = {f"{n} {a.option_strings[-1]}" for n, a in _actions()
                 if getattr(a.type, "kind", None) is int and not hasattr(a.type, "limit")}
    assert unbounded <= WIDTHS | {"playground --port"}
    assert len(FLOATS) >= 13 and len(COUNTS) >= 20  # the walk found them


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400"])
@pytest.mark.parametrize("command, flag", FLOATS, ids=[" ".join(f) for f in FLOATS])
def test_every_float_flag_refuses_what_is_not_finite(capsys, command, flag, value):
    line = fails(capsys, [command, f"{flag}={value}"])
    assert f"argument {flag}: must be a finite number; got {value}" in line


@pytest.mark.parametrize("command, flag, kind", COUNTS, ids=[f"{c} {f}" for c, f, _ in COUNTS])
def test_every_count_has_an_upper_bound_it_names(capsys, command, flag, kind):
    top = int(kind.limit.split(":")[0].split("..")[1].replace(",", ""))
    assert kind(str(top)) == top
    line = fails(capsys, [command, flag, str(top + 1)])
    assert f"argument {flag}: must be an integer in" in line and f"{top:,}" in line
    assert "(" in line.split(f"{top:,}")[1]  # the reason follows the limit


@pytest.mark.parametrize("flag", [f for f, kind, _ in _TRAIN_FLAGS
                                  if getattr(kind, "kind", None) is float])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_every_float_setting_of_a_config_file_refuses_what_is_not_finite(tmp_path, capsys,
                                                                         monkeypatch, flag,
                                                                         value):
    monkeypatch.chdir(tmp_path)
    key = flag.lstrip("-").replace("-", "_")
    (tmp_path / "r.toml").write_text(f"{key} = {value}\n")
    line = fails(capsys, ["train", "--config", "r.toml"])
    assert f"{key} in r.toml: must be a finite number" in line


def test_the_limits_are_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "1..1,000,000: a million passes over the data" in shown


@pytest.mark.parametrize("argv", [["train", "--lr", "inf"], ["train", "--weight-decay", "inf"]])
def test_no_internal_parameter_name_reaches_the_user(capsys, argv):
    line = fails(capsys, argv)
    assert argv[1] in line and "parameter of" not in line
