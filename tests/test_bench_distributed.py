"""bench/distributed.py --quick and bench/scaling_model.py work end to end (the numbers are not
judged: no timed tests), and the scaling model's Allreduce follows MPICH's algorithms."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and \
    (Path(sys.executable).parent / "mpiexec").exists()


def scaling_model():
    spec = importlib.util.spec_from_file_location("scaling_model", ROOT / "bench" /
                                                  "scaling_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.mpi
@pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec")
def test_quick_distributed_benchmark_and_its_projection(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "distributed.py"), "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    assert set(results["overhead"]) == {"W1", "W4"}
    assert [run["ranks"] for run in results["steps"]] == [2, 3, 4]
    for run in results["steps"]:
        for row in run["workloads"].values():
            assert {"step_sequential_s", "step_overlap_s", "step_thread_s", "compute_s",
                    "update_s"} <= set(row)
    assert "CPU pressure before" in proc.stdout and "1-rank overhead" in proc.stdout
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "scaling_model.py"),
                           "--results", str(out)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "**10 GbE**" in proc.stdout and "**IB EDR 100 Gb/s**" in proc.stdout
    assert "| W4 784-1024-1024-10, B=256 |" in proc.stdout


def test_the_models_allreduce_is_mpichs_algorithm_by_size():
    model = scaling_model()
    alpha, beta, gamma = 1e-5, 1e-9, 0.0
    # recursive doubling up to 2048 bytes: lg p (alpha + n beta)
    assert model.allreduce(2048, 8, alpha, beta, gamma) == pytest.approx(3 * (alpha + 2048e-9))
    # Rabenseifner above: 2 lg p alpha + 2 (p-1)/p n beta
    n = 1 << 20
    assert model.allreduce(n, 8, alpha, beta, gamma) == pytest.approx(
        6 * alpha + 2 * 7 / 8 * n * beta)
    # 6 ranks: 2 fold into partners first (2 alpha + 2 n beta), then 4 ranks
    assert model.allreduce(n, 6, alpha, beta, gamma) == pytest.approx(
        2 * alpha + 2 * n * beta + 4 * alpha + 2 * 3 / 4 * n * beta)
    assert model.allreduce(n, 1, alpha, beta, gamma) == 0


def test_the_models_buckets_are_glassnets():
    from glassnet import mlp
    from glassnet.distributed import DEFAULT_BUCKET_BYTES, buckets

    model = scaling_model()
    assert model.BUCKET_BYTES == DEFAULT_BUCKET_BYTES
    for sizes in ([784, 256, 128, 10], [784, 1024, 1024, 10], [5, 7, 3]):
        net = mlp(sizes)
        layer_bytes = [layer.n_params * 4 for layer in net.layers]
        want = [(layer, (stop - start) * 4) for layer, start, stop in
                buckets(net, DEFAULT_BUCKET_BYTES)]
        assert model.buckets(layer_bytes) == want
