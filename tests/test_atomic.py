"""``atomic_write``: the mode ``open()`` would give a new file, the mode of the file it replaces,
and every error naming the target, never the temporary file."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from glassnet import load, mlp, save
from glassnet.atomic import atomic_write

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value: int) -> None:
        os.umask(value)
    yield set_umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path, umask, mask):
    umask(mask)
    with open(tmp_path / "by_open", "w"):
        pass
    save(mlp([2, 3, 1], seed=0), tmp_path / "m.npz")
    atomic_write(tmp_path / "t.json", lambda f: f.write(b"{}"))
    assert mode(tmp_path / "m.npz") == mode(tmp_path / "t.json") == mode(tmp_path / "by_open") \
        == 0o666 & ~mask


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, mask):
    umask(mask)
    save(mlp([2, 3, 1], seed=0), tmp_path / "m.npz")
    os.chmod(tmp_path / "m.npz", 0o640)
    save(mlp([2, 3, 1], seed=1), tmp_path / "m.npz")
    assert mode(tmp_path / "m.npz") == 0o640
    load(tmp_path / "m.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_the_cli_writes_models_the_group_can_read(tmp_path, umask, monkeypatch):
    from glassnet.cli import main

    umask(0o022)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "circles", "--hidden", "4", "--epochs", "1", "--quiet",
                 "--out", "m.npz", "--history-json", "h.json"]) == 0
    assert mode(tmp_path / "m.npz") == mode(tmp_path / "h.json") == 0o644


def _fail_with(err):
    def raise_it(*args, **kwargs):
        raise err
    return raise_it


@pytest.mark.parametrize("case", ["no space", "permission", "a folder", "no errno"])
def test_every_os_error_names_the_target(tmp_path, monkeypatch, case):
    target = tmp_path / "m.npz"
    write = lambda f: f.write(b"x")  # noqa: E731
    if case == "no space":
        no_space = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(os, "fsync", _fail_with(no_space))
        kind = OSError
    elif case == "permission":  # as in a read-only folder, even for root
        def refuse(path, *args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        monkeypatch.setattr(os, "open", refuse)
        kind = PermissionError
    elif case == "a folder":
        target.mkdir()
        kind = IsADirectoryError
    else:
        write = _fail_with(OSError("the writer gave up"))
        kind = OSError
    with pytest.raises(kind) as raised:
        atomic_write(target, write)
    assert raised.value.filename == str(target) and raised.value.filename2 is None
    assert ".tmp" not in str(raised.value)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("case", ["a folder", "a missing folder", "an empty path"])
def test_a_target_that_cannot_be_a_file_is_refused_before_anything_is_written(tmp_path, case):
    """Nothing is created beside the target, not even in the folder's parent (for a folder
    target the parent is where a temporary file would go)."""
    folder = tmp_path / "out"
    folder.mkdir()
    target, kind, words = {
        "a folder": (folder, IsADirectoryError, "is a folder; name a file in it"),
        "a missing folder": (folder / "no" / "m.npz", FileNotFoundError,
                             f"the folder {folder / 'no'} does not exist; create it first"),
        "an empty path": ("", FileNotFoundError, "an empty path names no file"),
    }[case]
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(kind, match=words):
        atomic_write(target, lambda f: f.write(b"x"))
    assert sorted(tmp_path.rglob("*")) == before
