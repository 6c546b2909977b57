"""Projected step times on N machines, from the measurements of bench/distributed.py.

``python bench/scaling_model.py`` reads ``bench/distributed-results.json`` and prints the
tables; ``--write-docs`` also puts them into docs/distributed.md (between the markers
``<!-- scaling:begin -->`` and ``<!-- scaling:end -->``), and the measured tables of
bench/distributed.py between ``<!-- bench:begin -->`` and ``<!-- bench:end -->``.

The model, for ``N`` machines of one rank each and a fixed global batch ``B``:

* **Compute** is measured, not scaled: the forward pass and the backward pass of one process
  on a shard of ``B / N`` rows (one BLAS thread), with the time at which each top-level layer's
  gradients are complete (``Network.backward(after_layer=...)``); the optimiser step, over all
  parameters on every rank, is not divided.
* **Communication** is the algorithm MPICH chooses for ``Iallreduce`` (its
  ``coll_selection.json``): recursive doubling for at most 2048 bytes (or fewer elements than
  ranks), else Rabenseifner's reduce-scatter (recursive halving) + allgather (recursive
  doubling); for ``N`` not a power of two, ``N - N'`` ranks first fold their data into a
  partner (``N'`` the largest power of two <= N) and get the result back at the end. With a
  latency ``alpha``, a time per byte ``beta`` and a reduction time per byte ``gamma``
  (measured here: ``a += b`` over float32)::

      recursive doubling:  lg N' (alpha + n beta + n gamma)
      Rabenseifner:        2 lg N' alpha + 2 (N'-1)/N' n beta + (N'-1)/N' n gamma
      fold (N != N'):      + 2 alpha + 2 n beta + n gamma

* **Overlap**: the gradients go in glassnet's buckets (whole layers, from the output layer
  down, closed at 64 KiB), each started when the backward pass has completed it, one at a time
  on the link; the step waits for the last one and for the small ``[loss | flags]`` reduction
  after it. A helper thread drives MPI's progress while BLAS runs (assumed continuous here).
* **Networks**: 10 Gb Ethernet (``beta`` = 1 / 1.1 GB/s, ``alpha`` = 25 us, MPI over TCP) and
  100 Gb/s InfiniBand EDR (``beta`` = 1 / 11 GB/s, ``alpha`` = 1.5 us); no contention, one
  rank per machine.

The local check compares the same model, fed with the Allreduce times measured over shared
memory with 2-4 ranks and their measured compute, against the steps measured with those ranks.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "distributed-results.json"
DOCS = HERE.parent / "docs" / "distributed.md"
LINKS = {"10 GbE": (25e-6, 1 / 1.1e9), "IB EDR 100 Gb/s": (1.5e-6, 1 / 11e9)}
MACHINES = (1, 2, 4, 8, 16, 32, 64)
BUCKET_BYTES = 1 << 16
SMALL = 8 * (1 + 2)  # the [loss | flags | signals] buffer, without the per-rank flags


def allreduce(nbytes: float, p: int, alpha: float, beta: float, gamma: float,
              itemsize: int = 4) -> float:
    """Seconds for MPICH's Iallreduce of ``nbytes`` over ``p`` ranks (see the docstring)."""
    if p == 1:
        return 0.0
    q = 1 << int(math.floor(math.log2(p)))  # the largest power of two <= p
    fold = 0.0 if q == p else 2 * alpha + 2 * nbytes * beta + nbytes * gamma
    if nbytes <= 2048 or nbytes / itemsize < q:
        return fold + math.log2(q) * (alpha + nbytes * (beta + gamma))
    share = (q - 1) / q
    return fold + 2 * math.log2(q) * alpha + 2 * share * nbytes * beta + share * nbytes * gamma


def buckets(layer_bytes: list[int]) -> list[tuple[int, int]]:
    """``(lowest layer, bytes)`` of glassnet's buckets, in the order they are sent."""
    out, size = [], 0
    for i in range(len(layer_bytes) - 1, -1, -1):
        size += layer_bytes[i]
        if size and (size >= BUCKET_BYTES or i == 0):
            out.append((i, size))
            size = 0
    return out


def step(profile: dict, n: int, comm, overlap: bool = True) -> float:
    """Seconds per step on ``n`` ranks; ``comm(nbytes)`` is one reduction's time."""
    share = profile["shares"][str(n)]
    forward, backward, update = share["forward_s"], share["backward_s"], share["update_s"]
    if n == 1:
        return forward + backward + update
    small = comm(SMALL + 8 * n)
    if not overlap:
        return forward + backward + comm(sum(profile["layer_bytes"])) + small + update
    link_free = 0.0
    for layer, nbytes in buckets(profile["layer_bytes"]):
        ready = forward + share["layer_done_s"][str(layer)]
        link_free = max(ready, link_free) + comm(nbytes)
    return max(link_free, forward + backward) + small + update


