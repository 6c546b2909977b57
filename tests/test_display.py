"""Rich displays for notebooks (display.py) and the ipywidgets stepper (widgets.py)."""

import re
import sys

import numpy as np
import pytest

import glassnet
from glassnet import Dense, Network, Residual, explain, gradcheck, mlp
from glassnet.data import MinMaxScaler, StandardScaler


def test_network_table_in_html_and_markdown():
    net = mlp([4, 8, 8, 3], "tanh", output="softmax", residual=True, dropout=0.2, l2=1e-3)
    net.scaler = StandardScaler().fit(np.random.default_rng(0).normal(size=(10, 4)))
    md = net._repr_markdown_()
    assert md.startswith(f"**Network 4-8-8-3: {net.n_params} parameters, loss cross_entropy, "
                         "float32, l2=0.001, inputs scaled by StandardScaler**")
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(net.layers) + 1  # the residual block's inner layer indented
    assert "| 2 | Residual | 8 -> 8 (+ identity skip) |  | 72 |" in md
    assert "| 2.0 | Dense | 8 -> 8 | tanh | 72 |" in md
    assert "| 1 | Dropout | 8 -> 8 (p=0.2) |  | 0 |" in md
    html = net._repr_html_()
    assert html.count("<tr>") == len(rows) + 1 and "<caption>Network 4-8-8-3" in html
    assert "8 -&gt; 8 (+ identity skip)" in html


def test_explanation_markdown_and_latex():
    e = explain()
    assert e._repr_markdown_() == e.markdown()
    latex = e._repr_latex_()
    assert latex.startswith("$$\\begin{gathered}") and latex.endswith("\\end{gathered}$$")
    for step in e.steps():
        assert step.latex in latex
    assert r"\delta^{2} = (a^{2} - y) \odot \sigma'(z^{2}) = " in latex


def test_gradcheck_report_marks_failed_rows():
    class WrongTanh:
        name = "tanh"

        def forward(self, z):
            return np.tanh(z)

        def derivative(self, z, a):
            return 1 - z * z  # wrong on purpose: the a-form written with z

        def backward(self, z, a, grad_a):
            return grad_a * self.derivative(z, a)

        def jvp(self, z, a, dz):
            return self.derivative(z, a) * dz

    net = Network([Dense(2, 3, WrongTanh(), seed=0), Dense(3, 1, seed=1)], dtype="float64")
    X = np.random.default_rng(0).normal(size=(4, 2))
    report = gradcheck(net, X, np.zeros(4))
    assert not report.passed
    html = report._repr_html_()
    assert "<caption>gradcheck FAILED" in html
    assert html.count('style="color:#b00020;font-weight:bold"') == sum(not r.passed for r in report.rows)
    md = report._repr_markdown_()
    assert md.startswith("**gradcheck FAILED") and "| 0 | W | 3x2 |" in md and "| NO |" in md
    good = gradcheck(mlp([2, 2, 1], "tanh", seed=0), X, np.zeros(4))
    assert "color:#b00020" not in good._repr_html_()


def test_history_plot_or_table(monkeypatch):
    net = mlp([2, 4, 1], "tanh", seed=0)
    X = np.random.default_rng(0).normal(size=(32, 2))
    history = net.fit(X, X[:, :1] * 0.5, epochs=4, validation_data=(X[:8], X[:8, :1] * 0.5))
    png = history._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    html = history._repr_html_()
    assert html.startswith('<figure><img alt="loss over the epochs" src="data:image/png;base64,')
    last = history["loss"][-1]
    assert f"loss {last:.4g}" in html and "History: 4 epochs" in html
    md = history._repr_markdown_()
    assert md.splitlines()[0].startswith("| epoch | loss | val_loss |")
    assert len(md.splitlines()) == 2 + 4
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # matplotlib missing
    assert history._repr_png_() is None
    table = history._repr_html_()
    assert table.startswith("<table><caption>History: 4 epochs") and table.count("<tr>") == 5


def test_scalers_are_one_line():
    X = np.array([[0.0, 10.0], [2.0, 30.0], [4.0, 20.0]])
    assert repr(StandardScaler()) == "StandardScaler(not fitted)"
    s = repr(StandardScaler().fit(X))
    assert s == "StandardScaler(2 features; mean in [2, 20], scale in [1.633, 8.165])"
    m = repr(MinMaxScaler((-1, 1)).fit(X))
    assert m == ("MinMaxScaler(feature_range=(-1.0, 1.0), 2 features; data_min in [0, 10], "
                 "data_max in [4, 30])")
    assert "\n" not in s + m and "object at" not in s


# ---------------------------------------------------------------------- the stepper widget
def test_stepper_steps_through_the_explanation():
    pytest.importorskip("ipywidgets")
    from glassnet.widgets import stepper

    e = explain()
    s = stepper(e)
    n = len(e.steps())
    assert "Step 1 of 16" in s.text and "forward pass, layer 1" in s.text
    assert r"$$z^{1} = W^{1} a^{0} + b^{1} = " in s.text and s.previous_button.disabled
    s.next_button.click()
    assert s.index == 1 and "Step 2 of 16" in s.text and "a^1 = σ(z^1) = [0.59327" in s.text
    s.slider.value = 6  # the slider is 1-based: step 6 is delta^2
    assert s.index == 5 and "backward pass, layer 2" in s.text
    assert "delta^2 = (a^2 - y) ⊙ σ'(z^2)" in s.text
    for _ in range(n + 3):
        s.next()
    assert s.index == n - 1 and s.next_button.disabled and s.slider.value == n
    assert "gradient descent, layer 2" in s.text
    s.previous_button.click()
    assert s.index == n - 2 and not s.next_button.disabled


def test_stepper_over_a_residual_network_shows_the_skip():
    pytest.importorskip("ipywidgets")
    from glassnet.widgets import stepper

    net = Network([Dense(2, 3, "tanh", seed=0), Residual(Dense(3, 3, "sigmoid", seed=1)),
                   Dense(3, 1, seed=2)], dtype="float64")
    s = stepper(net.explain([0.2, -0.4], [0.5]))
    skip = next(i for i, st in enumerate(s.steps) if st.quantity == "skip")
    s.go(skip)
    assert "Identity skip of block 2" in s.text
    assert re.search(r"dC/da\^1 = dC/da\^2 \+ \(W\^2\)\^T delta\^2", s.text)


def test_stepper_without_ipywidgets(monkeypatch):
    from glassnet.widgets import stepper

    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match=r"the stepper needs ipywidgets: pip install "
                                          r"'glassnet\[notebook\]'"):
        stepper(explain())
    assert glassnet.explain is explain


def test_a_users_own_layer_without_config_still_displays():
    class Scale(glassnet.Layer):
        n_in = n_out = 2

        def forward(self, a_prev):
            return 2 * a_prev

        def astype(self, dtype):
            return self

    net = Network([Dense(2, 2, "tanh"), Scale()])
    assert "| 1 | Scale | 2 -> 2 |  | 0 |" in net._repr_markdown_()
