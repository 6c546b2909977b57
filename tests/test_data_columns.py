"""Feature columns by name: ``predict`` on the very CSV a model was trained from.

``train`` records the names of the training CSV's feature columns (``cli.data.record_columns``,
in ``info["training"]["columns"]``); ``predict`` reads a CSV by them
(``cli.data.model_inputs`` -> ``read_csv(..., columns=...)``): the features in the model's
order, any other column (the target) skipped unread, a missing one refused naming it.
"""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import load
from glassnet.cli import main
from glassnet.cli.data import model_columns, model_inputs, record_columns
from glassnet.data import load_data, read_csv


def train_csv(path, labels=("cat", "dog", "emu"), n=60, header=True):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    y = [labels[i % len(labels)] for i in range(n)]
    head = ["a,b,label"] if header else []
    path.write_text("\n".join(head + [f"{a!r},{b!r},{t}" for (a, b), t in zip(X.tolist(), y)])
                    + "\n")
    return path, X


# ---------------------------------------------------------------- read_csv(columns=...)
@pytest.mark.parametrize("header", ["a,b,label", "label,a,b", "b,label,a", "a,b", "x,b,y,a,z"])
def test_columns_are_picked_by_name_in_the_models_order(tmp_path, header):
    names = header.split(",")
    rows = [[f"{10 * i + j}" if n not in ("label", "y") else "cat" for j, n in enumerate(names)]
            for i in range(4)]
    path = tmp_path / "in.csv"
    path.write_text("\n".join([header] + [",".join(r) for r in rows]) + "\n")
    X, y, feature_names = read_csv(path, target=None, columns=["a", "b"])
    assert y is None and feature_names == ["a", "b"]
    expected = np.array([[float(r[j]) for j in (names.index("a"), names.index("b"))]
                         for r in rows])
    np.testing.assert_array_equal(X, expected)


@pytest.mark.parametrize("header, missing", [("a,label", "'b'"), ("x,y,label", "'a', 'b'"),
                                             ("A,B", "'a', 'b'")])
def test_a_missing_column_is_refused_naming_it(tmp_path, header, missing):
    path = tmp_path / "in.csv"
    path.write_text(header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(ValueError, match=rf"in\.csv: no column named {missing}; reading by name "
                                         r"needs the feature columns 'a', 'b', and the header "
                                         rf"has {', '.join(map(repr, header.split(',')))}\."):
        read_csv(path, target=None, columns=["a", "b"])


def test_without_a_header_the_columns_must_be_exactly_the_features(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("1,2\n3,4\n")
    X, _, _ = read_csv(path, target=None, columns=["a", "b"])
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    path.write_text("1,2,5\n3,4,6\n")
    with pytest.raises(ValueError, match=r"no header row, so its 3 columns cannot be matched by "
                                         r"name to the 2 feature columns needed \('a', 'b'\)"):
        read_csv(path, target=None, columns=["a", "b"])


def test_columns_refusals(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,a,b\n1,2,3\n")
    with pytest.raises(ValueError, match=r"line 1: the header names 'a' in columns 0, 1; give every "
                                         r"column a name of its own"):
        read_csv(path, target=None, columns=["a", "b"])
    path.write_text("a,c,b\n1,2,3\n")
    with pytest.raises(ValueError, match=r"pass target=None with it"):
        read_csv(path, columns=["a", "b"])
    with pytest.raises(TypeError, match=r"columns must be a list of column names"):
        read_csv(path, target=None, columns="ab")


def test_skipped_columns_are_not_read(tmp_path):
    """A text target (or any text) in a skipped column is no error; in a feature it is."""
    path = tmp_path / "in.csv"
    path.write_text("a,note,b\n1,hello,2\n3,,4\n")
    X, _, _ = read_csv(path, target=None, columns=["b", "a"])
    np.testing.assert_array_equal(X, [[2, 1], [4, 3]])
    with pytest.raises(ValueError, match=r"line 2, column 1 \('note'\): non-numeric value"):
        read_csv(path, target=None, columns=["note"])


# ---------------------------------------------------------------- what train records
def test_load_data_names_the_columns_of_a_csv_with_a_header(tmp_path):
    path, _ = train_csv(tmp_path / "t.csv")
    assert load_data(f"csv:{path}").columns == ["a", "b"]
    assert load_data(f"csv:{path}:label").columns == ["a", "b"]
    bare, _ = train_csv(tmp_path / "n.csv", labels=(0, 1), header=False)
    assert load_data(f"csv:{bare}").columns is None  # made-up names col0, col1 are not names
    assert load_data("iris").columns is None


def test_model_inputs_for_a_model_glassnet_train_wrote(tmp_path, capsys):
    path, X = train_csv(tmp_path / "t.csv")
    model = tmp_path / "m.npz"
    assert main(["train", "--data", f"csv:{path}", "--epochs", "2", "--quiet",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    net = load(model)
    record_columns(net, load_data(f"csv:{path}"))  # what train records (cli/train.py)
    net.save(model)
    net = load(model)
    assert model_columns(net) == ["a", "b"]
    np.testing.assert_array_equal(model_inputs(net, str(path)), X)  # the target skipped
    swapped = "".join(f"{b!r},{a!r}\n" for a, b in X.tolist())
    (tmp_path / "swapped.csv").write_text("b,a\n" + swapped)
    np.testing.assert_array_equal(model_inputs(net, str(tmp_path / "swapped.csv")), X)
    (tmp_path / "short.csv").write_text("a,label\n1,cat\n")
    with pytest.raises(ValueError, match=r"short\.csv: no column named 'b'"):
        model_inputs(net, str(tmp_path / "short.csv"))


def test_cli_predict_on_the_training_csv(tmp_path, capsys):
    path, X = train_csv(tmp_path / "t.csv")
    model = tmp_path / "m.npz"
    assert main(["train", "--data", str(path), "--epochs", "2", "--quiet",
                 "--out", str(model)]) == 0
    assert main(["predict", str(model), "--input", str(path),
                 "--output", str(tmp_path / "p.csv")]) == 0
    predicted = (tmp_path / "p.csv").read_text().split()
    assert len(predicted) == len(X) and set(predicted) <= {"cat", "dog", "emu"}
    capsys.readouterr()
    (tmp_path / "short.csv").write_text("a,label\n1,cat\n")
    assert main(["predict", str(model), "--input", str(tmp_path / "short.csv"),
                 "--output", str(tmp_path / "q.csv")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no column named 'b'" in err[0]
