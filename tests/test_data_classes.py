"""``net.classes``: one rule at assignment and at load (glassnet.data.labels.check_classes).

One label per output (two for a single sigmoid output), each a string, an int or a finite
float, none repeated, a flat sequence; anything else is refused when it is set, and a saved
model carrying it is refused by ``load`` the same way.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from glassnet import Dense, Network, load, mlp

SOFTMAX3 = lambda: mlp([4, 5, 3], loss="cross_entropy", seed=0)  # noqa: E731
SIGMOID1 = lambda: Network([Dense(4, 1, "sigmoid", seed=0)], loss="binary_cross_entropy")  # noqa: E731
SIGMOID2 = lambda: Network([Dense(4, 2, "sigmoid", seed=0)], loss="binary_cross_entropy")  # noqa: E731
NETWORKS = {"softmax 3": (SOFTMAX3, 3), "sigmoid 1": (SIGMOID1, 2), "sigmoid 2": (SIGMOID2, 2)}

BAD = {  # classes -> what the message says; {k} is the number of classes the network takes
    "one too few": (lambda k: list(range(k - 1)), "lists {n} labels for a network of"),
    "one too many": (lambda k: list(range(k + 1)), "lists {n} labels for a network of"),
    "repeated int": (lambda k: [0] * 2 + list(range(1, k - 1)), "must not repeat a label: 0"),
    "repeated text": (lambda k: ["a", "a"] + [f"c{i}" for i in range(k - 2)],
                      "must not repeat a label: 'a'"),
    "1 and 1.0": (lambda k: [1, 1.0] + list(range(2, k)), "must not repeat a label: 1"),
    "True and 1": (lambda k: [1, True] + list(range(2, k)), "must not repeat a label: 1"),
    "nan": (lambda k: [float("nan")] + list(range(1, k)), r"\[0\] must be a class label"),
    "None inside": (lambda k: [None] + list(range(1, k)), r"\[0\] must be a class label"),
    "nested": (lambda k: [[i] for i in range(k)], r"\[0\] must be a class label"),
    "2-D array": (lambda k: np.arange(k).reshape(1, k), r"must be 1-D, one label per output; "
                                                         r"got an array of shape \(1, \d\)"),
    "column array": (lambda k: np.arange(k).reshape(k, 1), r"must be 1-D"),
}
WRONG_TYPE = {"a string": "ab", "a dict": {"a": 0, "b": 1}, "an int": 2, "a float": 2.0}


@pytest.mark.parametrize("net_name", sorted(NETWORKS))
@pytest.mark.parametrize("case", sorted(BAD))
def test_assignment_refuses(net_name, case):
    build, k = NETWORKS[net_name]
    net = build()
    make, message = BAD[case]
    value = make(k)
    n = len(value) if not isinstance(value, np.ndarray) else value.size
    with pytest.raises(ValueError, match=r"^Network\.classes ?" + message.format(n=n)):
        net.classes = value
    assert net.classes is None  # nothing half-set


@pytest.mark.parametrize("case", sorted(WRONG_TYPE))
def test_assignment_refuses_what_is_not_a_sequence(case):
    net = SOFTMAX3()
    with pytest.raises(TypeError, match=r"Network\.classes must be a sequence of class labels"):
        net.classes = WRONG_TYPE[case]


@pytest.mark.parametrize("net_name", sorted(NETWORKS))
@pytest.mark.parametrize("labels", [
    lambda k: [f"c{i}" for i in range(k)],
    lambda k: np.array([f"c{i}" for i in range(k)]),
    lambda k: np.arange(k, dtype=np.int64) * 10**17,
    lambda k: [10**20 + i for i in range(k)],  # beyond int64, kept exactly
    lambda k: [0.5 + i for i in range(k)],
    lambda k: tuple(range(k)),
])
def test_assignment_keeps_plain_labels_and_they_round_trip(tmp_path, net_name, labels):
    build, k = NETWORKS[net_name]
    net = build()
    value = labels(k)
    net.classes = value
    expected = np.asarray(value).tolist() if isinstance(value, np.ndarray) else list(value)
    assert net.classes == expected
    assert all(not isinstance(c, np.generic) for c in net.classes)
    net.save(tmp_path / "m.npz")
    assert load(tmp_path / "m.npz").classes == expected
    net.classes = None
    assert net.classes is None


def _with_classes(src, dst, classes):
    """A copy of the saved model ``src`` whose header carries ``classes``."""
    with np.load(src, allow_pickle=False) as npz:
        members = {key: npz[key] for key in npz.files}
    header = json.loads(str(members["__glassnet__"]))
    header["classes"] = classes
    members["__glassnet__"] = np.array(json.dumps(header))
    np.savez(dst, **members)
    return dst


@pytest.mark.parametrize("net_name", sorted(NETWORKS))
@pytest.mark.parametrize("case", ["one too few", "one too many", "1 and 1.0", "True and 1"])
def test_load_refuses_the_same_way(tmp_path, net_name, case):
    build, k = NETWORKS[net_name]
    net = build()
    net.classes = [f"c{i}" for i in range(k)]
    net.save(tmp_path / "good.npz")
    make, message = BAD[case]
    value = make(k)
    bad = _with_classes(tmp_path / "good.npz", tmp_path / "bad.npz", value)
    with pytest.raises(ValueError, match=r"bad\.npz.*classes " + message.format(n=len(value))):
        load(bad)
    assert load(_with_classes(tmp_path / "good.npz", tmp_path / "ok.npz",
                              [f"d{i}" for i in range(k)])).classes == [f"d{i}" for i in range(k)]


def test_astype_and_copy_keep_the_classes():
    net = SOFTMAX3()
    net.classes = ["x", "y", "z"]
    assert net.astype("float64").classes == ["x", "y", "z"]
    assert net.copy().classes == ["x", "y", "z"]


@pytest.mark.parametrize("labels", [[-1, 9223372036854775809], [0, 2 ** 64 - 1],
                                    [3, 10 ** 30, 7]])
def test_labels_beyond_int64_travel_exactly_through_train_save_predict_evaluate(
        tmp_path, capsys, labels):
    from glassnet.cli import main

    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{rng.random() + i % len(labels)},{rng.random()},"
                            f"{labels[i % len(labels)]}" for i in range(60)]
    data = tmp_path / "big.csv"
    data.write_text("\n".join(rows) + "\n")
    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    assert main(["train", "--data", str(data), "--epochs", "2", "--quiet",
                 "--out", str(model)]) == 0
    assert load(model).classes == sorted(labels)
    assert main(["predict", str(model), "--input", str(data), "--output", str(out)]) == 0
    assert set(out.read_text().split()) <= {str(v) for v in labels}
    capsys.readouterr()
    assert main(["evaluate", str(model)]) == 0
    shown = capsys.readouterr().out
    assert all(str(v) in shown for v in labels)
