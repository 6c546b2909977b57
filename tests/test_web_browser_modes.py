"""The playground's teaching modes in a real Chromium: the step-through of the forward and
backward pass, several classes, per-layer activation and dropout, and the Python export.

The numbers the page shows are compared with ``glassnet.explain`` run here on the session's
own network: the page must show the engine's numbers, to the last bit. Screenshots go to
artifacts/ (every test) and /tmp/glassnet-*.png (the ones the docs show).
"""
# ruff: noqa: F811 -- the fixtures imported from web_browser are the tests' parameters

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet
from glassnet.web.settings import feature_matrix
from glassnet.web.stepper import diagram
from web_browser import browser, context, open_page, server, session_of  # noqa: F401

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
OPEN = "Step through the forward and backward pass"

SHOWN = """() => {
  const col = (el) => el.classList.contains('input') ? 0 : Number(el.dataset.layer);
  const cols = (sel) => [...new Set([...document.querySelectorAll(sel)].map(col))].sort((a, b) => a - b);
  const linkCols = (sel) => [...new Set([...document.querySelectorAll(sel)]
    .map((p) => Number(p.dataset.layer) + 1))].sort((a, b) => a - b);
  return {
    pos: document.querySelector('#stepper-pos').textContent,
    rule: document.querySelector('#stepper .step-rule').dataset.rule,
    inNeurons: cols('#neurons canvas.hl-in'), outNeurons: cols('#neurons canvas.hl-out'),
    nOut: document.querySelectorAll('#neurons canvas.hl-out').length,
    inLinks: linkCols('#links path.hl-in:not(.skip-link)'),
    outLinks: linkCols('#links path.hl-out:not(.skip-link)'),
    skips: document.querySelectorAll('#links path.skip-link').length,
    skipLabel: document.querySelectorAll('.layer-ctl .skip.hl-out').length,
    badges: [...document.querySelectorAll('#step-marks .step-value')].map((b) => ({...b.dataset})),
    linkValues: [...document.querySelectorAll('#links path[data-step-value]')].map((p) =>
      [Number(p.dataset.layer) + 1, Number(p.dataset.row), Number(p.dataset.col), p.dataset.stepValue]),
  };
}"""


def open_stepper(page):
    page.get_by_role("button", name=OPEN, exact=True).click()
    page.wait_for_function("window.glassnet.stepper.data !== null")


def engine(server, page, index=0):
    """glassnet.explain of sample ``index`` on the session's network, as the page asked it."""
    session = session_of(server, page)
    x, y, _ = session.point(index)
    e = glassnet.explain(session.net, x, y, learning_rate=session.settings.learning_rate)
    return session, e, diagram(e)


def assert_shows_step(page, session, e, places, i):
    """The page shows step i of ``e``: its rule, its highlights, the engine's numbers."""
    step, place, shown = e.steps()[i], places[i], page.evaluate(SHOWN)
    sizes = session.net.sizes
    assert shown["pos"] == f"step {i + 1} of {len(e.steps())}"
    assert shown["rule"] == step.rule
    assert shown["inNeurons"] == place["neurons"]
    assert shown["inLinks"] == place["links"]
    result = place["result"]
    value = np.asarray(step.values[result["key"]])
    if result["on"] == "neurons":
        c = result["column"]
        assert shown["outNeurons"] == [c] and shown["outLinks"] == []
        assert shown["nOut"] == min(sizes[c], 16)
        badges = sorted(shown["badges"], key=lambda b: int(b["unit"]))
        assert [int(b["unit"]) for b in badges] == list(range(min(sizes[c], 16)))
        for b in badges:  # the number on the diagram is the engine's, to the last bit
            assert float(b["value"]) == value[int(b["unit"])], (step.rule, b)
    elif result["on"] == "links":
        c = result["column"]
        assert shown["outLinks"] == [c]
        drawn = min(sizes[c], 16) * min(sizes[c - 1], 16)
        assert len(shown["linkValues"]) == drawn
        for column, row, k, text in shown["linkValues"]:
            assert column == c and float(text) == value[row, k], (step.rule, row, k)
        for b in shown["badges"]:
            assert float(b["value"]) == value[int(b["row"]), int(b["col"])]
    else:
        assert [float(b["value"]) for b in shown["badges"]] == [float(value)] == [e.loss]
    assert (shown["skips"] > 0) == (place["skip"] is not None)
    return shown


