"""Sweeps and comparisons shown: a rich table, the rows as JSON/CSV/Markdown, and the sweep chart.

They show the reports' own figures and the rows' throughput; they compute nothing.
"""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from rich.table import Table

from roofscope.extras import require
from roofscope.render.units import nbytes, seconds, si
from roofscope.sweep import Row, crossing, rows_dicts

__all__ = ["INCOMPLETE", "columns_text", "plot_compare", "plot_sweep", "rows_html", "rows_table", "rows_text", "uncounted_note"]

#: The mark beside a total that leaves out ops without a formula (the caveat below says which).
INCOMPLETE = "*"


def rows_table(rows: list[Row], *, first: str, exact: bool = False) -> Any:
    timed = any(row.report.device is not None for row in rows)
    table = Table(title_justify="left")
    table.add_column(first, overflow="fold")
    # a squeezed number folds onto a second line; an ellipsis would hide digits
    for column in ("params", "MACs", "FLOPs", "bytes", "FLOP/B"):
        table.add_column(column, justify="right", overflow="fold")
    if timed:
        for column in ("time", "samples/s", "bound", "%mem"):
            table.add_column(column, justify="right", overflow="fold")
    for row in rows:
        total = row.report.total
        mark = f" {INCOMPLETE}" if row.report.uncounted else ""
        cells = [
            (row.label if row.value is None else str(row.value)) + mark,
            si(row.report.params.total, exact=exact),
            si(total.macs, exact=exact),
            si(total.flops, exact=exact),
            nbytes(total.bytes, exact=exact),
            f"{total.intensity:.1f}",
        ]
        if timed:
            cells += [
                seconds(total.predicted_s or 0.0),
                si(row.throughput or 0.0),
                total.bound or "-",
                f"{100 * (total.memory_bound_share or 0):.0f}%",
            ]
        table.add_row(*cells)
    return table


def uncounted_note(rows: list[Row]) -> str | None:
    """The caveat under a table of rows whose totals leave out ops without a formula; None when
    every op of every row is counted."""
    incomplete = [row for row in rows if row.report.uncounted]
    if not incomplete:
        return None
    parts = []
    for row in incomplete:
        listed = ", ".join(f"{name} x{calls}" for name, calls in row.report.uncounted.items())
        parts.append(f"{row.label if row.value is None else row.value}: {listed}")
    return f"{INCOMPLETE} incomplete totals: op calls with no formula are NOT counted ({'; '.join(parts)})"


def _uncounted_cell(uncounted: dict[str, int]) -> str:
    return "; ".join(f"{name} x{calls}" for name, calls in uncounted.items())


def rows_text(rows: list[Row], fmt: str, *, first: str = "model") -> str:
    """The rows as JSON, CSV, Markdown or a self-contained HTML page; every format says which rows
    are incomplete ("complete" false, and the ops left uncounted)."""
    data = rows_dicts(rows)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "html":
        return rows_html(rows, first=first)
    flat = [{**row, "uncounted": _uncounted_cell(row["uncounted"])} for row in data]
    text = columns_text(flat, [key for key in data[0] if key != "inputs"], fmt)
    note = uncounted_note(rows)
    return text + f"\n**{note}**\n" if note and fmt == "md" else text


