"""What ``compare`` and ``sweep`` share: their options, a progress bar, and the rows printed as a
table, written as a file or drawn as a chart."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.text import Text

from roofscope.cli.options import (
    USER_ERRORS,
    add_counting_options,
    add_device_options,
    check_writable,
    device_options,
    error_console,
    notes_printed,
    output_console,
    print_error,
    progress_bar,
    write_text,
)
from roofscope.extras import require
from roofscope.render.sweep import plot_compare, plot_sweep, rows_table, rows_text, uncounted_note
from roofscope.report import CONVENTION
from roofscope.sweep import Row, crossing

__all__ = ["add_row_options", "is_generative", "run_rows", "run_serving"]

#: (the progress bar's label and length, and the function that computes the rows, advancing it)
RowsJob = tuple[str, int, Callable[[Callable[[Any], None]], list[Row]]]


def add_row_options(parser: argparse.ArgumentParser) -> None:
    """The options of the main command that apply to every row: device, precision, counting
    conventions, formats and the chart."""
    add_device_options(parser)
    parser.add_argument("--backward", action="store_true", help="count the backward pass too (of the sum of the outputs)")
    add_counting_options(parser)
    parser.add_argument("--exact", action="store_true", help="exact integers instead of K/M/G units")
    parser.add_argument("--format", choices=("json", "csv", "md", "html"), help="write the rows in this format (to -o PATH, else stdout)")
    parser.add_argument("-o", "--output", metavar="PATH", help="the file the rows go to (the format follows the suffix)")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {**device_options(args), "backward": args.backward, "causal": args.causal, "strict": args.strict}


def run_rows(command: str, args: argparse.Namespace, plan: Callable[[dict[str, Any]], RowsJob], *, first: str) -> int:
    """Check the options, compute the rows (``plan(analysis options)`` says how) under a progress
    bar, then write them: to the file or format asked (and nowhere else), else as a table;
    ``--plot`` draws them."""
    console = output_console(140)
    errors = error_console()
    plot = getattr(args, "plot", None)
    try:
        fmt = check_writable(args.format, args.output, plot)
        if plot and not (args.device or args.peak_tflops):
            raise ValueError(f"--plot draws the rows on a device's roofline: it needs --device (roofscope {command} ... --device h100)")
        if plot:
            require("matplotlib", "--plot")
        if args.kv or args.traffic != "serving":
            raise ValueError("--kv and --traffic apply to causal LM presets (serving summaries), not to these models")
        label, total, compute = plan(_options(args))
        with notes_printed(errors, f"roofscope {command}"), progress_bar(errors) as bar:
            task = bar.add_task(label, total=total)
            rows = compute(lambda _: bar.advance(task))
        if plot:
            (plot_sweep(rows, plot, axis=first) if command == "sweep" else plot_compare(rows, plot))
        if fmt:
            write_text(rows_text(rows, fmt, first=first), args.output)
        else:
            _print_rows(command, rows, first, args.exact, console)
    except USER_ERRORS as error:
        print_error(errors, f"roofscope {command}", error)
        return 2
    for path in (plot, args.output):
        if path:
            errors.print(f"wrote {path}", highlight=False)
    return 0


def _print_rows(command: str, rows: list[Row], first: str, exact: bool, console: Any) -> None:
    report = rows[0].report
    table = rows_table(rows, first=first, exact=exact)
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
    note = uncounted_note(rows)
    if note:
        console.print(Text(note, style="bold red"))
    console.print(CONVENTION, style="dim italic", highlight=False)


def is_generative(spec: str) -> bool:
    """A built-in transformer preset that generates tokens (a causal LM or an encoder-decoder)."""
    from roofscope.models.presets import lookup
    from roofscope.models.transformers import GENERATIVE_HEADS

    preset = lookup(spec)
    return preset is not None and preset.head in GENERATIVE_HEADS


def run_serving(command: str, args: argparse.Namespace, *, first: str) -> int:
    """``sweep`` over batch sizes or ``compare`` of causal LMs: their serving summaries
    (``roofscope.llm.serving_curve``, ``compare_serving``) as a table, a file, and for a sweep
    the largest batch that fits the device."""
    from roofscope.llm import compare_serving, get_preset, serving_curve
    from roofscope.models.transformers import GENERATIVE_HEADS
    from roofscope.render.llm import serving_rows_table, serving_rows_text
    from roofscope.sweep import parse_values

    console = output_console(140)
    errors = error_console()
    specs = [args.model] if command == "sweep" else list(args.models)
    largest = None
    try:
        fmt = check_writable(args.format, args.output)
        if fmt == "html":
            raise ValueError("serving summaries are written as json, csv or md; for an HTML page of their forwards add --seq")
        for spec in specs:
            preset = get_preset(spec)
            if preset is None or preset.head not in GENERATIVE_HEADS:
                raise ValueError(
                    f"--prompt and --decode-context size a causal LM's serving summary; {spec} is no causal LM preset or config"
                )
        for flag, value in (
            ("--prompt", args.prompt),
            ("--decode-context", args.decode_context),
            ("--batch", getattr(args, "batch", None)),
        ):
            if isinstance(value, int) and value <= 0:
                raise ValueError(f"{flag} must be a positive integer, got {value}")
        options = {**device_options(args), "traffic": args.traffic}
        seq_len = args.prompt or 2048
        with progress_bar(errors) as progress:
            if command == "sweep":
                batches = parse_values(args.batch or "1,2,4,...,256")
                task = progress.add_task(f"{args.model} serving over batch", total=len(batches))
                curve = serving_curve(
                    args.model, batches, seq_len=seq_len, context=args.decode_context, progress=lambda _: progress.advance(task), **options
                )
                rows, largest = curve.rows, curve.largest_batch
            else:
                task = progress.add_task("serving summaries", total=len(specs))
                batch = args.batch or 1
                rows = compare_serving(
                    specs, batch=batch, seq_len=seq_len, context=args.decode_context, progress=lambda _: progress.advance(task), **options
                )
        if fmt and write_text(serving_rows_text(rows, fmt, largest_batch=largest), args.output):
            return 0
    except USER_ERRORS as error:
        print_error(errors, f"roofscope {command}", error)
        return 2
    table = serving_rows_table(rows, first=first, exact=args.exact)
    head = rows[0]
    where = f"{head.device}, " if head.device else ""
    subject = f"{head.model} serving over batch" if command == "sweep" else "serving comparison"
    table.title = f"{subject}  ({where}{head.precision}, prompt {head.seq_len}, decode at context {head.context}, {head.traffic} traffic)"
    console.print(table)
    if command == "sweep":
        if largest is None:
            console.print("the largest batch that fits needs a device with a memory capacity (--device)", highlight=False)
        else:
            console.print(
                f"largest batch that fits {head.device}: {largest} (weights + KV cache at {max(head.seq_len, head.context)} tokens + activations)",
                highlight=False,
            )
    console.print(
        "TTFT: the prompt's prefill; TPOT: one decode step; tokens/s = batch / TPOT. docs/conventions.md, Serving traffic.",
        style="dim italic",
        highlight=False,
    )
    if args.output:
        errors.print(f"wrote {args.output}", highlight=False)
    return 0
