"""What ``compare`` and ``sweep`` share: their file options, a progress bar, and the rows printed
as a table, a file or a chart."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from roofscope.cli.options import (
    USER_ERRORS,
    add_device_options,
    check_writable,
    device_options,
    error_console,
    output_console,
    print_error,
    write_text,
)
from roofscope.extras import require
from roofscope.render.sweep import plot_sweep, rows_table, rows_text
from roofscope.report import CONVENTION
from roofscope.sweep import Row, crossing

__all__ = ["add_row_options", "run_rows"]

#: (the progress bar's label and length, and the function that computes the rows, advancing it)
RowsJob = tuple[str, int, Callable[[Callable[[Any], None]], list[Row]]]


def add_row_options(parser: argparse.ArgumentParser) -> None:
    add_device_options(parser)
    parser.add_argument("--exact", action="store_true", help="exact integers instead of K/M/G units")
    parser.add_argument("--format", choices=("json", "csv", "md"), help="write the rows in this format (to -o PATH, else stdout)")
    parser.add_argument("-o", "--output", metavar="PATH", help="the file --format writes")


def run_rows(command: str, args: argparse.Namespace, plan: Callable[[dict[str, Any]], RowsJob], *, first: str) -> int:
    """Check the options, compute the rows (``plan(analysis options)`` says how) under a progress
    bar, then write them: to the file or format asked, else as a table; ``--plot`` draws them."""
    console = output_console(140)
    errors = error_console()
    plot = getattr(args, "plot", None)
    try:
        fmt = check_writable(args.format, args.output, plot)
        if fmt not in (None, "json", "csv", "md"):
            raise ValueError(f"roofscope {command} writes its rows as json, csv or md, not {fmt} ({args.output})")
        if plot and not (args.device or args.peak_tflops):
            raise ValueError("--plot draws throughput and the memory/compute crossing: it needs --device")
        if plot:
            require("matplotlib", "--plot")
        label, total, compute = plan(device_options(args))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=errors, transient=True) as progress:
            task = progress.add_task(label, total=total)
            rows = compute(lambda _: progress.advance(task))
        if plot:
            plot_sweep(rows, plot, axis=first)
        if fmt and write_text(rows_text(rows, fmt), args.output):
            return 0
    except USER_ERRORS as error:
        print_error(errors, f"roofscope {command}", error)
        return 2
    report = rows[0].report
    table = rows_table(rows, first=first, exact=args.exact)
    precision = report.precision.name if report.precision else "model dtype"
    title = f"{rows[0].label} over {first}" if command == "sweep" else "comparison"
    table.title = title + (f"  ({report.device.name}, {precision})" if report.device else "")
    console.print(table)
    if command == "sweep" and report.device is not None:
        cross = crossing(rows)
        last = rows[-1]
        console.print(
            f"crosses from memory- to compute-bound at {first} {cross.value}"
            if cross
            else f"{last.report.total.bound}-bound over the whole sweep "
            f"({100 * (last.report.total.memory_bound_share or 0):.0f}% of predicted time in memory-bound ops at {first} {last.value})",
            highlight=False,
        )
    console.print(CONVENTION, style="dim italic", highlight=False)
    for path in (plot, args.output):
        if path:
            errors.print(f"wrote {path}", highlight=False)
    return 0
