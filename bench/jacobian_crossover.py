"""Reverse against forward mode for ``glassnet.jacobian``: where does one overtake the other?

Reverse mode costs one backward pass per output unit, forward mode one tangent pass per input
unit, so the textbook crossover is ``n_in = n_out``. A backward pass through a Dense layer also
forms ``dW = delta.T @ a_prev`` (the layer's ``backward`` always does), so a reverse pass costs
up to twice a tangent pass and the measured crossover can sit above ``n_in = n_out``.

Run by hand::

    PYTHONPATH=src python bench/jacobian_crossover.py [--samples 32] [--hidden 64,64] [--repeat 5]

It prints, for each ``n_out``, the time of both modes over ``n_in = ratio * n_out`` and the
ratio ``n_in / n_out`` where they break even (interpolated on log(time ratio)).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from glassnet import jacobian, mlp


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--hidden", default="64,64")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dtype", default="float64")
    args = parser.parse_args()
    hidden = [int(h) for h in args.hidden.split(",")]
    ratios = [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 4.0]  # n_in / n_out
    rng = np.random.default_rng(0)
    print(f"{args.samples} samples, hidden {hidden}, tanh, {args.dtype}, best of {args.repeat}")
    print(f"{'n_out':>5} {'n_in':>5} {'reverse ms':>11} {'forward ms':>11} {'rev/fwd':>8}")
    for n_out in (8, 16, 64):
        crossover, previous = None, None
        for ratio in ratios:
            n_in = max(1, round(ratio * n_out))
            net = mlp([n_in, *hidden, n_out], activation="tanh", seed=0, dtype=args.dtype)
            X = rng.normal(size=(args.samples, n_in))
            t_rev = best_time(lambda net=net, X=X: jacobian(net, X, mode="reverse"), args.repeat)
            t_fwd = best_time(lambda net=net, X=X: jacobian(net, X, mode="forward"), args.repeat)
            if crossover is None and t_rev < t_fwd and previous is not None:
                # interpolate log(t_rev / t_fwd) = 0 between this ratio and the one before
                r0, q0 = previous
                q1 = np.log(t_rev / t_fwd)
                crossover = r0 + (ratio - r0) * q0 / (q0 - q1)
            previous = (ratio, np.log(t_rev / t_fwd))
            print(f"{n_out:>5} {n_in:>5} {1e3 * t_rev:>11.3f} {1e3 * t_fwd:>11.3f} "
                  f"{t_rev / t_fwd:>8.2f}")
        where = "none in range" if crossover is None else f"n_in/n_out = {crossover:.2f}"
        print(f"n_out = {n_out}: reverse and forward break even at {where}\n")


if __name__ == "__main__":
    main()
