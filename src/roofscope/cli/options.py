"""What every command shares: the options defined once, the error line, output files."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from roofscope.analysis import AnalysisError
from roofscope.capture import CaptureError
from roofscope.extras import MissingDependency
from roofscope.inputs import TensorSpec, parse_input_spec
from roofscope.models import ModelSpecError
from roofscope.precision import parse_precision

__all__ = [
    "add_device_options",
    "check_writable",
    "device_options",
    "error_console",
    "given_inputs",
    "output_console",
    "print_error",
    "shape",
    "write_text",
]

#: The errors a command reports in one line with exit status 2: what the user asked cannot be done.
USER_ERRORS = (ModelSpecError, AnalysisError, CaptureError, MissingDependency, ValueError, OSError)

#: Output formats by file suffix.
FORMATS = {".json": "json", ".csv": "csv", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}

DTYPE_HELP = "analyse as if in this precision: bf16, fp16, fp32, tf32, fp8, int8, int8-weights, fp8-weights"


def shape(text: str) -> TensorSpec | tuple[str, TensorSpec]:
    """An ``--input`` value: "1,3,224,224", "1,128:int64", or a keyword input "decoder_input_ids=1,1:int64"."""
    name, equals, rest = text.partition("=")
    try:
        if equals:
            if not name.isidentifier():
                raise ValueError(f"a keyword input is NAME=SHAPE with NAME an argument of the forward; got {text!r}")
            return name, parse_input_spec(rest)
        return parse_input_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def given_inputs(values: list[Any]) -> list[TensorSpec] | dict[str, TensorSpec]:
    """The ``--input`` values as the forward's arguments: positional, or all by keyword."""
    named = [value for value in values if isinstance(value, tuple)]
    if not named:
        return list(values)
    if len(named) != len(values):
        raise ValueError("--input: give every input by keyword (name=shape) or none")
    return dict(named)


def add_device_options(parser: argparse.ArgumentParser, *, launch: bool = False) -> None:
    """--device, --dtype (with --weights and --kv), --peak-tflops, --bandwidth-gbs (and --launch-us):
    the roofline's device and the precision it runs."""
    parser.add_argument("--device", help="a catalog device (h100, a100, l4, ... see --devices) or a TOML/JSON device file")
    parser.add_argument("--dtype", help=DTYPE_HELP)
    parser.add_argument(
        "--weights",
        metavar="PRECISION",
        help="store the matmul weights apart: int4 (groups of 128, a 16-bit scale each), int8, fp8 (with --dtype)",
    )
    parser.add_argument("--kv", metavar="PRECISION", help="a causal LM's KV cache precision, e.g. fp8 (with --dtype; the serving traffic)")
    parser.add_argument(
        "--traffic",
        choices=("serving", "eager"),
        default="serving",
        help="a causal LM's steps: as serving engines move data (default: KV cache read once, new entries written once) "
        "or as transformers' eager code does (its cache concatenated anew every step)",
    )
    parser.add_argument("--peak-tflops", type=float, help="override (or, without --device, define) the peak dense TFLOP/s")
    parser.add_argument("--bandwidth-gbs", type=float, help="override (or define) the memory bandwidth in decimal GB/s")
    if launch:
        parser.add_argument("--launch-us", type=float, help="a per-op launch floor in microseconds")


def device_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``analyze`` that the device options give (--weights and --kv folded
    into the precision: "bf16+int4-weights+fp8-kv")."""
    dtype = args.dtype
    if args.weights or args.kv:
        if dtype is None:
            raise ValueError(
                "--weights and --kv store parts of the model apart from --dtype: give --dtype too, e.g. --dtype bf16 --weights int4"
            )
        dtype = parse_precision(dtype, weights=args.weights, kv=args.kv).name  # type: ignore[union-attr]
    options = {"device": args.device, "dtype": dtype, "peak_tflops": args.peak_tflops, "bandwidth_gbs": args.bandwidth_gbs}
    if hasattr(args, "launch_us"):
        options["launch_overhead_us"] = args.launch_us
    return options


def error_console() -> Console:
    """stderr, never hard-wrapped: an error stays one line for whoever reads or greps it."""
    return Console(stderr=True, soft_wrap=True)


def output_console(width: int = 160) -> Console:
    """stdout: the terminal's width, or ``width`` columns into a file or pipe (no figure cut short)."""
    return Console() if sys.stdout.isatty() else Console(width=width)


def print_error(console: Console, command: str, error: object) -> None:
    console.print(Text.assemble((f"{command}:", "bold red"), " ", str(error)))


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


def write_text(text: str, path: str | None) -> bool:
    """Write ``text`` to ``path``, or to stdout without one; True when it went to stdout."""
    if path is None:
        sys.stdout.write(text)
        return True
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return False
