"""Hostile data files: the readers stream and check as they read, with bounded memory for any
file; every error is a ValueError naming the file (for CSV the line and column); class labels
become 0..k-1 with the originals kept, or are refused when they are not class labels; memory maps
and in-memory arrays go through one dtype check."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from bounded import bounded

import glassnet
from glassnet.cli import main
from glassnet.data import (
    check_real_dtype,
    encode_labels,
    load_arrays,
    load_data,
    load_npz,
    open_memmap_dataset,
    read_csv,
    read_idx,
)
from glassnet.data.csvfile import MAX_FIELDS, MAX_LINE_BYTES


def refused(function, *patterns, megabytes=64):
    error, _ = bounded(function, megabytes=megabytes)
    assert isinstance(error, ValueError), repr(error)
    for pattern in patterns:
        assert pattern in str(error), str(error)
    return str(error)


# ---------------------------------------------------------------------------- CSV: size limits
def test_a_200_mb_line_of_one_field_fails_fast_with_bounded_memory(tmp_path):
    path = tmp_path / "one-field.csv"
    with open(path, "wb") as f:
        f.write(b"a,b\n1,2\n")
        f.truncate(200 << 20)  # 200 MB more on line 3, without a line end (sparse on disk)
    refused(lambda: read_csv(path), f"{path}, line 3: the line is longer than {MAX_LINE_BYTES}",
            megabytes=3 * (MAX_LINE_BYTES >> 20))


def test_a_long_line_of_digits_fails_fast(tmp_path):
    path = tmp_path / "digits.csv"
    with open(path, "wb") as f:
        f.write(b"1," + b"7" * (MAX_LINE_BYTES + 10) + b"\n")
    refused(lambda: read_csv(path), "line 1: the line is longer than",
            megabytes=3 * (MAX_LINE_BYTES >> 20))


def test_a_line_of_millions_of_fields_is_refused_before_it_is_split(tmp_path):
    path = tmp_path / "fields.csv"
    n = 5_000_000  # 10 MB, under the line limit, 5x the field limit
    with open(path, "wb") as f:
        f.write(b"1," * (n - 1) + b"1\n")
    message = refused(lambda: read_csv(path), f"line 1: the line has more than {MAX_FIELDS} fields",
                      megabytes=40)  # the line's bytes, never millions of strings
    assert f"({n})" in message


@pytest.mark.parametrize("limit, text, pattern", [
    ({"max_line_bytes": 10}, "a,b\n1,2\n12345678901,2\n", "line 3: the line is longer than 10"),
    ({"max_fields": 3}, "a,b,c\n1,2,3,4\n", "line 2: the line has more than 3 fields (4)"),
    ({"max_fields": 2}, "a,b,c\n", "line 1: the line has more than 2 fields"),
])
def test_the_limits_are_parameters(tmp_path, limit, text, pattern):
    path = tmp_path / "d.csv"
    path.write_text(text)
    refused(lambda: read_csv(path, **limit), pattern)


def test_a_field_longer_than_the_csv_modules_limit_is_a_value_error(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('a,b\n"' + "1" * 200_000 + '",2\n')
    refused(lambda: read_csv(path), f"{path}, line 2")


@pytest.mark.parametrize("text, pattern", [
    ("a,b\n1,2\n3,4,5\n", "line 3: expected 2 fields (as in line 1), got 3"),
    ("a,b\n1,2\n\n\n3\n", "line 5: expected 2 fields (as in line 1), got 1"),
    ("1,2,3\n4,5\n", "line 2: expected 3 fields (as in line 1), got 2"),
    ("a,b\n" + "1,2\n" * 1000 + "1,2,3\n", "line 1002: expected 2 fields"),
    ('a,b\n"1,2",3,4\n', "line 2: expected 2 fields (as in line 1), got 3"),
    ('a,b\n"1,2\n', "line 2:"),  # a quote that does not close on its line
])
def test_ragged_rows_are_refused_at_the_line_they_occur(tmp_path, text, pattern):
    path = tmp_path / "ragged.csv"
    path.write_text(text)
    refused(lambda: read_csv(path), f"{path}, {pattern}")


def test_ragged_rows_are_found_while_streaming(tmp_path):
    """The bad row comes early in a big file: the reader stops there, having read little."""
    path = tmp_path / "big.csv"
    with open(path, "w") as f:
        f.write("a,b,c\n1,2,3\n1,2\n")
        f.write("1,2,3\n" * 3_000_000)  # 18 MB after the bad line
    refused(lambda: read_csv(path), "line 3: expected 3 fields", megabytes=8)


# ---------------------------------------------------------------------------- CSV: encodings
@pytest.mark.parametrize("raw, line, column", [
    (b"a,b\n1,2\n3,\xe9\n", 3, 1),                 # latin-1 e-acute
    (b"a,b\n1,2\n\x80,4\n", 3, 0),                 # a lone continuation byte
    (b"na\xefme,b\n1,2\n", 1, 0),                  # in the header
    (b"a,b,c\n1,2,3\n4,5,6\xff\xfe\n", 3, 2),
    (b"a,b\n1,2\n3,4\xc3\n", 3, 1),                # cut in the middle of a character
])
def test_non_utf8_bytes_name_the_file_line_and_column(tmp_path, raw, line, column):
    path = tmp_path / "latin1.csv"
    path.write_bytes(raw)
    message = refused(lambda: read_csv(path), f"{path}, line {line}, column {column}:",
                      "not UTF-8")
    assert "UnicodeDecodeError" not in message


def test_a_utf8_bom_and_crlf_line_ends_are_fine(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfx,y\r\n1,0\r\n2,1\r\n3,0\r\n")
    X, y, names = read_csv(path)
    assert names == ["x"] and X.ravel().tolist() == [1, 2, 3] and y.tolist() == [0, 1, 0]


# ---------------------------------------------------------------------------- CSV: targets
@pytest.mark.parametrize("values", [[1e30, 2.0], [-1e30, 3.0], [2.0**53 + 2, 1.0], [1e300, 0.0]])
def test_huge_whole_number_targets_stay_floats(tmp_path, values):
    path = tmp_path / "big.csv"
    path.write_text("x,y\n" + "".join(f"{i},{v!r}\n" for i, v in enumerate(values)))
    _, y, _ = read_csv(path)
    assert y.dtype == np.float64 and y.tolist() == values
    assert np.iinfo(np.int64).min not in y


def test_whole_number_targets_within_2_53_are_labels(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("x,y\n1,9007199254740992\n2,-4\n")
    _, y, _ = read_csv(path)
    assert y.dtype == np.int64 and y.tolist() == [2**53, -4]


def test_labels_far_apart_become_0_to_k_minus_1_with_the_originals_kept(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("x,label\n" + "".join(f"{i},{[0, 50000000][i % 2]}\n" for i in range(8)))
    d = load_data(f"csv:{path}")
    assert d.y.tolist() == [0, 1] * 4 and d.classes.tolist() == [0, 50000000]


@pytest.mark.parametrize("labels", [[0, 50000000], [1, 2, 3, 4, 5, 6], list(range(100, 140))])
def test_labels_that_look_like_ids_are_refused_with_the_fix(tmp_path, labels):
    path = tmp_path / "ids.csv"
    path.write_text("x,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    message = refused(lambda: load_data(f"csv:{path}"), "look like IDs or a measured quantity", "csv:FILE:TARGET")
    assert f"{len(labels)} distinct whole numbers in {len(labels)} rows" in message


@pytest.mark.parametrize("labels", [[7] * 5, [0] * 3])
def test_one_class_targets_are_refused(tmp_path, labels):
    path = tmp_path / "one.csv"
    path.write_text("x,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels)))
    refused(lambda: load_data(f"csv:{path}"), f"single class ({labels[0]})")


def test_the_cli_trains_on_remapped_labels_and_refuses_one_class(tmp_path, capsys):
    data = tmp_path / "far.csv"
    rng = np.random.default_rng(0)
    rows = [(x, 50000000 if x > 0 else 3) for x in rng.normal(size=60)]
    data.write_text("x,label\n" + "".join(f"{x:.4f},{c}\n" for x, c in rows))
    out = tmp_path / "m.npz"
    assert main(["train", "--data", f"csv:{data}", "--epochs", "2", "--hidden", "4", "--quiet",
                 "--out", str(out)]) == 0
    assert glassnet.load(out).n_out == 2  # not a 50000001-unit layer
    one = tmp_path / "one.csv"
    one.write_text("x,label\n" + "".join(f"{i},1\n" for i in range(10)))
    assert main(["train", "--data", f"csv:{one}", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "o.npz")]) in (1, 2)
    err = capsys.readouterr().err
    assert err.startswith("glassnet: error:") and "single class" in err and "Traceback" not in err


def test_npz_and_mnist_labels_go_through_the_same_mapping(tmp_path):
    path = tmp_path / "d.npz"
    y = np.array([10, 20, 10, 20, 30, 30])
    np.savez(path, X=np.zeros((6, 2)), y=y, X_test=np.zeros((2, 2)), y_test=np.array([30, 10]))
    d = load_data(f"npz:{path}")
    assert d.y.tolist() == [0, 1, 0, 1, 2, 2] and d.y_test.tolist() == [2, 0]
    assert d.classes.tolist() == [10, 20, 30]
    np.testing.assert_array_equal(d.classes[d.y], y)


def test_encode_labels_is_the_inverse_of_indexing():
    y = np.array([5, -2, 5, 9, -2, 9, 9])
    indices, classes = encode_labels(y)
    np.testing.assert_array_equal(classes[indices], y)
    assert indices.dtype == np.int64 and classes.tolist() == [-2, 5, 9]


# ---------------------------------------------------------------------------- dtypes
BAD_DTYPES = {
    "complex": np.array([[1 + 2j, 3]], dtype=np.complex128),
    "string": np.array([["1", "2"]]),
    "bytes": np.array([[b"1", b"2"]]),
    "datetime": np.array([["2020-01-01", "2020-01-02"]], dtype="datetime64[D]"),
    "timedelta": np.array([[1, 2]], dtype="timedelta64[s]"),
    "bool": np.array([[True, False]]),
    "structured": np.zeros((1, 2), dtype=[("a", "<f4")]),
}


@pytest.mark.parametrize("kind", BAD_DTYPES)
def test_one_dtype_check_for_memory_maps_files_and_memory(tmp_path, kind):
    X = BAD_DTYPES[kind]
    path = tmp_path / "X.npy"
    np.save(path, X)
    refused(lambda: open_memmap_dataset(path), f"{path}: X must hold real numbers")
    refused(lambda: load_arrays(path), f"{path}: X must hold real numbers")
    np.savez(tmp_path / "d.npz", X=X, y=np.zeros(len(X)))
    refused(lambda: load_npz(tmp_path / "d.npz"), "X must hold real numbers")
    with pytest.raises(TypeError, match="X must hold real numbers"):
        check_real_dtype(X.dtype)  # the in-memory form of the same check
    if kind != "timedelta":  # Network.check_X (network.py) still takes timedelta64 as a number
        with pytest.raises(TypeError):  # and the network refuses such arrays in memory too
            glassnet.mlp([2, 1]).check_X(X)


@pytest.mark.parametrize("dtype", ["int8", "uint16", "int64", "float16", "float32", "float64"])
def test_real_dtypes_pass_everywhere(tmp_path, dtype):
    X = np.arange(6).reshape(3, 2).astype(dtype)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.arange(3))
    Xm, ym = open_memmap_dataset(tmp_path / "X.npy", tmp_path / "y.npy")
    assert isinstance(Xm, np.memmap) and Xm.dtype == dtype and ym.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(load_arrays(tmp_path / "X.npy")[0], X)
    assert check_real_dtype(X.dtype) == X.dtype


def test_a_memmapped_target_of_strings_is_refused(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((3, 2)))
    np.save(tmp_path / "y.npy", np.array(["a", "b", "c"]))
    refused(lambda: open_memmap_dataset(tmp_path / "X.npy", tmp_path / "y.npy"),
            "y must hold real numbers")


def test_memmapped_x_must_be_2d(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((3, 2, 2)))
    refused(lambda: open_memmap_dataset(tmp_path / "X.npy"), "X must be 2-D")


def test_training_on_a_refused_memmap_never_starts(tmp_path):
    np.save(tmp_path / "X.npy", np.ones((8, 2), dtype=np.complex64))
    with pytest.raises(ValueError, match="real numbers"):
        open_memmap_dataset(tmp_path / "X.npy")


# ---------------------------------------------------------------------------- .npy / .npz headers
def npy_with_header(path, shape, dtype="<f8", data=b""):
    import io

    import numpy.lib.format as npy_format

    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                            "shape": tuple(shape)})
    path.write_bytes(buf.getvalue() + data)
    return path


@pytest.mark.parametrize("shape", [(2**40,), (2**20, 2**20), (10, 4)])
def test_npy_headers_that_lie_about_the_size_are_refused_before_reading(tmp_path, shape):
    path = npy_with_header(tmp_path / "X.npy", shape, data=b"\0" * 64)
    for read in (lambda: load_arrays(path), lambda: open_memmap_dataset(path)):
        refused(read, str(path), "truncated or damaged", megabytes=4)


def test_a_truncated_npy_is_refused(tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, np.zeros((100, 3)))
    path.write_bytes(path.read_bytes()[:-8])
    refused(lambda: load_arrays(path), "truncated or damaged")


def test_npz_members_that_are_not_asked_for_are_never_read(tmp_path, monkeypatch):
    from glassnet.archive import NpzArchive

    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((4, 2)), y=np.arange(4) % 2, other=np.zeros((100, 100)))
    read = []
    real = NpzArchive.read
    monkeypatch.setattr(NpzArchive, "read", lambda self, key: read.append(key) or real(self, key))
    load_npz(path)
    assert sorted(read) == ["X", "y"]


def test_npz_rows_are_compared_from_the_headers(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.zeros(3))
    refused(lambda: load_npz(tmp_path / "d.npz"), "'X' has 4 rows but 'y' has 3")


def test_a_zip_bomb_data_archive_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open(zipfile.ZipInfo("X.npy"), "w") as f:
            pass
        info = zipfile.ZipInfo("junk.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(200):
                f.write(chunk)
    refused(lambda: load_npz(path), "would decompress to", megabytes=8)


# ---------------------------------------------------------------------------- IDX
def idx_header(code, shape):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_header_declaring_more_than_the_file_holds_is_refused_fast(tmp_path, gz):
    raw = idx_header(0x08, (60000, 28, 28)) + b"\0" * 100
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    refused(lambda: read_idx(path), "truncated IDX file", "47040000 data bytes", megabytes=4)


def test_an_idx_header_declaring_terabytes_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.gz"
    path.write_bytes(gzip.compress(idx_header(0x0E, (2**31, 2**31, 4))))
    refused(lambda: read_idx(path), "more than glassnet reads into memory", megabytes=4)


def test_a_gzip_idx_with_trailing_data_is_refused(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_header(0x08, (4,)) + bytes(4) + b"extra"))
    refused(lambda: read_idx(path), "more bytes than its header says")


def test_an_idx_gzip_bomb_is_read_only_up_to_the_declared_size(tmp_path):
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb") as f:
        f.write(idx_header(0x08, (16,)))
        chunk = bytes(1 << 20)
        for _ in range(300):  # 300 MB of zeros after 16 declared bytes
            f.write(chunk)
    refused(lambda: read_idx(path), "more bytes than its header says", megabytes=8)


# ---------------------------------------------------------------------------- not regular files
def _dev_zero(tmp_path, name):
    link = tmp_path / name
    link.symlink_to("/dev/zero")
    return link


def _fifo(tmp_path, name):
    path = tmp_path / name
    os.mkfifo(path)
    return path


def _folder(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    return path


READERS = {
    "csv": ("d.csv", read_csv),
    "idx": ("d-idx1-ubyte", read_idx),
    "npz": ("d.npz", load_npz),
    "npy": ("d.npy", load_arrays),
    "memmap": ("d.npy", open_memmap_dataset),
    "data spec": ("d.csv", lambda p: load_data(f"csv:{p}")),
}


@pytest.mark.parametrize("make", [_dev_zero, _fifo, _folder], ids=["dev-zero", "fifo", "folder"])
@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_non_regular_files_at_once(tmp_path, reader, make):
    name, read = READERS[reader]
    path = make(tmp_path, name)
    refused(lambda: read(path), str(path), "regular", megabytes=4)


def test_mnist_files_that_are_fifos_are_named(tmp_path):
    from glassnet.data import load_mnist

    os.mkfifo(tmp_path / "train-images-idx3-ubyte")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_header(0x08, (1,)) + b"\0")
    refused(lambda: load_mnist(tmp_path), "train-images-idx3-ubyte is a FIFO", megabytes=4)


def test_missing_files_stay_file_not_found(tmp_path):
    for name, read in READERS.values():
        with pytest.raises(FileNotFoundError):
            read(tmp_path / ("missing-" + name))


def test_readers_name_the_file_for_garbage(tmp_path):
    garbage = np.random.default_rng(0).bytes(4096)
    for name, read in READERS.values():
        path = tmp_path / ("garbage-" + name)
        path.write_bytes(garbage)
        error, _ = bounded(lambda read=read, path=path: read(path), megabytes=16)
        assert isinstance(error, ValueError) and str(path) in str(error), (name, error)


def test_a_real_file_reads_as_before(tmp_path):
    path = Path(tmp_path) / "ok.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    X, y, names = read_csv(path)
    assert X.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]] and y.tolist() == [0, 1, 0, 1]
    assert names == ["a", "b"]


@pytest.mark.parametrize("header, target", [("a,a,label", "label"), ("a,b,b", -1),
                                            ("x,y,x", None)])
def test_a_header_naming_a_column_twice_is_refused_at_its_line(tmp_path, header, target):
    """A repeated name makes the target, a feature or a model's column by name ambiguous (train
    recorded ['a', 'a'] that predict could not read back): refused when the file is read."""
    from glassnet.data import read_csv

    path = tmp_path / "dup.csv"
    path.write_text(header + "\n1,2,0\n3,4,1\n")
    with pytest.raises(ValueError, match=r"dup\.csv, line 1: the header names '\w' in columns "):
        read_csv(path, target=target)


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_the_delimiter_is_read_from_the_first_line(tmp_path, sep):
    """A semicolon-separated file (as written where the decimal mark is a comma) or a TSV file
    reads without an option no command has."""
    from glassnet.data import read_csv

    path = tmp_path / "d.csv"
    rows = [["a", "b", "label"], ["1.5", "2", "0"], ["2", "3.25", "1"], ["3", "4", "0"]]
    path.write_text("".join(sep.join(r) + "\n" for r in rows))
    X, y, names = read_csv(path, target="label")
    assert names == ["a", "b"] and X.tolist() == [[1.5, 2.0], [2.0, 3.25], [3.0, 4.0]]
    assert y.tolist() == [0, 1, 0]