def test_the_step_through_walks_every_step_with_the_keyboard(open_page, server):
    page = open_page("#layers=3:tanh,2:relu&lr=0.1")
    page.get_by_role("button", name="Train one epoch").click()
    page.wait_for_function("document.querySelector('#epoch').textContent === '000,001'")
    open_stepper(page)
    session, e, places = engine(server, page)
    n = len(e.steps())
    for i in range(n):
        assert_shows_step(page, session, e, places, i)
        if i == 9:
            page.screenshot(path="/tmp/glassnet-stepper-delta.png", full_page=True)
        page.keyboard.press("ArrowRight")
    assert_shows_step(page, session, e, places, n - 1)  # the last step stays
    assert page.get_by_role("button", name="Next step", exact=True).is_disabled()
    page.keyboard.press("ArrowLeft")
    assert_shows_step(page, session, e, places, n - 2)
    page.keyboard.press("Home")
    assert_shows_step(page, session, e, places, 0)
    assert page.get_by_role("button", name="Previous step", exact=True).is_disabled()
    page.keyboard.press("End")
    assert_shows_step(page, session, e, places, n - 1)
    page.get_by_role("button", name="First step", exact=True).click()
    page.get_by_role("button", name="Next step", exact=True).click()
    assert_shows_step(page, session, e, places, 1)
    page.get_by_role("button", name="Last step", exact=True).click()
    page.get_by_role("button", name="Previous step", exact=True).click()
    assert_shows_step(page, session, e, places, n - 2)
    assert "dC/db" in e.steps()[n - 2].rule or "<-" in e.steps()[n - 2].rule
    page.keyboard.press("Escape")
    assert page.locator("#stepper").is_hidden()
    assert page.locator("#network .hl-out, #step-marks .step-value").count() == 0


def test_the_phases_come_in_the_order_of_the_derivation(open_page, server):
    page = open_page("#layers=3:sigmoid")
    open_stepper(page)
    _, e, _ = engine(server, page)
    phases = []
    for _ in e.steps():
        head = page.inner_text("#stepper .step-head").split(" \u2014 ")[0]
        phases.append(head.split(",")[0])
        page.keyboard.press("ArrowRight")
    order = ["forward pass", "loss", "backward pass", "gradients", "input gradient",
             "gradient descent"]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == order
    assert phases.count("forward pass") == 4  # z and a of two layers


def test_a_residual_block_shows_its_identity_skip(open_page, server):
    page = open_page("#layers=4:tanh,4:tanh,4:tanh&residual=1")
    open_stepper(page)
    session, e, places = engine(server, page)
    rules = [s.rule for s in e.steps()]
    for rule in ("a^2 = a^1 + F^2", "dC/da^1 = dC/da^2 + (W^2)^T delta^2"):
        page.keyboard.press("Home")
        for _ in range(rules.index(rule)):
            page.keyboard.press("ArrowRight")
        shown = assert_shows_step(page, session, e, places, rules.index(rule))
        assert shown["skips"] == 4 and shown["skipLabel"] == 1  # neuron j to neuron j
        assert "Identity skip" in page.inner_text("#stepper") or "identity skip" in page.inner_text("#stepper")
        page.screenshot(path=f"/tmp/glassnet-stepper-skip-{rules.index(rule)}.png", full_page=True)
    page.keyboard.press("ArrowRight")
    assert page.evaluate(SHOWN)["skips"] == 0


