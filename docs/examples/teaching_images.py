"""Draw the pictures of docs/teaching.md (run by hand from the repository root).

    PYTHONPATH=src python docs/examples/teaching_images.py [--katex DIR]

Writes docs/img/worksheet_solution.png (page 1 of `glassnet worksheet --seed 3`'s solution, as
its PDF typesets it) and, given a KaTeX distribution (``npm install katex``; DIR is its
``dist`` folder) and Chromium, docs/img/notebook_displays.png and docs/img/stepper_step.png:
what a notebook shows for a Network, an Explanation's backward pass, a GradcheckReport and a
History, and one step of the stepper widget, rendered in the browser.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

import glassnet
from glassnet.widgets import Stepper

IMG = Path("docs/img")


def worksheet_png() -> None:
    page = glassnet.make_worksheet(seed=3).figures(solution=True)[0]
    page.savefig(IMG / "worksheet_solution.png", dpi=70)


def _markdown_to_html(md: str) -> str:
    """Enough Markdown for glassnet's own output: headings, paragraphs, $$ math, tables."""
    out, table = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            if "---" not in line:
                table.append([c.strip() for c in line.strip("|").split("|")])
            continue
        if table:
            head, *rows = table
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
                                 for r in rows) + "</table>")
            table = []
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level + 1}>{html.escape(line.lstrip('# '))}</h{level + 1}>")
        elif line.startswith("**") and line.endswith("**"):
            out.append(f"<p><b>{html.escape(line.strip('*'))}</b></p>")
        elif line:
            out.append(f"<p>{html.escape(line, quote=False)}</p>")
    return "\n".join(out)


def _page(body: str, katex: Path) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="{katex}/katex.min.css">
<script src="{katex}/katex.min.js"></script>
<script src="{katex}/contrib/auto-render.min.js"></script>
<style>body {{font-family: sans-serif; font-size: 14px; margin: 16px; width: 860px}}
.cell {{border-left: 3px solid #3b7dd8; padding: 4px 12px; margin: 10px 0}}
.in {{font-family: monospace; color: #555; margin: 0 0 6px}}
table {{border-collapse: collapse; margin: 6px 0}} td, th {{border: 1px solid #ccc;
padding: 2px 8px; font-size: 13px}} caption {{text-align: left; font-weight: bold}}
pre {{font-size: 12px}} .katex-display {{margin: 6px 0; overflow-x: auto}}</style></head>
<body>{body}<script>renderMathInElement(document.body, {{delimiters:
[{{left: "$$", right: "$$", display: true}}, {{left: "$", right: "$", display: false}}]}});
document.body.dataset.done = "1";</script></body></html>"""


def _shoot(page_html: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "page.html"
        file.write_text(page_html)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            tab = browser.new_page(viewport={"width": 900, "height": 100})
            tab.goto(file.as_uri())
            tab.wait_for_function("document.body.dataset.done === '1'")
            tab.screenshot(path=str(path), full_page=True)
            browser.close()


def notebook_pngs(katex: Path) -> None:
    net = glassnet.mlp([2, 3, 3, 1], activation="sigmoid", loss="mse", residual=True, seed=0,
                       dtype="float64")
    x, y = np.array([0.5, -0.3]), np.array([0.8])
    e = net.explain(x, y)
    backward = "\n\n".join(f"{s.note}\n\n$${s.latex}$$" if s.note else f"$${s.latex}$$"
                           for s in e.steps() if s.phase == "backward")
    X = np.random.default_rng(0).uniform(-1, 1, (64, 2))
    Y = (X[:, :1] * X[:, 1:] > 0).astype(float)
    report = glassnet.gradcheck(net, X[:4], Y[:4])
    history = net.fit(X, Y, epochs=25, learning_rate=0.5, optimizer="sgd", batch_size=16)
    cells = [("net", net._repr_html_()),
             ("e = net.explain(x, y)   # its backward pass", _markdown_to_html(backward)),
             ("glassnet.gradcheck(net, X[:4], Y[:4])", report._repr_html_()),
             ("net.fit(X, Y, epochs=25, learning_rate=0.5, optimizer='sgd', batch_size=16)",
              history._repr_html_())]
    body = "".join(f'<div class="cell"><p class="in">In: {html.escape(src)}</p>{out}</div>'
                   for src, out in cells)
    _shoot(_page(body, katex), IMG / "notebook_displays.png")
    s = Stepper(e)
    s.go(next(i for i, st in enumerate(s.steps) if st.quantity == "skip"))
    step = re.sub(r"<pre>", '<pre style="white-space: pre-wrap">', s.text)
    _shoot(_page(f'<div class="cell"><p class="in">stepper(net.explain(x, y))</p>{step}</div>',
                 katex), IMG / "stepper_step.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--katex", type=Path, help="KaTeX's dist folder")
    args = parser.parse_args()
    worksheet_png()
    if args.katex:
        notebook_pngs(args.katex.resolve())
    print("wrote", ", ".join(sorted(p.name for p in IMG.glob("*.png")
                                    if p.stem in ("worksheet_solution", "notebook_displays",
                                                  "stepper_step"))))
