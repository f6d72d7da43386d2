"""The command line: ``roofscope MODEL [options]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from rich.console import Console

from roofscope.api import AnalysisError, analyze
from roofscope.capture import CaptureError
from roofscope.devices import devices
from roofscope.examples import EXAMPLES
from roofscope.models import ModelSpecError, resolve
from roofscope.inputs import TensorSpec, parse_input_spec, replace_dims
from roofscope.render.table import render_terminal
from roofscope.sweep import check_writable, run_subcommand, write_output

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
                                           a transformer preset, built on the meta device
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
    parser.add_argument("model", nargs="?", help="a built-in example (seed-conv), a torchvision name (resnet50), a transformer preset (llama-2-7b) or config.json, timm:NAME, package.module:factory, file.py:Class or a .pt2 file")
    parser.add_argument("--input", action="append", type=_shape, metavar="SHAPE", help="an input shape, e.g. 1,3,224,224, or 1,128:int64 with a dtype; repeat for several inputs")
    parser.add_argument("--batch", type=int, help="set the first dimension of the (default) inputs")
    parser.add_argument("--seq", type=int, metavar="TOKENS", help="the sequence length of a transformer preset (llama-2-7b --seq 2048)")
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


def _probe(argv: list[str]) -> int:
    from roofscope.probe import main as probe_main

    return probe_main(argv)


#: ``roofscope NAME ...``: each takes the arguments after its name and returns the exit status.
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "compare": lambda argv: run_subcommand("compare", argv),
    "sweep": lambda argv: run_subcommand("sweep", argv),
    "probe": _probe,
}

# Precisions a model can really be cast to for --measure (the others are analysis targets only).
_REAL_DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16", "half": "float16", "fp64": "float64", "float64": "float64"}


def _measure(args: argparse.Namespace, model: object, inputs: object, error_console: Console) -> object:
    """``--measure``: the model cast and moved as asked (the command line built it: it is ours),
    in eval mode, then ``roofscope.measure``."""
    import dataclasses

    import torch

    from roofscope.inputs import TensorSpec
    from roofscope.measure import measure

    if args.repeats < 1 or args.warmup < 0:
        raise ValueError("--repeats must be at least 1 and --warmup at least 0")
    target = ("cuda" if torch.cuda.is_available() else "cpu") if args.measure == "auto" else args.measure.strip().lower()
    if target != "cpu" and not target.startswith("cuda"):
        raise ValueError(f"--measure runs on cpu or cuda (cuda:N), not {args.measure!r}")
    if target.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--measure {target}: CUDA is not available on this machine (use --measure cpu)")
    dtype = None
    if args.dtype:
        name = _REAL_DTYPES.get(args.dtype.lower())
        if name is None:
            raise ValueError(f"--measure runs real kernels: --dtype casts the model and must be fp32, bf16, fp16 or fp64, not {args.dtype!r}")
        dtype = getattr(torch, name)
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
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    console = Console()
    error_console = Console(stderr=True)
    if args.devices:
        for key, device in devices().items():
            aliases = f" ({', '.join(device.aliases)})" if device.aliases else ""
            console.print(f"{key}{aliases}: {device.name}, {device.memory_bandwidth / 1e9:,.0f} GB/s", highlight=False)
        return 0
    if args.model is None:
        error_console.print("[bold red]roofscope:[/] name a model (roofscope --help)")
        return 2
    try:
        fmt = check_writable(args.format, args.output, args.plot)
        for flag, value in (("--batch", args.batch), ("--seq", args.seq)):
            if value is not None and value <= 0:
                raise ValueError(f"{flag} must be a positive integer, got {value}")
        resolved = resolve(args.model, batch=None if args.input else args.batch, seq_len=args.seq)
        inputs = args.input if args.input else resolved.inputs
        if inputs is None:
            raise ValueError(f"{resolved.name} declares no default inputs: give them with --input, e.g. --input 1,3,224,224")
        if args.input and args.batch is not None:
            inputs = replace_dims(inputs, batch=args.batch)
        if args.measure:
            report = _measure(args, resolved.model, inputs, error_console)
        else:
            with error_console.status(f"analysing {resolved.name} ..."):
                report = analyze(
                    resolved.model,
                    inputs if isinstance(inputs, dict) else list(inputs),
                    device=args.device,
                    dtype=args.dtype,
                    peak_tflops=args.peak_tflops,
                    bandwidth_gbs=args.bandwidth_gbs,
                    launch_overhead_us=args.launch_us,
                    causal=args.causal,
                    strict=args.strict,
                )
        report.model_name = resolved.name
        if args.plot:
            report.plot_roofline(args.plot)
        if fmt or args.output:
            if write_output(report, fmt, args.output, depth=args.depth, exact=args.exact):
                return 0  # the report went to stdout in the format asked
            error_console.print(f"wrote {args.output}", highlight=False)
    except (ModelSpecError, AnalysisError, CaptureError, ValueError, OSError) as error:
        error_console.print(f"[bold red]roofscope:[/] {error}", highlight=False)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        console.print(render_terminal(report, depth=args.depth, exact=args.exact, ops=args.ops))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
