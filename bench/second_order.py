"""What per-sample gradients and Hessian-vector products cost, against one ordinary backprop.

The W1 network (784-256-128-10, relu, softmax + cross-entropy) on a batch of 128 samples.
Each workload runs ``--repeat`` times after a warm-up; the table shows the median wall time
(``time.perf_counter``) and the median CPU time (``time.process_time``) per call, with BLAS
limited to one thread (threadpoolctl) so that the CPU time is not spread over threads and a
shared machine's load shows as wall time only. Ratios are to ``backprop``: one forward and
one backward pass through ``net.backprop(X, y)``.

    python bench/second_order.py [--repeat 50] [--dtype float32] [--threads 1]

The inputs are random (the cost of these passes does not depend on the pixel values beyond
relu's sparsity); the targets are random labels.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from glassnet import mlp
from glassnet.per_sample import PrivateGradient, per_sample_grad_norms, per_sample_grads
from glassnet.second_order import Curvature, hvp

W1_SIZES = [784, 256, 128, 10]


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds per call of ``fn()``, after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default: 1)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    net = mlp(W1_SIZES, activation="relu", loss="cross_entropy", seed=0, dtype=args.dtype)
    X = rng.normal(size=(args.batch, W1_SIZES[0])).astype(args.dtype)
    y = rng.integers(0, 10, args.batch)
    v = rng.normal(size=net.n_params)
    Xc, Y = net.check_Xy(X, y)
    private = PrivateGradient(clip=1.0, noise_multiplier=1.0, rng=np.random.default_rng(1))
    with threadpool_limits(args.threads):
        cv = Curvature(net, X, y)
        workloads = {
            "backprop (forward + backward)": lambda: net.backprop(X, y),
            "per_sample_grad_norms": lambda: per_sample_grad_norms(net, X, y),
            "per_sample_grads (all n outer products)": lambda: per_sample_grads(net, X, y),
            "DP-SGD step (norms, clipped backward, noise)": lambda: private(net, Xc, Y),
            "hvp (one call: forward, backward, R-forward, R-backward)": lambda: hvp(net, X, y, v),
            "Curvature.hvp (one more product on the same batch)": lambda: cv.hvp(v),
            "Curvature.gnvp (Gauss-Newton product)": lambda: cv.gnvp(v),
        }
        results = {name: timed(fn, args.repeat) for name, fn in workloads.items()}
    base_wall, base_cpu = results["backprop (forward + backward)"]
    print(f"W1 {'-'.join(map(str, W1_SIZES))}, batch {args.batch}, {args.dtype}, "
          f"{net.n_params} parameters, {args.threads} BLAS thread(s), median of {args.repeat}")
    print(f"{'workload':<58} {'wall ms':>8} {'x':>6} {'CPU ms':>8} {'x':>6}")
    for name, (wall, cpu) in results.items():
        print(f"{name:<58} {1e3 * wall:8.2f} {wall / base_wall:6.2f} {1e3 * cpu:8.2f} "
              f"{cpu / base_cpu:6.2f}")


if __name__ == "__main__":
    main()