def test_clicking_a_point_or_typing_an_index_steps_through_that_sample(open_page, server):
    page = open_page("#layers=2:tanh")
    open_stepper(page)
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    snap = page.evaluate("window.glassnet.state.snapshot")
    index = 17
    x1, x2, _ = snap["train"][index]
    box = page.locator("#boundary").bounding_box()
    scale = box["width"] / (2 * snap["domain"])
    page.mouse.click(box["x"] + (x1 + snap["domain"]) * scale, box["y"] + (snap["domain"] - x2) * scale)
    page.wait_for_function(f"window.glassnet.stepper.data && window.glassnet.stepper.data.index === {index}")
    assert page.input_value("#step-index") == str(index)
    session, e, places = engine(server, page, index)
    assert_shows_step(page, session, e, places, 4)  # the same step, for the new sample
    n_train = len(snap["train"])
    page.fill("#step-index", str(n_train + 3))
    page.keyboard.press("Enter")  # the number field keeps its own arrow keys
    page.wait_for_function(f"window.glassnet.stepper.data.index === {n_train + 3}")
    assert page.evaluate("window.glassnet.stepper.data.part") == "test"
    session, e, places = engine(server, page, n_train + 3)
    assert_shows_step(page, session, e, places, 4)


def test_the_step_through_follows_the_network_when_it_changes(open_page, server):
    page = open_page("#layers=3:tanh")
    open_stepper(page)
    n_before = len(engine(server, page)[1].steps())
    page.click("#add-layer")
    page.wait_for_function("document.querySelector('#n-layers').textContent === '2' && "
                           f"!document.querySelector('#stepper-pos').textContent.endsWith('of {n_before}')")
    session, e, places = engine(server, page)
    assert len(e.steps()) > n_before
    assert_shows_step(page, session, e, places, 0)


def test_wide_layers_are_summarised_and_drawn_16_at_a_time(open_page, server):
    page = open_page("#layers=40:relu")
    open_stepper(page)
    session, e, places = engine(server, page)
    shown = assert_shows_step(page, session, e, places, 0)  # z^1: 40 values, 16 drawn
    assert shown["nOut"] == 16 and len(shown["badges"]) == 16
    assert "largest" in page.inner_text("#stepper pre")  # explain's own summary of W^1


def test_three_classes_colour_the_regions_and_points_per_class(open_page, server):
    page = open_page("#dataset=gauss3&layers=4:tanh&lr=0.1")
    assert page.locator("#legend .legend-item").all_inner_texts() == ["class 0", "class 1",
                                                                      "class 2"]
    assert page.locator("#neurons canvas.neuron[data-layer='2']").count() == 3
    for _ in range(3):
        page.get_by_role("button", name="Train one epoch").click()
        page.wait_for_timeout(200)
    page.wait_for_function("document.querySelector('#epoch').textContent === '000,003'")
    pixels = page.evaluate("""() => {
      const c = document.querySelector('#boundary'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const out = []; for (let i = 0; i < d.length; i += 4 * 97) out.push([d[i], d[i + 1], d[i + 2]]);
      return out; }""")
    palette = {0: (245, 147, 34), 1: (8, 119, 189), 2: (46, 160, 67)}
    white = np.array((232, 234, 235))

    def hue_of(rgb):  # which class colour the pixel is tinted towards
        rgb = np.array(rgb, dtype=float) - white
        scores = {k: float(rgb @ (np.array(c) - white)) / np.linalg.norm(np.array(c) - white)
                  for k, c in palette.items()}
        return max(scores, key=scores.get) if max(scores.values()) > 20 else None

    assert {hue_of(p) for p in pixels} >= {0, 1, 2}
    session = session_of(server, page)
    assert session.net.loss_fn.name == "cross_entropy" and session.net.n_out == 3
    page.screenshot(path="/tmp/glassnet-three-classes.png", full_page=True)
    open_stepper(page)  # the softmax output's fused delta^L = a^L - y
    _, e, places = engine(server, page)
    rules = [s.rule for s in e.steps()]
    page.keyboard.press("End")
    for _ in range(len(rules) - 1 - rules.index("delta^2 = a^2 - y")):
        page.keyboard.press("ArrowLeft")
    assert_shows_step(page, session, e, places, rules.index("delta^2 = a^2 - y"))


