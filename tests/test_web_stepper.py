"""The step-through mode's server side: /explain answers glassnet.explain's own steps, and
web/stepper.py places each step on the diagram (which neurons, links and skip it touches)."""

import json

import numpy as np
import pytest

import glassnet
from glassnet.web.app import create_app
from glassnet.web.session import Session
from glassnet.web.settings import parse_settings
from glassnet.web.stepper import diagram, place
from web_client import page_client

NETWORKS = {
    "2-4-2-1 tanh": {},
    "residual": {"residual": True, "layers": [{"units": 3, "activation": "relu"}] * 3},
    "3 classes, dropout": {"dataset": "spiral3", "layers": [
        {"units": 5, "activation": "tanh", "dropout": 0.3},
        {"units": 5, "activation": "sigmoid", "dropout": 0.1}], "residual": True},
    "wide": {"layers": [{"units": 40, "activation": "relu"}] * 2, "residual": True},
    "no hidden layer": {"layers": [], "features": ["x1", "x2", "x1^2"]},
    "regression": {"problem": "regression", "dataset": "multi_gauss",
                   "layers": [{"units": 4, "activation": "elu"}]},
}


def session_for(settings):
    session = Session(parse_settings({"n_samples": 60, **settings}), now=0.0)
    session.step()
    return session


def columns_of(session):
    """The diagram's column widths: the active features, each drawn layer, the outputs."""
    return session.net.sizes


@pytest.mark.parametrize("name", NETWORKS)
def test_every_step_has_a_place_and_its_result_is_in_its_values(name):
    session = session_for(NETWORKS[name])
    out = session.explain(3)
    steps, places = out["explanation"]["steps"], out["diagram"]
    assert len(steps) == len(places) > 0
    sizes = columns_of(session)
    L = len(sizes) - 1
    for step, where in zip(steps, places):
        result = where["result"]
        assert result["key"] in step["values"], step["rule"]
        assert 0 <= result["column"] <= L
        value = step["values"][result["key"]]
        if result["on"] == "neurons":  # a vector as long as the column it is drawn on
            assert value["shape"] == [sizes[result["column"]]], step["rule"]
        elif result["on"] == "links":  # W^l: (units of column l, units of column l - 1)
            c = result["column"]
            assert value["shape"] == [sizes[c], sizes[c - 1]], step["rule"]
        else:
            assert result == {"key": "C", "on": "scalar", "column": L}
        assert all(0 <= c <= L for c in where["neurons"] + where["links"])


def test_the_places_follow_the_equations():
    session = session_for(NETWORKS["residual"])
    e = glassnet.explain(session.net, *session.point(0)[:2])
    by_rule = {s.rule: p for s, p in zip(e.steps(), diagram(e))}
    assert by_rule["z^2 = W^2 a^1 + b^2"] == {
        "neurons": [1, 2], "links": [2], "skip": None,
        "result": {"key": "z^2", "on": "neurons", "column": 2}}
    assert by_rule["a^2 = a^1 + F^2"]["skip"] == 2  # the identity skip of block 2
    assert by_rule["a^2 = a^1 + F^2"]["neurons"] == [1, 2]
    skip = by_rule["dC/da^1 = dC/da^2 + (W^2)^T delta^2"]
    assert skip["skip"] == 2 and skip["links"] == [2]
    assert skip["result"] == {"key": "dC/da^1", "on": "neurons", "column": 1}
    delta = by_rule["delta^3 = ((W^4)^T delta^4) ⊙ relu'(z^3)"]
    assert delta == {"neurons": [3, 4], "links": [4], "skip": None,
                     "result": {"key": "delta^3", "on": "neurons", "column": 3}}
    assert by_rule["dC/dW^1 = delta^1 (a^0)^T"]["result"] == {
        "key": "dC/dW^1", "on": "links", "column": 1}
    assert by_rule["dC/dx = (W^1)^T delta^1"]["result"]["column"] == 0
    assert by_rule["W^4 <- W^4 - eta dC/dW^4"]["result"] == {
        "key": "W^4 (new)", "on": "links", "column": 4}
    skips = [p["skip"] for p in diagram(e) if p["skip"] is not None]
    assert sorted(set(skips)) == [2, 3]  # the blocks; layer 1 is a plain Dense layer


@pytest.mark.parametrize("symbol, expected", [
    ("x", ("neurons", 0)), ("dC/dx", ("neurons", 0)), ("a^0", ("neurons", 0)),
    ("y", ("neurons", 5)), ("C", ("scalar", 5)), ("W^3", ("links", 3)),
    ("dC/dW^3", ("links", 3)), ("dC/db^2", ("neurons", 2)), ("delta_s^4", ("neurons", 4)),
    ("F^3", ("neurons", 3)), ("z^2.1", ("neurons", 2)), ("dC/da^1", ("neurons", 1)),
    ("σ'(z^2)", None), ("((W^3)^T delta^3)", None), ("finite difference", None),
    ("q^1", None), ("W^", None),
])
def test_symbols_are_placed_on_their_columns(symbol, expected):
    assert place(symbol, 5) == expected


@pytest.fixture
def client():
    with page_client(create_app()) as c:
        yield c


@pytest.mark.parametrize("name", ["3 classes, dropout", "residual"])
def test_the_route_answers_the_engines_explanation_unchanged(client, name):
    sid = client.post("/api/sessions", json={"n_samples": 60, **NETWORKS[name]}).json()["session"]
    client.post(f"/api/sessions/{sid}/step")
    client.put(f"/api/sessions/{sid}/settings", json={"learning_rate": 0.1})
    session = client.app.state.store.live[sid].session
    index = len(session.X_train) + 2  # a test point
    answer = client.post(f"/api/sessions/{sid}/explain", json={"index": index}).json()
    x, y, part = session.point(index)
    e = glassnet.explain(session.net, x, y, learning_rate=0.1)
    assert answer["part"] == part == "test"
    assert answer["explanation"] == json.loads(json.dumps(e.to_dict()))
    assert answer["text"] == e.text() and answer["diagram"] == diagram(e)
    z1 = next(s for s in answer["explanation"]["steps"] if s["rule"].startswith("z^1 ="))
    session.net.forward(x[None])  # the engine's own forward pass of the point
    np.testing.assert_array_equal(z1["values"]["z^1"]["values"], session.net.layers[0].z[0])


def test_explain_runs_in_inference_mode_whatever_the_dropout():
    """Dropout is the identity in explain: two explanations of the same point agree exactly,
    and a^1 reaches layer 2 undropped."""
    session = session_for({"layers": [{"units": 4, "activation": "tanh", "dropout": 0.5},
                                      {"units": 3, "activation": "tanh", "dropout": 0.5}]})
    first, second = session.explain(0), session.explain(0)
    assert first["explanation"] == second["explanation"]
    steps = {s["rule"]: s for s in first["explanation"]["steps"]}
    a1 = steps["a^1 = tanh(z^1)"]["values"]["a^1"]["values"]
    assert steps["z^2 = W^2 a^1 + b^2"]["values"]["a^1"]["values"] == a1
    assert any("Dropout" in note for note in first["explanation"]["notes"])
