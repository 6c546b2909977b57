"""The playground page in a real Chromium (Debian's package, driven by Playwright).

Each test leaves a screenshot in artifacts/. Skipped when Playwright or Chromium is missing:
``pip install -e '.[test]'`` and ``apt-get install chromium``.
"""
# ruff: noqa: F811 -- the fixtures imported from web_browser are the tests' parameters

import pytest

import glassnet
from web_browser import browser, context, open_page, server, session_of  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_page_loads_without_console_errors(open_page):
    page = open_page()
    assert page.title() == "glassnet playground"
    assert page.locator("#neurons canvas.neuron").count() == 7 + 4 + 2 + 1
    assert page.locator("#links path").count() == 2 * 4 + 4 * 2 + 2 * 1
    assert page.evaluate("window.glassnet.errors") == []
    link = page.locator("#links path").first
    link.hover(force=True)
    tip = page.locator("#link-tip")
    tip.wait_for(state="visible")
    assert tip.inner_text() == f"weight {float(link.get_attribute('data-w')):.4f}"


def test_play_on_circles_brings_the_test_loss_below_0_1(open_page):
    page = open_page("#dataset=circles")
    page.click("#play")
    page.wait_for_function("Number(document.querySelector('#loss-test').textContent) < 0.1",
                           timeout=20_000)
    page.click("#play")
    assert float(page.inner_text("#loss-test")) < 0.1
    assert page.evaluate("window.glassnet.frames") > 0


def test_the_boundary_canvas_changes_while_training(open_page):
    page = open_page("#dataset=xor&lr=0.01")
    read = "document.querySelector('#boundary').toDataURL()"
    before = page.evaluate(read)
    page.click("#play")
    page.wait_for_function("window.glassnet.frames >= 3")
    during = page.evaluate(read)
    page.wait_for_function("window.glassnet.frames >= 10")
    later = page.evaluate(read)
    page.click("#play")
    assert before != during != later


def test_adding_a_layer_updates_the_diagram_and_the_network(open_page, server):
    page = open_page()
    n_neurons = page.locator("#neurons canvas.neuron").count()
    page.click("#add-layer")
    page.wait_for_function("document.querySelector('#n-layers').textContent === '3'")
    assert page.locator("#neurons canvas.neuron").count() == n_neurons + 2
    assert page.locator(".layer-ctl").count() == 3
    assert session_of(server, page).net.sizes == [2, 4, 2, 2, 1]
    page.locator(".layer-ctl .add-neuron").first.click()
    page.wait_for_function("document.querySelectorAll('#neurons canvas.neuron').length === "
                           f"{n_neurons + 3}")
    assert session_of(server, page).net.sizes == [2, 5, 2, 2, 1]
    assert "layers=5%3Atanh%2C2%3Atanh%2C2%3Atanh" in page.url


def test_the_url_restores_the_settings_in_a_new_tab(open_page):
    page = open_page()
    page.click("#add-layer")
    page.wait_for_function("document.querySelector('#n-layers').textContent === '3'")
    page.select_option("#learning_rate", "0.1")
    page.select_option("#optimizer", "adam")
    page.locator("#datasets button", has_text="Spiral").click()
    page.select_option(".layer-ctl >> nth=0 >> select", "relu")
    page.locator("canvas.input[data-feature='sin(x1)']").click()
    page.check("#residual")
    page.check("#show-test")
    page.wait_for_function("location.hash.includes('showTest=1') && location.hash.includes('residual=1')")
    assert "optimizer=adam" in page.url
    settings = page.evaluate("window.glassnet.state.settings")
    assert settings["dataset"] == "spiral" and settings["learning_rate"] == 0.1
    assert settings["optimizer"] == "adam"
    assert settings["features"] == ["x1", "x2", "sin(x1)"]

    other = open_page(page.url[page.url.index("#"):])
    assert other.evaluate("window.glassnet.state.settings") == settings
    assert other.evaluate("window.glassnet.state.session") != page.evaluate(
        "window.glassnet.state.session")
    assert other.input_value("#learning_rate") == "0.1"
    assert other.input_value("#optimizer") == "adam"
    assert other.is_checked("#residual") and other.is_checked("#show-test")
    assert other.locator(".layer-ctl select").first.input_value() == "relu"


def test_the_gradient_panel_shows_one_bar_per_layer(open_page):
    page = open_page()
    assert page.locator("#grad-panel .grad-bar").count() == 3  # 2 hidden layers + output
    page.click("#play")
    page.wait_for_function("window.glassnet.frames >= 3")
    page.click("#play")
    widths = page.eval_on_selector_all("#grad-panel .grad-bar", "bars => bars.map(b => b.style.width)")
    assert all(w.endswith("%") and float(w[:-1]) > 0 for w in widths)
    page.click("#add-layer")
    page.wait_for_function("document.querySelectorAll('#grad-panel .grad-bar').length === 4")


def test_a_malformed_csv_shows_an_error_and_the_session_keeps_working(open_page):
    open_page.expected.append("the server responded with a status of 422")
    page = open_page()
    page.set_input_files("#csv", files=[{"name": "bad.csv", "mimeType": "text/csv",
                                         "buffer": b"x1,x2,label\n1,oops,0\n2,3\n"}])
    error = page.locator("#data-error")
    error.wait_for(state="visible")
    assert "CSV" in error.inner_text()
    page.click("#step")
    page.wait_for_function("document.querySelector('#epoch').textContent === '000,001'")
    assert page.evaluate("window.glassnet.state.settings.dataset") == "circles"


