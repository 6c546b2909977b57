"""bench/run.py --quick works end to end (the numbers are not judged: no timed tests)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_json_and_markdown(tmp_path):
    peers = [p for p in ("torch", "sklearn") if importlib.util.find_spec(p) is not None]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(tmp_path),
         "--peers", "glassnet", *peers],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    names = {"W1-sgd", "W1-adam", "W2", "W3", "W4"}
    assert set(results["workloads"]) == {f"{n}@{t}" for n in names for t in (2, 1)}
    assert all(c["ok"] for c in results["checks"])
    assert len(results["checks"]) == 2 * len(peers)
    for entry in results["workloads"].values():
        assert entry["peers"]["glassnet"]["samples_per_s"]["median"] > 0
        assert 0 <= entry["pressure"]["median"] <= 100  # every run records the CPU pressure
    table = (tmp_path / "results.md").read_text()
    assert "| W1-sgd | 2 |" in table and "| W1-sgd | 1 |" in table


def test_cpu_profile_times_the_step_fit_takes():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "cpu_profile.py"), "W1-sgd",
                           "--runs", "1", "--threads", "1"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "required GEMMs alone" in proc.stdout and "optimiser step" in proc.stdout
