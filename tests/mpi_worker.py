"""Run by tests/test_distributed.py under ``mpiexec -n N``: one distributed fit from a JSON spec.

``python mpi_worker.py SPEC.json [--resume]``; the spec names the data files (``.npy``, opened as memory
maps), the network, the fit arguments, the ``Settings``, an optional fault, and where rank 0
writes the weights (``out``, an ``.npz``) and the history (``out`` + ``.json``). ``per_rank``
overrides any of these for one rank (``{"1": {"X": ...}}``). Every rank writes what it saw
to ``out.rank<r>.json``: the batches it trained on (``record_batches``), the rows it evaluated
(``count_eval_rows``), and the error that ended its fit, if one did.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

import glassnet.training as training
from glassnet import Callback, mlp
from glassnet.data import open_memmap_dataset
from glassnet.distributed import Settings, rank_and_size


class Fault(Callback):
    """At global step ``step`` on rank ``rank``: raise, exit, hang, send itself a signal, or
    (``epoch_end``) sleep ``seconds`` after epoch ``step``."""

    def __init__(self, rank: int, step: int, kind: str, seconds: float = 120):
        self.rank, self.step, self.kind, self.seconds = rank, step, kind, seconds

    def on_batch_end(self, net, step, loss):
        if step != self.step or rank_and_size()[0] != self.rank:
            return
        if self.kind == "raise":
            raise ValueError(f"injected fault at step {step}")
        if self.kind == "exit":
            os._exit(7)
        if self.kind in ("SIGTERM", "SIGUSR1"):
            os.kill(os.getpid(), getattr(signal, self.kind))
        if self.kind == "hang":
            time.sleep(self.seconds)

    def on_epoch_end(self, net, epoch, record):
        if self.kind == "epoch_end" and epoch == self.step and rank_and_size()[0] == self.rank:
            time.sleep(self.seconds)


class Recorder(Callback):
    """The sample indices of every step on this rank; a marker file after step ``marker``."""

    def __init__(self, marker: tuple[int, str] | None):
        self.batches: list[list[int]] = []
        self.marker = marker

    def on_batch_begin(self, net, step, batch):
        self.batches.append([int(i) for i in batch])

    def on_batch_end(self, net, step, loss):
        if self.marker is not None and step == self.marker[0]:
            open(self.marker[1], "w").close()


def count_eval_rows(seen: dict[str, int]) -> None:
    """Count the rows this rank scores (glassnet.training._outputs and _loss_total)."""
    for name in ("_outputs", "_loss_total"):
        original = getattr(training, name)

        def counting(net, X, *args, _original=original, _name=name):
            lo, hi = args[-3:-1] if _name == "_loss_total" else args[:2]
            seen[_name] = seen.get(_name, 0) + hi - lo
            return _original(net, X, *args)

        setattr(training, name, counting)


def main(path: str) -> None:
    with open(path) as f:
        spec = json.load(f)
    rank, size = rank_and_size()
    spec.update(spec.get("per_rank", {}).get(str(rank), {}))
    if "--resume" in sys.argv:  # as glassnet launch restarts it: from the checkpoint, no fault
        spec["fit"]["resume"] = True
        spec.pop("fault", None)
    X, y = open_memmap_dataset(spec["X"], spec["y"])
    net = mlp(spec["sizes"], loss=spec.get("loss", "cross_entropy"), dtype=spec["dtype"],
              dropout=spec.get("dropout", 0.0), l2=spec.get("l2", 0.0), seed=0)
    recorder = Recorder(tuple(spec["marker"]) if spec.get("marker") else None)
    callbacks = [recorder] + ([Fault(**spec["fault"])] if spec.get("fault") else [])
    if spec.get("validation"):  # the first 5 samples, as arrays
        spec["fit"]["validation_data"] = (np.array(X[:5]), np.array(y[:5]))
    if spec.get("val_files"):  # memory-mapped validation data
        spec["fit"]["validation_data"] = open_memmap_dataset(*spec["val_files"])
    seen: dict[str, int] = {}
    if spec.get("count_eval_rows"):
        count_eval_rows(seen)
    settings = Settings(**{"timeout": spec.get("mpi_timeout", 30), **spec.get("settings", {})})
    report = {"rank": rank, "size": size, "eval_rows": seen}
    try:
        history = net.fit(X, y, callbacks=callbacks, progress=False, distributed=settings,
                          **spec["fit"])
    except Exception as err:
        report["error"] = {"type": type(err).__name__, "message": str(err)}
        raise
    finally:
        report["batches"] = recorder.batches if spec.get("record_batches") else None
        with open(f"{spec['out']}.rank{rank}.json", "w") as f:
            json.dump(report, f)
    if rank == 0:
        np.savez(spec["out"], **net.params())
        with open(spec["out"] + ".json", "w") as f:
            json.dump({"history": history.to_dict(), "size": size}, f)
    elif spec.get("out_all"):
        np.savez(f"{spec['out']}.rank{rank}.npz", **net.params())


if __name__ == "__main__":
    main(sys.argv[1])  # [--resume]