def projection(results: dict) -> list[str]:
    gamma = results["profile"]["reduce_s_per_byte"]
    lines = []
    for link, (alpha, beta) in LINKS.items():
        lines += [f"**{link}** (alpha = {alpha * 1e6:g} us, {1 / beta / 1e9:g} GB/s), ms per "
                  "step and speed-up over one machine (plain `fit`); in brackets without "
                  "overlap:", "",
                  "| workload | " + " | ".join(f"N={n}" for n in MACHINES) + " |",
                  "| --- |" + " ---: |" * len(MACHINES)]
        for name in ("W1", "W4"):
            profile = results["profile"][name]
            base = step(profile, 1, None)
            cells = []
            for n in MACHINES:
                comm = partial(allreduce, p=n, alpha=alpha, beta=beta, gamma=gamma)
                t, t_seq = step(profile, n, comm), step(profile, n, comm, overlap=False)
                cells.append(f"{1e3 * t:.2f} ({base / t:.1f}x)" if n == 1 else
                             f"{1e3 * t:.2f} ({base / t:.1f}x) [{base / t_seq:.1f}x]")
            sizes = "-".join(map(str, profile["sizes"]))
            lines.append(f"| {name} {sizes}, B={profile['batch_size']} | " + " | ".join(cells)
                         + " |")
        for name in ("W1", "W4"):
            total = sum(results["profile"][name]["layer_bytes"])
            cells = [f"{1e3 * allreduce(total, n, alpha, beta, gamma):.2f}" for n in MACHINES]
            lines.append(f"| {name}: one Allreduce of all {total / 1e6:.2f} MB | "
                         + " | ".join(cells) + " |")
        lines.append("")
    return lines


def local_check(results: dict) -> list[str]:
    """The model with shared-memory Allreduce times and measured compute, against the steps."""
    lines = ["| workload | ranks | measured: no overlap | model | measured: buckets | "
             "measured: buckets + thread | model (buckets) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in results["steps"]:
        sweep = sorted((int(k), v["median_s"]) for k, v in run["allreduce"].items())

        def comm(nbytes: float, sweep=sweep) -> float:  # interpolated in log-log
            for (b0, t0), (b1, t1) in zip(sweep, sweep[1:]):
                if nbytes <= b1:
                    w = (math.log(max(nbytes, b0)) - math.log(b0)) / (math.log(b1) - math.log(b0))
                    return math.exp(math.log(t0) + w * (math.log(t1) - math.log(t0)))
            return sweep[-1][1] * nbytes / sweep[-1][0]

        for name, measured in run["workloads"].items():
            profile = dict(results["profile"][name])
            n = run["ranks"]
            share = dict(profile["shares"][str(min(MACHINES, key=lambda m: abs(m - n)))])
            scale = measured["compute_s"] / (share["forward_s"] + share["backward_s"])
            share = {**share, "forward_s": share["forward_s"] * scale,
                     "backward_s": share["backward_s"] * scale, "update_s": measured["update_s"],
                     "layer_done_s": {k: v * scale for k, v in share["layer_done_s"].items()}}
            profile["shares"] = {**profile["shares"], str(n): share}
            lines.append(f"| {name} | {n} | {1e3 * measured['step_sequential_s']:.2f} | "
                         f"{1e3 * step(profile, n, comm, overlap=False):.2f} | "
                         f"{1e3 * measured['step_overlap_s']:.2f} | "
                         f"{1e3 * measured['step_thread_s']:.2f} | "
                         f"{1e3 * step(profile, n, comm):.2f} |")
    return lines


def compute_table(results: dict) -> list[str]:
    lines = ["| workload | " + " | ".join(f"B/{n}" for n in MACHINES) + " |",
             "| --- |" + " ---: |" * len(MACHINES)]
    for name in ("W1", "W4"):
        shares = results["profile"][name]["shares"]
        cells = [f"{1e3 * (shares[str(n)]['forward_s'] + shares[str(n)]['backward_s']):.3f}"
                 for n in MACHINES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render(results: dict) -> str:
    gamma = results["profile"]["reduce_s_per_byte"]
    parts = [f"Inputs: `bench/distributed-results.json` of {results['started']} "
             f"({results['machine']}, {results['mpi']}; CPU pressure before: `{results['pressure_before']}`, after: "
             f"`{results['pressure_after']}`). Reduction arithmetic gamma = "
             f"{gamma * 1e9:.3f} ns/byte.", "",
             "Compute of one step (forward + backward, ms, one BLAS thread, fastest of the "
             "repeats) against the shard, `B/N` rows:", "", *compute_table(results), "",
             *projection(results),
             "The model against this machine (shared memory, 2-4 ranks on 2 cores; ms per step):",
             "", *local_check(results)]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--write-docs", action="store_true",
                        help=f"put the tables into {DOCS.relative_to(HERE.parent)}")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    text = render(results)
    print(text)
    if args.write_docs:
        sys.path.insert(0, str(HERE))
        from distributed import report  # bench/distributed.py: the measured tables

        doc = DOCS.read_text()
        measured = f"Printed by `python bench/distributed.py`:\n\n```\n{report(results)}\n```"
        for name, block in (("bench", measured), ("scaling", text)):
            doc, count = re.subn(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)",
                                 lambda m, block=block: m.group(1) + block + "\n" + m.group(2),
                                 doc, flags=re.S)
            if count != 1:
                raise SystemExit(f"{DOCS}: no <!-- {name}:begin --> ... <!-- {name}:end -->")
        DOCS.write_text(doc)


if __name__ == "__main__":
    main()
