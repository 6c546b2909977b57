"""The command line under hostile input (issue 13, section 4): every failure of every subcommand
is one line ``glassnet: error: ...`` with exit status 2 (usage) or 1 (a run that failed), never
a traceback; output paths are checked before any work starts; a closed pipe never stops a run.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet
from cli_lines import one_line_error
from glassnet.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
TINY = ["--data", "circles", "--hidden", "4", "--epochs", "2", "--quiet"]


def fails(capsys, argv: list[str], status: int) -> str:
    """Run ``argv``: it must exit with ``status`` and one line ``glassnet: error: ...``; the
    line without that prefix."""
    return one_line_error(capsys, argv, status).removeprefix("glassnet: error: ")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the repository


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A small classifier written by ``glassnet train``."""
    path = tmp_path_factory.mktemp("hostile") / "model.npz"
    assert main(["train", *TINY, "--out", str(path)]) == 0
    return path


@pytest.fixture
def no_training(monkeypatch):
    """Make any start of training fail the test: the checks must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the arguments were checked")
    monkeypatch.setattr(glassnet.Network, "fit", refuse)


# ---------------------------------------------------------------------- output paths, checked first
def bad_file_paths(tmp: Path) -> dict[str, str]:
    (tmp / "a_file").write_text("x")
    (tmp / "a_folder").mkdir()
    return {"a folder": str(tmp / "a_folder"), "a trailing slash": str(tmp / "new") + "/",
            "a missing folder": str(tmp / "missing" / "m.npz"),
            "under a file": str(tmp / "a_file" / "m.npz"),
            "a device": os.devnull,
            "empty": ""}


FILE_FLAGS = [
    ("train --out", lambda p: ["train", *TINY, "--out", p]),
    ("train --history-json", lambda p: ["train", *TINY, "--out", "ok.npz", "--history-json", p]),
]


@pytest.mark.parametrize("kind", ["a folder", "a trailing slash", "a missing folder",
                                  "under a file", "a device", "empty"])
@pytest.mark.parametrize("flag, argv", FILE_FLAGS, ids=[f for f, _ in FILE_FLAGS])
def test_train_checks_output_files_before_training(tmp_path, capsys, no_training, kind, flag,
                                                   argv):
    path = bad_file_paths(tmp_path)[kind]
    line = fails(capsys, argv(path), 2)
    assert flag.split()[1] in line
    assert not (tmp_path / "ok.npz").exists()


@pytest.mark.parametrize("kind", ["a folder", "a missing folder", "under a file", "a device"])
def test_predict_checks_its_output_before_predicting(model, tmp_path, capsys, monkeypatch, kind):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "y.npy").mkdir()
    path = {"a folder": "y.npy", "a missing folder": "missing/y.npy",
            "under a file": "a_file/y.npy", "a device": os.devnull}[kind]
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    monkeypatch.setattr(glassnet.Network, "predict_output", lambda *a, **k: pytest.fail("ran"))
    line = fails(capsys, ["predict", str(model), "--input", str(tmp_path / "X.npy"),
                          "--output", str(tmp_path / path)], 2)
    assert "--output" in line


FOLDER_FLAGS = [
    ("--plots", lambda p: ["train", *TINY, "--out", "ok.npz", "--plots", p]),
    ("--checkpoint-dir", lambda p: ["train", *TINY, "--out", "ok.npz", "--checkpoint-dir", p]),
    ("--out", lambda p: ["vanishing", "--depths", "2", "--width", "4", "--steps", "0",
                         "--data", "xor", "--out", p]),
]


@pytest.mark.parametrize("kind", ["a file", "under a file", "deep under a file"])
@pytest.mark.parametrize("flag, argv", FOLDER_FLAGS, ids=["train --plots",
                                                          "train --checkpoint-dir",
                                                          "vanishing --out"])
def test_output_folders_are_checked_before_work(tmp_path, capsys, monkeypatch, no_training, kind,
                                                flag, argv):
    import glassnet.diagnostics

    monkeypatch.setattr(glassnet.diagnostics, "vanishing_lab", lambda *a, **k: pytest.fail("ran"))
    (tmp_path / "a_file").write_text("x")
    path = {"a file": "a_file", "under a file": "a_file/out",
            "deep under a file": "a_file/x/y/z"}[kind]
    line = fails(capsys, argv(str(tmp_path / path)), 2)
    assert flag in line and "a_file" in line
    assert (tmp_path / "a_file").read_text() == "x"


def test_plot_out_under_a_file(tmp_path, capsys):
    history = tmp_path / "history.json"
    history.write_text('{"epochs": [{"epoch": 1, "loss": 0.5}]}')
    (tmp_path / "a_file").write_text("x")
    assert "--out" in fails(capsys, ["plot", str(history), "--out", str(tmp_path / "a_file")], 2)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_read_only_folder_is_refused_before_training(tmp_path, capsys, no_training):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = fails(capsys, ["train", *TINY, "--out", str(folder / "m.npz")], 2)
    finally:
        folder.chmod(0o700)
    assert "cannot write in" in line and "Permission denied" in line


def test_missing_folder_for_checkpoints_and_plots_is_created(tmp_path):
    assert main(["train", *TINY, "--out", "m.npz", "--checkpoint-dir", "new/ck",
                 "--plots", "new/plots"]) == 0
    assert (tmp_path / "new" / "ck" / "checkpoint.npz").is_file()
    assert (tmp_path / "new" / "plots" / "history.json").is_file()


@pytest.mark.parametrize("argv, words", [
    (["train", *TINY, "--out", "m.npz", "--history-json", "m.npz"],
     "--history-json m.npz and --out m.npz are the same file"),
    (["train", *TINY, "--out", "m.npz", "--history-json", "sub/../m.npz"], "the same file"),
    (["train", *TINY, "--out", "p/history.json", "--plots", "p"],
     "--plots p/history.json and --out p/history.json are the same file"),
    (["train", *TINY, "--out", "h.json", "--history-json", "p/history.json", "--plots", "p"],
     "are the same file"),
    (["train", *TINY, "--out", "ck/checkpoint.npz", "--checkpoint-dir", "ck"],
     "--checkpoint-dir ck/checkpoint.npz and --out ck/checkpoint.npz are the same file"),
    (["train", "--data", "csv:data.csv", "--epochs", "1", "--out", "data.csv"],
     "--out data.csv would overwrite the --data file data.csv"),
    (["train", "--data", "csv:data.csv:label", "--epochs", "1", "--out", "data.csv"],
     "would overwrite the --data file"),
    (["train", "--config", "r.toml", "--out", "r.toml"], "would overwrite the --config file"),
    (["predict", "m.npz", "--input", "X.npy", "--output", "X.npy"],
     "--output X.npy would overwrite the --input file X.npy"),
])
def test_no_output_overwrites_another_output_or_an_input(tmp_path, capsys, no_training, argv,
                                                         words):
    (tmp_path / "sub").mkdir()
    (tmp_path / "data.csv").write_text("a,label\n1,0\n2,1\n3,0\n4,1\n5,0\n")
    (tmp_path / "r.toml").write_text('data = "circles"\n')
    (tmp_path / "m.npz").write_bytes(b"not touched")
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert words in fails(capsys, argv, 2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


# ---------------------------------------------------------------------- full disk
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_at_save_keeps_the_earlier_model(tmp_path, capsys, monkeypatch):
    assert main(["train", *TINY, "--seed", "1", "--out", "m.npz"]) == 0
    before = glassnet.load("m.npz").params()
    capsys.readouterr()
    monkeypatch.setattr(os, "fsync", _no_space)  # every glassnet save goes through fsync
    line = fails(capsys, ["train", *TINY, "--seed", "2", "--out", "m.npz"], 1)
    assert "No space left on device" in line
    after = glassnet.load("m.npz").params()  # the earlier file is whole and unchanged
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temp file left


@pytest.mark.parametrize("argv", [
    ["vanishing", "--depths", "2", "--width", "4", "--steps", "0", "--data", "xor"],
    ["train", *TINY, "--out", "m.npz", "--checkpoint-dir", "ck"],
    ["train", *TINY, "--out", "m.npz", "--plots", "plots"],
], ids=["vanishing", "checkpoint", "plots"])
def test_full_disk_anywhere_is_one_line_exit_1(capsys, monkeypatch, argv):
    monkeypatch.setattr(os, "fsync", _no_space)
    assert "No space left on device" in fails(capsys, argv, 1)


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_full_disk_when_predicting(model, tmp_path, capsys, monkeypatch, suffix):
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    monkeypatch.setattr(np, "save", _no_space)
    monkeypatch.setattr(os, "fsync", _no_space)
    out = tmp_path / f"y{suffix}"
    line = fails(capsys, ["predict", str(model), "--input", str(tmp_path / "X.npy"),
                          "--output", str(out)], 1)
    assert "No space left on device" in line and not out.exists()


# ---------------------------------------------------------------------- resume
@pytest.mark.parametrize("case", ["model as checkpoint", "model as folder", "empty folder",
                                  "garbage checkpoint", "no folder"])
def test_resume_refuses_what_is_not_a_checkpoint(tmp_path, capsys, case):
    folder = tmp_path / "ck"
    if case == "model as checkpoint":  # a model written by train where the checkpoint belongs
        folder.mkdir()
        assert main(["train", *TINY, "--out", str(folder / "checkpoint.npz")]) == 0
        capsys.readouterr()
    elif case == "model as folder":
        assert main(["train", *TINY, "--out", str(tmp_path / "m.npz")]) == 0
        capsys.readouterr()
        folder = tmp_path / "m.npz"
    elif case == "empty folder":
        folder.mkdir()
    elif case == "garbage checkpoint":
        folder.mkdir()
        (folder / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")
    argv = ["train", *TINY, "--out", str(tmp_path / "out.npz"), "--resume"]
    if case != "no folder":
        argv += ["--checkpoint-dir", str(folder)]
    line = fails(capsys, argv, 2)
    assert "--resume" in line or "checkpoint" in line
    assert not (tmp_path / "out.npz").exists()


# ---------------------------------------------------------------------- divergence
@pytest.mark.parametrize("data, lr", [("plane", "1e6"), ("multi_gauss", "1e8")])
def test_divergence_is_a_failed_run_and_saves_nothing(tmp_path, capsys, data, lr):
    line = fails(capsys, ["train", "--data", data, "--hidden", "8", "--optimizer", "sgd",
                          "--lr", lr, "--epochs", "3", "--quiet", "--out", "m.npz"], 1)
    assert line.startswith("training diverged: The training loss became")
    assert "No model was saved to m.npz" in line
    assert not (tmp_path / "m.npz").exists()


# ---------------------------------------------------------------------- absurd sizes
@pytest.fixture
def no_layers(monkeypatch):
    """Building any layer fails the test: a refused size must be refused before allocation."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("a layer was allocated")
    monkeypatch.setattr(glassnet.layers.Dense, "__init__", refuse)


