"""`glassnet worksheet`: the solution is glassnet's own numbers on the exercise's weights.

The test reads the givens back from exercise.md as a learner would, builds the network with
glassnet on them, and compares every printed answer of solution.md with the engine (forward,
backprop, one SGD step through ``fit``), digit for digit.
"""

import json
import re

import numpy as np
import pytest

import glassnet
from glassnet import Dense, Network
from glassnet.cli import main
from glassnet.notation import fmt

_EQ = re.compile(r"^\$\$(.*?) = \\begin\{bmatrix\}(.*)\\end\{bmatrix\}\$\$$")


def _equations(md):
    """``{lhs: array of the printed strings}`` of every ``$$lhs = \\begin{bmatrix}..$$`` line."""
    out = {}
    for line in md.splitlines():
        m = _EQ.match(line)
        if m:
            rows = [row.split(" & ") for row in m.group(2).split(r" \\ ")]
            key = m.group(1).split(" = ")[0]
            out[key] = np.array(rows if len(rows[0]) > 1 else [r[0] for r in rows])
    return out


def _floats(strings):
    return np.vectorize(float)(strings)


def _write(tmp_path, *flags):
    out = tmp_path / "ws"
    assert main(["worksheet", *flags, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("flags", [
    ["--seed", "3"],
    ["--seed", "11", "--sizes", "3,4,2", "--activation", "tanh"],
    ["--seed", "5", "--sizes", "2,3,3,2", "--lr", "0.1"],
    ["--seed", "2", "--sizes", "4,3,3", "--loss", "cross_entropy", "--activation", "relu"],
    ["--seed", "7", "--sizes", "2,2,2", "--loss", "binary_cross_entropy"],
])
def test_solution_equals_the_engine_on_the_exercises_weights(tmp_path, capsys, flags):
    out = _write(tmp_path, *flags)
    assert "wrote exercise.md, solution.md, worksheet.json, exercise.pdf, solution.pdf, " \
           "network.npz" in capsys.readouterr().out
    exercise, solution = (out / "exercise.md").read_text(), (out / "solution.md").read_text()
    given = _equations(exercise)
    answers = _equations(solution)
    data = json.loads((out / "worksheet.json").read_text())
    L = len(data["sizes"]) - 1
    layers = []
    for l in range(1, L + 1):
        W, b = _floats(given[f"W^{{{l}}}"]), _floats(given[f"b^{{{l}}}"])
        np.testing.assert_array_equal(np.round(W * 10), W * 10)  # readable: multiples of 0.1
        layer = Dense(W.shape[1], W.shape[0], data["activations"][l - 1], dtype="float64")
        layer.W[...], layer.b[...] = W, b
        layers.append(layer)
    net = Network(layers, loss=data["loss"], dtype="float64")
    x, y = _floats(given["x"]), _floats(given["y"])
    if data["loss"] == "cross_entropy":
        y = int(np.argmax(y))
    X, Y = x.reshape(1, -1), (np.array([y]) if np.ndim(y) == 0 else y.reshape(1, -1))
    loss = net.backprop(X, Y)

    def same(printed, value):
        np.testing.assert_array_equal(printed, np.vectorize(lambda v: fmt(v, 4))(value))

    for l, layer in enumerate(net.layers, start=1):
        z_key = next(k for k in answers if k.startswith(f"z^{{{l}}}"))
        a_key = next(k for k in answers if k.startswith(f"a^{{{l}}}"))
        same(answers[z_key], layer.z[0])
        same(answers[a_key], layer.a[0])
        same(answers[rf"\delta^{{{l}}}"], layer.delta[0])
        same(answers[rf"\frac{{\partial C}}{{\partial W^{{{l}}}}}"], layer.dW)
        same(answers[rf"\frac{{\partial C}}{{\partial b^{{{l}}}}}"], layer.db)
    c = re.search(r"\|\^\{2\} = ([-0-9.e]+)\$\$|C = -.* = ([-0-9.e]+)\$\$", solution)
    assert c and fmt(loss, 4) == (c.group(1) or c.group(2))
    # one gradient-descent step, by the engine's own optimiser
    lr = data["learning_rate"]
    net.fit(X, Y, epochs=1, batch_size=1, learning_rate=lr, shuffle=False, optimizer="sgd")
    for l, layer in enumerate(net.layers, start=1):
        same(answers[rf"W^{{{l}}} \leftarrow W^{{{l}}} - \eta \frac{{\partial C}}{{\partial W^{{{l}}}}}"],
             layer.W)
        same(answers[rf"b^{{{l}}} \leftarrow b^{{{l}}} - \eta \frac{{\partial C}}{{\partial b^{{{l}}}}}"],
             layer.b)
    after = float(net.loss(X, Y))
    assert f"C after the step = {fmt(after, 4)}" in solution
    np.testing.assert_allclose(data["solution"]["C_after"], after, rtol=1e-12)
    # the exercise asks, the solution answers; what was written can be read back
    assert "## Questions" in exercise and "## Answers" not in exercise
    assert r"\delta" not in exercise and "## Answers" in solution
    saved = glassnet.load(out / "network.npz")
    for l, mine in enumerate(saved.layers, start=1):
        np.testing.assert_array_equal(mine.W, _floats(given[f"W^{{{l}}}"]))
    for name in ("exercise.pdf", "solution.pdf"):
        pdf = (out / name).read_bytes()
        assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 2


def test_different_seeds_give_different_readable_numbers():
    sheets = [glassnet.make_worksheet(seed=s) for s in range(6)]
    weights = {tuple(s.network.layers[0].W.ravel()) for s in sheets}
    assert len(weights) == 6
    for s in sheets:
        for layer in s.network.layers:
            np.testing.assert_allclose(layer.W * 10, np.round(layer.W * 10), atol=1e-12)
            assert np.all(layer.W != 0)
        numbers = re.findall(r"-?\d+\.\d+(?:e-?\d+)?", s.solution_markdown())
        assert max(len(n.lstrip("-").replace("0.", "", 1)) for n in numbers) <= 9


def test_earlier_worksheet_is_never_overwritten_without_force(tmp_path, capsys):
    out = _write(tmp_path, "--seed", "1")
    before = (out / "solution.md").read_text()
    code = main(["worksheet", "--seed", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "exists (an earlier worksheet); pass --force" in err
    assert (out / "solution.md").read_text() == before
    assert main(["worksheet", "--seed", "2", "--out", str(out), "--force"]) == 0
    assert (out / "solution.md").read_text() != before


@pytest.mark.parametrize("flags,message", [
    (["--sizes", "2,30,2"], r"2 to 5 layer sizes of 1 to 6 units .* got 2,30,2"),
    (["--sizes", "2"], r"expected at least an input and an output size"),
    (["--seed", "-1"], r"--seed: must be an integer in 0\.\."),
    (["--lr", "0"], r"must be > 0"),
    (["--activation", "softmax"], r"invalid choice"),
])
def test_bad_worksheet_flags_give_one_line(tmp_path, capsys, flags, message):
    code = main(["worksheet", *flags, "--out", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err) and "Traceback" not in err
    assert not (tmp_path / "w").exists()


def test_api_errors():
    with pytest.raises(ValueError, match=r"The 'seed' parameter of make_worksheet must be an "
                                         r"int >= 0; got 1.5"):
        glassnet.make_worksheet(seed=1.5)