def test_export_downloads_a_model_that_glassnet_loads(open_page, server, tmp_path):
    page = open_page("#layers=3:relu")
    page.click("#step")
    page.wait_for_function("document.querySelector('#epoch').textContent === '000,001'")
    with page.expect_download() as download_info:
        page.click("#export")
    path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(path)
    net = glassnet.load(path)
    session = session_of(server, page)
    assert net.sizes == [2, 3, 1]
    assert (net.predict(session.X_test) == session.net.predict(session.X_test)).all()


def test_explain_and_gradcheck_render_in_the_page(open_page):
    page = open_page()
    page.click("#explain-btn")
    # glassnet.explain's text where the library has it (a <pre>), else the backprop tables
    page.locator("#explain pre, #explain table").first.wait_for()
    assert "train point 0" in page.inner_text("#explain")
    page.click("#gradcheck-btn")
    page.locator("#gradcheck table").wait_for()
    assert "PASSED" in page.inner_text("#gradcheck")


NINE_SIGMOID = "#layers=" + "%2C".join(["4%3Asigmoid"] * 9)


def test_the_controls_have_accessible_names(open_page):
    page = open_page()
    for name in ("Start training", "Reset the network", "Train one epoch", "Add a hidden layer",
                 "Remove the last hidden layer", "Add a neuron to layer 1",
                 "Remove a neuron from layer 2"):
        assert page.get_by_role("button", name=name, exact=True).count() == 1, name
    assert page.get_by_role("combobox", name="Activation of layer 2", exact=True).count() == 1
    page.get_by_role("button", name="Start training").click()
    pause = page.get_by_role("button", name="Pause training", exact=True)
    pause.wait_for()
    pause.click()
    page.get_by_role("button", name="Start training", exact=True).wait_for()
    page.get_by_role("button", name="Train one epoch").click()
    page.wait_for_function("document.querySelector('#epoch').textContent !== '000,000'")


def boxes(page, selector):
    return [page.locator(selector).nth(i).bounding_box()
            for i in range(page.locator(selector).count())]


def overlap(a, b):
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


@pytest.mark.parametrize("hash_, n_layers", [
    (NINE_SIGMOID, 9), (NINE_SIGMOID + "&residual=1", 9),
    ("#layers=" + "%2C".join(["128%3Arelu"] * 10) + "&residual=1", 10),
    ("#layers=3%3Atanh", 1),
])
def test_layer_headers_do_not_overlap(open_page, hash_, n_layers):
    page = open_page(hash_)
    page.evaluate("document.querySelector('#network').scrollLeft = 0")
    assert page.locator(".layer-ctl").count() == n_layers
    headers = [page.locator(".layer-ctl").nth(i) for i in range(n_layers)]
    parts = []  # every button, label and select of every header, and which header it is in
    for i, header in enumerate(headers):
        box = header.bounding_box()
        for child in header.locator("button, select, div").all():
            part = child.bounding_box()
            assert box["x"] - 0.5 <= part["x"] and part["x"] + part["width"] <= box["x"] + box["width"] + 0.5
            parts.append((i, part))
    for i, a in parts:
        for j, b in parts:
            assert i == j or not overlap(a, b), (i, j, a, b)
    neuron_top = min(b["y"] for b in boxes(page, "#neurons canvas.neuron:not(.input)"))
    assert all(part["y"] + part["height"] <= neuron_top for _, part in parts)
    page.screenshot(path=f"/tmp/glassnet-layers-{n_layers}{'-res' if 'residual' in hash_ else ''}.png",
                    full_page=True)


def test_residual_switch_keeps_the_first_layers_gradient_in_the_page(open_page):
    read = "window.glassnet.state.snapshot.delta_norms[0]"
    plain = open_page(NINE_SIGMOID).evaluate(read)
    page = open_page(NINE_SIGMOID + "&residual=1")
    skip = page.evaluate(read)
    assert plain < 1e-6 and skip > 1e-4 and skip / plain > 1e4
    width = page.eval_on_selector("#grad-panel .grad-bar", "bar => parseFloat(bar.style.width)")
    assert width > 40  # log scale 1e-8..1e2: 1e-4 is 40 %
    assert page.locator(".layer-ctl .skip").count() == 8


def test_the_tool_panels_are_cleared_when_the_network_changes(open_page):
    page = open_page()
    for button, panel, done in (("#explain-btn", "#explain", "#explain pre"),
                                ("#gradcheck-btn", "#gradcheck", "#gradcheck table")):
        page.click(button)
        page.locator(done).wait_for()
        page.click("#add-layer")
        page.wait_for_function(f"document.querySelector('{panel}').hidden")
        assert page.inner_text(panel) == ""
    page.click("#explain-btn")
    page.locator("#explain pre").wait_for()
    page.check("#residual")
    page.wait_for_function("document.querySelector('#explain').hidden")


def test_a_tool_answer_for_an_older_network_is_dropped(open_page):
    """Explain is asked, then the network changes before its answer can be drawn."""
    page = open_page()
    page.evaluate("""() => { document.querySelector('#explain-btn').click();
                             document.querySelector('#add-layer').click(); }""")
    page.wait_for_function("document.querySelector('#n-layers').textContent === '3' && "
                           "window.glassnet.toolAnswers === 1")
    assert page.evaluate("document.querySelector('#explain').hidden")
    page.click("#explain-btn")
    page.locator("#explain pre").wait_for()
    assert "train point 0 at epoch 0" in page.inner_text("#explain")


def test_explain_on_a_network_it_cannot_show_says_why(open_page):
    open_page.expected.append("the server responded with a status of 422")
    page = open_page("#layers=4%3Atanh%2C4%3Atanh&residual=1")
    page.click("#explain-btn")
    page.locator("#explain .error, #explain pre").first.wait_for()
    text = page.inner_text("#explain")
    assert "cannot show this network" in text or "train point 0" in text
    assert "500" not in text