@pytest.mark.parametrize("argv", [
    ["train", "--data", "circles", "--hidden", str(10 ** 9)],
    ["train", "--data", "circles", "--hidden", f"8,{10 ** 12}"],
    ["train", "--data", "circles", "--hidden", "300000,300000,300000"],
    ["train", "--data", "circles", "--hidden", str(10 ** 9), "--optimizer", "lbfgs"],
    ["gradcheck", "--sizes", f"4,{10 ** 9},3"],
    ["vanishing", "--width", str(10 ** 9), "--depths", "2", "--data", "xor"],
], ids=["1e9 units", "1e12 units", "three 3e5 layers", "lbfgs", "gradcheck", "vanishing"])
def test_absurd_sizes_are_refused_before_allocating(capsys, no_layers, argv):
    line = fails(capsys, [*argv, "--out", "x.npz" if argv[0] == "train" else "x"]
                 if argv[0] != "gradcheck" else argv, 2)
    assert "parameters and needs about" in line and "of memory" in line


# ---------------------------------------------------------------------- playground port
@pytest.fixture
def no_serving(monkeypatch):
    import glassnet.web

    monkeypatch.setattr(glassnet.web, "serve", lambda *a, **k: pytest.fail("served"))


@pytest.mark.parametrize("port", ["70000", "65536", "0", "-1", "abc", "80.5"])
def test_bad_port_numbers(capsys, no_serving, port):
    assert "--port" in fails(capsys, ["playground", "--port", port], 2)


