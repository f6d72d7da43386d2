"""The command line: ``roofscope MODEL [options]``."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from roofscope.api import AnalysisError, analyze
from roofscope.capture import CaptureError
from roofscope.devices import devices
from roofscope.examples import EXAMPLES
from roofscope.models import ModelSpecError, resolve
from roofscope.render.table import render_terminal

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
"""


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is comma-separated integers such as 1,3,224,224; got {text!r}") from None
    if not shape or any(size < 0 for size in shape):
        raise argparse.ArgumentTypeError(f"a shape is comma-separated non-negative integers; got {text!r}")
    return shape


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roofscope",
        description="What a PyTorch model costs: parameters, MACs, FLOPs and memory traffic.",
        epilog=EXAMPLES_TEXT + "\nbuilt-in examples: " + ", ".join(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", nargs="?", help="a built-in example (seed-conv) or a torchvision model name (resnet50)")
    parser.add_argument("--input", action="append", type=_shape, metavar="SHAPE", help="an input shape, e.g. 1,3,224,224; repeat for several inputs")
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
    parser.add_argument("--devices", action="store_true", help="list the device catalog and exit")
    parser.add_argument("--strict", action="store_true", help="fail (exit 2) if an op has no formula, instead of reporting it as uncounted")
    parser.add_argument(
        "--causal",
        choices=["full", "triangle", "half"],
        default="full",
        help="causal attention: count the full L x S score matrix (default) or only the kept triangle",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
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
        resolved = resolve(args.model)
        inputs = args.input if args.input else resolved.inputs
        with error_console.status(f"analysing {resolved.name} ..."):
            report = analyze(
                resolved.model,
                list(inputs),
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
    except (ModelSpecError, AnalysisError, CaptureError, ValueError) as error:
        error_console.print(f"[bold red]roofscope:[/] {error}", highlight=False)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        console.print(render_terminal(report, depth=args.depth, exact=args.exact, ops=args.ops))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
