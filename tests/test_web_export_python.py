"""GET /api/sessions/{id}/export.py: the trained network as Python code that rebuilds it.

The code comes from the route (the real producer) and runs in a fresh Python process; the
network it builds must give the playground's outputs bit for bit.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glassnet.web.app import create_app
from glassnet.web.pycode import python_source
from glassnet.web.settings import FEATURE_CODE, FEATURES, feature_matrix
from web_client import csv_body, page_client

ROOT = Path(__file__).resolve().parents[1]

RUN = """
import json, runpy, sys
import numpy as np
ns = runpy.run_path(sys.argv[1])
net, points = ns["net"], np.load(sys.argv[2])
np.save(sys.argv[3], net.predict_output(ns["features"](points)))
print(json.dumps({"features": ns["FEATURES"], "classes": net.classes,
                  "predict": net.predict(ns["features"](points)).tolist(), "sizes": net.sizes,
                  "types": [layer.config()["type"] for layer in net.layers]}))
"""


@pytest.fixture
def client():
    with page_client(create_app()) as c:
        yield c


def run_export(client, tmp_path, settings, upload=None, steps=3):
    sid = client.post("/api/sessions", json={"n_samples": 80, **settings}).json()["session"]
    if upload is not None:
        assert client.post(f"/api/sessions/{sid}/data", json=csv_body(upload)).status_code == 200
    for _ in range(steps):
        client.post(f"/api/sessions/{sid}/step")
    response = client.get(f"/api/sessions/{sid}/export.py")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/x-python")
    dataset = client.get(f"/api/sessions/{sid}").json()["settings"]["dataset"]
    assert (f'filename="glassnet_playground_{dataset}.py"'
            in response.headers["content-disposition"])
    session = client.app.state.store.live[sid].session
    code, points = tmp_path / "exported.py", np.concatenate([session.points_test,
                                                             session.points_train[:7]])
    code.write_text(response.text)
    np.save(tmp_path / "points.npy", points)
    done = subprocess.run([sys.executable, "-c", RUN, str(code), str(tmp_path / "points.npy"),
                           str(tmp_path / "out.npy")], capture_output=True, text=True,
                          check=False,
                          cwd=tmp_path, env={"PYTHONPATH": str(ROOT / "src")}, timeout=120)
    assert done.returncode == 0, done.stderr
    return session, points, np.load(tmp_path / "out.npy"), json.loads(done.stdout), response.text


def same_bits(a, b):
    return a.dtype == b.dtype == np.float64 and a.shape == b.shape and np.array_equal(
        a.view(np.uint64), b.view(np.uint64))


@pytest.mark.parametrize("settings", [
    {},
    {"residual": True, "layers": [{"units": 4, "activation": "relu", "dropout": 0.2}] * 3},
    {"dataset": "spiral3", "features": list(FEATURES), "layers": [
        {"units": 6, "activation": "leaky_relu", "dropout": 0.5},
        {"units": 6, "activation": "elu"}], "residual": True},
    {"problem": "regression", "dataset": "plane", "regularization": "l2",
     "regularization_rate": 0.01, "layers": [{"units": 3, "activation": "sigmoid"}]},
    {"layers": [], "features": ["x1^2", "x2^2", "x1*x2"]},
], ids=["default", "residual-dropout", "3-classes-all-features", "regression-l2", "no-hidden"])
def test_the_exported_code_rebuilds_the_network_bit_for_bit(client, tmp_path, settings):
    session, points, out, info, code = run_export(client, tmp_path, settings)
    features = session.settings.features
    expected = session.net.predict_output(feature_matrix(points, features))
    assert same_bits(out, expected)
    assert info["features"] == list(features) and info["sizes"] == session.net.sizes
    assert info["types"] == [layer.config()["type"] for layer in session.net.layers]
    assert info["predict"] == session.net.predict(feature_matrix(points, features)).tolist()
    assert "import pickle" not in code and "eval(" not in code and "exec(" not in code


def test_uploaded_class_labels_come_back_from_predict(client, tmp_path):
    rng = np.random.default_rng(0)
    points = rng.uniform(-3, 3, (60, 2))
    labels = np.array([3, 7, 9])[(points[:, 0] > 0).astype(int) + (points[:, 1] > 1)]
    text = "x1,x2,label\n" + "".join(f"{a:.4f},{b:.4f},{c}\n" for (a, b), c in zip(points, labels))
    session, points, out, info, _ = run_export(
        client, tmp_path, {"layers": [{"units": 5, "activation": "tanh"}]}, upload=text)
    assert session.net.n_out == 3 and info["classes"] == [3, 7, 9]
    assert set(info["predict"]) <= {3, 7, 9}
    assert same_bits(out, session.net.predict_output(feature_matrix(points, ("x1", "x2"))))


def test_the_code_reads_well():
    """The layers as glassnet constructors, one a line, and every float as its repr."""
    from glassnet.web.build import build_network
    from glassnet.web.settings import parse_settings

    net = build_network(parse_settings({"residual": True, "layers": [
        {"units": 2, "activation": "tanh", "dropout": 0.25},
        {"units": 2, "activation": "leaky_relu"}]}))
    net.params()["0.W"][...] = [[0.1, -0.0], [1 / 3, 2.5e-300]]
    code = python_source(net, comments=["hello"], features={"x1": "x1", "x2": "x2"})
    assert code.startswith("# hello\n")
    assert ("net = Network([\n    Dense(2, 2, activation='tanh'),\n    Dropout(0.25),\n"
            "    Residual(Dense(2, 2, activation={'name': 'leaky_relu', 'slope': 0.01})),\n"
            "    Dense(2, 1, activation='sigmoid'),\n], loss='binary_cross_entropy', "
            "dtype='float64')") in code
    assert "params['0.W'][...] = [\n    [0.1, -0.0],\n    [0.3333333333333333, 2.5e-300],\n]" in code
    namespace = {}
    exec(compile(code, "exported.py", "exec"), namespace)  # noqa: S102 -- our own output
    rebuilt = namespace["net"]
    for key, value in net.params().items():
        assert same_bits(rebuilt.params()[key], value), key
    assert np.signbit(rebuilt.params()["0.W"][0, 1])  # -0.0 stays -0.0


def test_the_feature_code_computes_the_same_bits_as_the_server():
    points = np.random.default_rng(3).uniform(-1e6, 1e6, (200, 2))
    x1, x2 = points[:, 0], points[:, 1]
    for name, code in FEATURE_CODE.items():
        value = eval(code, {"np": np, "x1": x1, "x2": x2})
        assert same_bits(value, feature_matrix(points, (name,))[:, 0]), name
    assert set(FEATURE_CODE) == set(FEATURES)


@pytest.mark.parametrize("bad", ["two\nlines", "carriage\rreturn"])
def test_a_comment_cannot_break_out_of_its_line(bad):
    from glassnet import mlp

    with pytest.raises(ValueError, match="one line"):
        python_source(mlp([2, 1], dtype="float64"), comments=[bad])


def test_a_network_that_is_not_finite_has_no_exact_code():
    from glassnet import mlp

    net = mlp([2, 1], dtype="float64")
    net.params()["0.b"][...] = np.inf
    with pytest.raises(ValueError, match="'0.b' is not finite"):
        python_source(net)
