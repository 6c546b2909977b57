"""Running on a cluster: memory-mapped npy data and validation data through ``glassnet train``,
SIGTERM checkpoints (exit status 75) and ``--resume``, the ``glassnet launch`` restart wrapper,
and the Slurm job script (with stand-ins for srun and scontrol).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet.cli import main
from glassnet.data import MinMaxScaler, StandardScaler, open_memmap_dataset
from glassnet.data import preprocessing
from glassnet.cli.data import split_data
from glassnet.data import load_data
from glassnet.data.npy_source import load_npy_spec
from glassnet.io import load_with_extra
from glassnet.launch import checkpoint_dir_of, run_with_restarts

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = str(Path(sys.executable).parent / "mpiexec")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and Path(MPIEXEC).exists()
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec")


def env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))


def npy_files(folder: Path, n: int = 200, n_features: int = 4, seed: int = 0,
              stem: str = "") -> str:
    rng = np.random.default_rng(seed)
    X = 5 + 3 * rng.standard_normal((n, n_features))
    y = (X[:, 0] + X[:, 1] > 10).astype(np.int64)
    np.save(folder / f"X{stem}.npy", X)
    np.save(folder / f"y{stem}.npy", y)
    return f"npy:{folder / f'X{stem}.npy'},{folder / f'y{stem}.npy'}"


# ------------------------------------------------------------------ npy data


def test_an_npy_spec_is_memory_mapped_and_train_keeps_the_last_fifth_as_test_set(tmp_path):
    spec = npy_files(tmp_path, n=50)
    data = load_data(spec)  # load_data hands npy: to npy_source
    assert isinstance(data.X, np.memmap) and data.X_test is None and len(data.X) == 50
    assert data.task == "classification"
    X_train, X_test, y_train, y_test = split_data(data, seed=0)
    assert isinstance(X_train, np.memmap) and isinstance(X_test, np.memmap)
    assert (len(X_train), len(X_test), len(y_train), len(y_test)) == (40, 10, 40, 10)
    np.testing.assert_array_equal(X_test, np.load(tmp_path / "X.npy")[40:])
    npy_files(tmp_path, n=20, seed=1, stem="_test")
    both = load_npy_spec(f"{spec},{tmp_path / 'X_test.npy'},{tmp_path / 'y_test.npy'}")
    assert (len(both.X), len(both.X_test)) == (50, 20)


@pytest.mark.parametrize("spec, error, message", [
    ("npy:a.npy", ValueError, r"expected npy:X\.npy,y\.npy or npy:X\.npy,y\.npy,X_test\.npy,"
                              r"y_test\.npy"),
    ("npy:a.npy,b.npy,c.npy", ValueError, r"expected npy:X\.npy,y\.npy"),
    ("npy:,", ValueError, r"expected npy:X\.npy,y\.npy"),
    ("npy:{d}/missing.npy,{d}/y.npy", FileNotFoundError, r"file '.*missing\.npy' not found"),
    ("npy:{d}/X3.npy,{d}/y.npy", ValueError, r"X must be 2-D"),
    ("npy:{d}/X.npy,{d}/y_short.npy", ValueError, r"they must have one target per sample"),
])
def test_npy_spec_errors(tmp_path, spec, error, message):
    npy_files(tmp_path, n=30)
    np.save(tmp_path / "X3.npy", np.zeros((30, 2, 2)))
    np.save(tmp_path / "y_short.npy", np.zeros(29, dtype=np.int64))
    with pytest.raises(error, match=message):
        load_npy_spec(spec.format(d=tmp_path))


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000])
@pytest.mark.parametrize("Scaler", [StandardScaler, MinMaxScaler])
def test_a_scaler_fits_a_memory_map_by_chunks_as_the_whole_array(tmp_path, monkeypatch,
                                                                 chunk_rows, Scaler):
    monkeypatch.setattr(preprocessing, "CHUNK_ROWS", chunk_rows)
    rng = np.random.default_rng(2)
    X = 1e3 + rng.standard_normal((123, 5)) * [1, 10, 1e-3, 0, 5]  # a constant column too
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    got, want = Scaler().fit(mapped), Scaler().fit(X)
    for name in got._params:
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9)
    assert got.to_dict()["type"] == want.to_dict()["type"]
    np.testing.assert_allclose(got.transform(X), want.transform(X), rtol=1e-9, atol=1e-12)
    assert np.all(got.transform(X)[:, 3] == 0)  # the constant column maps to 0


def test_a_scaler_names_the_rows_of_a_memory_map_that_hold_nan(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocessing, "CHUNK_ROWS", 10)
    X = np.ones((40, 2))
    X[23, 1] = np.nan
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match="rows 20 to 29: X contains NaN"):
        StandardScaler().fit(np.load(tmp_path / "X.npy", mmap_mode="r"))


def test_train_on_npy_files_with_npy_validation_data(tmp_path, capsys):
    data = npy_files(tmp_path)
    val = npy_files(tmp_path, n=40, seed=1, stem="_val")
    status = main(["train", "--data", data, "--val-data", val, "--hidden", "8", "--epochs", "3",
                   "--batch-size", "16", "--out", str(tmp_path / "m.npz"), "--quiet"])
    assert status == 0, capsys.readouterr().err
    net = glassnet.load(tmp_path / "m.npz")
    assert len(net.history) == 3 and "val_loss" in net.history.keys()
    X_train = np.load(tmp_path / "X.npy")[:160]  # the scaler saw the training rows only
    np.testing.assert_allclose(net.scaler.mean_, X_train.mean(axis=0), rtol=1e-12)
    X_val, y_val = open_memmap_dataset(tmp_path / "X_val.npy", tmp_path / "y_val.npy")
    want = net.loss(net.scale_inputs(np.asarray(X_val)), np.asarray(y_val))
    assert net.history["val_loss"][-1] == pytest.approx(want, rel=1e-5)


def test_val_data_and_val_split_exclude_each_other(tmp_path, capsys):
    data = npy_files(tmp_path)
    assert main(["train", "--data", data, "--val-data", data, "--val-split", "0.2"]) == 2
    assert "--val-data and --val-split exclude each other" in capsys.readouterr().err


def test_val_data_labels_are_the_models_classes_whatever_their_order(tmp_path, capsys):
    """Validation labels are compared label for label: a file holding only some of the
    classes (its own indices 0..k-1 differ) is mapped into the model's classes."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((150, 3))
    y = np.array([10, 20, 30])[np.argmax(X, axis=1)]
    np.savez(tmp_path / "train.npz", X=X, y=y)
    keep = y != 10  # the validation file lacks class 10: its own labels 20, 30 -> 0, 1
    np.savez(tmp_path / "val.npz", X=X[keep], y=y[keep])
    status = main(["train", "--data", f"npz:{tmp_path / 'train.npz'}", "--val-data",
                   f"npz:{tmp_path / 'val.npz'}", "--epochs", "2", "--quiet",
                   "--out", str(tmp_path / "m.npz")])
    assert status == 0, capsys.readouterr().err
    net = glassnet.load(tmp_path / "m.npz")
    assert net.classes == [10, 20, 30]
    want = net.loss(net.scale_inputs(X[keep]), np.searchsorted([10, 20, 30], y[keep]))
    assert net.history["val_loss"][-1] == pytest.approx(want, rel=1e-6)
    np.savez(tmp_path / "bad.npz", X=X, y=np.where(y == 10, 40, y))
    assert main(["train", "--data", f"npz:{tmp_path / 'train.npz'}", "--val-data",
                 f"npz:{tmp_path / 'bad.npz'}", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "m2.npz")]) == 2
    err = capsys.readouterr().err
    assert "class labels the model was not trained on: 40" in err
    assert not (tmp_path / "m2.npz").exists()


