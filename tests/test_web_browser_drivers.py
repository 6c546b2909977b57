"""Which training points drive a weight, in a real Chromium: click a link (or choose l, j, k
with the keyboard), and the page lists weight_drivers' terms and rings those points on the data.

The numbers in the panel are compared with glassnet.per_sample.weight_drivers run here on the
session's own network, exactly; the rings with the points' places on the canvas and its pixels.
"""
# ruff: noqa: F811 -- the fixtures imported from web_browser are the tests' parameters

import numpy as np
import pytest

from glassnet.per_sample import weight_drivers
from web_browser import browser, context, open_page, server, session_of  # noqa: F401

pytestmark = pytest.mark.browser

SHOWN = """() => {
  const rows = [...document.querySelectorAll('#drivers table.drivers-table tr[data-index]')];
  return {
    equation: document.querySelector('#drivers .drivers-eq')?.dataset.equation,
    eqText: document.querySelector('#drivers .drivers-eq')?.textContent,
    rows: rows.map((tr) => ({
      index: Number(tr.dataset.index),
      ring: tr.querySelector('.ring').classList.contains('positive') ? 'positive' : 'negative',
      cells: [...tr.cells].map((c) => c.textContent),
      values: Object.fromEntries([[4, 'delta'], [5, 'a_prev'], [6, 'contribution'], [7, 'share']]
        .map(([i, key]) => [key, Number(tr.cells[i].dataset.value)])),
    })),
    driven: [...document.querySelectorAll('#links path.driven')].map((p) =>
      [Number(p.dataset.layer) + 1, Number(p.dataset.row), Number(p.dataset.col)]),
    rings: window.glassnet.drivers.rings,
    call: document.querySelector('#drivers .drivers-call')?.textContent,
  };
}"""

PIXELS = """(rings) => {
  const c = document.querySelector('#boundary'), ctx = c.getContext('2d');
  return rings.map((r) => {
    const out = [];
    for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) {
      const d = ctx.getImageData(Math.round(r.x + r.radius) + dx, Math.round(r.y) + dy, 1, 1).data;
      out.push([d[0], d[1], d[2]]);
    }
    return out;
  });
}"""
RING_RGB = {"positive": (24, 61, 78), "negative": (214, 39, 40)}


def weight_key(net, layer):
    return [key for key in net.params() if key.endswith(".W")][layer - 1]


POINT_ON = """(selector) => {
  // a point of the link that no other link covers (links into a column cross in the middle)
  const path = document.querySelector(selector), box = document.querySelector('#links').getBoundingClientRect();
  for (const t of [0.25, 0.75, 0.15, 0.85, 0.35, 0.65, 0.5]) {
    const p = path.getPointAtLength(t * path.getTotalLength());
    const x = box.left + p.x, y = box.top + p.y;
    if (document.elementFromPoint(x, y) === path) return [x, y];
  }
  return null;
}"""


def click_link(page, layer, j, k):
    """Click the link of W^layer[j, k] with the mouse, on a point where it is on top."""
    selector = f"#links path[data-layer='{layer - 1}'][data-row='{j}'][data-col='{k}']"
    page.locator(selector).scroll_into_view_if_needed()
    x, y = page.evaluate(POINT_ON, selector)
    page.mouse.click(x, y)
    page.wait_for_function(f"window.glassnet.drivers.data && window.glassnet.drivers.data.layer "
                           f"=== {layer} && window.glassnet.drivers.data.j === {j} && "
                           f"window.glassnet.drivers.data.k === {k}")


def assert_shows_drivers(page, server, layer, j, k, top=5):
    """The panel, the rings and the marked link are weight_drivers' answer for W^layer[j, k]."""
    session = session_of(server, page)
    net = session.net
    key = weight_key(net, layer)
    d = weight_drivers(net, session.X_train, session.y_train, key, (j, k), top=top)
    shown = page.evaluate(SHOWN)
    assert shown["equation"].startswith(f"dW^{layer}[{j},{k}] = sum_i delta_ij a_prev_ik")
    assert shown["call"] == (f"glassnet.per_sample.weight_drivers(net, X_train, y_train, "
                             f"'{key}', ({j}, {k}), top={top})")
    rows = shown["rows"]
    assert [r["index"] for r in rows] == d.samples.tolist()
    for r, delta, a_prev, term, share in zip(rows, d.delta, d.a_prev, d.contributions, d.shares):
        assert r["values"] == {"delta": delta, "a_prev": a_prev, "contribution": term,
                               "share": share}  # the engine's numbers, to the last bit
        assert r["ring"] == ("positive" if term >= 0 else "negative")
        assert r["cells"][7] == f"{100 * share:.1f}%"
        assert float(r["cells"][6]) == pytest.approx(term, rel=1e-2, abs=1e-4)
        assert r["cells"][2] == ", ".join(f"{v:.2f}" for v in session.points_train[r["index"]])
    assert shown["driven"] == [[layer, j, k]]
    # the rings: one per listed point, where the point is drawn, in its sign's colour
    snap = page.evaluate("window.glassnet.state.snapshot")
    width = page.evaluate("document.querySelector('#boundary').width")
    scale = width / (2 * snap["domain"])
    rings = shown["rings"]
    assert [r["index"] for r in rings] == d.samples.tolist()
    for ring, row in zip(rings, rows):
        x1, x2 = session.points_train[ring["index"]]
        assert ring["x"] == pytest.approx((x1 + snap["domain"]) * scale)
        assert ring["y"] == pytest.approx((snap["domain"] - x2) * scale)
        assert ring["sign"] == row["ring"]
    largest = max(rings, key=lambda r: r["radius"])
    assert largest["rank"] == 1
    for ring, pixels in zip(rings, page.evaluate(PIXELS, rings)):
        target = np.array(RING_RGB[ring["sign"]])
        distance = min(np.linalg.norm(np.array(p) - target) for p in pixels)
        assert distance < 60, (ring, pixels)
    return d


