"""The report's views: the roofline chart and the notebook's HTML.

The one place a lower layer reaches a higher one: ``Report.plot_roofline`` and ``_repr_html_``
call the renderers, imported when called. The import-layer contract lists exactly this module as
its exception (pyproject.toml, ``[tool.importlinter]``); nothing else in ``roofscope.report``
imports ``roofscope.render``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Views"]


class Views:
    """Methods of ``Report`` that hand it to a renderer."""

    def plot_roofline(self, path: Any = None, **options: Any) -> Any:
        """Draw the roofline chart (PNG, SVG or PDF by the path's suffix); returns the Figure.

        Options: ``by="op"`` or ``"module"``, ``depth`` (for modules), ``labels`` (how many of the
        heaviest points to name), ``title``. Needs matplotlib (``pip install 'roofscope[plot]'``).
        """
        from roofscope.render.plot import plot_roofline

        return plot_roofline(self, path, **options)  # type: ignore[arg-type]

    def _repr_html_(self) -> str:
        """The compact HTML report for notebooks (module tree, totals, uncounted ops)."""
        from roofscope.render.html import to_html

        return to_html(self, full=False)  # type: ignore[arg-type]
