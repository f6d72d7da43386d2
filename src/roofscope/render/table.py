"""The terminal report: the module tree, totals, uncounted ops and the convention line."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from roofscope.render.llm import render_llm_summary
from roofscope.render.measured import measured_lines
from roofscope.render.prediction import prediction_lines
from roofscope.render.units import nbytes, percent, seconds, si
from roofscope.report import (
    MEASURED_CONVENTION,
    Figures,
    ModuleReport,
    OpSummary,
    Report,
)

if TYPE_CHECKING:
    from roofscope.llm import ServingSummary

__all__ = [
    "INCOMPLETE",
    "measured_text",
    "module_table",
    "op_table",
    "prediction_text",
    "render_terminal",
    "shortfall_table",
    "totals",
    "uncounted_warning",
]


#: The mark beside a total that leaves out uncounted ops (the panel below the report says which).
INCOMPLETE = "*"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _add_figure_columns(table: Table, headers: tuple[str, ...], rows: list[list[str]]) -> None:
    """Right-aligned columns as wide as their widest cell: a narrow console squeezes the name
    column, never a figure (an ellipsis would hide digits)."""
    for index, header in enumerate(headers):
        widest = max([len(header), *(len(row[index]) for row in rows)])
        table.add_column(header, justify="right", no_wrap=True, min_width=widest)


def _compact_table(title: str) -> Table:
    return Table(title=title, title_justify="left", expand=False, box=box.SIMPLE_HEAVY, collapse_padding=True, pad_edge=False)


def _fit(headers: tuple[str, ...], rows: list[list[str]], width: int | None, droppable: tuple[str, ...], room: int) -> list[int]:
    """The indices of the figure columns to show in ``width`` columns: all of them when they leave
    ``room`` characters for the name column, else without the ``droppable`` ones, in that order,
    until they do. ``width`` None: all."""
    shown = list(range(len(headers)))
    if width is None:
        return shown

    def needed() -> int:
        return sum(max([len(headers[i]), *(len(row[i]) for row in rows)]) + 2 for i in shown) + room

    for header in droppable:
        if needed() <= width:
            break
        if header in headers:
            shown.remove(headers.index(header))
    return shown


def _title(report: Report) -> str:
    """The model, its inputs as captured, and the precision it is analysed in when that is another."""
    title = f"{report.model_name}  ({', '.join(report.inputs)})"
    if report.precision is not None:
        title += f" as {report.precision.name}"
    return title


def module_table(report: Report, *, depth: int = 2, exact: bool = False, width: int | None = None) -> Table:
    """The module tree to ``depth``, each module's figures with everything below it; a total that
    leaves out uncounted ops is marked "*". ``width``: the console's columns; where they are too
    few, the type column goes first, then the shares and intensity, so that names stay readable."""
    table = _compact_table(_title(report))
    timed = report.device is not None
    measured = report.total.measured is not None
    headers = (
        ("params", "MACs", "FLOPs", "bytes", "FLOP/B", "%")
        + (("roofline", "time", "%time", "bound") if timed else ())
        + (("measured", "%meas", "FLOP/s", *(("util", "eff") if timed else ())) if measured else ())
    )
    whole = report.total.flops
    whole_time = report.total.predicted_s or 0.0
    whole_measured = report.total.measured_s or 0.0
    labels: list[tuple[Text, str, str | None]] = []
    rows: list[list[str]] = []

    def add(module: ModuleReport) -> None:
        label = Text("  " * module.depth + (module.short_name or report.model_name))
        if module.calls > 1:
            label.append(f" x{module.calls}")
        style = "bold" if module.depth == 0 else ("dim" if module.calls == 0 else None)
        cost = module.total
        mark = "" if module.complete else INCOMPLETE
        labels.append((label, module.type, style))
        rows.append(
            [
                si(module.params.total, exact=exact),
                si(cost.macs, exact=exact) + mark,
                si(cost.flops, exact=exact) + mark,
                nbytes(cost.bytes, exact=exact) + mark,
                f"{cost.intensity:.1f}",
                _share(cost.flops, whole),
                *(
                    (
                        seconds(cost.roofline_s or 0.0) + mark,
                        seconds(cost.predicted_s or 0.0) + mark,
                        f"{100 * (cost.predicted_s or 0.0) / whole_time:.1f}%" if whole_time else "-",
                        cost.bound or "-",
                    )
                    if timed
                    else ()
                ),
                *(_measured_cells(cost, whole_measured, timed) if measured else ()),
            ]
        )
        if module.depth < depth:
            for child in module.children:
                add(child)

    add(report.root)
    names = max(len(label) for label, _, _ in labels)
    types = max(len(type_name) for _, type_name, _ in labels)
    shown = _fit(headers, rows, width, ("%time", "%", "FLOP/B", "%meas", "params"), room=min(names, 24) + 2)
    rows = [[row[i] for i in shown] for row in rows]
    headers = tuple(headers[i] for i in shown)
    with_types = (
        width is None or sum(max([len(h), *(len(r[i]) for r in rows)]) + 2 for i, h in enumerate(headers)) + names + types + 4 <= width
    )
    table.add_column("module", no_wrap=True, overflow="ellipsis", min_width=min(names, 16))
    if with_types:
        table.add_column("type", style="dim", no_wrap=True, overflow="ellipsis")
    _add_figure_columns(table, headers, rows)
    for (label, type_name, style), cells in zip(labels, rows):
        table.add_row(label, *((type_name,) if with_types else ()), *cells, style=style)
    return table


def _measured_cells(figures: Figures, whole: float, timed: bool) -> tuple[str, ...]:
    if figures.measured is None:
        return ("-",) * (5 if timed else 3)
    cells = (
        seconds(figures.measured_s or 0.0),
        f"{100 * (figures.measured_s or 0.0) / whole:.1f}%" if whole else "-",
        si(figures.achieved_flops or 0.0),
    )
    return cells + ((percent(figures.utilization), percent(figures.efficiency)) if timed else ())


def shortfall_table(report: Report, *, limit: int = 12) -> Table | None:
    """The ops furthest below their roof: most time lost (measured - roofline) first."""
    found = report.shortfalls(limit=limit)
    if not found:
        return None
    table = Table(title="furthest below their roof (measured - roofline)", title_justify="left")
    table.add_column("op @ module", no_wrap=True, overflow="ellipsis", max_width=44)
    for column in ("predicted", "measured", "lost", "eff", "FLOP/s", "util", "B/s", "bw util", "bound"):
        table.add_column(column, justify="right", no_wrap=True)
    for record in found:
        timing, measured = record.timing, record.measured
        assert timing is not None and measured is not None
        table.add_row(
            f"{record.name.removeprefix('aten.')} @ {record.module or report.model_name}",
            seconds(timing.predicted_s),
            seconds(measured.measured_s),
            seconds(max(measured.shortfall_s or 0.0, 0.0)),
            percent(measured.efficiency),
            si(measured.achieved_flops or 0.0),
            percent(measured.utilization),
            nbytes(int(measured.achieved_bandwidth or 0)),
            percent(measured.bandwidth_utilization),
            timing.bound or "-",
        )
    return table


def op_table(report: Report, *, limit: int = 12, exact: bool = False, width: int | None = None) -> Table:
    """The ``limit`` heaviest ops by FLOPs (all calls of each), uncounted ones last and marked."""
    table = _compact_table("by op")
    measured = report.total.measured_s

    def timed(summary: OpSummary) -> tuple[str, ...]:
        if measured is None:
            return ()
        if summary.measured_s is None:
            return ("-", "-")
        return (seconds(summary.measured_s), f"{100 * summary.measured_s / measured:.1f}%" if measured else "-")

    names: list[tuple[str, str, str | None]] = []
    rows: list[list[str]] = []
    for summary in list(report.by_op().values())[:limit]:
        cost = summary.cost
        if cost is None:
            names.append((summary.name, "uncounted", "yellow"))
            rows.append([str(summary.calls), "?", "?", "?", "?", *timed(summary)])
            continue
        names.append((summary.name, summary.family, None))
        rows.append(
            [
                str(summary.calls),
                si(cost.macs, exact=exact),
                si(cost.flops, exact=exact),
                nbytes(cost.bytes, exact=exact),
                _share(cost.flops, report.total.flops),
                *timed(summary),
            ]
        )
    headers = ("calls", "MACs", "FLOPs", "bytes", "%FLOPs") + (("measured", "%meas") if measured is not None else ())
    longest = max((len(name) for name, _, _ in names), default=8)
    families = max((len(family) for _, family, _ in names), default=6)
    figures = sum(max([len(h), *(len(r[i]) for r in rows)]) + 2 for i, h in enumerate(headers))
    table.add_column("op", overflow="fold")
    with_family = width is None or figures + longest + families + 4 <= width
    if with_family:
        table.add_column("family", style="dim", overflow="ellipsis")
    _add_figure_columns(table, headers, rows)
    for (name, family, style), cells in zip(names, rows):
        table.add_row(name, *((family,) if with_family else ()), *cells, style=style)
    return table


def totals(report: Report, *, exact: bool = False) -> Text:
    total = report.total
    text = Text()
    text.append("total  ", style="bold")
    if not report.complete:
        text.append(f"{INCOMPLETE} incomplete (uncounted ops below)  ", style="bold red")
    text.append(
        f"params {si(report.params.total, exact=exact)} ({si(report.params.trainable, exact=exact)} trainable)"
        f"  MACs {si(total.macs, exact=exact)}  FLOPs {si(total.flops, exact=exact)}"
        f"  matmul FLOPs {si(total.matmul_flops, exact=exact)}"
        f"  bytes read {nbytes(total.bytes_read, exact=exact)}  written {nbytes(total.bytes_written, exact=exact)}"
        f"  intensity {total.intensity:.1f} FLOP/B"
    )
    backward = report.backward
    if backward is not None:
        forward = report.forward
        timed = forward.predicted_s is not None and backward.predicted_s is not None
        text.append("\nforward + backward  ", style="bold")
        text.append(
            f"forward FLOPs {si(forward.flops, exact=exact)}"
            + (f" ({seconds(forward.predicted_s)})" if timed else "")  # type: ignore[arg-type]
            + f"  backward FLOPs {si(backward.flops, exact=exact)}"
            + (f" ({seconds(backward.predicted_s)})" if timed else "")  # type: ignore[arg-type]
            + f"  backward/forward {report.backward_forward_ratio or 0:.2f}"
            + "  (each op's phase is in the JSON; module rows include their backward)"
        )
    if report.device is not None and total.timing is not None:
        text.append_text(prediction_text(report))
    if report.measurement is not None:
        text.append("\n")
        text.append_text(measured_text(report))
    return text


def prediction_text(report: Report) -> Text:
    """The roofline and the prediction (``prediction_lines``): the first two lines bold-headed,
    the alternatives in bold when the model is host-bound."""
    text = Text()
    host_bound = report.total.bound == "host"
    for line in prediction_lines(report):
        head, _, rest = line.partition(": ")
        if head in ("heaviest", "instead"):
            text.append(f"\n  {line}", style="bold" if head == "instead" and host_bound else "dim")
        else:
            text.append(f"\n{head}", style="bold")
            text.append(f"  {rest}")
    return text


def measured_text(report: Report) -> Text:
    """The measured run in a few lines (``measured_lines``), its caveat in yellow."""
    text = Text()
    for index, line in enumerate(measured_lines(report)):
        text.append(("\n  " if index else "") + line, style="yellow" if line.startswith("note: ") else "")
    return text


def uncounted_warning(report: Report) -> Panel | None:
    if report.complete:
        return None
    listed = ", ".join(f"{name} x{calls}" for name, calls in report.uncounted.items())
    return Panel(
        f"{sum(report.uncounted.values())} op call(s) have no formula and are NOT in the totals: {listed}. "
        f"Totals marked {INCOMPLETE} leave them out.",
        title="uncounted ops: incomplete totals",
        border_style="red",
    )


class _FittedTable:
    """A table built when it is printed, for the width it is printed in (``module_table``'s and
    ``op_table``'s ``width``): a narrow console drops secondary columns rather than cut names."""

    def __init__(self, build: Callable[[int], Table]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)


def render_terminal(
    report: Report, *, depth: int = 2, exact: bool = False, ops: int = 12, serving: ServingSummary | None = None
) -> RenderableType:
    """The terminal report, its tables fitted to the console it is printed on; ``serving``, a
    transformer's serving summary, is printed after it."""
    parts: list[RenderableType] = [_FittedTable(lambda width: module_table(report, depth=depth, exact=exact, width=width))]
    if ops:
        parts.append(_FittedTable(lambda width: op_table(report, limit=ops, exact=exact, width=width)))
        shortfalls = shortfall_table(report, limit=ops)
        if shortfalls is not None:
            parts.append(shortfalls)
    parts.append(totals(report, exact=exact))
    warning = uncounted_warning(report)
    if warning is not None:
        parts.append(warning)
    parts.extend(Text(f"note: {note}", style="yellow") for note in report.notes)
    parts.append(Text(report.convention, style="dim italic"))
    if report.measurement is not None:
        parts.append(Text(MEASURED_CONVENTION, style="dim italic"))
    if serving is not None:
        parts.append(render_llm_summary(serving, exact=exact))
    return Group(*parts)