def test_clicking_a_link_shows_the_points_that_drive_its_gradient(open_page, server):
    page = open_page("#layers=4:tanh,2:tanh&lr=0.1")
    page.get_by_role("button", name="Train one epoch").click()
    page.wait_for_function("document.querySelector('#epoch').textContent === '000,001'")
    click_link(page, 2, 1, 3)
    d = assert_shows_drivers(page, server, 2, 1, 3)
    panel = page.locator("#drivers")
    assert panel.is_visible() and "epoch 1" in panel.inner_text()
    assert f"{d.n} training points" in panel.inner_text()
    assert page.input_value("#drivers-layer") == "2" and page.input_value("#drivers-j") == "1"
    page.screenshot(path="/tmp/glassnet-drivers.png", full_page=True)
    page.set_viewport_size({"width": 1180, "height": 900})  # the diagram is drawn again
    page.wait_for_function("document.querySelector('#links path.driven')?.dataset.row === '1'")
    assert page.evaluate(SHOWN)["driven"] == [[2, 1, 3]]
    # the sum of every point's term is the engine's dW, shown after the equation
    session = session_of(server, page)
    session.net.backprop(session.X_train, session.y_train)
    dW = session.net.grads()[weight_key(session.net, 2)][1, 3]
    assert page.evaluate("window.glassnet.drivers.data.grad") == float(dW)
    page.get_by_role("button", name="Close the drivers of the weight").click()
    assert panel.is_hidden()
    assert page.evaluate("window.glassnet.drivers.rings") == []
    assert page.locator("#links path.driven").count() == 0


def test_the_keyboard_chooses_a_weight_and_escape_closes(open_page, server):
    page = open_page("#layers=3:relu&lr=0.1")
    page.get_by_role("spinbutton", name="Layer l of the weight").fill("2")
    page.get_by_role("spinbutton", name="j: the neuron of layer l").fill("0")
    page.get_by_role("spinbutton", name="k: the neuron of layer l - 1").fill("2")
    page.keyboard.press("Enter")
    page.wait_for_function("window.glassnet.drivers.data && window.glassnet.drivers.data.layer === 2")
    assert_shows_drivers(page, server, 2, 0, 2)
    page.locator("#drivers").focus()
    page.keyboard.press("Escape")
    assert page.locator("#drivers").is_hidden()
    open_page.expected.append("422")  # the next request is refused on purpose
    page.get_by_role("spinbutton", name="Layer l of the weight").fill("0")
    page.get_by_role("button", name="Which training points drive this weight").click()
    page.locator("#drivers .error").wait_for()
    assert "input features, which have no weights" in page.inner_text("#drivers .error")
    assert page.evaluate("window.glassnet.drivers.rings") == []


def test_a_residual_block_of_a_three_class_network(open_page, server):
    page = open_page("#dataset=gauss3&layers=4:tanh,4:tanh:0.2&residual=1&lr=0.1")
    for epoch in (1, 2):
        page.get_by_role("button", name="Train one epoch").click()
        page.wait_for_function(f"document.querySelector('#epoch').textContent === '000,00{epoch}'")
    net = session_of(server, page).net
    assert net.n_out == 3 and weight_key(net, 2) == "1.0.W"
    click_link(page, 2, 3, 1)
    assert_shows_drivers(page, server, 2, 3, 1)
    click_link(page, 3, 2, 0)  # the softmax output layer
    assert_shows_drivers(page, server, 3, 2, 0)
    labels = [r["cells"][3] for r in page.evaluate(SHOWN)["rows"]]
    assert all(label.startswith("class ") for label in labels)
    # a point's index opens explain for that point alone
    first = page.evaluate(SHOWN)["rows"][0]["index"]
    page.get_by_role("button", name=f"Explain training point {first}", exact=True).click()
    page.locator("#explain pre").wait_for()
    assert f"train point {first}" in page.inner_text("#explain")
    assert page.evaluate("window.glassnet.state.selected") == first


def test_the_panel_follows_the_weights_and_closes_when_the_weight_goes(open_page, server):
    page = open_page("#layers=3:tanh,3:tanh&lr=0.3")
    click_link(page, 3, 0, 2)
    assert page.evaluate("window.glassnet.drivers.data.epoch") == 0
    page.get_by_role("button", name="Train one epoch").click()
    page.wait_for_function("window.glassnet.drivers.data && window.glassnet.drivers.data.epoch === 1")
    assert_shows_drivers(page, server, 3, 0, 2)
    page.click("#remove-layer")  # 2-3-1: there is no W^3 any more
    page.wait_for_function("document.querySelector('#n-layers').textContent === '1'")
    page.wait_for_function("window.glassnet.state.snapshot.sizes.length === 3")
    assert page.locator("#drivers").is_hidden()