def test_an_uploaded_csv_with_four_classes(open_page, server):
    rng = np.random.default_rng(1)
    points = rng.uniform(-4, 4, (120, 2))
    labels = np.array([10, 20, 30, 40])[(points[:, 0] > 0) * 2 + (points[:, 1] > 0)]
    text = "x1,x2,label\n" + "".join(f"{a:.3f},{b:.3f},{c}\n" for (a, b), c in zip(points, labels))
    page = open_page()
    page.set_input_files("#csv", files=[{"name": "four.csv", "mimeType": "text/csv",
                                         "buffer": text.encode()}])
    page.wait_for_function("window.glassnet.state.settings.dataset === 'custom'")
    assert page.locator("#legend .legend-item").all_inner_texts() == [
        "class 10", "class 20", "class 30", "class 40"]
    session = session_of(server, page)
    assert session.net.n_out == 4 and session.net.classes == [10, 20, 30, 40]


def test_activation_and_dropout_per_layer_and_for_all_layers(open_page, server):
    page = open_page("#layers=4:tanh,3:tanh")
    page.get_by_role("combobox", name="Activation of layer 1", exact=True).select_option("relu")
    page.wait_for_function("location.hash.includes('layers=4%3Arelu%2C3%3Atanh')")
    page.get_by_role("combobox", name="Dropout of layer 2", exact=True).select_option("0.3")
    page.wait_for_function("location.hash.includes('layers=4%3Arelu%2C3%3Atanh%3A0.3')")
    net = session_of(server, page).net
    assert [layer.config()["type"] for layer in net.layers] == ["Dense", "Dense", "Dropout",
                                                                "Dense"]
    assert net.layers[0].activation.name == "relu" and net.layers[2].p == 0.3
    assert page.locator("#neurons canvas.neuron.dropout").count() == 3  # layer 2's neurons
    assert page.input_value("#activation") == "" and page.input_value("#dropout") == ""
    page.screenshot(path="/tmp/glassnet-per-layer.png", full_page=True)
    page.get_by_role("combobox", name="Dropout", exact=True).select_option("0.2")
    page.wait_for_function("window.glassnet.state.settings.layers.every(l => l.dropout === 0.2)")
    page.get_by_role("combobox", name="Activation", exact=True).select_option("sigmoid")
    page.wait_for_function("window.glassnet.state.settings.layers.every(l => l.activation === 'sigmoid')")
    net = session_of(server, page).net
    assert [layer.p for layer in net.layers if layer.config()["type"] == "Dropout"] == [0.2, 0.2]
    page.get_by_role("button", name="Train one epoch").click()
    page.wait_for_function("document.querySelector('#epoch').textContent === '000,001'")
    other = open_page(page.url[page.url.index("#"):])
    assert other.evaluate("window.glassnet.state.settings.layers") == [
        {"units": 4, "activation": "sigmoid", "dropout": 0.2},
        {"units": 3, "activation": "sigmoid", "dropout": 0.2}]
    assert other.get_by_role("combobox", name="Dropout of layer 1", exact=True).input_value() == "0.2"


def test_export_python_downloads_code_that_rebuilds_the_network(open_page, server, tmp_path):
    page = open_page("#dataset=spiral3&layers=5:tanh:0.1,5:relu&residual=1&features=x1,x2,x1%5E2")
    page.get_by_role("button", name="Train one epoch").click()
    page.wait_for_function("document.querySelector('#epoch').textContent === '000,001'")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export Python code (.py)").click()
    path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(path)
    assert path.name == "glassnet_playground_spiral3.py"
    session = session_of(server, page)
    points = np.concatenate([session.points_train, session.points_test])
    np.save(tmp_path / "points.npy", points)
    code = ("import runpy, sys, numpy as np; ns = runpy.run_path(sys.argv[1]); "
            "np.save(sys.argv[3], ns['net'].predict_output(ns['features'](np.load(sys.argv[2]))))")
    done = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "points.npy"),
                           str(tmp_path / "out.npy")], capture_output=True, text=True,
                          check=False,
                          env={"PYTHONPATH": str(ROOT / "src")}, timeout=120)
    assert done.returncode == 0, done.stderr
    out = np.load(tmp_path / "out.npy")
    expected = session.net.predict_output(feature_matrix(points, session.settings.features))
    assert out.shape == expected.shape == (len(points), 3)
    assert np.array_equal(out.view(np.uint64), expected.view(np.uint64))  # bit for bit
    assert json.dumps(session.settings.features) == '["x1", "x2", "x1^2"]'
