"""Every output of every command goes through ``preflight.outputs`` before the work starts:
a path of the wrong kind is refused naming the suffixes expected, an existing file of another
kind is kept byte for byte, a file of the same kind (written by the command itself) is
replaced, and outputs that collide with each other or with an input are refused; always one
line, exit status 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from cli_lines import one_line_error
from glassnet.cli import build_parser, main, preflight
from glassnet.cli.glassbox import _REDRAWN_FILES, _VANISHING_FILES, PLOT_FILES
from glassnet.cli.second_order import _LAB_FILES, _LANDSCAPE_FILES
from glassnet.cli.teach import _WORKSHEET_FILES
from glassnet.training import CHECKPOINT_NAME

TINY = ["--data", "circles", "--hidden", "4", "--epochs", "1", "--quiet"]
FOREIGN = b"\x00\x01 someone else's file, of no kind glassnet writes\xff"


fails = one_line_error


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    (tmp_path / "history_in.json").write_text(json.dumps({"epochs": [{"epoch": 1,
                                                                      "loss": 0.5}]}))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("outputs") / "model.npz"
    assert main(["train", *TINY, "--out", str(path)]) == 0
    return str(path)


# (command and flag, the kind or the files of the folder, argv with the path, the model)
FILES = {
    "train --out": (preflight.MODEL, lambda p, m: ["train", *TINY, "--out", p]),
    "train --history-json": (preflight.JSON, lambda p, m: ["train", *TINY, "--out", "ok.npz",
                                                           "--history-json", p]),
    "predict --output": (preflight.PREDICTIONS, lambda p, m: ["predict", m, "--input", "X.npy",
                                                              "--output", p]),
}
FOLDERS = {
    "train --checkpoint-dir": ({CHECKPOINT_NAME: preflight.MODEL},
                               lambda p, m: ["train", *TINY, "--out", "ok.npz",
                                             "--checkpoint-dir", p]),
    "train --plots": (PLOT_FILES, lambda p, m: ["train", *TINY, "--out", "ok.npz", "--plots", p]),
    "vanishing --out": (_VANISHING_FILES, lambda p, m: ["vanishing", "--depths", "2", "--width",
                                                        "4", "--steps", "0", "--data", "xor",
                                                        "--activations", "tanh", "--residual",
                                                        "off", "--out", p]),
    "plot --out": (_REDRAWN_FILES, lambda p, m: ["plot", "history_in.json", "--out", p]),
    "landscape --out": (_LANDSCAPE_FILES, lambda p, m: ["landscape", m, "--resolution", "3",
                                                        "--samples", "20", "--out", p]),
    "landscape --lab --out": (_LAB_FILES, lambda p, m: [
        "landscape", "--lab", "--depth", "2", "--width", "4", "--epochs", "1", "--data", "xor",
        "--resolution", "3", "--samples", "20", "--out", p]),
    "worksheet --out": (_WORKSHEET_FILES, lambda p, m: ["worksheet", "--force", "--out", p]),
}
OUTPUT_DESTS = {"out", "output", "history_json", "plots", "checkpoint_dir"}
NOT_WRITTEN = {"train --output": "the output activation", "gradcheck --output": "the same",
               "launch --checkpoint-dir": "read, to find the checkpoint train writes"}


def test_the_tables_name_every_output_flag_of_every_command():
    """Walking the parsers: a new output flag must be added to the tables (and to preflight)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = {f"{name} {action.option_strings[-1]}" for name, parser in sub.choices.items()
             for action in parser._actions if action.dest in OUTPUT_DESTS}
    tabled = {key.replace(" --lab", "") for key in [*FILES, *FOLDERS]}
    assert found - set(NOT_WRITTEN) == tabled


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_wrong_suffix_is_refused_naming_the_expected_ones(capsys, tmp_path, model, name):
    kind, argv = FILES[name]
    line = fails(capsys, argv("out.txt", model))
    assert name.split()[1] in line and "out.txt" in line
    assert all(suffix in line for suffix in kind.suffixes)
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "ok.npz").exists()


def _foreign_cases():
    cases = [(name, suffix, None) for name in FILES for suffix in FILES[name][0].suffixes]
    cases += [(name, None, file) for name in FOLDERS for file in FOLDERS[name][0]]
    return cases


@pytest.mark.parametrize("name, suffix, file", _foreign_cases(),
                         ids=[f"{n} {s or f}" for n, s, f in _foreign_cases()])