@pytest.mark.parametrize("extra, message", [
    (["--val-data", "npz:{d}/nowhere.npz"], "nowhere.npz"),
    (["--val-data", "iris"], "has (4,) features per sample; the training data has 3"),
    (["--checkpoint-every", "5"], "--checkpoint-every needs --checkpoint-dir"),
    (["--checkpoint-every", "0", "--checkpoint-dir", "{d}/ck"], "--checkpoint-every"),
])
def test_val_data_and_checkpoint_every_errors_are_one_line(tmp_path, capsys, extra, message):
    rng = np.random.default_rng(5)
    np.savez(tmp_path / "train.npz", X=rng.standard_normal((60, 3)), y=np.arange(60) % 3)
    argv = ["train", "--data", f"npz:{tmp_path / 'train.npz'}", "--epochs", "1", "--quiet",
            "--out", str(tmp_path / "m.npz"), *[a.format(d=tmp_path) for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "m.npz").exists()


# ------------------------------------------------------------------ SIGTERM through the CLI


def train_command(tmp_path: Path, data: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "glassnet", "train", "--data", data, "--hidden", "16",
            "--epochs", "6", "--batch-size", "8", "--optimizer", "adam", "--dropout", "0.1",
            "--quiet", *extra]


def test_sigterm_exits_75_with_a_checkpoint_and_resume_gives_the_uninterrupted_model(tmp_path):
    data = npy_files(tmp_path, n=1000)
    ck, cut = tmp_path / "ck", tmp_path / "cut.npz"
    proc = subprocess.Popen(train_command(tmp_path, data, "--checkpoint-dir", str(ck),
                                          "--checkpoint-every", "1", "--out", str(cut)),
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while not (ck / "checkpoint.npz").exists() and proc.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal came")
    assert proc.returncode == 75, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glassnet: error: training stopped by SIGTERM")
    assert not cut.exists()  # nothing half-trained saved as the model
    resumed = subprocess.run(train_command(tmp_path, data, "--checkpoint-dir", str(ck),
                                           "--resume", "--out", str(cut)),
                             env=env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(train_command(tmp_path, data, "--out", str(tmp_path / "s.npz")),
                              env=env(), capture_output=True, text=True, timeout=120)
    assert straight.returncode == 0, straight.stderr
    got, want = glassnet.load(cut), glassnet.load(tmp_path / "s.npz")
    for key, value in want.params().items():
        np.testing.assert_array_equal(got.params()[key], value, err_msg=key)
    assert [{k: v for k, v in r.items() if k != "time"} for r in got.history.epochs] == \
        [{k: v for k, v in r.items() if k != "time"} for r in want.history.epochs]


# ------------------------------------------------------------------ glassnet launch


class FakeRun:
    """What popen returns: a finished process with the next status of ``statuses``."""

    def __init__(self, statuses: list[int], calls: list[list[str]], command, **kwargs):
        assert kwargs == {"start_new_session": True}
        calls.append(list(command))
        self.status = statuses[len(calls) - 1]

    def wait(self):
        return self.status


def fake_popen(statuses: list[int], calls: list[list[str]]):
    return lambda command, **kwargs: FakeRun(statuses, calls, command, **kwargs)


@pytest.mark.parametrize("statuses, max_restarts, final, runs", [
    ([0], 3, 0, 1),             # done at once
    ([1, 0], 3, 0, 2),          # one failure, then done from the checkpoint
    ([75, 1, 0], 3, 0, 3),      # preempted, failed, done
    ([1, 1, 1, 1], 2, 1, 3),    # out of restarts
    ([2], 3, 2, 1),             # a usage error is never retried
    ([1, 2], 3, 2, 2),          # nor after a restart
])
def test_launch_restarts_a_failed_run_with_resume(tmp_path, statuses, max_restarts, final,
                                                  runs):
    (tmp_path / "checkpoint.npz").touch()
    calls: list[list[str]] = []
    lines: list[str] = []
    command = ["glassnet", "train", "--checkpoint-dir", str(tmp_path)]
    status = run_with_restarts(command, max_restarts, log=lines.append,
                               popen=fake_popen(statuses, calls))
    assert (status, len(calls)) == (final, runs)
    assert calls[0] == command
    assert all(call == command + ["--resume"] for call in calls[1:])
    assert len(lines) == runs - 1
    if lines:
        assert lines[0] == f"the run failed (exit status {statuses[0]}); restart 1 of " \
                           f"{max_restarts} from {tmp_path / 'checkpoint.npz'}"


def test_launch_does_not_restart_without_a_checkpoint(tmp_path):
    calls: list[list[str]] = []
    lines: list[str] = []
    status = run_with_restarts(["x", f"--checkpoint-dir={tmp_path}"], 3, log=lines.append,
                               popen=fake_popen([1, 0], calls))
    assert status == 1 and len(calls) == 1
    assert "before writing" in lines[0] and "nothing to restart from" in lines[0]


@pytest.mark.parametrize("command, max_restarts, message", [
    ([], 1, r"needs a command to run"),
    (["glassnet", "train"], 1, r"give the command --checkpoint-dir DIR"),
    (["x", "--checkpoint-dir", "ck"], -1, r"The 'max_restarts' parameter of run_with_restarts "
                                          r"must be an int >= 0; got -1\."),
    (["x", "--checkpoint-dir", "ck"], 1.5, r"must be an int >= 0; got 1\.5"),
])
def test_launch_errors(command, max_restarts, message):
    with pytest.raises(ValueError, match=message):
        run_with_restarts(command, max_restarts, popen=fake_popen([0], []))


def test_checkpoint_dir_of_a_command():
    assert checkpoint_dir_of(["a", "--checkpoint-dir", "ck", "b"]) == "ck"
    assert checkpoint_dir_of(["a", "--checkpoint-dir=x/y"]) == "x/y"
    assert checkpoint_dir_of(["a", "--checkpoint-dir"]) is None
    assert checkpoint_dir_of(["a"]) is None


def test_a_signal_to_the_wrapper_is_passed_on_and_ends_it(tmp_path):
    script = tmp_path / "wrap.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(ROOT / 'src')!r})
from glassnet.launch import run_with_restarts
child = [sys.executable, "-c", "import signal, sys, time\\n"
         "signal.signal(signal.SIGTERM, lambda *a: sys.exit(75))\\n"
         "open(sys.argv[1], 'w').close(); time.sleep(60)", {str(tmp_path / 'up')!r},
         "--checkpoint-dir", {str(tmp_path)!r}]
open({str(tmp_path / 'checkpoint.npz')!r}, "w").close()
sys.exit(run_with_restarts(child, 5))
""")
    proc = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 30
    while not (tmp_path / "up").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 75  # the child's status, and no restart


def crash_once_script(tmp_path: Path) -> Path:
    script = tmp_path / "train.py"
    script.write_text(f"""
import os, sys
import numpy as np
sys.path.insert(0, {str(ROOT / 'src')!r})
from glassnet import mlp
from glassnet.training import Callback

class Crash(Callback):
    def on_batch_end(self, net, step, loss):
        if step == 11 and "--resume" not in sys.argv and not os.environ.get("NO_CRASH"):
            raise SystemExit(1)  # a crash: only the checkpoint on disk is left

rng = np.random.default_rng(0)
X = rng.standard_normal((100, 3)); y = (X[:, 0] > 0).astype(int)
net = mlp([3, 8, 2], loss="cross_entropy", dropout=0.2, seed=0)
net.fit(X, y, epochs=4, batch_size=16, optimizer="adam", seed=1, progress=False,
        checkpoint_dir=sys.argv[2], checkpoint_every=3, resume="--resume" in sys.argv,
        callbacks=[Crash()])
np.savez(sys.argv[1], **net.params())
""")
    return script


def test_glassnet_launch_restarts_a_crashed_run_to_the_uninterrupted_result(tmp_path, capsys):
    script = crash_once_script(tmp_path)
    out, ck = tmp_path / "restarted.npz", tmp_path / "ck"
    status = main(["launch", "--max-restarts", "2", "--checkpoint-dir", str(ck), "--",
                   sys.executable, str(script), str(out), str(ck)])
    assert status == 0
    assert capsys.readouterr().err.strip() == (
        f"glassnet launch: the run failed (exit status 1); restart 1 of 2 from "
        f"{ck / 'checkpoint.npz'}")
    straight = tmp_path / "straight.npz"
    proc = subprocess.run([sys.executable, str(script), str(straight), str(tmp_path / "s")],
                          env=dict(os.environ, NO_CRASH="1"), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got, want = np.load(out), np.load(straight)
    for key in want.files:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.mpi
@needs_mpi
def test_glassnet_launch_restarts_an_mpi_job_whose_rank_failed(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from test_distributed import single_process, write_spec
    finally:
        sys.path.pop(0)
    fit = {"epochs": 3, "batch_size": 8, "optimizer": "adam", "learning_rate": 0.05, "seed": 1,
           "checkpoint_dir": str(tmp_path / "ck"), "checkpoint_every": 2}
    path, spec = write_spec(tmp_path, fit, fault={"rank": 1, "step": 5, "kind": "raise"})
    command = [sys.executable, "-m", "glassnet", "launch", "--max-restarts", "1",
               "--checkpoint-dir", fit["checkpoint_dir"], "--",
               MPIEXEC, "-n", "2", sys.executable, str(ROOT / "tests" / "mpi_worker.py"),
               str(path)]
    proc = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "RankFailedError: rank 1 of 2 failed in epoch 2, batch 2 of 3" in proc.stderr
    assert "glassnet launch: the run failed (exit status 1); restart 1 of 1" in proc.stderr
    expected = single_process(spec, resume=False, checkpoint_dir=None, checkpoint_every=None)
    with np.load(spec["out"]) as got:
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-12, err_msg=key)


# ------------------------------------------------------------------ the Slurm job script


def slurm_stand_ins(folder: Path) -> dict[str, str]:
    """``srun`` runs its command under mpiexec with SLURM_NTASKS ranks (and writes its pid);
    ``scontrol`` records what it was asked; ``glassnet`` is this checkout's."""
    folder.mkdir()
    scripts = {
        "srun": f'#!/bin/bash\necho $$ > "{folder}/srun.pid"\nshift  # --kill-on-bad-exit=1\n'
                f'exec "{MPIEXEC}" -n "$SLURM_NTASKS" "$@"\n',
        "scontrol": f'#!/bin/bash\necho "$@" >> "{folder}/scontrol.log"\n',
        "glassnet": f'#!/bin/bash\nexec "{sys.executable}" -m glassnet "$@"\n',
    }
    for name, text in scripts.items():
        path = folder / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return dict(env(), PATH=f"{folder}{os.pathsep}{os.environ['PATH']}", SLURM_NTASKS="2",
                SLURM_JOB_ID="4242", SLURM_CPUS_PER_TASK="1")


@pytest.mark.mpi
@needs_mpi
def test_the_slurm_job_script_requeues_on_a_signal_and_resumes_to_the_end(tmp_path):
    data = npy_files(tmp_path, n=600)
    bin_dir = tmp_path / "bin"
    job_env = slurm_stand_ins(bin_dir)
    job_env.update(SLURM_SUBMIT_DIR=str(tmp_path),
                   GLASSNET_TRAIN_ARGS=f"--data {data} --hidden 8 --epochs 3 --batch-size 8 "
                                       f"--quiet --out {tmp_path / 'model.npz'}")
    script = ROOT / "docs" / "examples" / "slurm" / "train.sbatch"
    first = subprocess.Popen(["bash", str(script)], env=job_env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        checkpoint = tmp_path / "ck" / "checkpoint.npz"
        deadline = time.monotonic() + 60
        while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(int((bin_dir / "srun.pid").read_text()), signal.SIGUSR1)  # as --signal=USR1@180
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    if first.returncode == 0:
        pytest.skip("the job finished before the signal came")
    assert first.returncode == 75, err
    assert (bin_dir / "scontrol.log").read_text() == "requeue 4242\n"
    assert not (tmp_path / "model.npz").exists()
    _, extra, _ = load_with_extra(checkpoint)
    assert "checkpoint" in extra
    second = subprocess.run(["bash", str(script)], env=job_env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)  # the requeued job
    assert second.returncode == 0, second.stderr
    assert (bin_dir / "scontrol.log").read_text() == "requeue 4242\n"  # not requeued again
    assert len(glassnet.load(tmp_path / "model.npz").history) == 3
    assert len(glassnet.load(checkpoint).history) == 3
