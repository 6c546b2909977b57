"""Run by tests/test_distributed.py under ``mpiexec -n N``: one distributed fit from a JSON spec.

``python mpi_worker.py SPEC.json``; the spec names the data files (``.npy``, opened as memory
maps), the network, the fit arguments, an optional fault, and where rank 0 writes the weights
(``out``, an ``.npz``) and the history (``out`` + ``.json``).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from glassnet import Callback, mlp
from glassnet.data import open_memmap_dataset
from glassnet.distributed import Settings, rank_and_size


class Fault(Callback):
    """At global step ``step`` on rank ``rank``: raise, exit the process, or hang."""

    def __init__(self, rank: int, step: int, kind: str):
        self.rank, self.step, self.kind = rank, step, kind

    def on_batch_end(self, net, step, loss):
        if step != self.step or rank_and_size()[0] != self.rank:
            return
        if self.kind == "raise":
            raise ValueError(f"injected fault at step {step}")
        if self.kind == "exit":
            os._exit(7)
        time.sleep(120)  # "hang"


def main(path: str) -> None:
    with open(path) as f:
        spec = json.load(f)
    X, y = open_memmap_dataset(spec["X"], spec["y"])
    net = mlp(spec["sizes"], loss=spec.get("loss", "cross_entropy"), dtype=spec["dtype"],
              dropout=spec.get("dropout", 0.0), l2=spec.get("l2", 0.0), seed=0)
    callbacks = [Fault(**spec["fault"])] if spec.get("fault") else []
    if spec.get("validation"):  # the first 5 samples, as arrays
        spec["fit"]["validation_data"] = (np.array(X[:5]), np.array(y[:5]))
    history = net.fit(X, y, callbacks=callbacks, progress=False,
                      distributed=Settings(timeout=spec.get("mpi_timeout", 30)), **spec["fit"])
    rank, size = rank_and_size()
    if rank == 0:
        np.savez(spec["out"], **net.params())
        with open(spec["out"] + ".json", "w") as f:
            json.dump({"history": history.to_dict(), "size": size}, f)
    elif spec.get("out_all"):
        np.savez(f"{spec['out']}.rank{rank}.npz", **net.params())


if __name__ == "__main__":
    main(sys.argv[1])
