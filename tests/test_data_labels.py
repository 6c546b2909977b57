"""Class labels read exactly: text labels and integers of any size, from the CSV to predict.

A target column of text is class labels (``cat``, ``dog``, ``emu``); a target column of integers
is read as integers, never through float (``100000000000000001`` stays itself, beyond int64 as
a Python int); the labels travel in the model (``net.classes``) and ``predict`` and ``evaluate``
answer in them. Text in a feature column stays an error naming the line and the column.
"""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import load
from glassnet.cli import main
from glassnet.data import infer_task, load_data, read_csv
from glassnet.data.labels import NotQuantities

TEXT = ["cat", "dog", "emu"]
LABEL_SETS = {
    "text": TEXT,
    "beyond 2**53": [100000000000000001, 100000000000000003],
    "beyond int64": [10**20, 10**20 + 1, -(10**20)],
    "int64 ends": [-(2**63), 2**63 - 1],
    "small": [3, 7, 50000000],
}


def rows(labels, n=90, seed=0):
    """``(X, y)``: 2 features that separate the classes, labels cycling through ``labels``."""
    rng = np.random.default_rng(seed)
    y = [labels[i % len(labels)] for i in range(n)]
    X = rng.normal(size=(n, 2)) * 0.1 + np.array([[i % len(labels), 0.0] for i in range(n)])
    return X, y


def write(path, X, y, header=True, target_name="label"):
    head = [f"a,b,{target_name}"] if header else []
    path.write_text("\n".join(head + [f"{a!r},{b!r},{t}" for (a, b), t in zip(X.tolist(), y)])
                    + "\n")
    return path


def write_inputs(path, X):
    path.write_text("a,b\n" + "".join(f"{a!r},{b!r}\n" for a, b in X.tolist()))
    return path


# ---------------------------------------------------------------- the reader
@pytest.mark.parametrize("header", [True, False])
def test_text_target_is_read_as_labels(tmp_path, header):
    X, y = rows(TEXT)
    X_read, y_read, names = read_csv(write(tmp_path / "s.csv", X, y, header=header))
    assert y_read.dtype.kind == "U" and y_read.tolist() == y
    assert X_read.shape == (90, 2)  # no data row taken as a header
    assert names == (["a", "b"] if header else ["col0", "col1"])
    assert infer_task(y_read) == "classification"


@pytest.mark.parametrize("name", sorted(set(LABEL_SETS) - {"text"}))
def test_integer_targets_are_read_exactly(tmp_path, name):
    labels = LABEL_SETS[name]
    X, y = rows(labels)
    _, y_read, _ = read_csv(write(tmp_path / "i.csv", X, y))
    assert y_read.tolist() == y and all(type(v) is int for v in y_read.tolist())
    assert y_read.dtype == (object if name == "beyond int64" else np.int64)
    assert infer_task(y_read) == "classification"


def test_whole_floats_and_quantities_as_before(tmp_path):
    X, _ = rows(TEXT)
    _, y, _ = read_csv(write(tmp_path / "w.csv", X, ["1.0", "2.0", "3.0"] * 30))
    assert y.dtype == np.int64 and y.tolist()[:3] == [1, 2, 3]
    _, y, _ = read_csv(write(tmp_path / "q.csv", X, ["0.5", "2", "1e3"] * 30))
    assert y.dtype == np.float64 and infer_task(y) == "regression"


@pytest.mark.parametrize("column", [0, 1])
def test_text_in_a_feature_column_is_still_an_error(tmp_path, column):
    X, y = rows([0, 1])
    path = write(tmp_path / "f.csv", X, y)
    lines = path.read_text().splitlines()
    fields = lines[5].split(",")
    fields[column] = "dog"
    lines[5] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    name = "ab"[column]
    with pytest.raises(ValueError, match=rf"f\.csv, line 6, column {column} \('{name}'\): "
                                         r"non-numeric value 'dog'; expected a number\. Encode "
                                         r"categories as numbers first\."):
        read_csv(path)
    with pytest.raises(ValueError, match=rf"line 6, column {column} \('{name}'\): non-numeric"):
        read_csv(path, target=0 if column == 1 else 1)  # as a feature, whichever is the target


