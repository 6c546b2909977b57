"""Data-parallel training over MPI ranks: equivalence with one process, uneven shards, faults,
resume with another rank count, the CLI; and the joblib/Dask hyperparameter sweep.

The MPI tests start ``mpiexec -n N python tests/mpi_worker.py SPEC`` as subprocesses with a
timeout; they are marked ``mpi`` and skipped when mpi4py or mpiexec is missing
(``pip install 'glassnet[mpi]'``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from glassnet import load, mlp
from glassnet.distributed import shard_bounds

HERE = Path(__file__).parent
WORKER = HERE / "mpi_worker.py"
ROOT = HERE.parent


def _find_mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"  # the mpich wheel puts it in the venv
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _find_mpiexec()
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and MPIEXEC is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI,
                               reason="needs mpi4py and mpiexec: pip install 'glassnet[mpi]'")


def mpiexec(n: int, args: list[str], timeout: float = 60, cwd: Path | None = None):
    """Run ``mpiexec -n n python ARGS``, one BLAS thread per rank; returns the CompletedProcess."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *args], capture_output=True,
                          text=True, timeout=timeout, check=False, env=env, cwd=cwd)


def make_data(tmp_path: Path, n: int = 23, n_in: int = 5, n_classes: int = 3) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((n, n_in)), rng.integers(0, n_classes, n)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "X.npy", tmp_path / "y.npy"


def run_worker(tmp_path: Path, n_ranks: int, fit: dict, *, name: str = "w", n: int = 23,
               dtype: str = "float64", timeout: float = 60, **extra):
    X, y = make_data(tmp_path, n)
    spec = {"X": str(X), "y": str(y), "sizes": [5, 7, 3], "dtype": dtype, "fit": fit,
            "out": str(tmp_path / f"{name}.npz"), **extra}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return mpiexec(n_ranks, [str(WORKER), str(path)], timeout=timeout), spec


def single_process(spec: dict, history: list | None = None,
                   **fit_overrides) -> dict[str, np.ndarray]:
    """The reference: the same fit in this process, on the arrays in memory."""
    net = mlp(spec["sizes"], loss="cross_entropy", dtype=spec["dtype"],
              dropout=spec.get("dropout", 0.0), l2=spec.get("l2", 0.0), seed=0)
    X, y = np.load(spec["X"]), np.load(spec["y"])
    if spec.get("validation"):
        fit_overrides["validation_data"] = (X[:5], y[:5])
    result = net.fit(X, y, progress=False, **{**spec["fit"], **fit_overrides})
    if history is not None:
        history.extend(result.epochs)
    return net.params()


def assert_weights_equal(path: str, expected: dict[str, np.ndarray], atol: float) -> None:
    with np.load(path) as got:
        assert sorted(got.files) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, rtol=0, atol=atol, err_msg=key)


def check_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------ without MPI


def test_shard_bounds_split_as_evenly_as_possible():
    assert shard_bounds(8, 2).tolist() == [0, 4, 8]
    assert shard_bounds(7, 3).tolist() == [0, 3, 5, 7]
    assert shard_bounds(1, 3).tolist() == [0, 1, 1, 1]  # two ranks get nothing


def test_distributed_without_mpi4py_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    net = mlp([2, 3, 2], loss="cross_entropy")
    with pytest.raises(ImportError, match=r"pip install 'glassnet\[mpi\]'"):
        net.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]), distributed=True)


# ------------------------------------------------------------------ mpiexec -n N


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_rank_is_plain_fit_bit_for_bit(tmp_path, optimizer, dtype):
    """The same engine: one rank on a memory-mapped file gives plain fit's weights exactly."""
    fit = {"epochs": 3, "batch_size": 8, "optimizer": optimizer, "learning_rate": 0.05,
           "seed": 3}
    proc, spec = run_worker(tmp_path, 1, fit, dtype=dtype, l2=1e-3)
    check_ok(proc)
    assert_weights_equal(spec["out"], single_process(spec), atol=0)


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype, atol", [("float64", 1e-12), ("float32", 1e-6)])
def test_two_ranks_equal_one_process(tmp_path, optimizer, dtype, atol):
    # 23 samples, global batch 8: batches 8, 8 and a last partial 7 (shards 4+4 and 4+3)
    # with validation data and a metric, evaluated on rank 0 and broadcast
    fit = {"epochs": 2, "batch_size": 8, "optimizer": optimizer, "learning_rate": 0.05, "seed": 1,
           "metrics": ["accuracy"]}
    proc, spec = run_worker(tmp_path, 2, fit, dtype=dtype, l2=1e-3, validation=True)
    check_ok(proc)
    expected: list = []
    assert_weights_equal(spec["out"], single_process(spec, expected), atol)
    history = json.loads(Path(spec["out"] + ".json").read_text())["history"]["epochs"]
    for got, want in zip(history, expected, strict=True):
        for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
            assert got[key] == pytest.approx(want[key], rel=1e-5), key


@pytest.mark.mpi
@needs_mpi
def test_uneven_shards_and_empty_shards(tmp_path):
    # 3 ranks, 17 samples, batch 8: shards 3+3+2, 3+3+2, and the last batch of 1 leaves two
    # ranks empty; clip_norm acts on the reduced gradient
    fit = {"epochs": 2, "batch_size": 8, "optimizer": "adam", "learning_rate": 0.05, "seed": 3,
           "clip_norm": 0.5}
    proc, spec = run_worker(tmp_path, 3, fit, n=17)
    check_ok(proc)
    assert_weights_equal(spec["out"], single_process(spec), 1e-12)


