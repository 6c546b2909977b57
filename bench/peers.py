"""One peer, one measurement, in its own process: ``python bench/peers.py PEER WORKLOAD... [--quick]``.

``--repeat=K`` times each workload K times from the same weights and reports the fastest (the
least disturbed on a shared machine). ``--device=cuda`` runs glassnet (CuPy) and torch on the GPU: each fit's time includes moving
its data to the device, as glassnet's ``fit`` does; inference moves each input batch there and
each result back.

Prints one JSON object per workload on standard output: samples/s, seconds, per-step time,
peak RSS of this process, and for glassnet the time of the required matrix products alone.
``python bench/peers.py check PEER`` (or ``--check`` before the workloads) compares glassnet's
first SGD step with PEER's.

Only the peer's own library is imported (glassnet's children never import torch, and so on),
except for the check, which needs glassnet beside the peer.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import cpu_pressure, gemm_seconds, initial_weights, make_data, spec  # noqa: E402

DEVICE = "cpu"


# ---------------------------------------------------------------------------------- glassnet
def glassnet_net(s, weights):
    import glassnet

    output = "softmax" if s["loss"] == "ce" else "sigmoid"
    loss = "cross_entropy" if s["loss"] == "ce" else "binary_cross_entropy"
    net = glassnet.mlp(s["sizes"], s["activation"], output=output, loss=loss, seed=0)
    for layer, (W, b) in zip(net.layers, weights):
        layer.W[...] = W
        layer.b[...] = b
    return net.to(DEVICE)


def glassnet_run(s, X, y, weights):
    net = glassnet_net(s, weights)
    if s.get("infer"):
        start = time.perf_counter()
        for _ in range(s["reps"]):
            net.predict_output(X, batch_size=s["batch"])
        return time.perf_counter() - start
    start = time.perf_counter()
    net.fit(X, y, epochs=s["epochs"], batch_size=s["batch"], optimizer=s["optimizer"],
            learning_rate=s["learning_rate"], seed=0, progress=False)
    return time.perf_counter() - start


def glassnet_params(net):
    from glassnet.device import to_numpy

    return [(to_numpy(layer.W), to_numpy(layer.b)) for layer in net.layers]


# ---------------------------------------------------------------------------------- torch
def torch_model(s, weights):
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    act = torch.nn.ReLU if s["activation"] == "relu" else torch.nn.Tanh
    mods = []
    for i, (W, b) in enumerate(weights):
        lin = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i < len(weights) - 1:
            mods.append(act())
    return torch.nn.Sequential(*mods).to(DEVICE)


def torch_loss(s, logits, target):
    import torch.nn.functional as F

    if s["loss"] == "ce":
        return F.cross_entropy(logits, target)
    return F.binary_cross_entropy_with_logits(logits[:, 0], target)


def torch_targets(s, y):
    import torch

    return torch.from_numpy(y.astype(np.int64)) if s["loss"] == "ce" \
        else torch.from_numpy(y.astype(np.float32))


def torch_run(s, X, y, weights):
    import torch

    model = torch_model(s, weights)
    Xt, yt = torch.from_numpy(X), torch_targets(s, y)
    cuda = DEVICE == "cuda"
    if s.get("infer"):
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(s["reps"]):
                torch.cat([torch.softmax(model(Xt[i:i + s["batch"]].to(DEVICE)), dim=1).cpu()
                           for i in range(0, len(Xt), s["batch"])])
        return time.perf_counter() - start
    opt_cls = torch.optim.SGD if s["optimizer"] == "sgd" else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=s["learning_rate"])
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    n, batch = len(Xt), s["batch"]
    start = time.perf_counter()
    Xt, yt = Xt.to(DEVICE), yt.to(DEVICE)
    for _ in range(s["epochs"]):
        order = torch.randperm(n, generator=gen, device=DEVICE)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = torch_loss(s, model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def torch_params(model):
    lins = [m for m in model if hasattr(m, "weight")]
    return [(m.weight.detach().cpu().numpy(), m.bias.detach().cpu().numpy()) for m in lins]


# ---------------------------------------------------------------------------------- sklearn
def sklearn_model(s, X, y, weights, shuffle=True):
    """An MLPClassifier with the same layers, started from ``weights`` (warm start)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(s["sizes"][1:-1]), activation=s["activation"],
        solver=s.get("optimizer", "sgd"), learning_rate_init=s.get("learning_rate", 0.1),
        batch_size=s["batch"], max_iter=1, shuffle=shuffle, random_state=0, alpha=0.0,
        momentum=0.0, nesterovs_momentum=False, tol=0.0, n_iter_no_change=10**9,
        early_stopping=False, warm_start=True,
    )
    with warnings.catch_warnings():  # one throw-away step on one batch to build the arrays
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:s["batch"]], y[:s["batch"]])
    for coef, intercept, (W, b) in zip(clf.coefs_, clf.intercepts_, weights):
        coef[...] = W.T
        intercept[...] = b
    clf.max_iter = s.get("epochs", 1)
    return clf