def test_a_taken_port_is_refused(capsys, no_serving):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = fails(capsys, ["playground", "--port", str(port)], 2)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line


# ---------------------------------------------------------------------- unknown and bad files
def bad_files(tmp: Path) -> dict[str, Path]:
    (tmp / "folder.npz").mkdir()
    (tmp / "text.npz").write_text("hello\n")
    (tmp / "empty.npz").write_bytes(b"")
    (tmp / "random.npz").write_bytes(bytes(range(256)) * 4)
    np.save(tmp / "array.npy", np.zeros(3))
    np.savez(tmp / "plain.npz", X=np.zeros((3, 2)))
    return {name: tmp / name for name in
            ("missing.npz", "folder.npz", "text.npz", "empty.npz", "random.npz", "array.npy",
             "plain.npz")}


MODEL_COMMANDS = {
    "info": lambda m: ["info", m],
    "evaluate": lambda m: ["evaluate", m, "--data", "circles"],
    "predict": lambda m: ["predict", m, "--input", "X.npy", "--output", "y.npy"],
    "gradcheck": lambda m: ["gradcheck", m],
    "explain": lambda m: ["explain", "--from-model", m, "--data", "circles"],
}


@pytest.mark.parametrize("name", ["missing.npz", "folder.npz", "text.npz", "empty.npz",
                                  "random.npz", "array.npy", "plain.npz"])
