"""How results show themselves: in a terminal (``print``, rich's ``__rich__``), in a notebook
(``_repr_html_``), as files (``Report.save``) and as a chart.

The one place a lower layer reaches a higher one: these methods call the renderers, imported when
called. The import-layer contract lists exactly this module as its exception (pyproject.toml,
``[tool.importlinter]``); nothing else below ``roofscope.render`` imports it. ``Views`` is
``Report``'s; ``Shown`` is the same for the other result types (a serving summary, a training
step, a probe), each of which says how rich draws it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

__all__ = ["ProbeViews", "Shown", "StepTimeViews", "StepViews", "SummaryViews", "Views"]

#: The width ``str()`` lays a result out in: what a notebook cell or a log line shows comfortably.
TEXT_WIDTH = 120


def _text(renderable: Any, width: int = TEXT_WIDTH) -> str:
    """A rich renderable as plain text, without colours, ``width`` columns wide."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False, record=True)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())  # rich pads every line to the width


class Shown:
    """``print(result)`` and ``str(result)`` give its terminal view as text, ``rich.print(result)``
    the same in colour, and a notebook shows its HTML view. A subclass defines ``__rich__``; its
    HTML view is that, coloured, unless it defines ``_repr_html_`` itself."""

    def __rich__(self) -> Any:
        raise NotImplementedError

    def __str__(self) -> str:
        return _text(self.__rich__())

    def _repr_html_(self) -> str:
        from rich.console import Console

        console = Console(file=io.StringIO(), width=TEXT_WIDTH, record=True, force_terminal=True)
        console.print(self.__rich__())
        return console.export_html(
            inline_styles=True, code_format='<pre style="font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px">{code}</pre>'
        )


class Views(Shown):
    """Methods of ``Report`` that hand it to a renderer."""

    def __rich__(self) -> Any:
        """The terminal report (module tree, heaviest ops, totals, uncounted ops), fitted to the console."""
        from roofscope.render.table import render_terminal

        return render_terminal(self)  # type: ignore[arg-type]

    def plot_roofline(self, path: Any = None, **options: Any) -> Any:
        """Draw the roofline chart (PNG, SVG or PDF by the path's suffix); returns the Figure.

        Options: ``by="op"`` or ``"module"``, ``depth`` (for modules), ``labels`` (how many of the
        heaviest points to name), ``title``. Needs matplotlib (``pip install 'roofscope[plot]'``).
        """
        from roofscope.render.plot import plot_roofline

        return plot_roofline(self, path, **options)  # type: ignore[arg-type]

    def to_html(self, *, full: bool = True) -> str:
        """The HTML report: a self-contained page (``full=True``), or the fragment a notebook shows."""
        from roofscope.render.html import to_html

        return to_html(self, full=full)  # type: ignore[arg-type]

    def save(self, path: str | Path, *, depth: int | None = None) -> Path:
        """Write the report to ``path`` in the format its suffix names: ``.json``, ``.csv``, ``.md``,
        ``.html``, or the roofline chart as ``.png``, ``.svg`` or ``.pdf``. ``depth`` limits the
        Markdown module table. Returns the path."""
        from roofscope.render.export import to_format

        target = Path(path)
        suffix = target.suffix.lower()
        formats = {".json": "json", ".csv": "csv", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}
        if suffix in (".png", ".svg", ".pdf"):
            self.plot_roofline(target)
        elif suffix in formats:
            target.write_text(to_format(self, formats[suffix], depth=depth), encoding="utf-8")  # type: ignore[arg-type]
        else:
            raise ValueError(f"cannot tell the format of {target.name} from its suffix: use .json, .csv, .md, .html, .png, .svg or .pdf")
        return target

    def _repr_html_(self) -> str:
        """The notebook view: totals, uncounted ops, the module tree, the op table and the chart."""
        return self.to_html(full=False)


class SummaryViews(Shown):
    """A transformer's serving summary (``LLM.summary``): the panel of the command line, and in a
    notebook its HTML section (prefill and decode side by side)."""

    def __rich__(self) -> Any:
        from roofscope.render.llm import render_llm_summary

        return render_llm_summary(self)

    def _repr_html_(self) -> str:
        from roofscope.render.html import fragment
        from roofscope.render.llm import llm_html

        return fragment(llm_html(self))


class StepViews(Shown):
    """A training step (``LLM.training_step``): its report, forward and backward."""

    def __rich__(self) -> Any:
        return self.report.__rich__()  # type: ignore[attr-defined]

    def _repr_html_(self) -> str:
        return str(self.report._repr_html_())  # type: ignore[attr-defined]


class StepTimeViews(Shown):
    """A training step's predicted time (``LLM.training_step_time``): its terms, one row each."""

    def __rich__(self) -> Any:
        from roofscope.render.llm import training_step_table

        return training_step_table(self)


class ProbeViews(Shown):
    """A probe of a machine's ceilings (``roofscope.probe``): its table beside the catalog's figures."""

    def __rich__(self) -> Any:
        from roofscope.render.probe import probe_table

        return probe_table(self)  # type: ignore[arg-type]
