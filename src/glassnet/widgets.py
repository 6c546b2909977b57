"""A notebook widget that steps through :meth:`glassnet.explain`'s steps, forward and back.

Needs ipywidgets (``pip install 'glassnet[notebook]'``)::

    from glassnet.widgets import stepper
    stepper(net.explain(x, y))          # the last expression of a cell: shows the widget

The widget shows one step at a time: which layer, the equation with its numbers (LaTeX), why
(where there is a note), and the plain-text lines; "previous" and "next" buttons and a slider
move through the steps.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .explain import Explanation

__all__ = ["Stepper", "stepper"]

_PHASES = {"forward": "forward pass", "loss": "loss", "backward": "backward pass",
           "gradient": "gradients", "input": "input gradient", "update": "gradient descent"}


class Stepper:
    """The widget (``.widget``, an ipywidgets VBox) and the step it shows (``.index``)."""

    def __init__(self, explanation: "Explanation"):
        try:
            import ipywidgets as w
        except ImportError:
            raise ImportError("the stepper needs ipywidgets: pip install "
                              "'glassnet[notebook]'") from None
        self.steps = explanation.steps()
        if not self.steps:
            raise ValueError("The explanation has no steps to show.")
        self.display = w.HTMLMath()
        self.previous_button = w.Button(description="previous", tooltip="previous step",
                                        icon="arrow-left")
        self.next_button = w.Button(description="next", tooltip="next step", icon="arrow-right")
        self.slider = w.IntSlider(min=1, max=len(self.steps), value=1, description="step",
                                  continuous_update=False)
        self.previous_button.on_click(lambda _: self.go(self.index - 1))
        self.next_button.on_click(lambda _: self.go(self.index + 1))
        self.slider.observe(lambda change: self.go(change["new"] - 1), names="value")
        self.widget = w.VBox([w.HBox([self.previous_button, self.next_button, self.slider]),
                              self.display])
        self.index = -1
        self.go(0)

    def go(self, index: int) -> None:
        """Show step ``index`` (0-based; clipped to the steps there are)."""
        index = max(0, min(len(self.steps) - 1, int(index)))
        if index == self.index:
            return
        self.index = index
        self.slider.value = index + 1
        self.previous_button.disabled = index == 0
        self.next_button.disabled = index == len(self.steps) - 1
        self.display.value = self.render(index)

    def next(self) -> None:
        self.go(self.index + 1)

    def previous(self) -> None:
        self.go(self.index - 1)

    def render(self, index: int) -> str:
        """The HTML of step ``index``: a header, the note, the equation, the text lines."""
        step = self.steps[index]
        where = f", layer {step.layer}" if step.layer else ""
        head = (f"<b>Step {index + 1} of {len(self.steps)}</b>: "
                f"{_PHASES.get(step.phase, step.phase)}{where}")
        note = f"<p>{html.escape(step.note, quote=False)}</p>" if step.note else ""
        text = html.escape("\n".join(step.text), quote=False)
        return f"<p>{head}</p>{note}<p>$${step.latex}$$</p><pre>{text}</pre>"

    @property
    def text(self) -> str:
        """What the widget shows now (its HTML)."""
        return str(self.display.value)

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


def stepper(explanation: "Explanation") -> Stepper:
    """A widget stepping through ``explanation.steps()``; see :class:`Stepper`."""
    return Stepper(explanation)

