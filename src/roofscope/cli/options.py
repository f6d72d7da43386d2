"""What every command shares: the options defined once, the error line, output files."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from roofscope.analysis import AnalysisError
from roofscope.capture import CaptureError
from roofscope.extras import MissingDependency
from roofscope.inputs import TensorSpec, parse_input_spec
from roofscope.models import ModelSpecError, RealTensorsWarning
from roofscope.precision import parse_precision
from roofscope.prediction import MODES

__all__ = [
    "Parser",
    "add_counting_options",
    "add_device_options",
    "check_writable",
    "count",
    "device_options",
    "error_console",
    "error_text",
    "given_inputs",
    "notes_printed",
    "output_console",
    "positive",
    "positive_int",
    "print_error",
    "progress_bar",
    "shape",
    "write_text",
]

T = TypeVar("T")

#: The errors a command reports in one line with exit status 2: what the user asked cannot be done.
USER_ERRORS = (ModelSpecError, AnalysisError, CaptureError, MissingDependency, ValueError, OSError)

#: Output formats by file suffix.
FORMATS = {".json": "json", ".csv": "csv", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}

DTYPE_HELP = "analyse as if in this precision: bf16, fp16, fp32, tf32, fp8, int8, int8-weights, fp8-weights"


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake reported as one line (``roofscope: argument --batch: ...``) and exit
    status 2, not a usage block; ``--help`` shows the usage. A value that starts with "-" after an
    option that takes one (``--input -1,3``) is that option's value, so that its own check says
    what is wrong with it, rather than "expected one argument"."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        given = list(sys.argv[1:] if args is None else args)
        joined: list[str] = []
        index = 0
        while index < len(given):
            item = given[index]
            action = self._option_string_actions.get(item)
            following = given[index + 1] if index + 1 < len(given) else None
            takes_value = action is not None and action.nargs is None and action.option_strings and action.const is None
            if takes_value and following is not None and following.startswith("-") and following not in self._option_string_actions:
                joined.append(f"{item}={following}" if item.startswith("--") else item + following)
                index += 2
                continue
            joined.append(item)
            index += 1
        return super().parse_args(joined, namespace)


def _number(convert: Callable[[str], T], accepts: Callable[[T], bool], wanted: str) -> Callable[[str], T]:
    """An argparse type: ``convert`` the text, then keep it only where ``accepts`` says so; either
    failure reads "expected {wanted}, got ..."."""

    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text}")
        return value

    parse.__doc__ = f"An option's value: {wanted}."
    return parse


#: An option's value that counts something: an integer >= 1.
positive_int = _number(int, lambda value: value >= 1, "a positive integer")
#: An option's value that may be 0: an integer >= 0.
count = _number(int, lambda value: value >= 0, "an integer >= 0")
#: A rate or a size: a finite number > 0.
positive = _number(float, lambda value: 0 < value < math.inf, "a positive number")
#: A time that may be 0: a finite number >= 0.
_non_negative = _number(float, lambda value: 0 <= value < math.inf, "a number >= 0")


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
    parser.add_argument("--peak-tflops", type=positive, help="override (or, without --device, define) the peak dense TFLOP/s")
    parser.add_argument("--bandwidth-gbs", type=positive, help="override (or define) the memory bandwidth in decimal GB/s")
    if launch:
        parser.add_argument(
            "--launch-us", type=_non_negative, help="the host's time per op in microseconds (eager PyTorch: Python, dispatcher, launch)"
        )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="eager",
        help="the execution mode the predicted time is for: eager (a plain forward, the default), cudagraph (replayed as a "
        'CUDA graph), compiled (torch.compile(mode="reduce-overhead"))',
    )
    parser.add_argument(
        "--tf32",
        choices=("auto", "on", "off"),
        default="auto",
        help="fp32 convolutions and matmuls in TF32 on the device: auto (as torch's flags say: convolutions yes, matmuls no), on, off",
    )


def add_counting_options(parser: argparse.ArgumentParser) -> None:
    """The counting conventions every command that counts takes: causal attention, strictness."""
    parser.add_argument(
        "--causal",
        choices=["full", "triangle", "half"],
        default="full",
        help="causal attention: count the full L x S score matrix (default) or only the kept triangle",
    )
    parser.add_argument(
        "--strict", action="store_true", help="fail (exit 2) if an op has no formula, instead of marking the totals incomplete"
    )


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
    options = {
        "device": args.device,
        "dtype": dtype,
        "peak_tflops": args.peak_tflops,
        "bandwidth_gbs": args.bandwidth_gbs,
        "mode": args.mode,
        "tf32": {"auto": None, "on": True, "off": False}[args.tf32],
    }
    if hasattr(args, "launch_us"):
        options["launch_overhead_us"] = args.launch_us
    return options


def error_console() -> Console:
    """stderr, never hard-wrapped: an error stays one line for whoever reads or greps it."""
    return Console(stderr=True, soft_wrap=True)


def output_console(width: int = 160) -> Console:
    """stdout: the terminal's width, or into a file or pipe ``$COLUMNS`` columns when set, else
    ``width`` (no figure cut short)."""
    if sys.stdout.isatty():
        return Console()
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) > 0 else width)


def error_text(error: object) -> str:
    """What went wrong, in words: an OSError as "PATH: Permission denied", not "[Errno 13] ..."."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error)


def print_error(console: Console, command: str, error: object) -> None:
    console.print(Text.assemble((f"{command}:", "bold red"), " ", error_text(error)))


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


@contextlib.contextmanager
def notes_printed(console: Console, command: str) -> Iterator[None]:
    """Within the block, each ``RealTensorsWarning`` (a model counted on real tensors rather than
    on meta) is printed as one line, "roofscope: note: ...", when it is raised."""

    def show(message: Any, category: Any, *rest: Any, **options: Any) -> None:
        if issubclass(category, RealTensorsWarning):
            console.print(Text.assemble((f"{command}: note:", "yellow"), " ", str(message)))
        else:
            shown(message, category, *rest, **options)

    shown = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always", RealTensorsWarning)
        warnings.showwarning = show
        yield


def progress_bar(console: Console) -> Progress:
    """A progress bar on stderr that names its task, counts its steps and says how long is left;
    it disappears when done. An unknown total shows as a pulsing bar until the first update."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=10),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, transient=True)
