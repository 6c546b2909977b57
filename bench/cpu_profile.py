"""Where a CPU training step goes: ``python bench/cpu_profile.py [W1-sgd|W4] [--threads N]``.

Times, on the workload's shapes (float32, the hot path of ``fit``, plain SGD with the learning
rate folded in): the whole step ``FastPath.backprop`` plus the update; its required matrix
products alone on the same buffers; and each other piece of the step alone. Each figure is the
best of 30 runs of 20 steps (the machine is shared: the best is the least disturbed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="W1-sgd", choices=["W1-sgd", "W4"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported

    import numpy as np
    from workloads import initial_weights, make_data, spec

    import glassnet
    from glassnet.fastpath import FastPath

    s = spec(args.workload)
    X, y = make_data(s)
    net = glassnet.mlp(s["sizes"], s["activation"], output="softmax", loss="cross_entropy", seed=0)
    for layer, (W, b) in zip(net.layers, initial_weights(s)):
        layer.W[...], layer.b[...] = W, b
    Y = net.loss_fn.targets(y, net.n_out, net.dtype)
    fast = FastPath.build(net)
    n = s["batch"]
    order = np.random.default_rng(0).permutation(len(X))
    batches = [order[i:i + n] for i in range(0, len(X) - n + 1, n)]
    fast.backprop(X, Y, batches[0], None, 0.1)
    buf, layers, last = fast.batch(n, Y.shape[1]), fast.layers, len(fast.layers) - 1

    def step(rows):
        fast.backprop(X, Y, rows, None, 0.1)
        fast.theta -= fast.grad

    def gemms(rows):  # forward a_prev @ W.T; backward delta.T @ a_prev and delta @ W (not layer 0)
        for i, layer in enumerate(layers):
            np.matmul(layer.a_prev, layer.W.T, out=buf.z[i])
        for i in range(last, -1, -1):
            np.matmul(buf.z[i].T, layers[i].a_prev, out=fast.dW[i])
            if i > 0:
                np.matmul(buf.z[i], layers[i].W, out=buf.grad[i])

    def gather(rows):
        X.take(rows, axis=0, out=buf.X, mode="clip")
        Y.take(rows, axis=0, out=buf.Y, mode="clip")

    def bias_and_relu(rows):
        for i in range(last):
            buf.z[i] += layers[i].b
            np.maximum(buf.z[i], 0, out=buf.a[i])
        buf.z[last] += layers[last].b

    def softmax_loss_delta(rows):
        fast._fused_output(buf, buf.Y, None, 0.1)

    def relu_derivative(rows):
        for i in range(last):
            buf.grad[i + 1] *= np.greater(buf.a[i], 0, out=buf.mask[i])

    def bias_gradients(rows):
        for i in range(last + 1):
            np.matmul(buf.ones_n, buf.z[i], out=fast.db[i])

    def update(rows):
        fast.theta -= fast.grad

    def best(f, reps=20, runs=30):
        times, k = [], 0
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(reps):
                f(batches[k % len(batches)])
                k += 1
            times.append((time.perf_counter() - start) / reps)
        return 1e6 * min(times)

    total, matmuls = best(step), best(gemms)
    print(f"{args.workload}, batch {n}, {args.threads} thread(s): step {total:,.0f} us; required "
          f"GEMMs alone {matmuls:,.0f} us ({matmuls / total:.0%}); the rest {total - matmuls:,.0f} us")
    pieces = [gather, bias_and_relu, softmax_loss_delta, relu_derivative, bias_gradients, update]
    timed = {f.__name__.replace("_", " "): best(f) for f in pieces}
    for name, us in timed.items():
        print(f"  {name:20s} {us:7,.0f} us")
    print(f"  {'(Python, the GEMMs in the step vs alone)':20s} "
          f"{total - matmuls - sum(timed.values()):7,.0f} us")


if __name__ == "__main__":
    main()
