"""``roofscope compare``: models side by side."""

from __future__ import annotations

import argparse

from roofscope.cli.rows import RowsJob, add_row_options, is_generative, run_rows, run_serving
from roofscope.sweep import run_compare

__all__ = ["run"]

EXAMPLES = """examples:
  roofscope compare resnet18 resnet50 mobilenet_v3_large
  roofscope compare resnet50 vit_b_16 --device h100 --dtype bf16
  roofscope compare seed-conv mypkg.models:build --batch 8 --format json -o compare.json
  roofscope compare llama-3.1-8b qwen3-8b gemma-2-9b --prompt 2048 --device h100 --dtype bf16
                                           causal LMs: their serving summaries side by side
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
    parser.add_argument("--prompt", type=int, metavar="TOKENS", help="causal LMs: the prompt's tokens (default 2048)")
    parser.add_argument(
        "--decode-context", type=int, metavar="TOKENS", help="causal LMs: the cached tokens at the decode step (default: --prompt)"
    )
    add_row_options(parser)
    args = parser.parse_args(argv)
    if all(is_generative(model) for model in args.models) or args.prompt is not None or args.decode_context is not None:
        return run_serving("compare", args, first="model")

    def plan(options: dict[str, object]) -> RowsJob:
        if args.batch is not None and args.batch <= 0:
            raise ValueError(f"--batch must be a positive integer, got {args.batch}")
        return "analysing", len(args.models), lambda advance: run_compare(args.models, batch=args.batch, progress=advance, **options)

    return run_rows("compare", args, plan, first="model")
