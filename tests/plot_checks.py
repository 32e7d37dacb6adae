"""What a readable plot is, checked on matplotlib Figure objects (never on pixels).

A legend covers no axes (so no data line), every y axis says its quantity and unit, and the
lines one compares have colours one can tell apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

PNG = b"\x89PNG\r\n\x1a\n"
_UNIT = re.compile(r"\(([^()]+)\)")


def drawn(fig: Figure) -> Figure:
    """The figure laid out and drawn on an Agg canvas, so window extents are final."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig


def assert_legends_off_the_axes(fig: Figure) -> int:
    """No legend overlaps any axes of the figure (data, colour bars); returns the number of legends."""
    drawn(fig)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    every_axes = [a for ax in fig.axes for a in (ax, *ax.child_axes)]  # colour bars may be inset children
    for leg in legends:
        box = leg.get_window_extent()
        for ax in every_axes:
            assert not box.overlaps(ax.get_window_extent()), (
                f"legend {[t.get_text() for t in leg.get_texts()]} covers axes {ax.get_ylabel()!r}"
            )
    return len(legends)


def assert_labels_inside(fig: Figure) -> None:
    """Every axis label and title is drawn wholly inside the figure (a long label is not cut off)."""
    drawn(fig)
    page = fig.bbox
    for ax in fig.axes:
        for text in (ax.xaxis.label, ax.yaxis.label, ax.title):
            if text.get_text():
                box = text.get_window_extent()
                assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, (
                    f"{text.get_text()!r} is cut off"
                )


def assert_unit(label: str) -> None:
    """An axis label names a unit in parentheses, e.g. "altitude (m)"."""
    assert _UNIT.search(label), f"no unit in the axis label {label!r}"


def assert_distinct(colours: Iterable) -> None:
    """Colours that differ after conversion to hex (what a reader sees)."""
    hexes = [to_hex(c) for c in colours]
    assert len(set(hexes)) == len(hexes), f"repeated colours: {hexes}"


def legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [] if leg is None else [t.get_text() for t in leg.get_texts()]