@pytest.mark.parametrize("first, then, message", [
    ("cat", "7", r"the number '7' in a target column of text class labels \(such as 'cat' on "
                 r"line 2\)"),
    ("3", "x", r"non-numeric value 'x' in a target column of numbers \(such as '3' on line 2\)"),
])
def test_a_target_column_holds_text_or_numbers_not_both(tmp_path, first, then, message):
    path = tmp_path / "m.csv"
    path.write_text(f"a,label\n1,{first}\n2,{first}\n3,{then}\n")
    with pytest.raises(ValueError, match=rf"m\.csv, line 4, column 1 \('label'\): {message}"):
        read_csv(path)


# ---------------------------------------------------------------- load_data and the task
def test_load_data_text_labels_task(tmp_path):
    X, y = rows(TEXT)
    path = write(tmp_path / "s.csv", X, y)
    for task in ("auto", "classification"):
        data = load_data(f"csv:{path}", task=task)
        assert data.task == "classification" and data.classes.tolist() == TEXT
        assert data.classes[data.y].tolist() == y
    with pytest.raises(NotQuantities, match=r"task='regression': the target holds text, such as "
                                            r"'cat', 'dog', 'emu', which are class labels"):
        load_data(f"csv:{path}", task="regression")


def test_big_integer_labels_with_few_values_are_classes(tmp_path):
    """The one rule of --task auto: whole numbers are class labels unless they look like IDs
    (most values once) or a quantity; their size does not matter."""
    X, y = rows(LABEL_SETS["beyond 2**53"])
    data = load_data(f"csv:{write(tmp_path / 'b.csv', X, y)}")
    assert data.task == "classification"
    assert data.classes.tolist() == [100000000000000001, 100000000000000003]
    ids = [10**20 + i for i in range(90)]
    with pytest.raises(ValueError, match=r"look like IDs or a measured quantity"):
        load_data(f"csv:{write(tmp_path / 'ids.csv', X, ids)}")


# ---------------------------------------------------------------- through the command line
def train(tmp_path, data, *extra):
    model = tmp_path / "m.npz"
    code = main(["train", "--data", data, "--epochs", "30", "--quiet", "--out", str(model),
                 *extra])
    return code, model


@pytest.mark.parametrize("name", sorted(LABEL_SETS))
def test_cli_predict_and_evaluate_answer_in_the_labels(tmp_path, name, capsys):
    labels = LABEL_SETS[name]
    X, y = rows(labels)
    code, model = train(tmp_path, f"csv:{write(tmp_path / 'd.csv', X, y)}")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "class labels" in out and "gradcheck" in out and "PASSED" in out
    net = load(model)
    assert net.classes == sorted(labels)  # exactly, as they were written
    assert {type(c) for c in net.classes} == {type(labels[0])}
    assert main(["predict", str(model), "--input", str(write_inputs(tmp_path / "in.csv", X)),
                 "--output", str(tmp_path / "p.csv")]) == 0
    predicted = (tmp_path / "p.csv").read_text().split()
    assert set(predicted) <= {str(v) for v in labels}
    assert np.mean([p == str(t) for p, t in zip(predicted, y)]) > 0.9
    capsys.readouterr()
    assert main(["evaluate", str(model)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out
    matrix = out.split("confusion matrix")[1].splitlines()
    assert matrix[1].split() == [str(v) for v in net.classes]


def test_cli_regression_on_text_labels_refused_in_one_line(tmp_path, capsys):
    X, y = rows(TEXT)
    code, model = train(tmp_path, f"csv:{write(tmp_path / 's.csv', X, y)}", "--task",
                        "regression")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and not model.exists()
    assert err[0].startswith("glassnet: error: csv:") and "--task regression needs numbers" \
        in err[0] and "'cat', 'dog', 'emu'" in err[0]