@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_what_is_not_a_model(tmp_path, capsys, command, name):
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    path = bad_files(tmp_path)[name]
    line = fails(capsys, MODEL_COMMANDS[command](str(path)), 2)
    assert str(path) in line


def test_data_with_an_empty_test_part(tmp_path, capsys, no_training):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(40, 2)), y=rng.integers(0, 2, 40),
             X_test=np.zeros((0, 2)), y_test=np.zeros(0, dtype=np.int64))
    line = fails(capsys, ["train", "--data", f"npz:{tmp_path / 'd.npz'}", "--out", "m.npz"], 2)
    assert "gives 40 training and 0 test samples" in line


def write(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


@pytest.mark.parametrize("content, words", [
    ("a,b,y\n1,2,0\n3,4\n5,6,1\n", "line 3"),                     # ragged
    ("a,b,y\n1,x,0\n3,4,1\n", "non-numeric"),                    # a word
    ("a,b,y\n1,,0\n3,4,1\n", "missing value"),                   # a hole
    ("a,b,y\n1,nan,0\n3,4,1\n", "line 2"),                       # NaN
    ("", "no rows"),                                              # empty
    ("a,b,y\n", "only a header"),                                 # header only
    ("y\n1\n2\n", "at least 2 columns"),                          # one column
])
def test_bad_csv_data(tmp_path, capsys, no_training, content, words):
    path = write(tmp_path, "bad.csv", content)
    line = fails(capsys, ["train", "--data", f"csv:{path}", "--out", "m.npz"], 2)
    assert path in line and words in line


@pytest.mark.parametrize("argv, words", [
    (["train", "--data", "csv:nowhere.csv"], "not found"),
    (["train", "--data", "npz:nowhere.npz"], "not found"),
    (["train", "--data", "mnist:nowhere"], "nowhere"),
    (["train", "--data", "imagenet"], "unknown data spec"),
    (["train", "--config", "nowhere.toml"], "cannot read --config"),
    (["train", "--config", "{toml}"], "is not valid TOML"),
    (["train", "--config", "{quiet}"], "must be true or false"),
    (["plot", "nowhere.json"], "No history file"),
    (["plot", "{binary}"], "is not JSON"),
    (["plot", "{list}"], "is not a glassnet history"),
    (["predict", "{model}", "--input", "nowhere.npy", "--output", "y.npy"], "nowhere.npy"),
    (["predict", "{model}", "--input", "{toml}", "--output", "y.npy"], "must be a .csv, .npy or .npz"),
    (["predict", "{model}", "--input", "X.npy", "--output", "y.txt"], "must end in .csv or .npy"),
    (["predict", "{model}", "--input", "{wide}", "--output", "y.npy"], "5 features"),
    (["evaluate", "{model}", "--data", "iris"], "4"),
    (["explain", "--from-model", "{model}", "--data", "iris"], "4 features"),
    (["explain", "--from-model", "{model}", "--sample", "-1"], "--sample: must be an integer in 0.."),
    (["explain", "--from-model", "{model}", "--sample", "100000"], "--sample must be in"),
])
def test_unknown_and_bad_input_files(model, tmp_path, capsys, no_training, argv, words):
    files = {"toml": write(tmp_path, "bad.toml", "epochs = [\n"),
             "quiet": write(tmp_path, "q.toml", 'quiet = "yes"\n'),
             "binary": str(tmp_path / "b.json"), "list": write(tmp_path, "l.json", "[1, 2]"),
             "model": str(model), "wide": str(tmp_path / "wide.npy")}
    (tmp_path / "b.json").write_bytes(b"\xff\xfe\x00garbage")
    np.save(tmp_path / "wide.npy", np.zeros((3, 5)))
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    line = fails(capsys, [a.format(**files) for a in argv], 2)
    assert words in line


@pytest.mark.parametrize("toml, words", [
    ('data = {x = 1}\n', "data in r.toml must be a string"),
    ('[data]\nx = 1\n', "data in r.toml must be a string"),
    ('out = 3\n', "out in r.toml must be a string"),
    ('hidden = "abc"\n', "expected comma-separated integers"),
    ('hidden = [-1]\n', "layer sizes must be integers > 0"),
    ('epochs = 2.5\n', "expected a int"),
    ('lr = true\n', "expected a float"),
    ('quiet = 1\n', "must be true or false"),
    ('colour = "red"\n', "unknown setting 'colour'"),
    ('epochs = [\n', "is not valid TOML"),
])
def test_bad_toml_settings(tmp_path, capsys, no_training, toml, words):
    (tmp_path / "r.toml").write_text(toml)
    assert words in fails(capsys, ["train", "--config", "r.toml", "--out", "m.npz"], 2)


# ---------------------------------------------------------------------- anything else
@pytest.mark.parametrize("error, status, words", [
    (KeyError("boom"), 1, "internal error (KeyError: 'boom'); run again with --debug"),
    (ZeroDivisionError("x"), 1, "internal error (ZeroDivisionError: x)"),
    (RuntimeError("wrong order"), 1, "wrong order"),
    (RecursionError("maximum recursion depth exceeded"), 1, "maximum recursion depth"),
    (MemoryError("Unable to allocate 7 TiB"), 1, "out of memory (Unable to allocate 7 TiB)"),
    (KeyboardInterrupt(), 1, "interrupted"),
    (PermissionError(errno.EACCES, "Permission denied", "/x"), 1, "/x: Permission denied"),
    (ValueError("line one\nline two"), 2, "line one line two"),
])
def test_every_exception_becomes_one_line(model, capsys, monkeypatch, error, status, words):
    def explode(self):
        raise error
    monkeypatch.setattr(glassnet.Network, "summary", explode)
    assert words in fails(capsys, ["info", str(model)], status)


def test_warnings_are_one_line_too(model, capsys, monkeypatch):
    import warnings

    def warn(self):
        warnings.warn("something odd\n  on two lines", RuntimeWarning)
        return "summary"
    monkeypatch.setattr(glassnet.Network, "summary", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # the test suite turns warnings into errors
        assert main(["info", str(model)]) == 0
    assert capsys.readouterr().err == \
        "glassnet: warning: something odd on two lines (RuntimeWarning)\n"


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(model, capsys, monkeypatch, where):
    monkeypatch.setattr(glassnet.Network, "summary", lambda self: {}["boom"])
    argv = ["info", str(model)]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "KeyError: 'boom'" in err
    assert err.splitlines()[-1].startswith("glassnet: error: internal error (KeyError")


def test_a_failed_gradient_check_of_a_saved_model_is_one_line_exit_1(model, capsys, monkeypatch):
    from glassnet.activations import ACTIVATIONS

    monkeypatch.setattr(ACTIVATIONS["relu"], "derivative", lambda self, z, a: 0.5 * np.ones_like(z))
    line = fails(capsys, ["gradcheck", str(model)], 1)
    assert line.startswith("gradcheck FAILED for 0.W")


# ---------------------------------------------------------------------- a closed pipe
def _glassnet(*args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-m", "glassnet", *args], env=env, **kwargs)


@pytest.mark.parametrize("extra", [[], ["--quiet"], ["--monitor"]],
                         ids=["lines", "quiet", "monitor"])
def test_a_pipe_closed_before_the_first_line_does_not_stop_the_save(tmp_path, extra):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: every write fails
    proc = _glassnet("train", "--data", "circles", "--hidden", "4", "--epochs", "3", *extra,
                     "--out", str(tmp_path / "m.npz"), "--history-json", str(tmp_path / "h.json"),
                     stdout=write_end, stderr=subprocess.PIPE, cwd=tmp_path)
    os.close(write_end)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err and b"Exception ignored" not in err
    net = glassnet.load(tmp_path / "m.npz")
    assert len(net.history) == 3 and (tmp_path / "h.json").is_file()


def test_train_piped_into_head(tmp_path):
    head = subprocess.Popen(["head", "-1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            cwd=tmp_path)
    proc = _glassnet("train", "--data", "circles", "--hidden", "4", "--epochs", "40",
                     "--out", str(tmp_path / "m.npz"), stdout=head.stdin,
                     stderr=subprocess.PIPE, cwd=tmp_path)
    head.stdin.close()  # only head holds the pipe's read end now; it exits after one line
    with head.stdout:
        first = head.stdout.read()
    head.wait(timeout=120)
    _, err = proc.communicate(timeout=120)
    assert first.startswith(b"data: circles")
    assert proc.returncode == 0 and b"Traceback" not in err and b"Exception ignored" not in err
    assert len(glassnet.load(tmp_path / "m.npz").history) == 40


@pytest.mark.parametrize("stdout", ["closed", "full"])
def test_output_that_cannot_be_written_does_not_stop_the_save(tmp_path, stdout):
    """``glassnet train >&-`` (no descriptor 1 at all) and ``> /dev/full`` (ENOSPC)."""
    if stdout == "full" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    code = ("import os, sys, runpy; os.close(1); sys.argv = ['glassnet'] + sys.argv[1:]; "
            "runpy.run_module('glassnet', run_name='__main__')") if stdout == "closed" else None
    args = ["train", "--data", "circles", "--hidden", "4", "--epochs", "2",
            "--out", str(tmp_path / "m.npz")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    if code:
        proc = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=tmp_path,
                              stderr=subprocess.PIPE, timeout=120, check=False)
    else:
        with open("/dev/full", "w") as full:
            proc = subprocess.run([sys.executable, "-m", "glassnet", *args], env=env,
                                  cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, timeout=120,
                                  check=False)
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr and b"Exception ignored" not in proc.stderr
    assert len(glassnet.load(tmp_path / "m.npz").history) == 2


def test_a_closed_stderr_does_not_stop_a_failing_run_either(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = _glassnet("info", str(tmp_path / "missing.npz"), stdout=subprocess.PIPE,
                     stderr=write_end, cwd=tmp_path)
    os.close(write_end)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == b""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("argv", [
    ["train", "--data", "csv:{fifo}.csv", "--epochs", "1", "--quiet", "--out", "f.npz"],
    ["train", "--data", "{fifo}.csv", "--epochs", "1", "--quiet", "--out", "f.npz"],
    ["train", "--config", "{fifo}.toml", "--out", "f.npz"],
    ["plot", "{fifo}.json", "--out", "plots"],
    ["check", "{fifo}.py"],
    ["predict", "{model}", "--input", "{fifo}.csv", "--output", "p.csv"],
    ["evaluate", "{model}", "--data", "csv:{fifo}.csv"],
    ["info", "{fifo}.npz"],
], ids=lambda argv: " ".join(argv[:3]))
def test_a_named_pipe_given_as_an_input_is_refused_never_read(tmp_path, capsys, model, argv):
    """A FIFO blocks whoever opens it for reading until a writer comes: every input is opened
    as a regular file only (archive.open_regular), so each command answers at once."""
    from bounded import bounded

    for suffix in (".csv", ".toml", ".json", ".py", ".npz"):
        os.mkfifo(tmp_path / f"pipe{suffix}")
    argv = [a.format(fifo=tmp_path / "pipe", model=model) for a in argv]
    error, status = bounded(lambda: main(argv), seconds=20)
    assert error is None and status == 2
    line = capsys.readouterr().err
    assert line.startswith("glassnet: error:") and "regular" in line and line.count("\n") == 1


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


@pytest.mark.parametrize("case, words", [
    ("X 1-D", "'X' has shape (50,); expected (n_samples, n_features)"),
    ("no features", "'X' has shape (50, 0); expected (n_samples, n_features) with at least one"),
    ("X_test wider", "'X_test' has 4 features and 'X' 3"),
    ("y_test of another kind", "'y_test' has targets of shape (2,) and 'y' of shape ()"),
    ("y 3-D", "'y' has shape (50, 1, 1); expected one target per sample"),
])
def test_data_of_a_shape_glassnet_cannot_train_is_named_before_any_work(tmp_path, capsys,
                                                                       no_training, case, words):
    r = np.random.default_rng(0)
    X, y = r.random((50, 3)), r.integers(0, 2, 50)
    arrays = {
        "X 1-D": dict(X=r.random(50), y=y),
        "no features": dict(X=np.zeros((50, 0)), y=y),
        "X_test wider": dict(X=X, y=y, X_test=r.random((10, 4)), y_test=y[:10]),
        "y_test of another kind": dict(X=X, y=y, X_test=X[:10], y_test=r.random((10, 2))),
        "y 3-D": dict(X=X, y=y.reshape(50, 1, 1)),
    }[case]
    spec = _npz(tmp_path / "d.npz", **arrays)
    assert main(["train", "--data", spec, "--epochs", "1", "--out", "m.npz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error: ") and words in err and err.count("\n") == 1


@pytest.mark.parametrize("form", ["npz", "npy"])
def test_a_target_column_of_shape_n_by_1_is_a_target_vector(tmp_path, form):
    r = np.random.default_rng(0)
    X, y = r.random((60, 3)).astype(np.float32), r.integers(0, 2, (60, 1))
    if form == "npz":
        spec = _npz(tmp_path / "d.npz", X=X, y=y)
    else:
        np.save(tmp_path / "X.npy", X)
        np.save(tmp_path / "y.npy", y)
        spec = f"npy:{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}"
    assert main(["train", "--data", spec, "--epochs", "1", "--quiet", "--out", "m.npz"]) == 0
    assert glassnet.load("m.npz").n_out == 2  # two classes, not one column of numbers