def sklearn_run(s, X, y, weights):
    from sklearn.exceptions import ConvergenceWarning

    clf = sklearn_model(s, X, y, weights)
    if s.get("infer"):
        start = time.perf_counter()
        for _ in range(s["reps"]):
            np.concatenate([clf.predict_proba(X[i:i + s["batch"]])
                            for i in range(0, len(X), s["batch"])])
        return time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return time.perf_counter() - start


RUNNERS = {"glassnet": glassnet_run, "torch": torch_run, "sklearn": sklearn_run}


# ---------------------------------------------------------------------------------- check
def first_step(peer: str, name: str) -> float:
    """Max |difference| of the parameters after one SGD step (lr 0.1) from the same weights."""
    s = dict(spec(name, quick=True), optimizer="sgd", learning_rate=0.1, epochs=1)
    X, y = make_data(s)
    X, y = X[:s["batch"]], y[:s["batch"]]
    weights = initial_weights(s)
    net = glassnet_net(s, weights)
    net.fit(X, y, epochs=1, batch_size=len(X), optimizer="sgd", learning_rate=0.1,
            shuffle=False, progress=False)
    ours = glassnet_params(net)
    if peer == "torch":
        import torch

        model = torch_model(s, weights)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        torch_loss(s, model(torch.from_numpy(X).to(DEVICE)),
                   torch_targets(s, y).to(DEVICE)).backward()
        opt.step()
        theirs = torch_params(model)
    else:
        from sklearn.exceptions import ConvergenceWarning

        clf = sklearn_model(s, X, y, weights, shuffle=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        theirs = [(c.T, b) for c, b in zip(clf.coefs_, clf.intercepts_)]
    moved = max(float(np.abs(W - W0).max()) for (W, _), (W0, _) in zip(ours, weights))
    assert moved > 1e-4, "the first step did not move the weights"
    return max(float(np.abs(a - b).max()) for pa, pb in zip(ours, theirs)
               for a, b in zip(pa, pb))


def main(argv: list[str]) -> None:
    global DEVICE
    quick, check = "--quick" in argv, "--check" in argv
    DEVICE = next((a.split("=", 1)[1] for a in argv if a.startswith("--device=")), "cpu")
    repeat = int(next((a.split("=", 1)[1] for a in argv if a.startswith("--repeat=")), "1"))
    args = [a for a in argv if not a.startswith("--")]
    if args[0] == "check":
        args, check = args[1:2], True
    peer, names = args[0], args[1:]
    if check and peer != "glassnet":
        for name in ("W1-sgd", "W2"):
            print(json.dumps({"check": name, "peer": peer, "max_abs_diff": first_step(peer, name)}),
                  flush=True)
    for name in names:
        s = spec(name, quick)
        if DEVICE == "cuda":
            if not quick and "epochs" in s:  # one epoch is 0.05-0.3 s on a GPU: time five
                s["epochs"] *= 5
            warm = spec(name, quick=True)  # untimed: kernels compiled, cuBLAS handles made
            RUNNERS[peer](warm, *make_data(warm), initial_weights(warm))
        X, y = make_data(s)
        weights = initial_weights(s)
        pressure = cpu_pressure()
        # each repetition starts again from the same weights; the least disturbed one counts
        runs = [RUNNERS[peer](s, X, y, weights) for _ in range(repeat)]
        seconds = min(runs)
        passes = s.get("reps") or s["epochs"]
        samples = s["n"] * passes
        steps = -(-s["n"] // s["batch"]) * passes
        row = {"peer": peer, "workload": name, "seconds": seconds,
               "samples_per_s": samples / seconds, "us_per_step": 1e6 * seconds / steps,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "pressure": max(pressure, cpu_pressure())}
        if peer == "glassnet" and name in ("W1-sgd", "W4") and DEVICE == "cpu":
            row["gemm_seconds"] = gemm_seconds(s)
            row["gemm_share"] = row["gemm_seconds"] / seconds
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
