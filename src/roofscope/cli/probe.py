"""``roofscope probe``: this machine's ceilings, measured, as a device file."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from roofscope.cli.options import (
    Parser,
    check_writable,
    count,
    error_console,
    output_console,
    positive,
    positive_int,
    print_error,
    progress_bar,
)
from roofscope.devices import DeviceError
from roofscope.measurement.probe import GEMM_PRECISIONS, probe
from roofscope.render.probe import probe_table

__all__ = ["EXAMPLES", "run"]

EXAMPLES = """examples:
  roofscope probe                          CUDA when there is a GPU, else the CPU
  roofscope probe cuda -o h100.toml        save the ceilings as a device file
  roofscope resnet50 --measure --device h100.toml
                                           measure a model against them
  roofscope probe cpu --dtypes fp32,bf16 --repeats 5 --compare xeon-8480
"""


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="roofscope probe",
        description="Measure this machine's ceilings (GEMM rate per precision, memory bandwidth, launch floor), "
        "print them beside the catalog's figures and save them as a device file that --device accepts.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", nargs="?", help="cpu, cuda or cuda:N (default: cuda when there is a GPU, else cpu)")
    parser.add_argument("--dtypes", help=f"GEMM precisions to probe, comma-separated (default {','.join(GEMM_PRECISIONS)})")
    parser.add_argument(
        "--gemm-size", type=positive_int, metavar="N", help="n of the n x n x n GEMMs (default 8192 on CUDA; on CPU sized to 0.1 s a GEMM)"
    )
    parser.add_argument(
        "--copy-mib", type=positive, metavar="MIB", help="size of the copied tensor in MiB (default 2048 on CUDA, 256 on CPU)"
    )
    parser.add_argument("--launch-ops", type=positive_int, default=2000, metavar="N", help="tiny ops per launch-floor run (default 2000)")
    parser.add_argument("--repeats", type=positive_int, default=10, help="timed runs per figure; the median is kept (default 10)")
    parser.add_argument("--warmup", type=count, default=2, help="untimed runs before them (default 2)")
    parser.add_argument("--compare", metavar="DEVICE", help="the catalog device to show beside the figures (default: the GPU's own entry)")
    parser.add_argument("-o", "--output", metavar="PATH", help="write the device file (.toml or .json)")
    parser.add_argument("--json", action="store_true", help="print the probe as JSON instead of a table")
    args = parser.parse_args(argv)
    console = output_console()
    errors = error_console()
    try:
        check_writable("device file", args.output)  # the folder exists and is writable
        if args.output and Path(args.output).suffix.lower() not in (".toml", ".json"):
            raise ValueError(f"a device file is .toml or .json, not {args.output}")
        dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()] if args.dtypes is not None else None
        if dtypes == []:
            raise ValueError(f"--dtypes names GEMM precisions, e.g. fp32,bf16; got {args.dtypes!r}")
        with progress_bar(errors) as bar:
            task = bar.add_task("probing", total=None)

            def advance(figure: str, done: int, total: int) -> None:
                bar.update(task, description=f"probing: {figure}", completed=done, total=total)

            result = probe(
                args.target,
                dtypes=dtypes,
                gemm_size=args.gemm_size,
                copy_bytes=int(args.copy_mib * 2**20) if args.copy_mib is not None else None,
                launch_ops=args.launch_ops,
                repeats=args.repeats,
                warmup=args.warmup,
                compare=args.compare if args.compare else "auto",
                progress=advance,
            )
        if args.output:
            result.save(args.output)
    except (ValueError, DeviceError, OSError, RuntimeError) as error:
        print_error(errors, "roofscope probe", error)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        console.print(probe_table(result))
        console.print(
            f"{result.host}, {result.date}, torch {result.torch_version}, {platform.python_implementation()} {platform.python_version()}. "
            "A shared or throttled machine measures lower and noisier: compare min-max.",
            style="dim",
            highlight=False,
        )
    if args.output:
        errors.print(f"wrote {args.output}: use it with --device {args.output}", highlight=False)
    return 0
