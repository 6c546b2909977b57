"""The benchmark workloads: data, architectures and initial weights, in NumPy only.

Every peer builds the same data from the same seed and starts from the same weights, so no peer
imports another peer's library (that would count against its memory and start-up).
"""

from __future__ import annotations

import math

import numpy as np

W1_SIZES = [784, 256, 128, 10]

# name -> what every peer runs. ``n`` samples, ``epochs`` passes with shuffling (training),
# or ``reps`` passes of inference in batches of ``batch``.
WORKLOADS: dict[str, dict] = {
    "W1-sgd": dict(data="mnist", n=60000, sizes=W1_SIZES, activation="relu", loss="ce",
                   optimizer="sgd", learning_rate=0.1, batch=128, epochs=1),
    "W1-adam": dict(data="mnist", n=60000, sizes=W1_SIZES, activation="relu", loss="ce",
                    optimizer="adam", learning_rate=0.001, batch=128, epochs=1),
    "W2": dict(data="moons", n=1000, sizes=[2, 16, 16, 1], activation="tanh", loss="bce",
               optimizer="sgd", learning_rate=0.1, batch=32, epochs=200),
    "W3": dict(data="mnist", n=10000, sizes=W1_SIZES, activation="relu", loss="ce",
               infer=True, batch=1000, reps=20),
    "W4": dict(data="mnist", n=20000, sizes=[784, 1024, 1024, 10], activation="relu", loss="ce",
               optimizer="sgd", learning_rate=0.1, batch=256, epochs=1),
}

# --quick: the same code paths on small sizes (for CI; the numbers mean nothing).
QUICK = {"W1-sgd": dict(n=512), "W1-adam": dict(n=512), "W2": dict(epochs=2),
         "W3": dict(n=1000, reps=1), "W4": dict(n=512)}


def cpu_pressure() -> float:
    """``some avg10`` of /proc/pressure/cpu (%): how much of the last 10 s a task waited for a
    core. Above about 15% the other core is busy and timings move more than code changes do.
    0.0 where the kernel does not report it."""
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return 0.0


def spec(name: str, quick: bool = False) -> dict:
    s = dict(WORKLOADS[name])
    if quick:
        s.update(QUICK[name])
    return s


def make_data(s: dict) -> tuple[np.ndarray, np.ndarray]:
    """``X`` float32 and integer labels ``y`` (0/1 for the moons)."""
    rng = np.random.default_rng(12345)
    n = s["n"]
    if s["data"] == "mnist":  # MNIST-shaped: pixels in [0, 1], 10 classes
        X = rng.random((n, 784), dtype=np.float32)
        y = rng.integers(0, 10, n)
        y[:10] = np.arange(10)  # every class in the first batch (scikit-learn's label set)
        return X, y
    # two interleaving half circles, noise 0.1 (as sklearn.datasets.make_moons)
    t = rng.random(n) * math.pi
    y = np.arange(n) % 2
    X = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)],
                 np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    X += rng.normal(scale=0.1, size=X.shape)
    return X.astype(np.float32), y


def initial_weights(s: dict, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W, b)`` per layer, ``W`` of shape (n_out, n_in) as torch.nn.Linear; He/Xavier uniform."""
    rng = np.random.default_rng(seed)
    sizes = s["sizes"]
    out = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        gain = math.sqrt(6 / n_in) if hidden and s["activation"] == "relu" \
            else math.sqrt(6 / (n_in + n_out))
        W = rng.uniform(-gain, gain, (n_out, n_in)).astype(np.float32)
        b = rng.uniform(-0.1, 0.1, n_out).astype(np.float32)
        out.append((W, b))
    return out


def gemm_seconds(s: dict, repeat: int = 3) -> float:
    """Time of the matrix products one training run needs, alone, at the same shapes.

    Per batch: forward ``z = a_prev @ W.T``; backward ``dW = delta.T @ a_prev`` and
    ``delta @ W`` for every layer but the first; all into preallocated outputs. The best of
    ``repeat`` runs.
    """
    import time

    rng = np.random.default_rng(0)
    sizes, n, batch = s["sizes"], s["n"], s["batch"]
    batches = [batch] * (n // batch) + ([n % batch] if n % batch else [])
    Ws = [rng.random((o, i), dtype=np.float32) for i, o in zip(sizes[:-1], sizes[1:])]
    dWs = [np.empty_like(W) for W in Ws]
    bufs = {m: [rng.random((m, k), dtype=np.float32) for k in sizes] for m in set(batches)}
    grads = {m: [np.empty((m, k), dtype=np.float32) for k in sizes] for m in set(batches)}
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(s["epochs"]):
            for m in batches:
                acts, grad = bufs[m], grads[m]
                for i, W in enumerate(Ws):
                    np.matmul(acts[i], W.T, out=acts[i + 1])
                for i in range(len(Ws) - 1, -1, -1):
                    np.matmul(acts[i + 1].T, acts[i], out=dWs[i])
                    if i > 0:
                        np.matmul(acts[i + 1], Ws[i], out=grad[i])
        best = min(best, time.perf_counter() - start)
    return best
