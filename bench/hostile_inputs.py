"""Time and peak Python memory (tracemalloc) of reading hostile files, and the agreement of exports.

Run by hand: ``PYTHONPATH=src python bench/hostile_inputs.py``. Each line says what the reader
did (the exception class, or ``ok``), in how many seconds, and its peak traced allocation; the
last lines train a digits model with ``glassnet train`` and compare ``to_torch`` with
``predict_output`` on the raw inputs (needs scikit-learn and PyTorch).
"""

from __future__ import annotations

import io
import json
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np

import glassnet
from glassnet.data import read_csv


def measure(name, function):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        function()
        outcome = "ok"
    except Exception as err:  # noqa: BLE001 - reported, not handled
        outcome = type(err).__name__
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{name}: {outcome} in {seconds:.2f} s, peak {peak / 2**20:.1f} MiB")


def npy_header(shape):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                              "shape": shape})
    return buf.getvalue()


def main():
    folder = Path(tempfile.mkdtemp())
    line = folder / "line.csv"
    with open(line, "wb") as f:
        f.write(b"a,b\n1,2\n")
        f.truncate(200 << 20)
    measure("CSV, a 200 MB line of one field", lambda: read_csv(line))
    fields = folder / "fields.csv"
    fields.write_bytes(b"1," * 5_000_000 + b"1\n")
    measure("CSV, a 10 MB line of 5 million fields", lambda: read_csv(fields))

    glassnet.mlp([4, 8, 3], seed=0).save(folder / "m.npz")
    with np.load(folder / "m.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays["__glassnet__"]))
    header["network"]["layers"][0].update(n_in=30000, n_out=30000)
    header["network"]["layers"][1]["n_in"] = 30000
    arrays["__glassnet__"] = np.array(json.dumps(header))
    np.savez(folder / "huge.npz", **arrays)
    measure("a model header declaring a 30000 x 30000 layer",
            lambda: glassnet.load(folder / "huge.npz"))

    with zipfile.ZipFile(folder / "bomb.npz", "w") as zf:
        with zipfile.ZipFile(folder / "m.npz") as src:
            for info in src.infolist():
                zf.writestr(info.filename, src.read(info))
        info = zipfile.ZipInfo("extra.bomb.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            f.write(npy_header((2**28,)))
            for _ in range(1024):
                f.write(bytes(1 << 20))
    size = (folder / "bomb.npz").stat().st_size
    measure(f"a model file of {size} bytes with 1 GiB of zeros deflated in an extra member",
            lambda: glassnet.load(folder / "bomb.npz"))

    try:
        import torch

        from glassnet.cli import main as cli
        from glassnet.data import load_data
        from glassnet.interop import to_torch
    except ImportError as err:
        print(f"export agreement skipped: {err}")
        return
    cli(["train", "--data", "digits", "--quiet", "--out", str(folder / "digits.npz")])
    net = glassnet.load(folder / "digits.npz")
    X = load_data("digits").X
    with torch.no_grad():
        out = to_torch(net)(torch.from_numpy(X.astype(net.dtype))).numpy()
    ref = net.predict_output(X)
    print(f"to_torch of the default digits model on raw inputs: argmax agreement "
          f"{np.mean(out.argmax(1) == ref.argmax(1)):.4f}, max |difference| "
          f"{np.abs(out - ref).max():.1e}")


if __name__ == "__main__":
    main()
