"""Data-parallel steps over MPI ranks: time per step split into compute and communication.

Workloads (synthetic inputs, softmax + cross-entropy, plain SGD, float32):

* W1: 784-256-128-10 relu, global batch 128;
* W4: 784-1024-1024-10 relu, global batch 256.

Each is run as 1 rank x 2 BLAS threads and as 2 ranks x 1 BLAS thread. One step is fit's
batch step over MPI (``glassnet.distributed.DataParallel``): backprop on the rank's shard and
packing the scaled gradients into the flat buffer (compute), a barrier (waiting for the
slower rank), the Allreduce of the buffer (communication), the optimiser step (update).

Run: ``python bench/distributed.py`` (needs ``glassnet[mpi]``); ``--steps`` to change the
count. The driver starts ``mpiexec -n N python bench/distributed.py --worker ...`` itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORKLOADS = {
    "W1": {"sizes": [784, 256, 128, 10], "batch_size": 128},
    "W4": {"sizes": [784, 1024, 1024, 10], "batch_size": 256},
}
LAYOUTS = [(1, 1), (1, 2), (2, 1)]  # (ranks, threads per rank); (1, 1) as the baseline


def worker(name: str, steps: int, warmup: int) -> None:
    from mpi4py import MPI

    from glassnet import mlp
    from glassnet.distributed import GradientBuffer, _broadcast_params, _Group, shard_bounds
    from glassnet.optim import SGD

    spec = WORKLOADS[name]
    comm = MPI.COMM_WORLD
    group = _Group(comm, timeout=600)
    rank, n_ranks = group.rank, group.size
    net = mlp(spec["sizes"], loss="cross_entropy", seed=0)
    B = spec["batch_size"]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((B, spec["sizes"][0])).astype(np.float32)
    Y = net.loss_fn.targets(rng.integers(0, 10, B), net.n_out, net.dtype)
    bounds = shard_bounds(B, n_ranks)
    X_r, Y_r = X[bounds[rank]:bounds[rank + 1]], Y[bounds[rank]:bounds[rank + 1]]
    _broadcast_params(group, net)
    params, buffer, opt = net.params(), GradientBuffer(net, n_ranks), SGD(learning_rate=0.01)
    times: dict[str, list[float]] = {"compute": [], "wait": [], "allreduce": [], "update": [],
                                     "step": []}
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        loss = net._backprop(X_r, Y_r)
        buffer.pack(net.grads(), loss, len(X_r) / B)
        t1 = time.perf_counter()
        comm.Barrier()
        t2 = time.perf_counter()
        group.allreduce(buffer.flat, buffer.flags)
        t3 = time.perf_counter()
        opt.step(params, buffer.grads)
        t4 = time.perf_counter()
        if step >= warmup:
            for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                times[key].append(value)
    medians = {k: float(np.median(v)) for k, v in times.items()}
    everyone = comm.gather(medians, root=0)
    if rank == 0:  # rank 0's split; the step time of the slowest rank
        print(json.dumps({"workload": name, "ranks": n_ranks, "n_params": net.n_params,
                          "buffer_bytes": buffer.flat.nbytes, "median_s": medians,
                          "step_s": max(m["step"] for m in everyone)}))


def mpiexec_path() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def driver(steps: int, warmup: int) -> None:
    rows = []
    for name in WORKLOADS:
        for ranks, threads in LAYOUTS:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                       OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            cmd = [mpiexec_path(), "-n", str(ranks), sys.executable, __file__, "--worker", name,
                   "--steps", str(steps), "--warmup", str(warmup)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["threads"] = threads
            rows.append(row)
    print(f"{'workload':8} {'layout':14} {'params':>9} {'step ms':>8} {'compute':>8} "
          f"{'wait':>7} {'allreduce':>9} {'update':>7}")
    for r in rows:
        m = r["median_s"]
        layout = f"{r['ranks']} rank x {r['threads']} thr"
        print(f"{r['workload']:8} {layout:14} {r['n_params']:9d} {1e3 * r['step_s']:8.3f} "
              f"{1e3 * m['compute']:8.3f} {1e3 * m['wait']:7.3f} {1e3 * m['allreduce']:9.3f} "
              f"{1e3 * m['update']:7.3f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.warmup)
    else:
        driver(args.steps, args.warmup)
