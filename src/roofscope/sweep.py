"""``roofscope compare`` and ``roofscope sweep``: several reports side by side.

A sweep analyses one model at a series of batch sizes (or image sizes, or sequence lengths) on the
meta device, where no tensor is allocated, and reads each report's totals; a comparison does the
same for several models. The rows hold the reports' own figures; throughput is samples per
predicted second.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from roofscope.api import analyze
from roofscope.models import ResolvedModel, resolve
from roofscope.report import CONVENTION, Report


def parse_values(text: str) -> list[int]:
    """"1,2,4,...,256" (doubling, as the values before "..." show), "1,2,3,...,8" (step 1),
    "1,8,32", or one number. Before "...": a constant difference over three values is a step,
    otherwise an integer ratio is a ratio."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    error = ValueError(f"a series of positive integers is like 1,2,4,...,256 or 1,8,32; got {text!r}")
    try:
        if "..." in parts:
            index = parts.index("...")
            if index < 2 or index != len(parts) - 2:
                raise error
            values = [int(part) for part in parts[:index]]
            last = int(parts[-1])
            a, b = values[-2], values[-1]
            arithmetic = len(values) >= 3 and b - a == a - values[-3]
            if a <= 0 or b <= a or last < b or (not arithmetic and b % a):
                raise error
            while True:
                following = values[-1] + (b - a) if arithmetic else values[-1] * (b // a)
                if following > last:
                    break
                values.append(following)
            if values[-1] != last:
                values.append(last)
        else:
            values = [int(part) for part in parts]
    except ValueError:
        raise error from None
    if not values or any(value <= 0 for value in values):
        raise error
    return values


def build_meta(spec: str) -> ResolvedModel:
    """The model built on the meta device (no weights allocated), or on the CPU where it cannot be."""
    if not spec.endswith(".pt2"):
        try:
            with torch.device("meta"):
                return resolve(spec)
        except Exception as error:  # noqa: BLE001 - fall back to a real build below
            from roofscope.models import ModelSpecError

            if isinstance(error, ModelSpecError):
                raise
    return resolve(spec)


@dataclasses.dataclass
class Row:
    label: str
    value: int | None
    samples: int
    report: Report

    @property
    def throughput(self) -> float | None:
        """Samples per second at the predicted time."""
        predicted = self.report.total.predicted_s
        return self.samples / predicted if predicted else None


def _samples(inputs: Any) -> int:
    from roofscope.inputs import TensorSpec

    values = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
    for value in values:
        if isinstance(value, TensorSpec) and value.shape:
            return value.shape[0]
    return 1


def run_sweep(
    spec: str, values: list[int], *, axis: str = "batch", inputs: Any = None, progress: Any = None, **options: Any
) -> list[Row]:
    """One report per value of ``axis`` ("batch", "size" or "seq")."""
    from roofscope.inputs import replace_dims

    resolved = build_meta(spec)
    base = inputs if inputs is not None else resolved.inputs
    if base is None:
        raise ValueError(f"{resolved.name} declares no default inputs: give one with --input")
    rows = []
    for value in values:
        shaped = replace_dims(base, **{axis: value})
        report = analyze(resolved.model, shaped, **options)
        report.model_name = resolved.name
        rows.append(Row(resolved.name, value, _samples(shaped), report))
        if progress is not None:
            progress()
    return rows


def crossing(rows: list[Row]) -> Row | None:
    """The first row whose model is compute-bound after a memory-bound one."""
    for before, after in zip(rows, rows[1:]):
        if before.report.total.bound == "memory" and after.report.total.bound == "compute":
            return after
    return None


def rows_table(rows: list[Row], *, first: str, exact: bool = False) -> Any:
    from rich.table import Table

    from roofscope.render.units import nbytes, seconds, si

    timed = any(row.report.device is not None for row in rows)
    table = Table(title_justify="left")
    table.add_column(first, no_wrap=True)
    for column in ("params", "MACs", "FLOPs", "bytes", "FLOP/B"):
        table.add_column(column, justify="right")
    if timed:
        for column in ("time", "samples/s", "bound", "%mem"):
            table.add_column(column, justify="right")
    for row in rows:
        total = row.report.total
        cells = [
            row.label if row.value is None else str(row.value),
            si(row.report.params.total, exact=exact), si(total.macs, exact=exact), si(total.flops, exact=exact),
            nbytes(total.bytes, exact=exact), f"{total.intensity:.1f}",
        ]
        if timed:
            cells += [
                seconds(total.predicted_s or 0.0), si(row.throughput or 0.0), total.bound or "-",
                f"{100 * (total.memory_bound_share or 0):.0f}%",
            ]
        table.add_row(*cells)
    return table


def rows_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    return [
        {
            "model": row.label,
            "value": row.value,
            "inputs": row.report.inputs,
            "params": row.report.params.total,
            "macs": row.report.total.macs,
            "flops": row.report.total.flops,
            "bytes_read": row.report.total.bytes_read,
            "bytes_written": row.report.total.bytes_written,
            "intensity": row.report.total.intensity,
            "predicted_s": row.report.total.predicted_s,
            "throughput": row.throughput,
            "bound": row.report.total.bound,
            "memory_bound_share": row.report.total.memory_bound_share,
        }
        for row in rows
    ]


def plot_sweep(rows: list[Row], path: Any, *, axis: str = "batch") -> Any:
    """Four panels against the swept value: FLOPs and bytes, intensity (with the ridge points),
    predicted throughput, and the share of time in memory-bound ops; the crossing from
    memory- to compute-bound is marked when there is one."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from roofscope.render.units import si

    report = rows[0].report
    xs = [row.value for row in rows]
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
    timed = [row for row in rows if row.throughput]
    ax.plot([row.value for row in timed], [row.throughput for row in timed], "o-", color="#1d7874")
    ax.set_ylim(0, max([row.throughput or 0.0 for row in timed] + [1.0]) * 1.12)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: si(v)))
    for row in timed[-1:]:
        ax.annotate(f"{si(row.throughput)} samples/s", (row.value, row.throughput), xytext=(-4, 6),
                    textcoords="offset points", ha="right", fontsize=8)
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
        panels[1][1].annotate(f"compute-bound from {axis} {cross.value}", (cross.value, 50), xytext=(6, 8),
                              textcoords="offset points", fontsize=8)
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


# The command line of compare and sweep (``roofscope.cli.SUBCOMMANDS`` dispatches to it), and the
# output helpers the main command shares.

FORMATS = {".json": "json", ".csv": "csv", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def check_writable(fmt: str | None, *paths: str | None) -> str | None:
    """The output format (from ``fmt`` or the first path's suffix); raises ValueError, before any
    work is done, for a path whose folder does not exist or cannot be written."""
    import os
    from pathlib import Path

    for path in paths:
        if not path:
            continue
        folder = Path(path).expanduser().resolve().parent
        if not folder.is_dir():
            raise ValueError(f"cannot write {path}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise ValueError(f"cannot write {path}: the folder {folder} is not writable")
        if Path(path).is_dir():
            raise ValueError(f"cannot write {path}: it is a folder")
    output = paths[0] if paths else None
    if fmt is None and output:
        from pathlib import Path

        fmt = FORMATS.get(Path(output).suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot tell the format of {output} from its suffix: add --format json|csv|md|html")
    return fmt


def render(report: Report, fmt: str, *, depth: int | None = None, exact: bool = False) -> str:
    from roofscope.render import export
    from roofscope.render.html import to_html

    if fmt == "json":
        return export.to_json(report)
    if fmt == "csv":
        return export.to_csv(report)
    if fmt == "md":
        return export.to_markdown(report, depth=depth, exact=exact)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown format {fmt!r}: use json, csv, md or html")


def write_output(report: Report, fmt: str | None, path: str | None, **options: Any) -> bool:
    """Write the report to ``path``, or to stdout without one; True when it went to stdout."""
    import sys

    fmt = check_writable(fmt, path)
    text = render(report, fmt or "json", **options)
    if path is None:
        sys.stdout.write(text)
        return True
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return False


COMPARE_EXAMPLES = """examples:
  roofscope compare resnet18 resnet50 mobilenet_v3_large
  roofscope compare resnet50 vit_b_16 --device h100 --dtype bf16
  roofscope compare seed-conv mypkg.models:build --batch 8 --format json -o compare.json
"""

SWEEP_EXAMPLES = """examples:
  roofscope sweep resnet50 --batch 1,2,4,...,256 --device h100 --dtype bf16 --plot sweep.png
  roofscope sweep resnet50 --size 128,160,...,320 --device a100
  roofscope sweep mylm.py:LM --input 1,128:int64 --seq 128,256,...,4096 --device h100
  ("1,2,4,...,256" doubles; "128,160,192,...,320" steps by 32)
"""


def _common(parser: Any) -> None:
    parser.add_argument("--device", help="a catalog device (h100, a100, l4, ...) or a TOML/JSON device file")
    parser.add_argument("--dtype", help="analyse as if in this precision: bf16, fp16, fp32, tf32, fp8, int8, int8-weights")
    parser.add_argument("--peak-tflops", type=float, help="override (or, without --device, define) the peak dense TFLOP/s")
    parser.add_argument("--bandwidth-gbs", type=float, help="override (or define) the memory bandwidth in GB/s")
    parser.add_argument("--exact", action="store_true", help="exact integers instead of K/M/G units")
    parser.add_argument("--format", choices=("json", "csv", "md"), help="write the rows in this format (to -o PATH, else stdout)")
    parser.add_argument("-o", "--output", metavar="PATH", help="the file --format writes")


def _rows_text(rows: list[Row], fmt: str) -> str:
    import csv
    import io
    import json

    data = rows_dicts(rows)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    columns = [key for key in data[0] if key != "inputs"]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)
        return buffer.getvalue()
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if row[c] is None else (f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])) for c in columns) + " |" for row in data]
    return "\n".join(lines) + "\n"


def run_subcommand(name: str, argv: list[str]) -> int:
    import argparse
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from roofscope.api import AnalysisError
    from roofscope.capture import CaptureError
    from roofscope.cli import _shape
    from roofscope.models import ModelSpecError

    formatter = argparse.RawDescriptionHelpFormatter
    if name == "compare":
        parser = argparse.ArgumentParser(prog="roofscope compare", description="Models side by side: params, MACs, FLOPs, bytes, intensity, and predicted time with --device.", epilog=COMPARE_EXAMPLES, formatter_class=formatter)
        parser.add_argument("models", nargs="+", metavar="MODEL", help="model names, as for roofscope MODEL")
        parser.add_argument("--batch", type=int, help="set the first dimension of each model's default inputs")
    else:
        parser = argparse.ArgumentParser(prog="roofscope sweep", description="One model over a series of batch sizes, image sizes or sequence lengths, analysed on the meta device.", epilog=SWEEP_EXAMPLES, formatter_class=formatter)
        parser.add_argument("model", metavar="MODEL", help="a model name, as for roofscope MODEL")
        axis = parser.add_mutually_exclusive_group()
        axis.add_argument("--batch", metavar="VALUES", help="batch sizes, e.g. 1,2,4,...,256 (the default)")
        axis.add_argument("--size", metavar="VALUES", help="image sizes (the last two dimensions of 4-D inputs), e.g. 128,160,...,320")
        axis.add_argument("--seq", metavar="VALUES", help="sequence lengths (dimension 1 of the inputs), e.g. 128,256,...,4096")
        parser.add_argument("--input", action="append", type=_shape, metavar="SHAPE", help="the base input shape(s), e.g. 1,128:int64")
        parser.add_argument("--plot", metavar="PATH", help="write the sweep chart (PNG or SVG by suffix; needs --device)")
    _common(parser)
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=140)  # a file or pipe: no truncated columns
    error_console = Console(stderr=True)
    options = {"device": args.device, "dtype": args.dtype, "peak_tflops": args.peak_tflops, "bandwidth_gbs": args.bandwidth_gbs}
    try:
        fmt = check_writable(args.format, args.output, getattr(args, "plot", None))
        if getattr(args, "plot", None) and not (args.device or args.peak_tflops):
            raise ValueError("--plot draws throughput and the memory/compute crossing: it needs --device")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=error_console, transient=True) as progress:
            if name == "compare":
                from roofscope.inputs import replace_dims

                task = progress.add_task("analysing", total=len(args.models))
                rows = []
                for spec in args.models:
                    progress.update(task, description=f"analysing {spec}")
                    resolved = build_meta(spec)
                    if resolved.inputs is None:
                        raise ValueError(f"{resolved.name} declares no default inputs; analyse it alone with --input")
                    inputs = replace_dims(resolved.inputs, batch=args.batch) if args.batch else resolved.inputs
                    report = analyze(resolved.model, inputs if isinstance(inputs, dict) else list(inputs), **options)
                    report.model_name = resolved.name
                    rows.append(Row(resolved.name, None, _samples(inputs), report))
                    progress.advance(task)
                first = "model"
            else:
                axis_name = "size" if args.size else "seq" if args.seq else "batch"
                values = parse_values(args.size or args.seq or args.batch or "1,2,4,...,256")
                task = progress.add_task(f"{args.model} over {axis_name}", total=len(values))
                rows = run_sweep(args.model, values, axis=axis_name, inputs=args.input, progress=lambda: progress.advance(task), **options)
                first = axis_name
        if getattr(args, "plot", None):
            plot_sweep(rows, args.plot, axis=first)
        if fmt:
            text = _rows_text(rows, fmt)
            if args.output:
                with open(args.output, "w", encoding="utf-8") as handle:
                    handle.write(text)
            else:
                sys.stdout.write(text)
                return 0
    except (ModelSpecError, AnalysisError, CaptureError, ValueError, OSError) as error:
        error_console.print(f"[bold red]roofscope {name}:[/] {error}", highlight=False)
        return 2
    title = f"{rows[0].label} over {first}" if name == "sweep" else "comparison"
    table = rows_table(rows, first=first, exact=args.exact)
    table.title = title + (f"  ({rows[0].report.device.name}, {rows[0].report.precision.name if rows[0].report.precision else 'model dtype'})" if rows[0].report.device else "")
    console.print(table)
    if name == "sweep" and rows[0].report.device is not None:
        cross = crossing(rows)
        console.print(f"crosses from memory- to compute-bound at {first} {cross.value}" if cross else
                      f"{rows[-1].report.total.bound}-bound over the whole sweep ({100 * (rows[-1].report.total.memory_bound_share or 0):.0f}% of predicted time in memory-bound ops at {first} {rows[-1].value})", highlight=False)
    console.print(CONVENTION, style="dim italic", highlight=False)
    if getattr(args, "plot", None):
        error_console.print(f"wrote {args.plot}", highlight=False)
    if args.output:
        error_console.print(f"wrote {args.output}", highlight=False)
    return 0


