"""Hostile model files: every damaged, forged or non-regular file is a ValueError naming the file
and the part, found before anything large is allocated, decompressed or built.

The files are made by the real producer (``glassnet train`` through ``cli.main``, and
``net.save`` of a network trained with Adam), then damaged: their JSON header rewritten,
members forged with lying ``.npy`` headers, zip bytes flipped, members compressed into bombs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format
import pytest
from bounded import bounded

from glassnet import load, mlp, save
from glassnet.cli import main
from glassnet.io import load_with_extra, remove_stale_temporaries

SRC = Path(__file__).resolve().parents[1] / "src"
HEADER = "__glassnet__.npy"


# ---------------------------------------------------------------------------- producers
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model written by `glassnet train` (scaler, history, optimizer state, info)."""
    path = tmp_path_factory.mktemp("cli") / "iris.npz"
    assert main(["train", "--data", "iris", "--epochs", "2", "--hidden", "8", "--quiet",
                 "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def adam_model(tmp_path_factory):
    """``net.save`` of a network trained with Adam: optimiser moments beside the weights."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    net = mlp([4, 6, 3], activation="tanh", loss="cross_entropy", seed=0)
    net.fit(X, y, epochs=2, batch_size=10, optimizer="adam", progress=False, seed=0)
    path = tmp_path_factory.mktemp("save") / "adam.npz"
    net.save(path)
    return path, net


def members_of(path):
    """Raw bytes of each member, in order."""
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def write_members(path, members, compress=None):
    """A zip of raw members (as np.savez writes them, or deflated where ``compress`` says)."""
    compress = compress or {}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=compress.get(name, zipfile.ZIP_STORED))
    return path


def npy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npy_header(shape, dtype="<f4", fortran=False):
    """Only the header of an .npy file: it declares ``shape`` (its data is whatever follows)."""
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)})
    return buf.getvalue()


def header_of(path):
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["__glassnet__"]))


def with_header(src, dst, header_text):
    members = members_of(src)
    members[HEADER] = npy(np.array(header_text))
    return write_members(dst, members)


class Whole:
    """Returned by a header change: the new header as a whole."""

    def __init__(self, value):
        self.value = value


def changed(src, dst, change):
    """``src`` with its JSON header changed in place by ``change(header)`` (or a Whole one)."""
    header = header_of(src)
    result = change(header)
    return with_header(src, dst, json.dumps(result.value if isinstance(result, Whole) else header))


def refused(path, *patterns):
    """load(path) raises a ValueError naming the file (and the patterns), never another error."""
    with pytest.raises(ValueError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message, message
    for pattern in patterns:
        assert pattern in message, message
    return message


# ---------------------------------------------------------------------------- not regular files
def _symlink_dev_zero(tmp_path):
    link = tmp_path / "zero.npz"
    link.symlink_to("/dev/zero")
    return link


def _fifo(tmp_path):
    path = tmp_path / "pipe.npz"
    os.mkfifo(path)
    return path


def _directory(tmp_path):
    path = tmp_path / "folder.npz"
    path.mkdir()
    return path


def _symlink_dir(tmp_path):
    link = tmp_path / "dirlink.npz"
    link.symlink_to(tmp_path)
    return link


def _dev_null(tmp_path):
    link = tmp_path / "null.npz"
    link.symlink_to("/dev/null")
    return link


def _socket(tmp_path):
    path = tmp_path / "sock.npz"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))  # the socket file stays after the socket is closed
    return path


NOT_REGULAR = {
    "symlink to /dev/zero": (_symlink_dev_zero, "a character device"),
    "FIFO": (_fifo, "a FIFO"),
    "directory": (_directory, "a directory"),
    "symlink to a directory": (_symlink_dir, "a directory"),
    "/dev/null": (_dev_null, "a character device"),
    "socket": (_socket, None),
}


@pytest.mark.parametrize("kind", NOT_REGULAR)
def test_non_regular_paths_are_refused_at_once(tmp_path, kind):
    make, what = NOT_REGULAR[kind]
    try:
        path = make(tmp_path)
    except (OSError, AttributeError) as err:
        pytest.skip(f"cannot make a {kind} here: {err}")
    error, _ = bounded(lambda: load(path), seconds=10, megabytes=8)
    assert isinstance(error, ValueError), error
    assert str(path) in str(error) and "regular" in str(error)
    if what:
        assert what in str(error)


# ---------------------------------------------------------------------------- the header schema
def _layer0(h):
    return h["network"]["layers"][0]


HEADER_CHANGES = {
    # (change of the parsed header, text that must appear in the message)
    "header is a list": (lambda h: Whole([h]), "names another format"),
    "header is a number": (lambda h: Whole(42), "names another format"),
    "header is null": (lambda h: Whole(None), "names another format"),
    "format missing": (lambda h: h.pop("format"), "names another format"),
    "version as string": (lambda h: h.update(version="1"), "model format version '1'"),
    "version true": (lambda h: h.update(version=True), "version"),
    "network missing": (lambda h: h.pop("network"), "architecture in the header is invalid"),
    "network a list": (lambda h: h.update(network=[1, 2]), "network must be an object"),
    "network a string": (lambda h: h.update(network="mlp"), "network must be an object"),
    "layers a dict": (lambda h: h["network"].update(layers={"0": {}}), "network.layers must be a list"),
    "layers empty": (lambda h: h["network"].update(layers=[]), "network.layers must be a list of 1.."),
    "layers of numbers": (lambda h: h["network"].update(layers=[1, 2, 3]),
                          "network.layers[0] must be an object"),
    "unknown layer type": (lambda h: _layer0(h).update(type="Conv2d"),
                           "network.layers[0].type must be one of Dense, Residual, Dropout"),
    "layer type missing": (lambda h: _layer0(h).pop("type"), "network.layers[0].type must be one of"),
    "negative width": (lambda h: _layer0(h).update(n_out=-3), "network.layers[0].n_out must be an int"),
    "zero width": (lambda h: _layer0(h).update(n_in=0), "network.layers[0].n_in must be an int"),
    "width as string": (lambda h: _layer0(h).update(n_out="8"), "must be an int in 1..16777216"),
    "width as float": (lambda h: _layer0(h).update(n_out=8.0), "must be an int"),
    "width as bool": (lambda h: _layer0(h).update(n_out=True), "must be an int"),
    "width 2**40": (lambda h: _layer0(h).update(n_out=2**40), "must be an int in 1..16777216"),
    "unknown layer key": (lambda h: _layer0(h).update(predict="x"), "unknown key 'predict'"),
    "activation unknown": (lambda h: _layer0(h).update(activation={"name": "swish"}),
                           "network.layers[0].activation must be an activation"),
    "activation a list": (lambda h: _layer0(h).update(activation=["relu"]), "activation must be"),
    "activation option unknown": (
        lambda h: _layer0(h).update(activation={"name": "relu", "slope": 2}), "unknown key 'slope'"),
    "activation option nan": (
        lambda h: _layer0(h).update(activation={"name": "elu", "alpha": float("nan")}),
        "activation.alpha must be a finite number"),
    "activation option a string": (
        lambda h: _layer0(h).update(activation={"name": "elu", "alpha": "1"}), "activation.alpha"),
    "init unknown": (lambda h: _layer0(h).update(init="ones"), "network.layers[0].init must be one of"),
    "loss unknown": (lambda h: h["network"].update(loss="hinge"), "network.loss must be a loss"),
    "loss a number": (lambda h: h["network"].update(loss=3), "network.loss must be a loss"),
    "loss option unknown": (lambda h: h["network"].update(loss={"name": "mse", "delta": 1}),
                            "unknown key 'delta'"),
    "dtype float16": (lambda h: h["network"].update(dtype="float16"), "network.dtype must be one of"),
    "negative l2": (lambda h: h["network"].update(l2=-1.0), "network.l2 must be a finite number"),
    "l2 infinite": (lambda h: h["network"].update(l2=float("inf")), "network.l2"),
    "unknown top-level key": (lambda h: h.update(__class__="Network"), "unknown key '__class__'"),
    "info a list": (lambda h: h.update(info=[1]), "info must be an object"),
    "scaler a list": (lambda h: h.update(scaler=[0, 1]), "scaler must be an object"),
    "scaler unknown type": (lambda h: h["scaler"].update(type="Robust"), "scaler.type must be one of"),
    "scaler nan mean": (lambda h: h["scaler"]["mean"].__setitem__(1, float("nan")),
                        "scaler.mean[1] must be a finite number"),
    "scaler negative scale": (lambda h: h["scaler"]["scale"].__setitem__(0, -1.0),
                              "scaler.scale[0] must be a finite number in [0"),
    "scaler lengths differ": (lambda h: h["scaler"]["mean"].append(1.0), "different lengths"),
    "scaler width": (lambda h: h["scaler"].update(mean=[0.0], scale=[1.0]),
                     "scales 1 features; the network has 4 inputs"),
    "scaler extra key": (lambda h: h["scaler"].update(code="import os"), "unknown key 'code'"),
    "history a list": (lambda h: h.update(history=[]), "history must be an object"),
    "history epochs a dict": (lambda h: h["history"].update(epochs={}), "history.epochs must be a list"),
    "history epoch a number": (lambda h: h["history"]["epochs"].append(3), "history.epochs[2] must be"),
    "optimizer unknown": (lambda h: h["optimizer"].update(name="nadam"), "optimizer.name must be one of"),
    "optimizer unknown key": (lambda h: h["optimizer"].update(momentum=0.9), "unknown key 'momentum'"),
    "optimizer iterations negative": (lambda h: h["optimizer"].update(iterations=-1),
                                      "optimizer.iterations must be an int"),
    "optimizer lr a list": (lambda h: h["optimizer"].update(learning_rate=[0.1]),
                            "optimizer.learning_rate must be a finite number"),
    "extra a string": (lambda h: h.update(extra="x"), "extra must be an object"),
    "classes wrong count": (lambda h: h.update(classes=[0, 1]), "lists 2 labels for a network of 3"),
    "classes repeated": (lambda h: h.update(classes=[0, 0, 1]), "must not repeat a label"),
    "classes a dict": (lambda h: h.update(classes={"a": 1}), "classes must be a list"),
    "classes nested": (lambda h: h.update(classes=[[0], [1], [2]]), "classes[0] must be a class label"),
}


@pytest.mark.parametrize("case", HEADER_CHANGES)
def test_header_parts_of_the_wrong_type_or_size_are_refused_naming_the_part(trained, tmp_path, case):
    change, pattern = HEADER_CHANGES[case]
    path = changed(trained, tmp_path / "bad.npz", change)
    refused(path, pattern)


@pytest.mark.parametrize("text, pattern", [
    ("[" * 100_000 + "]" * 100_000, "nests deeper than 64 levels"),
    ('{"format": "glassnet", "version": 1, "info": ' + '{"a": ' * 70 + "1" + "}" * 71,
     "nests deeper than 64 levels"),
    ('{"format": "glassnet", "version": ' + "9" * 5000 + "}", "is not valid JSON"),
    ("not json {", "is not valid JSON"),
    ("", "is not valid JSON"),
    ('{"format": "glassnet", "version": 1, "network": NaN}', "network must be an object"),
])
def test_unparsable_or_deep_headers_are_refused(trained, tmp_path, text, pattern):
    refused(with_header(trained, tmp_path / "deep.npz", text), pattern)


@pytest.mark.parametrize("member", [
    np.array(["a", "b"]),                 # a list of strings, not one string
    np.array(b"{}"),                      # bytes
    np.array(3.0),                        # a number
    np.zeros((2, 2), dtype="<U3"),
])
def test_header_member_of_the_wrong_kind_is_refused(trained, tmp_path, member):
    members = members_of(trained)
    members[HEADER] = npy(member)
    refused(write_members(tmp_path / "h.npz", members), "'__glassnet__' header must be one string")


# ---------------------------------------------------------------------------- declared sizes
def test_a_30000_by_30000_declaration_is_refused_before_allocating(trained, tmp_path):
    def huge(h):
        h["network"]["layers"][0].update(n_in=30000, n_out=30000)
        h["network"]["layers"][1]["n_in"] = 30000
        h["scaler"] = None

    path = changed(trained, tmp_path / "huge.npz", huge)
    error, _ = bounded(lambda: load(path), seconds=10, megabytes=16)
    assert isinstance(error, ValueError) and "array '0.W' has shape (8, 4)" in str(error)
    assert "needs (30000, 30000)" in str(error)


@pytest.mark.parametrize("key, shape", [
    ("0.W.npy", (2**20, 2**20)),          # a parameter whose header declares 2^40 elements
    ("0.b.npy", (2**40,)),
    ("extra.big.npy", (2**40,)),          # an array the format allows but load never needs
    ("junk.npy", (2**40,)),               # a member the format does not define
    (HEADER, (2**40,)),
])
def test_npy_headers_that_declare_more_than_the_member_holds_are_refused(trained, tmp_path, key,
                                                                          shape):
    members = members_of(trained)
    dtype = "<U10" if key == HEADER else "<f4"
    members[key] = npy_header(shape, dtype) + b"\0" * 64
    path = write_members(tmp_path / "lies.npz", members)
    error, _ = bounded(lambda: load(path), seconds=10, megabytes=16)
    assert isinstance(error, ValueError), error
    assert str(path) in str(error) and "truncated or its header lies" in str(error)


@pytest.mark.parametrize("descr", ["|V8", "<c8", "<M8[s]", "|S4", "[('a', '<f4')]"])
def test_parameters_of_other_dtypes_are_refused(trained, tmp_path, descr):
    members = members_of(trained)
    dtype = np.dtype(eval(descr) if descr.startswith("[") else descr)
    members["0.b.npy"] = npy(np.zeros(8, dtype=dtype))
    refused(write_members(tmp_path / "dtype.npz", members), "array '0.b'")


def test_fortran_ordered_parameters_are_refused(trained, tmp_path):
    members = members_of(trained)
    W = np.asfortranarray(np.ones((8, 4), dtype="float32"))
    members["0.W.npy"] = npy(W)
    refused(write_members(tmp_path / "f.npz", members), "Fortran order")


# ---------------------------------------------------------------------------- zip bombs
@pytest.mark.parametrize("name", ["extra.bomb.npy", "junk.npy", "optim.m.9.W.npy"])
def test_a_zip_bomb_is_refused_before_it_is_inflated(trained, tmp_path, name):
    src, dst = trained, tmp_path / "bomb.npz"
    with zipfile.ZipFile(dst, "w") as zf:
        for key, data in members_of(src).items():
            zf.writestr(key, data)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            f.write(npy_header(((256 << 20) // 4,)))
            chunk = bytes(1 << 20)
            for _ in range(256):
                f.write(chunk)
    assert dst.stat().st_size < 2 << 20  # 256 MB of zeros in under 2 MB
    error, _ = bounded(lambda: load(dst), seconds=10, megabytes=16)
    assert isinstance(error, ValueError) and "would decompress to" in str(error), error
    assert str(dst) in str(error)


def test_a_deflated_but_honest_model_still_loads(adam_model, tmp_path):
    """Compression itself is fine: savez_compressed of a real model reads back exactly."""
    src, net = adam_model
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **arrays)
    loaded = load(path)
    for key, p in net.params().items():
        np.testing.assert_array_equal(loaded.params()[key], p)


# ---------------------------------------------------------------------------- damaged zips
def _zip_regions(path):
    data = path.read_bytes()
    eocd = data.rfind(b"PK\x05\x06")
    central = data.find(b"PK\x01\x02")
    return data, central, eocd


@pytest.fixture(scope="module")
def flip_offsets(trained):
    data, central, eocd = _zip_regions(trained)
    return sorted(set(range(central, len(data), 3)) | set(range(eocd, len(data))))


@pytest.mark.parametrize("value", [0x00, 0xFF, "xor1"])
def test_flipped_bytes_in_the_zip_directory_are_value_errors_or_harmless(trained, tmp_path, value,
                                                                         flip_offsets):
    data = trained.read_bytes()
    reference = load(trained)
    outcomes = {"refused": 0, "same": 0}
    for i in flip_offsets:
        damaged = bytearray(data)
        damaged[i] = data[i] ^ 1 if value == "xor1" else value
        if damaged == data:
            continue
        path = tmp_path / "flipped.npz"
        path.write_bytes(bytes(damaged))
        try:
            net = load(path)
        except ValueError as err:
            assert str(path) in str(err), (i, err)
            outcomes["refused"] += 1
            continue
        # a flip in a field zipfile does not use (a timestamp, an attribute): the same model
        for key, p in reference.params().items():
            np.testing.assert_array_equal(net.params()[key], p, err_msg=f"offset {i}")
        outcomes["same"] += 1
    assert outcomes["refused"] > 0


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, 99, 9])
def test_unsupported_compression_methods_are_value_errors(trained, tmp_path, method):
    data = bytearray(trained.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 10:central + 12] = method.to_bytes(2, "little")  # the first member's method
    path = tmp_path / "method.npz"
    path.write_bytes(bytes(data))
    refused(path, "compression method")


def test_encrypted_members_are_value_errors(trained, tmp_path):
    data = bytearray(trained.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x01
    path = tmp_path / "encrypted.npz"
    path.write_bytes(bytes(data))
    refused(path)


def test_duplicate_member_names_are_refused(trained, tmp_path):
    members = members_of(trained)
    path = tmp_path / "dup.npz"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("0.W.npy", members["0.W.npy"])
    refused(path, "appear more than once")


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.25, 0.5, 0.9, 0.999])
def test_truncated_files_are_refused(trained, tmp_path, fraction):
    data = trained.read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[:int(len(data) * fraction)])
    refused(path, "is not a readable glassnet model file")


def test_a_damaged_data_byte_fails_the_crc(trained, tmp_path):
    data = bytearray(trained.read_bytes())
    with zipfile.ZipFile(trained) as zf:
        info = zf.getinfo("0.W.npy")
    name_len, extra_len = np.frombuffer(data[info.header_offset + 26:info.header_offset + 30], "<u2")
    start = info.header_offset + 30 + int(name_len) + int(extra_len)  # where the member begins
    offset = start + info.file_size - 5  # inside 0.W's data, past its .npy header
    data[offset] ^= 0x40
    path = tmp_path / "crc.npz"
    path.write_bytes(bytes(data))
    refused(path, "member '0.W.npy'")


# ---------------------------------------------------------------------------- pickles
class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/glassnet-hostile-pwned",))


@pytest.mark.parametrize("key", ["0.W.npy", "junk.npy", "extra.x.npy", HEADER, "optim.m.0.W.npy"])
def test_pickled_members_are_refused_without_running_them(trained, tmp_path, key):
    marker = Path("/tmp/glassnet-hostile-pwned")
    marker.unlink(missing_ok=True)
    members = members_of(trained)
    members[key] = npy(np.array([Boom()], dtype=object))
    refused(write_members(tmp_path / "pickle.npz", members), "holds pickled objects")
    assert not marker.exists()


# ---------------------------------------------------------------------------- optimiser state
@pytest.mark.parametrize("change, pattern", [
    (lambda m: m.update({"optim.m.0.W.npy": npy(np.zeros((3,), "float32"))}), "has shape (3,)"),
    (lambda m: m.update({"optim.m.0.W.npy": npy(np.zeros((6, 4), "float64"))}), "dtype float64"),
    (lambda m: m.update({"optim.m.9.W.npy": npy(np.zeros((6, 4), "float32"))}),
     "belongs to no parameter"),
    (lambda m: m.update({"optim.velocity.0.W.npy": npy(np.zeros((6, 4), "float32"))}),
     "Unknown state array 'velocity.0.W'"),
])
def test_optimiser_state_that_does_not_fit_is_refused_at_load(adam_model, tmp_path, change, pattern):
    src, _ = adam_model
    members = members_of(src)
    change(members)
    refused(write_members(tmp_path / "optim.npz", members), pattern)


def test_optimiser_state_without_an_optimiser_is_refused(adam_model, tmp_path):
    src, _ = adam_model
    path = changed(src, tmp_path / "nooptim.npz", lambda h: h.update(optimizer=None))
    refused(path, "names no optimiser")


# ---------------------------------------------------------------------------- what save writes
@pytest.mark.parametrize("key", ["0.W", "0.b", "1.W", "1.b"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_save_refuses_non_finite_weights_naming_them_and_keeps_the_old_file(adam_model, tmp_path,
                                                                             key, value):
    src, net = adam_model
    path = tmp_path / "model.npz"
    path.write_bytes(src.read_bytes())
    bad = net.copy()
    bad.params()[key].reshape(-1)[0] = value
    with pytest.raises(ValueError, match=rf"parameter '{key}' contains NaN or inf"):
        save(bad, path)
    assert path.read_bytes() == src.read_bytes() and os.listdir(tmp_path) == ["model.npz"]


@pytest.mark.parametrize("info, pattern", [
    ({"classes": [1, 2]}, "lists 2 labels for a network of 3 outputs"),
    ({"classes": [1, 1, 2]}, "must not repeat a label"),
    ({"deep": json.loads("[" * 70 + "]" * 70)}, "nests deeper than 64"),
    ({"obj": object()}, "not JSON serializable"),
])
def test_save_refuses_what_load_would_refuse(tmp_path, info, pattern):
    net = mlp([4, 6, 3], loss="cross_entropy", seed=0)
    net.info = info
    path = tmp_path / "m.npz"
    with pytest.raises(ValueError, match=rf"Cannot save the network to .*{pattern}"):
        save(net, path)
    assert not path.exists()


@pytest.mark.parametrize("classes", [[3, 7, 50000000], ["cat", "dog", "eel"], [0.5, 1.5, 2.5]])
def test_class_labels_travel_in_their_own_header_entry(tmp_path, classes):
    net = mlp([4, 6, 3], loss="cross_entropy", seed=0)
    net.classes = list(np.asarray(classes).tolist())
    save(net, tmp_path / "m.npz")
    assert header_of(tmp_path / "m.npz")["classes"] == classes
    assert "classes" not in header_of(tmp_path / "m.npz")["info"]
    loaded = load(tmp_path / "m.npz")
    assert loaded.classes == classes
    X = np.random.default_rng(0).normal(size=(5, 4))
    assert list(loaded.predict(X)) == [classes[i] for i in net.predict_output(X).argmax(1)]


def test_what_train_writes_reads_back_with_every_part(trained):
    net, extra, arrays = load_with_extra(trained)
    assert net.scaler is not None and net.history is not None and net.optimizer is not None
    assert net.info["training"]["data"] == "iris"
    assert extra == {} and arrays == {}


# ---------------------------------------------------------------------------- stale temporaries
KILLED_SAVE = r"""
import os, sys, time
import numpy as np
sys.path.insert(0, {src!r})
import glassnet
net = glassnet.mlp([4, 6, 3], seed=0)
def slow(file, **arrays):
    file.write(b"PK\x03\x04 half a zip")
    file.flush()
    print("writing", flush=True)
    time.sleep(60)
np.savez = slow
glassnet.save(net, {path!r})
"""


def test_a_killed_save_leaves_the_old_file_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "m.npz"
    old = mlp([4, 6, 3], seed=1)
    save(old, path)
    before = path.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE.format(src=str(SRC), path=str(path))],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    stale = [p.name for p in tmp_path.iterdir() if p.name != "m.npz"]
    assert len(stale) == 1 and stale[0].startswith(".m.npz.") and stale[0].endswith(".tmp")
    assert path.read_bytes() == before  # the kill lost nothing
    save(mlp([4, 6, 3], seed=2), path)
    assert os.listdir(tmp_path) == ["m.npz"]


def test_stale_temporaries_of_old_versions_are_removed_but_live_ones_kept(tmp_path):
    path = tmp_path / "m.npz"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        legacy = tmp_path / ".m.npz.k3j4h5g6.tmp"            # mkstemp name, no pid: stale
        dead = tmp_path / f".m.npz.{2**22 + 12345}.abcd.tmp"  # a pid that does not run
        live = tmp_path / f".m.npz.{sleeper.pid}.abcd.tmp"   # a save still running elsewhere
        folder = tmp_path / ".m.npz.dir.tmp"
        target = tmp_path / "precious.txt"
        link = tmp_path / ".m.npz.link.tmp"
        other = tmp_path / ".other.npz.k3j4h5g6.tmp"          # another file's temporary
        for p in (legacy, dead, live, other):
            p.write_bytes(b"half")
        folder.mkdir()
        target.write_text("keep me")
        link.symlink_to(target)
        save(mlp([4, 6, 3], seed=0), path)
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == sorted(["m.npz", live.name, folder.name, target.name, other.name])
        assert target.read_text() == "keep me"
        assert remove_stale_temporaries(path) == []
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temporaries(path) == [live.name]


# ---------------------------------------------------------------------------- the estimators
@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory):
    pytest.importorskip("sklearn")
    from glassnet.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.array(["a", "b", "c", "d"])[rng.integers(0, 4, 40)]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("sk") / "clf.npz"
    clf.save(path)
    return path, X, clf


def _sk(change):
    def apply(h):
        change(h["info"]["sklearn"])
    return apply


SKLEARN_CHANGES = {
    "state shadows predict": (_sk(lambda s: s["state"].update(predict="gotcha")),
                              "unknown attribute 'predict'"),
    "state sets a private attribute": (_sk(lambda s: s["state"].update(_optimizer=1)),
                                       "unknown attribute '_optimizer'"),
    "unknown parameter": (_sk(lambda s: s["params"].update(fit="x")), "unknown attribute 'fit'"),
    "unknown part": (_sk(lambda s: s.update(network_="x")), "no ['network_']"),
    "state a list": (_sk(lambda s: s.update(state=[1])), "'params' and 'state' objects"),
    "classes too few": (_sk(lambda s: s.update(classes=["a", "b", "c"])),
                        "3 multiclass classes need 3 outputs; the network has 4"),
    "classes too many": (_sk(lambda s: s.update(classes=list("abcde"))), "need 5 outputs"),
    "classes repeated": (_sk(lambda s: s.update(classes=["a", "a", "b", "c"])), "distinct labels"),
    "classes dtype hostile": (_sk(lambda s: s.update(classes_dtype="V100000000000")), "classes_dtype"),
    "y_type unknown": (_sk(lambda s: s.update(y_type="continuous")), "'y_type' in binary"),
    "n_features_in_ wrong": (_sk(lambda s: s["state"].update(n_features_in_=7)),
                             "n_features_in_ is 7; the network has 3 inputs"),
    "feature names wrong": (_sk(lambda s: s.update(feature_names_in=["x"])), "feature_names_in"),
}


@pytest.mark.parametrize("case", SKLEARN_CHANGES)
def test_the_estimators_load_only_known_and_consistent_attributes(classifier_file, tmp_path, case):
    from glassnet.sklearn import MLPClassifier

    src = classifier_file[0]
    change, pattern = SKLEARN_CHANGES[case]
    path = changed(src, tmp_path / "sk.npz", change)
    with pytest.raises(ValueError, match="the saved MLPClassifier is invalid") as info:
        MLPClassifier.load(path)
    assert str(path) in str(info.value) and pattern in str(info.value), str(info.value)
    assert MLPClassifier.predict is not None


def test_the_estimator_round_trip_still_works(classifier_file):
    from glassnet.sklearn import MLPClassifier

    src, X, clf = classifier_file
    back = MLPClassifier.load(src)
    assert list(back.classes_) == list(clf.classes_)
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    assert type(back).predict is MLPClassifier.predict


def test_a_regressor_file_is_not_a_classifier(tmp_path):
    pytest.importorskip("sklearn")
    from glassnet.sklearn import MLPClassifier, MLPRegressor

    reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(np.random.default_rng(0).normal(size=(20, 2)), np.arange(20.0))
    reg.save(tmp_path / "r.npz")
    path = changed(tmp_path / "r.npz", tmp_path / "c.npz",
                   _sk(lambda s: s.update(estimator="MLPClassifier")))
    with pytest.raises(ValueError, match="cannot hold a network trained with the mse loss"):
        MLPClassifier.load(path)


def test_every_failure_of_load_is_a_value_error_or_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file at"):
        load(tmp_path / "missing.npz")
    unreadable = tmp_path / "locked.npz"
    unreadable.write_bytes(b"PK")
    unreadable.chmod(0)
    if os.access(unreadable, os.R_OK):  # root reads anything
        pytest.skip("permissions are not enforced for this user")
    with pytest.raises(ValueError, match="cannot open"):
        load(unreadable)
