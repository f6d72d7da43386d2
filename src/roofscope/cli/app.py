"""The commands of ``roofscope``: the main command (``roofscope MODEL``), compare, sweep, probe."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from roofscope.analysis import AnalysisError, analyze
from roofscope.capture import CaptureError
from roofscope.devices import devices
from roofscope import __version__
from roofscope.models.examples import EXAMPLES
from roofscope.extras import MissingDependency, require
from roofscope.inputs import TensorSpec, parse_input_spec, replace_dims
from roofscope.precision import torch_dtype
from roofscope.models import ModelSpecError, ResolvedModel, resolve
from roofscope.render.table import render_terminal
from roofscope.render.export import to_format, to_json
from roofscope.render.sweep import plot_sweep, rows_table, rows_text
from roofscope.report import CONVENTION, Report
from roofscope.sweep import crossing, parse_values, run_compare, run_sweep

if TYPE_CHECKING:
    from roofscope.llm import ServingSummary

EXAMPLES_TEXT = """examples:
  roofscope seed-conv                      the seed article's SimpleConv, exact counts
  roofscope resnet50 --depth 1             a torchvision model with random weights
  roofscope resnet50 --input 8,3,224,224   a batch of 8
  roofscope vit_b_16 --exact --ops 20      exact integers, the 20 heaviest ops
  roofscope resnet50 --device h100 --dtype bf16 --plot roofline.png
                                           roofline on a catalog device, as if in bf16
  roofscope resnet50 --peak-tflops 100 --bandwidth-gbs 800
                                           roofline on your own device
  roofscope --devices                      list the device catalog
  roofscope resnet18 --batch 8 --format html -o report.html
                                           a self-contained HTML report (also json, csv, md)
  roofscope torchvision:resnet50 | timm:resnet50 | mypkg.models:build | net.py:Net | model.pt2
                                           the model forms
  roofscope seed-attention --input 1,10,256 --input 1,10,256 --input 1,10,256
  roofscope mytok.py:LM --input 1,128:int64  token ids (a dtype after the shape)
  roofscope llama-2-7b --seq 2048 --device a100-80gb --dtype fp16
                                           a transformer preset, built on the meta device, with
                                           its serving summary: KV cache, memory vs capacity,
                                           prefill latency, time per output token, tokens/s
  roofscope llama-2-70b --seq 512 --decode-context 4096 --device h200 --dtype fp8
                                           time per output token with 4096 tokens cached
  roofscope resnet50 --batch 32 --backward --device h100 --dtype bf16
                                           forward + backward (a training step's work)

  roofscope resnet50 --batch 64 --dtype bf16 --measure cuda
                                           run it for real: measured time, utilization and
                                           roofline efficiency of every op and module
  roofscope resnet18 --measure cpu --device mine.toml --repeats 5
                                           measured on the CPU, against probed ceilings

subcommands (roofscope compare --help, roofscope sweep --help, roofscope probe --help):
  roofscope compare resnet18 resnet50 mobilenet_v3_large --device h100 --dtype bf16
  roofscope sweep resnet50 --batch 1,2,4,...,256 --device h100 --dtype bf16 --plot sweep.png
  roofscope probe cuda -o mine.toml        this machine's ceilings, as a device file
"""


def _error_console() -> Console:
    """stderr, never hard-wrapped: an error stays one line for whoever reads or greps it."""
    return Console(stderr=True, soft_wrap=True)


def _print_error(console: Console, command: str, error: object) -> None:
    console.print(Text.assemble((f"{command}:", "bold red"), " ", str(error)))


def _shape(text: str) -> TensorSpec:
    try:
        return parse_input_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roofscope",
        description="What a PyTorch model costs: parameters, MACs, FLOPs and memory traffic.",
        epilog=EXAMPLES_TEXT + "\nbuilt-in examples: " + ", ".join(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"roofscope {__version__}")
    parser.add_argument("model", nargs="?", help="a built-in example (seed-conv), a torchvision name (resnet50), a transformer preset (llama-2-7b) or config.json, timm:NAME, package.module:factory, file.py:Class or a .pt2 file")
    parser.add_argument("--input", action="append", type=_shape, metavar="SHAPE", help="an input shape, e.g. 1,3,224,224, or 1,128:int64 with a dtype; repeat for several inputs")
    parser.add_argument("--batch", type=int, help="set the first dimension of the (default) inputs")
    parser.add_argument("--seq", type=int, metavar="TOKENS", help="the sequence length of a transformer preset (llama-2-7b --seq 2048)")
    parser.add_argument("--decode-context", type=int, metavar="TOKENS", help="a causal LM preset's serving summary: the tokens in the KV cache at the decode step (default: --seq)")
    parser.add_argument("--backward", action="store_true", help="count the backward pass too (of the sum of the outputs): forward and backward totals and their ratio")
    parser.add_argument("--format", choices=("json", "csv", "md", "html"), help="write the report in this format (to -o PATH, else stdout)")
    parser.add_argument("-o", "--output", metavar="PATH", help="the file --format writes (the format follows the suffix when --format is not given)")
    parser.add_argument("--depth", type=int, default=2, help="module tree depth to show (default 2)")
    parser.add_argument("--ops", type=int, default=12, help="how many ops to list by cost (0 hides the table)")
    parser.add_argument("--exact", action="store_true", help="exact integers instead of K/M/G units")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    parser.add_argument("--device", help="a catalog device (h100, a100, l4, ... see --devices) or a TOML/JSON device file")
    parser.add_argument("--dtype", help="analyse as if in this precision: bf16, fp16, fp32, tf32, fp8, int8, int8-weights, fp8-weights")
    parser.add_argument("--peak-tflops", type=float, help="override (or, without --device, define) the peak dense TFLOP/s")
    parser.add_argument("--bandwidth-gbs", type=float, help="override (or define) the memory bandwidth in decimal GB/s")
    parser.add_argument("--launch-us", type=float, help="a per-op launch floor in microseconds")
    parser.add_argument("--plot", metavar="PATH", help="write the roofline chart (PNG or SVG by suffix)")
    parser.add_argument(
        "--measure", nargs="?", const="auto", metavar="cpu|cuda",
        help="run the model for real (in eval mode) on cpu or cuda (default: cuda when there is a GPU) and show measured "
        "time, achieved FLOP/s, utilization and roofline efficiency beside the prediction; --dtype then casts the model "
        "(fp32, bf16, fp16, fp64) and --device names the ceilings (default: the GPU's catalog entry)",
    )
    parser.add_argument("--repeats", type=int, default=10, help="with --measure: timed forwards; each figure is their median (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="with --measure: untimed forwards first (default 3)")
   
    parser.add_argument("--devices", action="store_true", help="list the device catalog and exit")
    parser.add_argument("--strict", action="store_true", help="fail (exit 2) if an op has no formula, instead of reporting it as uncounted")
    parser.add_argument(
        "--causal",
        choices=["full", "triangle", "half"],
        default="full",
        help="causal attention: count the full L x S score matrix (default) or only the kept triangle",
    )
    return parser


FORMATS = {".json": "json", ".csv": "csv", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def check_writable(fmt: str | None, *paths: str | None) -> str | None:
    """The output format (from ``fmt`` or the first path's suffix); raises ValueError, before any
    work is done, for a path whose folder does not exist or cannot be written."""
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
        fmt = FORMATS.get(Path(output).suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot tell the format of {output} from its suffix: add --format json|csv|md|html")
    return fmt


def write_output(report: Report, fmt: str | None, path: str | None, **options: Any) -> bool:
    """Write the report to ``path``, or to stdout without one; True when it went to stdout."""
    fmt = check_writable(fmt, path)
    text = to_format(report, fmt or "json", **options)
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


def run_subcommand(name: str, argv: list[str]) -> int:
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
    error_console = _error_console()
    options = {"device": args.device, "dtype": args.dtype, "peak_tflops": args.peak_tflops, "bandwidth_gbs": args.bandwidth_gbs}
    try:
        fmt = check_writable(args.format, args.output, getattr(args, "plot", None))
        if fmt not in (None, "json", "csv", "md"):
            raise ValueError(f"roofscope {name} writes its rows as json, csv or md, not {fmt} ({args.output})")
        if name == "compare" and args.batch is not None and args.batch <= 0:
            raise ValueError(f"--batch must be a positive integer, got {args.batch}")
        if getattr(args, "plot", None) and not (args.device or args.peak_tflops):
            raise ValueError("--plot draws throughput and the memory/compute crossing: it needs --device")
        if getattr(args, "plot", None):
            require("matplotlib", "--plot")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=error_console, transient=True) as progress:
            if name == "compare":
                task = progress.add_task("analysing", total=len(args.models))
                rows = run_compare(args.models, batch=args.batch, progress=lambda spec: progress.advance(task), **options)
                first = "model"
            else:
                axis_name = "size" if args.size else "seq" if args.seq else "batch"
                values = parse_values(args.size or args.seq or args.batch or "1,2,4,...,256")
                task = progress.add_task(f"{args.model} over {axis_name}", total=len(values))
                rows = run_sweep(args.model, values, axis=axis_name, inputs=args.input, progress=lambda value: progress.advance(task), **options)
                first = axis_name
        if getattr(args, "plot", None):
            plot_sweep(rows, args.plot, axis=first)
        if fmt:
            text = rows_text(rows, fmt)
            if args.output:
                with open(args.output, "w", encoding="utf-8") as handle:
                    handle.write(text)
            else:
                sys.stdout.write(text)
                return 0
    except (ModelSpecError, AnalysisError, CaptureError, MissingDependency, ValueError, OSError) as error:
        _print_error(error_console, f"roofscope {name}", error)
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


def _analysis_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of the main command that ``analyze`` and ``LLM`` both take."""
    return {
        "device": args.device,
        "dtype": args.dtype,
        "peak_tflops": args.peak_tflops,
        "bandwidth_gbs": args.bandwidth_gbs,
        "launch_overhead_us": args.launch_us,
        "causal": args.causal,
        "strict": args.strict,
    }


def _serving_report(args: argparse.Namespace, resolved: ResolvedModel) -> tuple[Report, ServingSummary]:
    """The prefill report of a causal LM preset, and its serving summary."""
    from roofscope.llm import LLM

    llm = LLM(args.model, model=resolved.model, **_analysis_options(args))
    batch, seq_len = resolved.inputs["input_ids"].shape
    return llm.prefill(batch, seq_len), llm.summary(batch, seq_len, context=args.decode_context)


PROBE_EXAMPLES = """examples:
  roofscope probe                          CUDA when there is a GPU, else the CPU
  roofscope probe cuda -o h100.toml        save the ceilings as a device file
  roofscope resnet50 --measure --device h100.toml
                                           measure a model against them
  roofscope probe cpu --dtypes fp32,bf16 --repeats 5 --compare xeon-8480
"""


def _probe(argv: list[str]) -> int:
    import platform

    from roofscope.devices import DeviceError
    from roofscope.measurement.probe import GEMM_PRECISIONS, probe
    from roofscope.render.probe import probe_table

    parser = argparse.ArgumentParser(
        prog="roofscope probe",
        description="Measure this machine's ceilings (GEMM rate per precision, memory bandwidth, launch floor), "
        "print them beside the catalog's figures and save them as a device file that --device accepts.",
        epilog=PROBE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", nargs="?", help="cpu, cuda or cuda:N (default: cuda when there is a GPU, else cpu)")
    parser.add_argument("--dtypes", help=f"GEMM precisions to probe, comma-separated (default {','.join(GEMM_PRECISIONS)})")
    parser.add_argument("--gemm-size", type=int, metavar="N", help="n of the n x n x n GEMMs (default 8192 on CUDA; on CPU sized to 0.1 s a GEMM)")
    parser.add_argument("--copy-mib", type=float, metavar="MIB", help="size of the copied tensor in MiB (default 2048 on CUDA, 256 on CPU)")
    parser.add_argument("--launch-ops", type=int, default=2000, metavar="N", help="tiny ops per launch-floor run (default 2000)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per figure; the median is kept (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before them (default 2)")
    parser.add_argument("--compare", metavar="DEVICE", help="the catalog device to show beside the figures (default: the GPU's own entry)")
    parser.add_argument("-o", "--output", metavar="PATH", help="write the device file (.toml or .json)")
    parser.add_argument("--json", action="store_true", help="print the probe as JSON instead of a table")
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    error_console = _error_console()
    try:
        check_writable("device file", args.output)  # the folder exists and is writable
        if args.output and Path(args.output).suffix.lower() not in (".toml", ".json"):
            raise ValueError(f"a device file is .toml or .json, not {args.output}")
        if args.copy_mib is not None and args.copy_mib <= 0:
            raise ValueError(f"--copy-mib must be a positive size in MiB, got {args.copy_mib}")
        dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()] if args.dtypes is not None else None
        if dtypes == []:
            raise ValueError(f"--dtypes names GEMM precisions, e.g. fp32,bf16; got {args.dtypes!r}")
        with error_console.status("probing ..."):
            result = probe(
                args.target,
                dtypes=dtypes,
                gemm_size=args.gemm_size,
                copy_bytes=int(args.copy_mib * 2**20) if args.copy_mib is not None else None,
                launch_ops=args.launch_ops,
                repeats=args.repeats,
                warmup=args.warmup,
                compare=args.compare if args.compare else "auto",
            )
        if args.output:
            result.save(args.output)
    except (ValueError, DeviceError, OSError, RuntimeError) as error:
        _print_error(error_console, "roofscope probe", error)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        console.print(probe_table(result))
        console.print(
            f"{result.host}, {result.date}, torch {result.torch_version}, {platform.python_implementation()} {platform.python_version()}. "
            "A shared or throttled machine measures lower and noisier: compare min-max.",
            style="dim", highlight=False,
        )
    if args.output:
        error_console.print(f"wrote {args.output}: use it with --device {args.output}", highlight=False)
    return 0


def _measure(args: argparse.Namespace, resolved: ResolvedModel, inputs: object, error_console: Console) -> Report:
    """``--measure``: the model cast and moved as asked (the command line built it: it is ours),
    in eval mode, then ``roofscope.measure``."""
    import dataclasses
    model = resolved.model

    import torch

    from roofscope.inputs import TensorSpec
    from roofscope.measurement.run import measure

    if args.repeats < 1 or args.warmup < 0:
        raise ValueError("--repeats must be at least 1 and --warmup at least 0")
    target = ("cuda" if torch.cuda.is_available() else "cpu") if args.measure == "auto" else args.measure.strip().lower()
    if target != "cpu" and not target.startswith("cuda"):
        raise ValueError(f"--measure runs on cpu or cuda (cuda:N), not {args.measure!r}")
    if target.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--measure {target}: CUDA is not available on this machine (use --measure cpu)")
    dtype = None
    if args.dtype:
        dtype = torch_dtype(args.dtype)
        if dtype is None:
            raise ValueError(f"--measure runs real kernels: --dtype casts the model and must be fp32, bf16, fp16 or fp64, not {args.dtype!r}")
    if any(t.device.type == "meta" for t in model.parameters()):  # type: ignore[attr-defined]
        raise ValueError(f"{args.model} is built on the meta device (no weights): --measure needs a model with real weights")
    try:
        model = model.to(device=target, dtype=dtype).eval() if dtype else model.to(device=target).eval()  # type: ignore[attr-defined]
    except (RuntimeError, AssertionError) as error:
        raise ValueError(f"cannot run on {target}: {error}") from None

    def cast(value: object) -> object:
        if dtype is not None and isinstance(value, TensorSpec) and value.dtype.is_floating_point:
            return dataclasses.replace(value, dtype=dtype)
        return value

    if isinstance(inputs, dict):
        inputs = {key: cast(value) for key, value in inputs.items()}
    else:
        inputs = [cast(value) for value in inputs]  # type: ignore[attr-defined]
    with error_console.status(f"measuring {args.model} on {target} ({args.warmup} warm-up + {args.repeats} x 2 forwards) ..."):
        return measure(
            model,  # type: ignore[arg-type]
            inputs,
            device=target,
            roofline=args.device or "auto",
            repeats=args.repeats,
            warmup=args.warmup,
            peak_tflops=args.peak_tflops,
            bandwidth_gbs=args.bandwidth_gbs,
            launch_overhead_us=args.launch_us,
            causal=args.causal,
            strict=args.strict,
            name=resolved.name,
        )


#: ``roofscope NAME ...``: each takes the arguments after its name and returns the exit status.
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "compare": lambda argv: run_subcommand("compare", argv),
    "sweep": lambda argv: run_subcommand("sweep", argv),
    "probe": _probe,
}


def run(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)  # a file or pipe: room for every column
    error_console = _error_console()
    if args.devices:
        for key, device in devices().items():
            aliases = f" ({', '.join(device.aliases)})" if device.aliases else ""
            console.print(f"{key}{aliases}: {device.name}, {device.memory_bandwidth / 1e9:,.0f} GB/s", highlight=False)
        return 0
    if args.model is None:
        _print_error(error_console, "roofscope", "name a model (roofscope --help)")
        return 2
    try:
        fmt = check_writable(args.format, args.output, args.plot)
        if args.plot:
            require("matplotlib", "--plot")  # before the analysis, not after it
        for flag, value in (("--batch", args.batch), ("--seq", args.seq)):
            if value is not None and value <= 0:
                raise ValueError(f"{flag} must be a positive integer, got {value}")
        if args.decode_context is not None and args.decode_context <= 0:
            raise ValueError(f"--decode-context must be a positive integer, got {args.decode_context}")
        resolved = resolve(args.model, batch=None if args.input else args.batch, seq_len=args.seq)
        inputs = args.input if args.input else resolved.inputs
        if inputs is None:
            raise ValueError(f"{resolved.name} declares no default inputs: give them with --input, e.g. --input 1,3,224,224")
        if args.input and args.batch is not None:
            inputs = replace_dims(inputs, batch=args.batch)
        # A causal language model preset (or config.json) on its default inputs gets a serving summary.
        serving = resolved.preset is not None and resolved.preset.head == "causal-lm" and not args.input and not args.backward
        if args.decode_context is not None and not serving:
            raise ValueError(
                "--decode-context sizes the serving summary of a causal language model preset or config.json "
                "(e.g. llama-2-7b --seq 2048 --decode-context 4096), without --input or --backward"
            )
        summary = None
        if args.measure:
            if args.backward:
                raise ValueError("--measure times the forward pass: it does not combine with --backward")
            report = _measure(args, resolved, inputs, error_console)
        else:
            with error_console.status(f"analysing {resolved.name} ..."):
                if serving:
                    report, summary = _serving_report(args, resolved)
                else:
                    report = analyze(
                        resolved.model,
                        inputs if isinstance(inputs, dict) else list(inputs),
                        backward=args.backward,
                        name=resolved.name,
                        **_analysis_options(args),
                    )
        if args.plot:
            report.plot_roofline(args.plot)
        if fmt or args.output:
            if write_output(report, fmt, args.output, depth=args.depth, exact=args.exact, serving=summary):
                return 0  # the report went to stdout in the format asked
            error_console.print(f"wrote {args.output}", highlight=False)
    except (ModelSpecError, AnalysisError, CaptureError, MissingDependency, ValueError, OSError) as error:
        _print_error(error_console, "roofscope", error)
        return 2
    if args.json:
        sys.stdout.write(to_json(report, serving=summary))
    else:
        console.print(render_terminal(report, depth=args.depth, exact=args.exact, ops=args.ops, serving=summary))
    return 0

