"""``roofscope compare``: models side by side."""

from __future__ import annotations

import argparse

from roofscope.cli.rows import RowsJob, add_row_options, run_rows
from roofscope.sweep import run_compare

__all__ = ["run"]

EXAMPLES = """examples:
  roofscope compare resnet18 resnet50 mobilenet_v3_large
  roofscope compare resnet50 vit_b_16 --device h100 --dtype bf16
  roofscope compare seed-conv mypkg.models:build --batch 8 --format json -o compare.json
"""


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="roofscope compare",
        description="Models side by side: params, MACs, FLOPs, bytes, intensity, and predicted time with --device.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="model names, as for roofscope MODEL")
    parser.add_argument("--batch", type=int, help="set the first dimension of each model's default inputs")
    add_row_options(parser)
    args = parser.parse_args(argv)

    def plan(options: dict[str, object]) -> RowsJob:
        if args.batch is not None and args.batch <= 0:
            raise ValueError(f"--batch must be a positive integer, got {args.batch}")
        return "analysing", len(args.models), lambda advance: run_compare(args.models, batch=args.batch, progress=advance, **options)

    return run_rows("compare", args, plan, first="model")
