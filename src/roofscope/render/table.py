"""The terminal report: the module tree, totals, uncounted ops and the convention line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
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
    "measured_text",
    "module_table",
    "op_table",
    "prediction_text",
    "render_terminal",
    "shortfall_table",
    "totals",
    "uncounted_warning",
]


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


def module_table(report: Report, *, depth: int = 2, exact: bool = False) -> Table:
    table = _compact_table(f"{report.model_name}  ({', '.join(report.inputs)})")
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
    labels: list[tuple[Text, str | None]] = []
    rows: list[list[str]] = []

    def add(module: ModuleReport) -> None:
        label = Text("  " * module.depth + (module.short_name or report.model_name))
        if module.calls > 1:
            label.append(f" x{module.calls}")
        label.append(f" {module.type}", style="dim")
        style = "bold" if module.depth == 0 else ("dim" if module.calls == 0 else None)
        cost = module.total
        labels.append((label, style))
        rows.append(
            [
                si(module.params.total, exact=exact),
                si(cost.macs, exact=exact),
                si(cost.flops, exact=exact),
                nbytes(cost.bytes, exact=exact),
                f"{cost.intensity:.1f}",
                _share(cost.flops, whole),
                *(
                    (
                        seconds(cost.roofline_s or 0.0),
                        seconds(cost.predicted_s or 0.0),
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
    table.add_column("module", overflow="ellipsis", max_width=28, min_width=8)
    _add_figure_columns(table, headers, rows)
    for (label, style), cells in zip(labels, rows):
        table.add_row(label, *cells, style=style)
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


def op_table(report: Report, *, limit: int = 12, exact: bool = False) -> Table:
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
    table.add_column("op", overflow="fold")
    table.add_column("family", style="dim", overflow="ellipsis")
    headers = ("calls", "MACs", "FLOPs", "bytes", "%FLOPs") + (("measured", "%meas") if measured is not None else ())
    _add_figure_columns(table, headers, rows)
    for (name, family, style), cells in zip(names, rows):
        table.add_row(name, family, *cells, style=style)
    return table


def totals(report: Report, *, exact: bool = False) -> Text:
    total = report.total
    text = Text()
    text.append("total  ", style="bold")
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
    if not report.uncounted:
        return None
    listed = ", ".join(f"{name} x{calls}" for name, calls in report.uncounted.items())
    return Panel(
        f"{sum(report.uncounted.values())} op call(s) have no formula and are NOT in the totals: {listed}",
        title="uncounted ops",
        border_style="red",
    )


def render_terminal(
    report: Report, *, depth: int = 2, exact: bool = False, ops: int = 12, serving: ServingSummary | None = None
) -> RenderableType:
    """The terminal report; ``serving``, a transformer's serving summary, is printed after it."""
    parts: list[RenderableType] = [module_table(report, depth=depth, exact=exact)]
    if ops:
        parts.append(op_table(report, limit=ops, exact=exact))
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