@pytest.mark.mpi
@needs_mpi
def test_dropout_is_seeded_per_rank_and_reproducible(tmp_path):
    fit = {"epochs": 2, "batch_size": 8, "optimizer": "sgd", "learning_rate": 0.1, "seed": 1}
    first, spec = run_worker(tmp_path, 2, fit, name="a", dropout=0.3, out_all=True)
    second, _ = run_worker(tmp_path, 2, fit, name="b", dropout=0.3)
    check_ok(first), check_ok(second)
    expected = dict(np.load(spec["out"]))
    assert_weights_equal(str(tmp_path / "b.npz"), expected, 0)  # the same N: bit for bit
    assert_weights_equal(spec["out"] + ".rank1.npz", expected, 0)  # every rank holds the same
    reference = single_process(spec)  # the masks differ from one process's
    assert not all(np.array_equal(expected[k], v) for k, v in reference.items())


@pytest.mark.mpi
@needs_mpi
def test_resume_with_another_number_of_ranks(tmp_path):
    fit = {"epochs": 1, "batch_size": 8, "optimizer": "adam", "learning_rate": 0.05, "seed": 1,
           "checkpoint_dir": str(tmp_path / "ck")}
    proc, spec = run_worker(tmp_path, 2, fit, name="first")
    check_ok(proc)
    proc, spec = run_worker(tmp_path, 3, {**fit, "epochs": 3, "resume": True}, name="resumed")
    check_ok(proc)
    expected = single_process(spec, epochs=3, resume=False, checkpoint_dir=None)
    assert_weights_equal(spec["out"], expected, 1e-12)
    history = json.loads(Path(spec["out"] + ".json").read_text())
    assert [r["epoch"] for r in history["history"]["epochs"]] == [1, 2, 3]
    assert history["size"] == 3


@pytest.mark.mpi
@needs_mpi
def test_a_rank_that_raises_stops_every_rank_with_a_message_on_rank_0(tmp_path):
    fit = {"epochs": 3, "batch_size": 8, "optimizer": "sgd", "seed": 1,
           "checkpoint_dir": str(tmp_path / "ck")}
    fault = {"rank": 1, "step": 4, "kind": "raise"}  # epoch 2, batch 1 (3 batches an epoch)
    start = time.monotonic()
    proc, spec = run_worker(tmp_path, 2, fit, fault=fault, timeout=30)
    assert proc.returncode != 0
    assert time.monotonic() - start < 15
    assert "RankFailedError: rank 1 of 2 failed in epoch 2, batch 1 of 3: ValueError: " \
           "injected fault at step 4. All ranks stopped." in proc.stderr
    net = load(tmp_path / "ck" / "checkpoint.npz")  # epoch 1's checkpoint is intact
    assert len(net.history) == 1
    # and the job goes on from it, here on one rank
    proc, spec = run_worker(tmp_path, 1, {**fit, "resume": True}, name="resumed")
    check_ok(proc)
    expected = single_process(spec, resume=False, checkpoint_dir=None)
    assert_weights_equal(spec["out"], expected, 1e-12)


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize("kind, message", [
    # mpiexec (hydra) sees the dead process and ends the job: with its status 7, or with 9 when
    # it has already killed the surviving rank (a race inside hydra, seen in CI runs)
    ("exit", ""),
    ("hang", "rank 0 waited 2 s for the other ranks in Allreduce (in epoch 2, batch 2 of 3)"),
])
def test_a_rank_that_dies_or_hangs_ends_the_job_in_bounded_time(tmp_path, kind, message):
    fit = {"epochs": 3, "batch_size": 8, "optimizer": "sgd", "seed": 1}
    start = time.monotonic()
    proc, _ = run_worker(tmp_path, 2, fit, fault={"rank": 1, "step": 4, "kind": kind},
                         timeout=30, mpi_timeout=2)
    assert proc.returncode in ((7, 9) if kind == "exit" else (1,)), proc.returncode
    assert time.monotonic() - start < 20
    assert message in proc.stdout + proc.stderr


@pytest.mark.mpi
@needs_mpi
def test_cli_train_distributed(tmp_path):
    args = ["-m", "glassnet", "train", "--distributed", "--data", "xor", "--hidden", "8",
            "--epochs", "2", "--batch-size", "50", "--checkpoint-dir", str(tmp_path / "ck"),
            "--out", str(tmp_path / "m.npz"), "--metrics", "accuracy"]
    proc = mpiexec(2, args, cwd=tmp_path)
    check_ok(proc)
    assert proc.stdout.count("epoch   1/2") == 1  # rank 0 alone prints
    assert "saved model to" in proc.stdout
    assert len(load(tmp_path / "m.npz").history) == 2
    assert len(load(tmp_path / "ck" / "checkpoint.npz").history) == 2


# ------------------------------------------------------------------ joblib sweeps


def test_grid_search_on_a_dask_cluster_through_joblib():
    pytest.importorskip("distributed", reason="needs dask: pip install 'glassnet[dask]'")
    sys.path.insert(0, str(ROOT / "docs" / "examples"))
    try:
        from grid_search_dask import main
    finally:
        sys.path.pop(0)
    search = main(n_workers=2)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.8
