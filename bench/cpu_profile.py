"""Where a CPU training step goes: ``python bench/cpu_profile.py [W1-sgd|W1-adam|W4] [--threads N]``.

Times, on the workload's shapes (float32, the step ``fit`` takes: ``training.gradient`` then
``training.update``): the whole step; its required matrix products alone on the same buffers;
and each other piece of the step alone, through the same methods the step calls. Each figure is
the best of ``--runs`` runs of 20 steps (the machine is shared: the best is the least
disturbed). The CPU pressure of the run (``/proc/pressure/cpu``, "some avg10") is printed too.
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
    parser.add_argument("workload", nargs="?", default="W1-sgd", choices=["W1-sgd", "W1-adam", "W4"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process's CPU time instead of the wall clock (on a "
                             "busy machine: leaves out the waits for a core; 1 thread only)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported

    import numpy as np
    from workloads import cpu_pressure, initial_weights, make_data, spec

    import glassnet
    from glassnet.optim import get_optimizer
    from glassnet.training import SingleProcess, gradient, update

    s = spec(args.workload)
    X, y = make_data(s)
    net = glassnet.mlp(s["sizes"], s["activation"], output="softmax", loss="cross_entropy", seed=0)
    for layer, (W, b) in zip(net.layers, initial_weights(s)):
        layer.W[...], layer.b[...] = W, b
    X, Y = net.check_Xy(X, y)
    opt = get_optimizer(s["optimizer"], learning_rate=s["learning_rate"])
    strategy = SingleProcess(net)
    n = s["batch"]
    order = np.random.default_rng(0).permutation(len(X))
    batches = [order[i:i + n] for i in range(0, len(X) - n + 1, n)]
    layers, last = net.layers, len(net.layers) - 1

    def step(rows):
        strategy.gradients(X, Y, None, rows, 1, 1)
        update(net, opt)

    X_b, Y_b = strategy.take(X, batches[0], "X"), strategy.take(Y, batches[0], "Y")
    step(batches[0])

    def gemms(rows):  # forward a_prev @ W.T; backward delta.T @ a_prev and delta @ W (not layer 0)
        for layer in layers:
            np.matmul(layer.a_prev, layer.W.T, out=layer.z)
        for i in range(last, -1, -1):
            layer = layers[i]
            np.matmul(layer.delta.T, layer.a_prev, out=layer.dW)
            if i > 0:
                np.matmul(layer.delta, layer.W, out=layers[i - 1].a)

    def gather(rows):
        strategy.take(X, rows, "X")
        strategy.take(Y, rows, "Y")

    def forward(rows):
        net.propagate(X_b)

    def loss_and_output_delta(rows):
        out = layers[-1]
        net.loss_fn.value_and_delta(out.z, out.a, Y_b, None, out.delta)

    def hidden_activation_backward(rows):
        for i in range(last):
            layer = layers[i]
            layer.activation.backward(layer.z, layer.a, layers[i + 1].a_prev, out=layer.delta)

    def bias_gradients(rows):
        for layer in layers:
            np.matmul(layer.buffer("ones", (n,), layer.delta), layer.delta, out=layer.db)

    def optimiser_step(rows):
        update(net, opt)

    def whole_gradient(rows):
        gradient(net, X_b, Y_b)

    clock = time.process_time if args.cpu_time else time.perf_counter

    def best(f, reps=20):
        times, k = [], 0
        for _ in range(args.runs):
            start = clock()
            for _ in range(reps):
                f(batches[k % len(batches)])
                k += 1
            times.append((clock() - start) / reps)
        return 1e6 * min(times)

    pressure = cpu_pressure()
    total, matmuls = best(step), best(gemms)
    print(f"{args.workload}, batch {n}, {args.threads} thread(s): step {total:,.0f} us; required "
          f"GEMMs alone {matmuls:,.0f} us ({matmuls / total:.0%}); the rest {total - matmuls:,.0f} us"
          f" (CPU pressure {pressure}%)")
    pieces = [gather, forward, loss_and_output_delta, hidden_activation_backward, bias_gradients,
              optimiser_step, whole_gradient]
    for f in pieces:
        print(f"  {f.__name__.replace('_', ' '):28s} {best(f):7,.0f} us")


if __name__ == "__main__":
    main()
