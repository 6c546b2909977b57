"""A bare path is a data spec: ``s.csv``, ``d.npz`` and ``X.npy,y.npy`` read as with their prefix.

``glassnet.data.datasets.prefixed_spec`` is the one place a bare path becomes ``csv:``, ``npz:``
or ``npy:``; ``load_data`` and the command line's file checks (which file ``--out`` must not
overwrite) both use it. Anything else stays an unknown data spec.
"""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.cli import main
from glassnet.data import load_data
from glassnet.data.datasets import SPEC_FORMS, prefixed_spec


def make_files(folder):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    (folder / "d.csv").write_text("a,b,c,label\n" + "".join(
        f"{a!r},{b!r},{c!r},{t}\n" for (a, b, c), t in zip(X.tolist(), y.tolist())))
    np.savez(folder / "d.npz", X=X, y=y)
    for name, array in (("X", X), ("y", y), ("X_test", X[:10]), ("y_test", y[:10])):
        np.save(folder / f"{name}.npy", array)
    return {
        "csv": "d.csv",
        "npz": "d.npz",
        "npy pair": "X.npy,y.npy",
        "npy four": "X.npy,y.npy,X_test.npy,y_test.npy",
    }


@pytest.mark.parametrize("form", ["csv", "npz", "npy pair", "npy four"])
def test_bare_path_reads_as_its_prefix(tmp_path, monkeypatch, form):
    monkeypatch.chdir(tmp_path)
    spec = make_files(tmp_path)[form]
    prefix = form.split()[0]
    assert prefixed_spec(spec) == f"{prefix}:{spec}"
    bare, prefixed = load_data(spec), load_data(f"{prefix}:{spec}")
    np.testing.assert_array_equal(np.asarray(bare.X), np.asarray(prefixed.X))
    np.testing.assert_array_equal(bare.y, prefixed.y)
    assert bare.task == prefixed.task == "classification"
    assert prefixed_spec(f"  {spec} ") == f"{prefix}:{spec}"


@pytest.mark.parametrize("form", ["csv", "npz", "npy pair"])
def test_cli_trains_on_a_bare_path_and_guards_it(tmp_path, monkeypatch, form, capsys):
    monkeypatch.chdir(tmp_path)
    spec = make_files(tmp_path)[form]
    assert main(["train", "--data", spec, "--epochs", "2", "--quiet", "--out", "m.npz"]) == 0
    out = capsys.readouterr().out
    assert f"data: {form.split()[0]}:{spec}," in out
    assert main(["evaluate", "m.npz"]) == 0  # the recorded spec reads again
    capsys.readouterr()
    if form != "npy pair":  # the data file is one an output must not overwrite
        before = (tmp_path / spec).read_bytes()
        assert main(["train", "--data", spec, "--epochs", "1", "--out", spec]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"--out {spec} would overwrite the --data file" in err[0]
        assert (tmp_path / spec).read_bytes() == before


@pytest.mark.parametrize("spec", ["imagenet", "d.txt", "d.csv,y.npy", "d.csv.gz", "csvfile"])
def test_anything_else_is_an_unknown_spec(tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)
    make_files(tmp_path)
    (tmp_path / "d.txt").write_text("1,2\n")
    assert prefixed_spec(spec) == spec
    with pytest.raises(ValueError, match=r"unknown data spec .*; a path FILE\.csv, FILE\.npz or "
                                         r"X\.npy,y\.npy\[,\.\.\.\] alone is read as csv:, npz: "
                                         r"or npy:"):
        load_data(spec)


@pytest.mark.parametrize("spec, kind", [("missing.csv", "CSV file"), ("missing.npz", "file")])
def test_a_missing_bare_path_is_a_missing_file(tmp_path, monkeypatch, spec, kind, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"{kind} '{spec}' not found"):
        load_data(spec)
    assert main(["train", "--data", spec, "--epochs", "1", "--out", "m.npz"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"'{spec}' not found" in err[0]


def test_the_help_says_so(capsys):
    assert "a path FILE.csv, FILE.npz or X.npy,y.npy[,...] alone" in SPEC_FORMS
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "alone is read as csv:, npz: or npy:" in " ".join(capsys.readouterr().out.split())
