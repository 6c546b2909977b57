"""Data-parallel training over MPI ranks: per-step compute, communication, overlap, 1-rank overhead.

One command, ``python bench/distributed.py`` (needs ``glassnet[mpi]``), starts every
``mpiexec`` itself, with one BLAS thread per rank, and writes ``bench/distributed-results.json``
(the inputs of ``bench/scaling_model.py``). Workloads (synthetic inputs, softmax +
cross-entropy, plain SGD, float32):

* W1: 784-256-128-10 relu, global batch 128;
* W4: 784-1024-1024-10 relu, global batch 256.

What it measures, every part through glassnet's own code:

1. **1-rank overhead**: ``fit`` against ``fit(distributed=True)`` under ``mpiexec -n 1``, the
   same data in memory, alternating; CPU seconds per step (``time.process_time``: wall time
   means little on a shared machine), the fastest of the repeats.
2. **Steps with 2-4 ranks**: ``fit(distributed=Settings(...))`` with a callback that times
   each step (wall and CPU), in the three ways of :data:`MODES` (one reduction after the
   backward; buckets during it; buckets with the helper thread forced on); beside it, on every
   rank at once, the compute alone (``gradient`` on the rank's shard, no communication) and
   the optimiser step alone. ``comm = step(sequential) - compute - update`` is what the
   reduction costs in a step; ``hidden = step(sequential) - step(buckets)``; the overlap is
   ``hidden / comm``.
3. **Allreduce time against bytes and ranks** (2-4 ranks, the MPI library's own blocking
   ``Allreduce`` of float32 buffers from 1 KiB to 8 MiB).
4. **Compute against the batch share** (one process): the forward pass, the time at which
   each top-level layer's gradients are complete in the backward pass
   (``Network.backward(after_layer=...)``), and the optimiser step, for shards of ``B / N``
   rows, ``N = 1 ... 64``: what the scaling model takes as compute.

Every run records ``/proc/pressure/cpu`` before and after: on a shared machine the numbers
are only as good as the pressure says. ``--quick`` runs the same code on few steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "distributed-results.json"
WORKLOADS = {
    "W1": {"sizes": [784, 256, 128, 10], "batch_size": 128},
    "W4": {"sizes": [784, 1024, 1024, 10], "batch_size": 256},
}
RANKS = (2, 3, 4)
MODES = {  # how the gradients are reduced (glassnet.distributed.Settings)
    "sequential": {"overlap": False},  # one reduction after the backward pass
    "overlap": {},  # buckets during the backward; a helper thread where a node has the cores
    "thread": {"progress_thread": True},  # buckets, and the helper thread in any case
}
SHARES = (1, 2, 4, 8, 16, 32, 64)  # N: shards of B / N rows
SWEEP_BYTES = [1 << k for k in range(10, 24)]  # 1 KiB .. 8 MiB


def pressure() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "unavailable"


def data(name: str, n_batches: int):
    from glassnet import mlp

    spec = WORKLOADS[name]
    rng = np.random.default_rng(1)
    n = spec["batch_size"] * n_batches
    X = rng.random((n, spec["sizes"][0]), dtype=np.float32)
    y = rng.integers(0, spec["sizes"][-1], n)
    return (lambda: mlp(spec["sizes"], loss="cross_entropy", seed=0)), X, y, spec["batch_size"]


class StepTimer:
    """A callback: wall and CPU seconds of every step (between consecutive batch ends)."""

    def __init__(self):
        from glassnet import Callback

        timer = self

        class _Timer(Callback):
            def on_batch_begin(self, net, step, batch):
                timer.begin = (time.perf_counter(), time.process_time())

            def on_batch_end(self, net, step, loss):
                wall, cpu = time.perf_counter(), time.process_time()
                timer.wall.append(wall - timer.begin[0])
                timer.cpu.append(cpu - timer.begin[1])

        self.callback, self.wall, self.cpu = _Timer(), [], []
        self.begin = (0.0, 0.0)


# ---------------------------------------------------------------------- workers (under mpiexec)


def overhead_worker(repeats: int, n_batches: int) -> dict:
    """Plain fit against fit(distributed=True) on one rank: CPU seconds per step."""
    rows = {}
    for name in WORKLOADS:
        make, X, y, B = data(name, n_batches)
        times: dict[str, list[float]] = {"plain": [], "distributed": []}
        for _ in range(repeats):
            for kind in ("plain", "distributed"):
                net = make()
                start = time.process_time()
                net.fit(X, y, epochs=2, batch_size=B, optimizer="sgd", learning_rate=0.01,
                        seed=0, progress=False, distributed=kind == "distributed")
                times[kind].append((time.process_time() - start) / (2 * n_batches))
        best = {k: min(v) for k, v in times.items()}
        rows[name] = {"cpu_per_step_s": best, "all_s": times,
                      "overhead": best["distributed"] / best["plain"] - 1}
    return rows


def steps_worker(n_batches: int, repeats: int) -> dict | None:
    from mpi4py import MPI

    from glassnet.distributed import Settings, shard_bounds
    from glassnet.optim import SGD
    from glassnet.training import gradient, update

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    result: dict = {"ranks": size, "workloads": {}, "allreduce": {}}
    for name in WORKLOADS:
        make, X, y, B = data(name, n_batches)
        row: dict = {}
        for key, kwargs in MODES.items():
            wall, cpu = [], []
            for _ in range(repeats):
                timer = StepTimer()
                make().fit(X, y, epochs=1, batch_size=B, optimizer="sgd", learning_rate=0.01,
                           seed=0, progress=False, callbacks=[timer.callback],
                           distributed=Settings(timeout=600, **kwargs))
                wall += timer.wall[1:]  # the first step waits for the slowest start
                cpu += timer.cpu[1:]
            row[f"step_{key}_s"] = float(np.median(wall))
            row[f"step_{key}_cpu_s"] = float(np.median(cpu))
        net, opt = make(), SGD(learning_rate=0.01)
        bounds = shard_bounds(B, size)
        X_r = X[bounds[rank]:bounds[rank + 1]]
        Y_r = net.targets(y[bounds[rank]:bounds[rank + 1]])
        compute, step_update = [], []
        for _ in range(repeats * n_batches):
            comm.Barrier()  # every rank computes at once, as in training
            t0 = time.perf_counter()
            gradient(net, X_r, Y_r)
            t1 = time.perf_counter()
            update(net, opt)
            step_update.append(time.perf_counter() - t1)
            compute.append(t1 - t0)
        row["compute_s"] = float(np.median(compute))
        row["update_s"] = float(np.median(step_update))
        row["grad_bytes"] = int(net.grad.nbytes)
        result["workloads"][name] = row
    for nbytes in SWEEP_BYTES:
        buffer = np.ones(nbytes // 4, dtype=np.float32)
        times = []
        for _ in range(max(5, 40 * (1 << 16) // max(nbytes, 1 << 16))):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            times.append(time.perf_counter() - t0)
        result["allreduce"][str(nbytes)] = {"median_s": float(np.median(times)),
                                            "min_s": float(np.min(times))}
    everyone = comm.gather(result, root=0)
    if rank != 0:
        return None
    for name in WORKLOADS:  # the slowest rank's step and compute
        for key in [f"step_{mode}_s" for mode in MODES] + ["compute_s"]:
            result["workloads"][name][key] = max(r["workloads"][name][key] for r in everyone)
    return result


# ---------------------------------------------------------------------- in this process


def profile(repeats: int) -> dict:
    """Compute against the batch share: forward, per-layer backward completion, update."""
    from glassnet.optim import SGD
    from glassnet.training import update

    out: dict = {}
    for name, spec in WORKLOADS.items():
        make, X, y, B = data(name, 1)
        net, opt = make(), SGD(learning_rate=0.0)
        rows = {}
        for N in SHARES:
            b = max(1, B // N)
            X_b, Y_b = X[:b], net.targets(y[:b])
            best: dict | None = None
            for _ in range(repeats):
                marks: dict[int, float] = {}
                t0 = time.perf_counter()
                net.propagate(X_b)
                t1 = time.perf_counter()
                net.backward(Y_b, after_layer=partial(_mark, marks))
                t2 = time.perf_counter()
                update(net, opt)
                t3 = time.perf_counter()
                sample = {"forward_s": t1 - t0, "backward_s": t2 - t1, "update_s": t3 - t2,
                          "layer_done_s": {str(i): m - t1 for i, m in marks.items()}}
                if best is None or sample["forward_s"] + sample["backward_s"] < \
                        best["forward_s"] + best["backward_s"]:
                    best = sample
            rows[str(N)] = {"rows": b, **best}
        layer_bytes = [0] * len(net.layers)
        for key, param in net.params().items():
            layer_bytes[int(key.split(".")[0])] += param.nbytes
        out[name] = {"batch_size": B, "sizes": spec["sizes"], "layer_bytes": layer_bytes,
                     "shares": rows}
    a, b = np.ones(1 << 21, dtype=np.float32), np.ones(1 << 21, dtype=np.float32)
    adds = []
    for _ in range(20):  # the reduction's own arithmetic: a += b over 8 MiB
        t0 = time.perf_counter()
        np.add(a, b, out=a)
        adds.append(time.perf_counter() - t0)
    out["reduce_s_per_byte"] = float(np.min(adds)) / a.nbytes
    return out


def _mark(marks: dict[int, float], layer: int) -> None:
    marks[layer] = time.perf_counter()


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def launch(n: int, mode: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE.parent / "src"),
                                           os.environ.get("PYTHONPATH", "")]))
    cmd = [mpiexec(), "-n", str(n), sys.executable, __file__, "--worker", mode,
           "--steps", str(args.steps), "--repeats", str(args.repeats)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(results: dict) -> str:
    lines = ["1-rank overhead (CPU s per step, fastest of the repeats):",
             f"{'workload':8} {'plain fit':>10} {'1 rank':>10} {'overhead':>9}"]
    for name, r in results["overhead"].items():
        c = r["cpu_per_step_s"]
        lines.append(f"{name:8} {1e3 * c['plain']:8.3f}ms {1e3 * c['distributed']:8.3f}ms "
                     f"{100 * r['overhead']:+8.1f}%")
    lines += ["", "Steps (ms, medians; the slowest rank). comm = sequential - compute - update;"
              " overlap = (sequential - step) / comm, for the buckets without (ovl) and with "
              "(thr) the helper thread:",
              f"{'workload':8} {'ranks':>5} {'compute':>8} {'update':>7} {'seq':>8} "
              f"{'ovl':>8} {'thr':>8} {'comm':>7} {'ovl %':>6} {'thr %':>6}"]
    for run in results["steps"]:
        for name, r in run["workloads"].items():
            seq = r["step_sequential_s"]
            comm = seq - r["compute_s"] - r["update_s"]
            shares = [100 * (seq - r[f"step_{m}_s"]) / comm if comm > 0 else float("nan")
                      for m in ("overlap", "thread")]
            lines.append(f"{name:8} {run['ranks']:5d} {1e3 * r['compute_s']:8.3f} "
                         f"{1e3 * r['update_s']:7.3f} {1e3 * seq:8.3f} "
                         f"{1e3 * r['step_overlap_s']:8.3f} {1e3 * r['step_thread_s']:8.3f} "
                         f"{1e3 * comm:7.3f} {shares[0]:6.0f} {shares[1]:6.0f}")
    lines += ["", "Allreduce (ms, median) by bytes and ranks:",
              f"{'bytes':>9} " + " ".join(f"{f'{r} ranks':>9}" for r in RANKS)]
    for nbytes in SWEEP_BYTES:
        cells = [run["allreduce"][str(nbytes)]["median_s"] for run in results["steps"]]
        lines.append(f"{nbytes:9d} " + " ".join(f"{1e3 * t:9.3f}" for t in cells))
    lines += ["", f"CPU pressure before: {results['pressure_before']}",
              f"CPU pressure after:  {results['pressure_after']}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["overhead", "steps", "profile"])
    parser.add_argument("--steps", type=int, default=40, help="batches per epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="few steps: the code paths only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats = 4, 2
    if args.worker == "overhead":
        print(json.dumps(overhead_worker(args.repeats, args.steps)))
        return
    if args.worker == "profile":
        print(json.dumps(profile(max(args.repeats, 5))))
        return
    if args.worker == "steps":
        result = steps_worker(args.steps, args.repeats)
        if result is not None:
            print(json.dumps(result))
        return
    from mpi4py import MPI

    results = {"pressure_before": pressure(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
               "mpi": MPI.Get_library_version().splitlines()[0], "numpy": np.__version__,
               "steps": args.steps, "repeats": args.repeats}
    results["overhead"] = launch(1, "overhead", args)
    results["steps"] = [launch(n, "steps", args) for n in RANKS]
    results["profile"] = launch(1, "profile", args)  # one BLAS thread, as every rank
    results["pressure_after"] = pressure()
    args.out.write_text(json.dumps(results, indent=1))
    print(report(results))
    print(f"\nwrote {args.out}; python bench/scaling_model.py makes the projection from it")


if __name__ == "__main__":
    main()