def columns_text(data: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    """Rows of a table as CSV or a Markdown table, with only ``columns`` (floats to 4 digits in
    Markdown, None as an empty cell)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)
        return buffer.getvalue()
    if fmt != "md":
        raise ValueError(f"the rows are written as json, csv, md or html, not {fmt}")

    def cell(value: Any) -> str:
        text = "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in data]
    return "\n".join(lines) + "\n"


def rows_html(rows: list[Row], *, first: str) -> str:
    """A self-contained page: the rows' table (sortable, figures descending first), the caveat of
    incomplete rows, and the convention."""
    from roofscope.render.html import page, sortable_table

    timed = any(row.report.device is not None for row in rows)
    headers = [first, "params", "MACs", "FLOPs", "bytes", "FLOP/B"] + (["time", "samples/s", "bound", "%mem"] if timed else [])
    body = []
    for row in rows:
        total = row.report.total
        label = row.label if row.value is None else str(row.value)
        cells: list[tuple[Any, str]] = [
            (label, label + (f" {INCOMPLETE}" if row.report.uncounted else "")),
            (row.report.params.total, si(row.report.params.total)),
            (total.macs, si(total.macs)),
            (total.flops, si(total.flops)),
            (total.bytes, nbytes(total.bytes)),
            (total.intensity, f"{total.intensity:.1f}"),
        ]
        if timed:
            cells += [
                (total.predicted_s or 0.0, seconds(total.predicted_s or 0.0)),
                (row.throughput or 0.0, si(row.throughput or 0.0)),
                (total.bound or "", total.bound or "-"),
                (total.memory_bound_share or 0.0, f"{100 * (total.memory_bound_share or 0):.0f}%"),
            ]
        body.append((cells, "uncounted" if row.report.uncounted else ""))
    note = uncounted_note(rows)
    report = rows[0].report
    title = f"{rows[0].label} over {first}" if first != "model" else "comparison"
    subtitle = f"{report.device.name}, {report.precision.name if report.precision else 'model dtype'}" if report.device else "no device"
    warning = f'<div class="warn">{html.escape(note)}</div>' if note else '<div class="ok">Every op call of every row is counted.</div>'
    return page(
        title,
        f'<h1>{html.escape(title)}</h1><p class="muted">{html.escape(subtitle)}</p>{warning}'
        + sortable_table("rows", headers, body, text_columns=1 if first == "model" else 0)
        + f'<p class="muted"><i>{html.escape(report.convention)}</i></p>',
    )


def plot_sweep(rows: list[Row], path: Any, *, axis: str = "batch") -> Any:
    """Four panels against the swept value: FLOPs and bytes, intensity (with the ridge points),
    predicted throughput, and the share of time in memory-bound ops; the crossing from
    memory- to compute-bound is marked when there is one."""
    require("matplotlib", "the sweep chart")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    report = rows[0].report
    xs = [row.value for row in rows if row.value is not None]
    figure = Figure(figsize=(11, 7.5), dpi=110, layout="constrained")
    panels = figure.subplots(2, 2, sharex=True)
    label = {"batch": "batch size", "size": "image size (pixels)", "seq": "sequence length"}[axis]

    ax = panels[0][0]
    ax.plot(xs, [row.report.total.flops for row in rows], "o-", color="#1f4e9c", label="FLOPs")
    ax.plot(xs, [row.report.total.bytes for row in rows], "s-", color="#e76f51", label="bytes moved")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v)))
    ax.set_title("work per forward pass (FLOPs, bytes)", loc="left", fontsize=10)
    ax.legend(fontsize=8)

    ax = panels[0][1]
    ax.plot(xs, [row.report.total.intensity for row in rows], "o-", color="#2a9d8f", label="model intensity")
    for index, roof in enumerate(report.roofs[:2]):
        ax.axhline(roof.ridge, ls="--", lw=1, color=("#8e44ad", "#b8860b")[index], label=f"ridge {roof.label} ({roof.ridge:.0f})")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(int(v))[0] in "25" else ""))
    ax.set_title("arithmetic intensity (FLOP / byte): model vs ridge points", loc="left", fontsize=10)
    ax.legend(fontsize=8)

    ax = panels[1][0]
    timed = [(row.value, row.throughput) for row in rows if row.throughput]
    ax.plot([value for value, _ in timed], [throughput for _, throughput in timed], "o-", color="#1d7874")
    ax.set_ylim(0, max([throughput for _, throughput in timed] + [1.0]) * 1.12)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v)))
    for value, throughput in timed[-1:]:
        ax.annotate(
            f"{si(throughput)} samples/s",
            (value, throughput),
            xytext=(-4, 6),
            textcoords="offset points",
            ha="right",
            fontsize=8,
        )
    ax.set_title("predicted throughput (samples / s)", loc="left", fontsize=10)

    ax = panels[1][1]
    ax.plot(xs, [100 * (row.report.total.memory_bound_share or 0) for row in rows], "o-", color="#d62828")
    ax.axhline(50, ls=":", lw=1, color="0.4")
    ax.set_ylim(0, 100)
    ax.set_title("% of predicted time in memory-bound ops", loc="left", fontsize=10)

    cross = crossing(rows)
    for ax in (panel for line in panels for panel in line):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([str(x) for x in xs], fontsize=8)
        ax.grid(True, lw=0.4, alpha=0.5)
        if cross is not None:
            ax.axvline(cross.value, color="0.2", lw=1.2, ls="-.")
    for ax in panels[1]:
        ax.set_xlabel(label)
    if cross is not None:
        panels[1][1].annotate(
            f"compute-bound from {axis} {cross.value}", (cross.value, 50), xytext=(6, 8), textcoords="offset points", fontsize=8
        )
        verdict = f"crosses from memory- to compute-bound at {axis} {cross.value}"
    elif rows[-1].report.total.bound == "memory":
        verdict = f"memory-bound over the whole sweep ({100 * (rows[-1].report.total.memory_bound_share or 0):.0f}% of time in memory-bound ops at {axis} {xs[-1]})"
    else:
        verdict = "compute-bound over the whole sweep"
    device = report.device.name if report.device else "no device"
    precision = report.precision.name if report.precision else "model dtype"
    figure.suptitle(f"{rows[0].label} on {device} ({precision}), {label} {xs[0]}..{xs[-1]}\n{verdict}", fontsize=11, x=0.01, ha="left")
    if path is not None:
        figure.savefig(path)
    return figure


def plot_compare(rows: list[Row], path: Any) -> Any:
    """The compared models on the device's roofline: one point per model at its intensity and
    attainable FLOP/s (FLOPs / predicted time), under the roofs of the first row's device."""
    require("matplotlib", "the comparison chart")
    from matplotlib.figure import Figure

    report = rows[0].report
    if report.device is None or not report.roofs:
        raise ValueError("the comparison chart needs a device (--device)")
    figure = Figure(figsize=(9, 6), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    axes.set_xscale("log")
    axes.set_yscale("log")
    timed = [row for row in rows if row.report.total.predicted_s]
    intensities = [row.report.total.intensity for row in timed if row.report.total.intensity] + [roof.ridge for roof in report.roofs]
    low, high = min(intensities) / 4, max(intensities) * 4
    for roof, color in zip(report.roofs, ("#1f4e9c", "#8e44ad", "#b8860b", "#555555")):
        axes.plot(
            [low, roof.ridge, high],
            [low * roof.bandwidth, roof.peak, roof.peak],
            "-",
            color=color,
            lw=1.5,
            label=f"{roof.label}: {si(roof.peak, 'FLOP/s')}",
        )
    for row in timed:
        total = row.report.total
        color = "#d62828" if total.bound == "memory" else "#1d7874"
        axes.plot([total.intensity], [total.attainable or 0.0], "o", color=color, ms=8, mec="black", mew=0.5)
        mark = f" {INCOMPLETE}" if row.report.uncounted else ""
        axes.annotate(
            f"{row.label}{mark} ({seconds(total.predicted_s or 0.0)})",
            (total.intensity, total.attainable or 0.0),
            xytext=(6, -10),
            textcoords="offset points",
            fontsize=8,
        )
    precision = report.precision.name if report.precision else "model dtype"
    axes.set_title(f"compared on {report.device.name} ({precision})", loc="left", fontsize=11)
    axes.set_xlabel("arithmetic intensity (FLOP / byte)")
    axes.set_ylabel("attainable FLOP/s (FLOPs / predicted time)")
    axes.set_xlim(low, high)
    axes.grid(True, lw=0.4, alpha=0.5)
    axes.legend(loc="lower right", fontsize=8)
    note = uncounted_note(rows)
    if note:
        figure.text(0.01, 0.005, note, fontsize=7, color="#d62828", ha="left", va="bottom")
    if path is not None:
        figure.savefig(path)
    return figure
