"""Where a GPU training step goes: ``python bench/gpu_profile.py`` (CuPy and a CUDA GPU).

For W1 and W4 (float32, the first batch's rows), times glassnet's hot-path step
``FastPath.backprop`` plus the SGD update with ``cupyx.profiler.benchmark``: the host time
(Python and kernel launches) and the device time between CUDA events around the call, and the
required matrix products alone at the same shapes (the limit of cuBLAS here). A step whose
device time is close to its host time is bound by launches, not by the GPU.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import initial_weights, make_data, spec  # noqa: E402


def main() -> None:
    import cupy
    from cupyx.profiler import benchmark

    import glassnet
    from glassnet.fastpath import FastPath

    for name in ("W1-sgd", "W4"):
        s = spec(name)
        X, y = make_data(s)
        net = glassnet.mlp(s["sizes"], s["activation"], output="softmax", loss="cross_entropy",
                           seed=0)
        for layer, (W, b) in zip(net.layers, initial_weights(s)):
            layer.W[...], layer.b[...] = W, b
        net.to("cuda")
        X_d = net.to_device(X)
        Y_d = net.to_device(net.loss_fn.targets(y, net.n_out, net.dtype))
        fast = FastPath.build(net)
        rows = np.arange(s["batch"])

        def step() -> None:
            fast.backprop(X_d, Y_d, rows, None, 0.1)
            fast.theta -= fast.grad

        r = benchmark(step, n_repeat=300, n_warmup=20)
        acts = [cupy.random.random((s["batch"], k), dtype=np.float32) for k in s["sizes"]]
        Ws = [layer.W for layer in net.layers]

        def gemms() -> None:
            for i, W in enumerate(Ws):
                cupy.matmul(acts[i], W.T, out=acts[i + 1])
            for i in range(len(Ws) - 1, -1, -1):
                cupy.matmul(acts[i + 1].T, acts[i], out=fast.dW[i])
                if i > 0:
                    cupy.matmul(acts[i + 1], Ws[i], out=acts[i])

        g = benchmark(gemms, n_repeat=300, n_warmup=20)
        host, device, gemm = (1e6 * float(np.median(t)) for t in
                              (r.cpu_times, r.gpu_times[0], g.gpu_times[0]))
        print(f"{name}: step {host:.0f} us on the host, {device:.0f} us between device events; "
              f"required GEMMs alone {gemm:.0f} us on the device ({gemm / device:.0%} of the step)")


if __name__ == "__main__":
    main()
