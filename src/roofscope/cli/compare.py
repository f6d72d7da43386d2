"""``roofscope compare``: models side by side."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from roofscope.cli.options import Parser, positive_int, shape
from roofscope.cli.rows import RowsJob, add_row_options, is_generative, run_rows, run_serving
from roofscope.sweep import Row, run_compare

__all__ = ["EXAMPLES", "run"]

EXAMPLES = """examples:
  roofscope compare resnet18 resnet50 mobilenet_v3_large
  roofscope compare resnet50 vit_b_16 --device h100 --dtype bf16 --plot compare.png
  roofscope compare seed-conv roofscope.models.examples:SimpleConv --batch 8 --format json -o compare.json
  roofscope compare gpt2 llama-2-7b --seq 512 --device a100-80gb --dtype fp16 --format html -o llms.html
  roofscope compare seed-linear roofscope.models.examples:SimpleLinearModel --input 4,10
  roofscope compare llama-3.1-8b qwen3-8b gemma-2-9b --prompt 2048 --device h100 --dtype bf16
                                           causal LMs: their serving summaries side by side
                                           (with --seq, --input or --plot: their forwards' rows)
"""


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="roofscope compare",
        description="Models side by side, each counted on the meta device: params, MACs, FLOPs, bytes, intensity, and "
        "predicted time and throughput with --device.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="model names, as for roofscope MODEL")
    parser.add_argument("--batch", type=positive_int, help="set the first dimension of each model's inputs")
    parser.add_argument("--seq", type=positive_int, metavar="TOKENS", help="the sequence length of transformer presets")
    parser.add_argument("--input", action="append", type=shape, metavar="SHAPE", help="the same input shape(s) for every model")
    parser.add_argument("--plot", metavar="PATH", help="write the models on the device's roofline (PNG or SVG by suffix; needs --device)")
    parser.add_argument("--prompt", type=positive_int, metavar="TOKENS", help="causal LMs: the prompt's tokens (default 2048)")
    parser.add_argument(
        "--decode-context", type=positive_int, metavar="TOKENS", help="causal LMs: the cached tokens at the decode step (default: --prompt)"
    )
    add_row_options(parser)
    args = parser.parse_args(argv)
    forwards = args.seq is not None or args.input or args.plot  # what only the forwards' rows show
    if args.prompt is not None or args.decode_context is not None or (not forwards and all(is_generative(m) for m in args.models)):
        return run_serving("compare", args, first="model")

    def plan(options: dict[str, object]) -> RowsJob:
        def compute(advance: Callable[[Any], None]) -> list[Row]:
            return run_compare(args.models, batch=args.batch, seq_len=args.seq, inputs=args.input, progress=advance, **options)

        return "counting", len(args.models), compute

    return run_rows("compare", args, plan, first="model")