def test_an_existing_file_of_another_kind_is_kept_byte_for_byte(capsys, tmp_path, model, name,
                                                                 suffix, file):
    if file is None:
        target, argv = tmp_path / f"target{suffix}", FILES[name][1]("target" + suffix, model)
    else:
        (tmp_path / "dir").mkdir()
        target, argv = tmp_path / "dir" / file, FOLDERS[name][1]("dir", model)
    target.write_bytes(FOREIGN)
    line = fails(capsys, argv)
    assert target.read_bytes() == FOREIGN
    assert "exists and is not" in line and str(Path(target).relative_to(tmp_path)) in line
    assert not (tmp_path / "ok.npz").exists()


@pytest.mark.parametrize("name, suffix", [(n, s) for n in FILES for s in FILES[n][0].suffixes])
def test_a_file_of_the_same_kind_is_replaced(capsys, tmp_path, model, name, suffix):
    """The command writes the file, then writes it again with other settings over it."""
    target = tmp_path / f"target{suffix}"
    argv = FILES[name][1](str(target), model)
    assert main(argv) == 0
    before = target.read_bytes()
    other = ["--proba"] if name.startswith("predict") else ["--seed", "3"]
    if name.startswith("predict"):  # a .csv or .npy may be data: replaced only with --force
        line = fails(capsys, [*argv, *other])
        assert "replaced only with --force" in line and target.read_bytes() == before
        other.append("--force")
    assert main([*argv, *other]) == 0, capsys.readouterr().err
    assert target.read_bytes() != before


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_predict_never_replaces_data_without_force_nor_an_input_even_with_it(capsys, tmp_path,
                                                                           model, suffix):
    data = tmp_path / f"data{suffix}"
    X = np.ones((3, 2))
    np.save(data, X) if suffix == ".npy" else data.write_text("1,1\n1,1\n")
    before = data.read_bytes()
    argv = ["predict", str(model), "--input", str(tmp_path / "X.npy"), "--output", str(data)]
    np.save(tmp_path / "X.npy", X)
    assert "replaced only with --force" in fails(capsys, argv)
    assert data.read_bytes() == before
    same = ["predict", str(model), "--input", str(data), "--output", str(data), "--force"]
    fails(capsys, same)
    assert data.read_bytes() == before


def test_history_json_replaces_only_a_history(capsys, tmp_path, model):
    other = tmp_path / "settings.json"
    other.write_text('{"lr": 0.1}')
    argv = ["train", "--data", "circles", "--hidden", "4", "--epochs", "1", "--quiet",
            "--out", str(tmp_path / "m.npz"), "--history-json", str(other)]
    assert "is not a training history glassnet wrote" in fails(capsys, argv)
    assert other.read_text() == '{"lr": 0.1}'


@pytest.mark.parametrize("name", sorted(FOLDERS))
def test_the_files_of_a_folder_are_replaced_by_the_same_command(capsys, tmp_path, model, name):
    files, argv = FOLDERS[name]
    assert main(argv("dir", model)) == 0
    assert main(argv("dir", model)) == 0, capsys.readouterr().err
    written = {p.name for p in (tmp_path / "dir").iterdir()}
    assert written and written <= set(files)


@pytest.mark.parametrize("argv, words", [
    (["train", *TINY, "--data", "npz:d.npz", "--out", "d.npz"],
     "--out d.npz would overwrite the --data file d.npz"),
    (["train", *TINY, "--val-data", "npz:d.npz", "--out", "d.npz"],
     "--out d.npz would overwrite the --val-data file d.npz"),
    (["train", *TINY, "--out", "p/x.npz", "--checkpoint-dir", "p", "--history-json",
      "p/checkpoint.npz"], "are the same file"),
    (["predict", "{model}", "--input", "X.npy", "--output", "{model}"],
     "would overwrite the model file"),
    (["vanishing", "--data", "csv:o/lab.csv", "--out", "o"],
     "--out o/lab.csv would overwrite the --data file o/lab.csv"),
    (["landscape", "{model}", "--other", "o/landscape.json", "--out", "o"],
     "would overwrite the --other file"),
])
def test_outputs_colliding_with_each_other_or_an_input_are_refused(capsys, tmp_path, model,
                                                                   argv, words):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(20, 2)), y=rng.integers(0, 2, 20))
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "lab.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert words in fails(capsys, [a.format(model=model) for a in argv])
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_checkpoint_folder_holding_a_foreign_checkpoint_name_is_kept(capsys, tmp_path):
    """A plain NumPy archive is a .npz too, but not a glassnet model: it is not replaced."""
    (tmp_path / "ck").mkdir()
    np.savez(tmp_path / "ck" / CHECKPOINT_NAME, X=np.zeros(3))
    before = (tmp_path / "ck" / CHECKPOINT_NAME).read_bytes()
    line = fails(capsys, ["train", *TINY, "--out", "m.npz", "--checkpoint-dir", "ck"])
    assert "is not a glassnet model" in line
    assert (tmp_path / "ck" / CHECKPOINT_NAME).read_bytes() == before
